//! Writes of several rows as one PostgreSQL statement: its data-modifying CTEs commit
//! together or not at all, in one round trip instead of a transaction's five or more.
//! (SQLite has no data-modifying CTEs; it runs the same writes in a transaction.)

use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, InsertStatement, Query, SubQueryStatement,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, DbErr, EntityName, EntityTrait, Iterable,
};

/// `INSERT INTO … (…) SELECT … FROM source`: `row` once for each row of the CTE
/// `source`, so not at all when it is empty. Columns and values as sea-orm's own insert
/// writes them (set columns only, values cast where the column type asks).
pub(crate) fn insert_for_each<A: ActiveModelTrait>(
    mut row: A,
    source: &'static str,
) -> Result<InsertStatement, DbErr> {
    let (mut columns, mut values) = (Vec::new(), Vec::new());
    for column in <A::Entity as EntityTrait>::Column::iter() {
        if let ActiveValue::Set(value) | ActiveValue::Unchanged(value) = row.take(column) {
            columns.push(column);
            values.push(column.save_as(Expr::val(value)));
        }
    }
    let mut select = Query::select();
    select.exprs(values).from(source);
    let mut insert = Query::insert();
    insert
        .into_table(A::Entity::default().table_ref())
        .columns(columns)
        .select_from(select)
        .map_err(|e| DbErr::Custom(format!("cannot build the insert: {e}")))?;
    Ok(insert)
}

/// The CTE `name AS (query)`.
pub(crate) fn cte(
    name: impl Into<String>,
    query: impl Into<SubQueryStatement>,
) -> CommonTableExpression {
    CommonTableExpression::new()
        .query(query)
        .table_name(Alias::new(name.into()))
        .to_owned()
}
