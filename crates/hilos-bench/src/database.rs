//! The bench's own database: a new SQLite file, or a new database on a
//! PostgreSQL server that is dropped afterwards.

use std::path::Path;

use anyhow::{Context, Result};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use url::Url;

/// A database created for one part of the bench.
#[derive(Debug)]
pub enum BenchDatabase {
    /// A file in the work directory.
    Sqlite {
        /// `sqlite://…` URL of the file.
        url: String,
    },
    /// A database on a PostgreSQL server.
    Postgres {
        /// URL of the new database.
        url: String,
        /// URL the database was created through.
        admin_url: String,
        /// Its name.
        name: String,
    },
}

impl BenchDatabase {
    /// Creates a database named after `label`: on the PostgreSQL server of
    /// `postgres_url` if given, else as a file in `work_dir`.
    pub async fn create(postgres_url: Option<&str>, work_dir: &Path, label: &str) -> Result<Self> {
        let Some(admin_url) = postgres_url else {
            let path = work_dir.join(format!("bench-{label}.db"));
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            return Ok(BenchDatabase::Sqlite {
                url: format!("sqlite://{}", path.display()),
            });
        };
        let name = format!("hilos_bench_{}_{label}", std::process::id());
        let mut conn = PgConnection::connect(admin_url)
            .await
            .context("connecting to PostgreSQL")?;
        sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
            .execute(&mut conn)
            .await?;
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating database {name}"))?;
        conn.close().await?;
        let mut url = Url::parse(admin_url).context("parsing --database-url")?;
        url.set_path(&name);
        Ok(BenchDatabase::Postgres {
            url: url.to_string(),
            admin_url: admin_url.to_owned(),
            name,
        })
    }

    /// The URL to hand the store and the server.
    pub fn url(&self) -> &str {
        match self {
            BenchDatabase::Sqlite { url } | BenchDatabase::Postgres { url, .. } => url,
        }
    }

    /// A line for the report (no password).
    pub fn describe(&self) -> String {
        match self {
            BenchDatabase::Sqlite { url } => {
                format!("SQLite {}", url.trim_start_matches("sqlite://"))
            }
            BenchDatabase::Postgres { name, .. } => format!("PostgreSQL database {name}"),
        }
    }

    /// Drops a PostgreSQL database; SQLite files go with the work directory.
    pub async fn drop_database(self) -> Result<()> {
        if let BenchDatabase::Postgres {
            admin_url, name, ..
        } = self
        {
            let mut conn = PgConnection::connect(&admin_url).await?;
            sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await
            .with_context(|| format!("dropping database {name}"))?;
            conn.close().await?;
        }
        Ok(())
    }
}
