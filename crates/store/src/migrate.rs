//! Schema migrations, embedded in the binary.
//!
//! Each migration exists in two close variants, `migrations/sqlite/NNNN_*.sql` and
//! `migrations/postgres/NNNN_*.sql`, with the same version numbers. sqlx's migrator applies
//! the ones a database has not seen yet, each in its own transaction, records them in
//! `_sqlx_migrations` with a checksum, and (PostgreSQL) holds an advisory lock so two
//! switchboards starting together do not both migrate. A new migration is a new pair of
//! files plus a line in [`MIGRATIONS`]; never edit one that has shipped (the checksum
//! would refuse to start).

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use crate::sql::Dialect;

struct Embedded {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// Every migration, oldest first.
const MIGRATIONS: &[Embedded] = &[Embedded {
    version: 1,
    name: "calls",
    sqlite: include_str!("../migrations/sqlite/0001_calls.sql"),
    postgres: include_str!("../migrations/postgres/0001_calls.sql"),
}];

#[derive(Debug)]
struct Source(Dialect);

impl MigrationSource<'static> for Source {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        let migrations = MIGRATIONS
            .iter()
            .map(|m| {
                let sql = match self.0 {
                    Dialect::Sqlite => m.sqlite,
                    Dialect::Postgres => m.postgres,
                };
                Migration::new(
                    m.version,
                    Cow::Borrowed(m.name),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

/// The migrator for one database flavour.
pub(crate) async fn migrator(dialect: Dialect) -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Source(dialect)).await
}
