//! Keyset pagination over `(created_at, id)`, newest first: stable while rows are added.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, Value};

/// The rows that come after `(created_at, id)` in newest-first order. The redundant
/// `created_at <= at` lets PostgreSQL start its index scan at the cursor rather than
/// read and discard every newer row (it does not derive that bound from the `OR`).
pub(crate) fn after(
    created_at_column: impl ColumnTrait,
    id_column: impl ColumnTrait,
    created_at: DateTime<Utc>,
    id: impl Into<Value> + Clone,
) -> Condition {
    Condition::all().add(created_at_column.lte(created_at)).add(
        Condition::any()
            .add(created_at_column.lt(created_at))
            .add(id_column.lt(id)),
    )
}
