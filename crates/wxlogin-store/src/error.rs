//! The store's one error type, and the mapping from driver errors into it.
//!
//! Callers match on [`StoreError`]'s variants and never see a driver error type: the mapping
//! happens here, once, through `SqlxResultExt` (constraint violations become
//! [`StoreError::Conflict`]) and [`From<sqlx::Error>`] (everything else).
//!
//! No variant's `Display` contains a value from a row: no token, hash, openid or key. The
//! driver error is kept as the `source` for logs; driver messages name constraints and
//! columns, not values.

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be reached in time: pool timeout, lost connection, database locked
    /// past the busy timeout. Transient; upstream this is a 503.
    #[error("store unavailable")]
    Unavailable(#[source] BoxError),

    /// A write collided with existing data that the caller was meant to make unique (for
    /// example a token hash or session id that already exists).
    #[error("store conflict on {what}")]
    Conflict {
        /// Which uniqueness rule was violated, e.g. `"session"`.
        what: &'static str,
        /// The driver error.
        #[source]
        source: BoxError,
    },

    /// Stored data could not be decoded (a bad UUID, an out-of-range time, a damaged file).
    #[error("store data corrupt: {what}")]
    Corrupt {
        /// What could not be decoded.
        what: &'static str,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },

    /// The store was configured wrongly (unparsable URL, unsupported option). Never retried.
    #[error("store misconfigured: {0}")]
    Config(&'static str),

    /// Anything else: a bug, a failed migration, an unexpected driver error.
    #[error("store internal error")]
    Internal(#[source] BoxError),
}

impl StoreError {
    /// True for errors worth retrying later (and reporting as "not ready").
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    pub(crate) fn corrupt(what: &'static str) -> Self {
        Self::Corrupt { what, source: None }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match err {
            E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::WorkerCrashed | E::Tls(_) => {
                Self::Unavailable(Box::new(err))
            }
            E::Database(ref db) if is_transient(db.as_ref()) => Self::Unavailable(Box::new(err)),
            E::ColumnDecode { .. } | E::Decode(_) => Self::Corrupt {
                what: "column value",
                source: Some(Box::new(err)),
            },
            E::Database(ref db) if is_corruption(db.as_ref()) => Self::Corrupt {
                what: "database file",
                source: Some(Box::new(err)),
            },
            E::Configuration(_) => Self::Config("invalid database options"),
            _ => Self::Internal(Box::new(err)),
        }
    }
}

/// SQLite result codes (the primary code is the low byte of the extended code).
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_CANTOPEN: i64 = 14;
const SQLITE_NOTADB: i64 = 26;

fn sqlite_primary_code(db: &dyn sqlx::error::DatabaseError) -> Option<i64> {
    db.try_downcast_ref::<sqlx::sqlite::SqliteError>()?;
    let code: i64 = db.code()?.parse().ok()?;
    Some(code & 0xff)
}

/// Lock contention that outlasted the busy timeout, or a file that cannot be opened right now.
fn is_transient(db: &dyn sqlx::error::DatabaseError) -> bool {
    matches!(
        sqlite_primary_code(db),
        Some(SQLITE_BUSY | SQLITE_LOCKED | SQLITE_CANTOPEN)
    ) || is_mysql_transient(db)
        || is_postgres_transient(db)
}

/// PostgreSQL SQLSTATEs that mean "try again later": serialization failure (40001) and
/// deadlock (40P01) once the backend's retries are spent, lock not available (55P03),
/// statement timeout (57014), server shutting down or starting up (57P01-57P03), too many
/// connections (53300) and connection failures (class 08).
fn is_postgres_transient(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some_and(|err| {
            let code = err.code();
            code.starts_with("08")
                || matches!(
                    code,
                    "40001" | "40P01" | "55P03" | "57014" | "57P01" | "57P02" | "57P03" | "53300"
                )
        })
}

/// MySQL / MariaDB server errors that mean "try again later", not "this is wrong": too many
/// connections (1040), lock wait timeout (1205), deadlock (1213), statement time limit
/// (MariaDB 1969, MySQL 3024).
fn is_mysql_transient(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .is_some_and(|err| matches!(err.number(), 1040 | 1205 | 1213 | 1969 | 3024))
}

fn is_corruption(db: &dyn sqlx::error::DatabaseError) -> bool {
    matches!(
        sqlite_primary_code(db),
        Some(SQLITE_CORRUPT | SQLITE_NOTADB)
    )
}

/// Maps driver results into [`StoreError`], turning the constraint violations a caller can
/// cause into [`StoreError::Conflict`] (STYLE practice 5).
pub(crate) trait SqlxResultExt<T> {
    /// A unique or primary-key violation becomes `Conflict { what }`; anything else goes
    /// through `From<sqlx::Error>`.
    fn on_unique_violation(self, what: &'static str) -> Result<T, StoreError>;
}

impl<T> SqlxResultExt<T> for Result<T, sqlx::Error> {
    fn on_unique_violation(self, what: &'static str) -> Result<T, StoreError> {
        self.map_err(|err| match err {
            sqlx::Error::Database(ref db)
                if db.kind() == sqlx::error::ErrorKind::UniqueViolation =>
            {
                StoreError::Conflict {
                    what,
                    source: Box::new(err),
                }
            }
            other => other.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_timeout_is_unavailable() {
        let err = StoreError::from(sqlx::Error::PoolTimedOut);
        assert!(err.is_unavailable());
        assert_eq!(err.to_string(), "store unavailable");
    }

    #[test]
    fn row_not_found_is_internal() {
        let err = StoreError::from(sqlx::Error::RowNotFound);
        assert!(matches!(err, StoreError::Internal(_)));
    }
}
