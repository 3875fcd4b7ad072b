//! The fresh database of a run: a SQLite file in a temporary directory, or
//! `authd_bench_<uuid>` on a PostgreSQL server, dropped at the end.

use anyhow::Context as _;
use sea_orm::{ConnectionTrait as _, Database as Connection};

/// Which database authd runs on.
#[derive(Clone, Copy, Debug, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The embedded default.
    Sqlite,
    /// The production database.
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        })
    }
}

/// A database made for this run.
pub enum Database {
    /// A file in a directory removed on drop.
    Sqlite {
        /// `sqlite://…?mode=rwc`.
        url: String,
        /// Keeps the directory alive.
        _dir: tempfile::TempDir,
    },
    /// A database on a server, dropped by [`Database::remove`].
    Postgres {
        /// The URL of the new database.
        url: String,
        /// The URL it was created through.
        server_url: String,
        /// Its name.
        name: String,
    },
}

impl Database {
    /// Creates an empty database; on PostgreSQL through `server_url`.
    pub async fn create(backend: Backend, server_url: &str) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("authd.db").display()
                );
                Ok(Self::Sqlite { url, _dir: dir })
            }
            Backend::Postgres => {
                let name = format!("authd_bench_{}", uuid::Uuid::new_v4().simple());
                let url = with_database(server_url, &name)?;
                execute(server_url, &format!("CREATE DATABASE {name}")).await?;
                Ok(Self::Postgres {
                    url,
                    server_url: server_url.to_owned(),
                    name,
                })
            }
        }
    }

    /// The URL authd connects to.
    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } => url,
        }
    }

    /// What it is, for the console.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite { url, .. } => url.clone(),
            Self::Postgres { name, .. } => format!("PostgreSQL database {name}"),
        }
    }

    /// Drops the PostgreSQL database (closing authd's leftover connections); a SQLite
    /// directory goes with the value.
    pub async fn remove(self) -> anyhow::Result<()> {
        if let Self::Postgres {
            server_url, name, ..
        } = self
        {
            execute(
                &server_url,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await
            .with_context(|| format!("database {name} was not dropped"))?;
        }
        Ok(())
    }
}

/// Runs one statement on the server of `url`.
async fn execute(url: &str, statement: &str) -> anyhow::Result<()> {
    let connection = Connection::connect(url)
        .await
        .context("cannot connect to the PostgreSQL server of --database-url")?;
    connection
        .execute_unprepared(statement)
        .await
        .with_context(|| format!("`{statement}` failed"))?;
    connection.close().await?;
    Ok(())
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let mut parsed = url::Url::parse(url).with_context(|| format!("invalid URL {url}"))?;
    parsed.set_path(name);
    Ok(parsed.into())
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn with_database_replaces_only_the_name() -> anyhow::Result<()> {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "b")?,
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "b")?,
            "postgres://u:p@h/b?sslmode=disable"
        );
        Ok(())
    }
}
