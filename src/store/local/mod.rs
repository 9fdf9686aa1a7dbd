//! Embedded backend: one SQLite database per environment holding the roster, the vault,
//! the truststore versions and the audit log, so that a machine without AWS runs a complete CA.
//!
//! # Files
//! `{data_dir}/{env}.sqlite3`, where `data_dir` is the environment's `data_dir` or else
//! [`config::default_data_dir`] (e.g. `~/.local/share/mtls-console`). The database runs in
//! WAL mode, so `{env}.sqlite3-wal` and `{env}.sqlite3-shm` sit beside it while it is open.
//! A directory the backend creates is made 0700 (an existing one is left as it is); the
//! database and its WAL and SHM files are set to 0600 on every open, whatever the umask.
//!
//! # Schema (`PRAGMA application_id` = `mtls`, `user_version` = 2)
//! - `roster(serialNumber PK, client_id, status, issuedAt, version, item)`: one row per
//!   certificate. `item` is the whole DynamoDB item as DynamoDB JSON (see [`super::item`])
//!   except `certificatePem`; the other columns are copies for indexes and conditions
//!   (`roster_client` on client_id, `roster_status_issued` on (status, issuedAt) like the
//!   table's GSI `status-issuedAt-index`).
//! - `roster_pem(serialNumber PK, certificatePem)`: the PEMs, apart so that listings
//!   (the projection without PEM) never read them.
//! - `vault(name PK, kind, value, version, lastModified, lastModifiedUser)`: keyed by the
//!   contract's SSM names, `kind` SecureString or String; `vault_history` keeps the 99 older
//!   versions of each name (SSM keeps the last 100 versions).
//! - `truststore(seq, versionId, etag, lastModified, size, content)`: the versions of the
//!   truststore object. `versionId` is 32 random hex digits like S3's; `etag` is the quoted
//!   hex SHA-256 of the content (S3 uses MD5; only equality matters here).
//! - `audit(seq, id, at, atNanos, operator, action, target, outcome, detail)`: append-only;
//!   triggers refuse UPDATE, DELETE and a second row with an existing id (which would be an
//!   `INSERT OR REPLACE`).
//! - `coordination(pk, version, token, body)` (since version 2; a version-1 database gains it
//!   on open): client heads, leases and the rotation journal (see [`coordination`]).
//!
//! # Two processes at once
//! Each operation runs on one connection (behind a mutex, on tokio's blocking pool) and
//! every change is one `BEGIN IMMEDIATE` transaction, which serialises writers across
//! processes; a writer waits up to [`BUSY_TIMEOUT`] for another. Conditions are checked
//! inside that transaction, exactly as DynamoDB's condition expressions and S3's
//! `If-Match` / `If-None-Match` decide them, and a failed one is [`StoreError::Conflict`].

mod audit;
mod coordination;
mod gateway;
mod roster;
mod truststore;
mod vault;

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use crate::config::{self, EnvConfig};
use crate::error::{Error, Result};
use crate::store::{Backend, StoreError, StoreResult};

/// How long a write waits for another process's transaction before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// `PRAGMA application_id` of a console database: "mtls" in ASCII.
const APPLICATION_ID: i64 = 0x6D74_6C73;
const SCHEMA_VERSION: i64 = 2;

/// What version 2 added: the coordination table (client heads, leases, the journal).
const COORDINATION_TABLE: &str = "
CREATE TABLE IF NOT EXISTS coordination (
    pk      TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    token   TEXT,
    body    TEXT NOT NULL
);
";

const SCHEMA: &str = "
CREATE TABLE roster (
    serialNumber TEXT PRIMARY KEY NOT NULL,
    client_id    TEXT NOT NULL,
    status       TEXT NOT NULL,
    issuedAt     TEXT NOT NULL,
    version      INTEGER NOT NULL,
    item         TEXT NOT NULL
);
CREATE INDEX roster_client ON roster (client_id);
CREATE INDEX roster_status_issued ON roster (status, issuedAt);
CREATE TABLE roster_pem (
    serialNumber   TEXT PRIMARY KEY NOT NULL,
    certificatePem TEXT NOT NULL
);

CREATE TABLE vault (
    name             TEXT PRIMARY KEY NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('SecureString', 'String')),
    value            TEXT NOT NULL,
    version          INTEGER NOT NULL,
    lastModified     TEXT NOT NULL,
    lastModifiedUser TEXT NOT NULL
);
CREATE TABLE vault_history (
    name             TEXT NOT NULL,
    version          INTEGER NOT NULL,
    kind             TEXT NOT NULL,
    value            TEXT NOT NULL,
    lastModified     TEXT NOT NULL,
    lastModifiedUser TEXT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE truststore (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    versionId    TEXT NOT NULL UNIQUE,
    etag         TEXT NOT NULL,
    lastModified TEXT NOT NULL,
    size         INTEGER NOT NULL,
    content      TEXT NOT NULL
);

CREATE TABLE audit (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    id       TEXT NOT NULL UNIQUE,
    at       TEXT NOT NULL,
    atNanos  INTEGER NOT NULL,
    operator TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    outcome  TEXT NOT NULL,
    detail   TEXT NOT NULL
);
CREATE INDEX audit_at ON audit (atNanos);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be changed'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be deleted'); END;
CREATE TRIGGER audit_no_replace BEFORE INSERT ON audit
WHEN EXISTS (SELECT 1 FROM audit WHERE id = NEW.id OR seq = NEW.seq)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: this entry exists already'); END;
";

/// Opens (creating if needed) the database of `env`: `{data_dir}/{env.name}.sqlite3`.
pub fn open(env: &EnvConfig) -> Result<Backend> {
    let safe_name = !env.name.is_empty()
        && !env.name.starts_with('.')
        && env
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !safe_name {
        return Err(Error::Config(format!(
            "environment name '{}' cannot name a database file: use letters, digits, '-', '_' and '.'",
            env.name
        )));
    }
    let dir = match &env.data_dir {
        Some(dir) => dir.clone(),
        None => config::default_data_dir()?,
    };
    open_at(&dir.join(format!("{}.sqlite3", env.name)), env)
}

/// Opens (creating if needed) the database at `path` for `env`.
pub fn open_at(path: &Path, env: &EnvConfig) -> Result<Backend> {
    let db = Arc::new(Db::open(path, env).map_err(Error::Store)?);
    let operator = os_user(path);
    let vault = Arc::new(vault::LocalVault::new(Arc::clone(&db), env, &operator));
    Ok(Backend {
        roster: Arc::new(roster::LocalRoster::new(
            Arc::clone(&db),
            Arc::clone(&vault),
        )),
        vault,
        truststore: Arc::new(truststore::LocalTruststore::new(Arc::clone(&db), env)),
        audit: Arc::new(audit::LocalAudit::new(Arc::clone(&db))),
        gateway: Arc::new(gateway::LocalGateway::new(Arc::clone(&db))),
        coordination: Arc::new(coordination::LocalCoordination::new(Arc::clone(&db))),
        description: format!("local ({})", path.display()),
        operator,
    })
}

/// The OS user: `$USER`, else `uid:N`.
fn os_user(db_path: &Path) -> String {
    match std::env::var("USER") {
        Ok(user) if !user.is_empty() => user,
        _ => std::fs::metadata("/proc/self")
            .or_else(|_| std::fs::metadata(db_path))
            .map(|m| format!("uid:{}", m.uid()))
            .unwrap_or_else(|_| "uid:unknown".into()),
    }
}

/// Why an operation on the database failed: a domain answer or an SQLite error.
enum Fail {
    Store(StoreError),
    Sql(rusqlite::Error),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Sql(e)
    }
}

impl Fail {
    fn into_store(self, path: &Path) -> StoreError {
        match self {
            Fail::Store(e) => e,
            Fail::Sql(e) => sql_error(path, e),
        }
    }
}

type FailResult<T> = std::result::Result<T, Fail>;

/// Runs `write` for each item inside `conn`'s transaction, each under its own savepoint, so a
/// failed item is undone alone: one result per item, in order. If the transaction itself
/// fails (e.g. its commit), every item fails with that error.
fn each_in_one_transaction<I>(
    conn: &mut Connection,
    path: &Path,
    items: &[I],
    mut write: impl FnMut(&Connection, &I) -> FailResult<()>,
) -> Vec<StoreResult<()>> {
    if items.is_empty() {
        return Vec::new();
    }
    let whole = (|| -> FailResult<Vec<StoreResult<()>>> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut results = Vec::with_capacity(items.len());
        // The savepoint statements are prepared once per connection (rusqlite's `savepoint()`
        // parses them anew for every item, a large share of a bulk write's time).
        for item in items {
            tx.prepare_cached("SAVEPOINT each_item")?.execute([])?;
            match write(&tx, item) {
                Ok(()) => results.push(Ok(())),
                Err(fail) => {
                    tx.prepare_cached("ROLLBACK TO each_item")?.execute([])?;
                    results.push(Err(fail.into_store(path)));
                }
            }
            tx.prepare_cached("RELEASE each_item")?.execute([])?;
        }
        tx.commit()?;
        Ok(results)
    })();
    match whole {
        Ok(results) => results,
        Err(fail) => {
            let message = fail.into_store(path).to_string();
            items
                .iter()
                .map(|_| Err(StoreError::Backend(message.clone())))
                .collect()
        }
    }
}

/// Prepared statements kept per connection (the ports use fewer than this).
const STATEMENT_CACHE: usize = 64;

/// One environment's database: a connection shared by the four ports.
struct Db {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl Db {
    fn open(path: &Path, env: &EnvConfig) -> StoreResult<Db> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.exists() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .and_then(|()| std::fs::set_permissions(dir, Permissions::from_mode(0o700)))
                .map_err(|e| {
                    StoreError::Backend(format!(
                        "cannot create the data directory {} for environment '{}': {e}; \
                         create it (mode 0700) or set data_dir of the environment in the config file",
                        dir.display(),
                        env.name
                    ))
                })?;
        }
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(StoreError::Backend(format!(
                    "cannot create the database {}: {e}; check that the directory is yours and writable",
                    path.display()
                )));
            }
        }
        if !path.is_file() {
            return Err(StoreError::Backend(format!(
                "{} is not a file: move it aside or set data_dir of environment '{}' to another directory",
                path.display(),
                env.name
            )));
        }
        restrict(path)?;

        let not_ours = |why: &str| {
            StoreError::Backend(format!(
                "{} is not an mtls-console database ({why}): move it aside or set data_dir of \
                 environment '{}' to another directory",
                path.display(),
                env.name
            ))
        };
        let conn = Connection::open(path).map_err(|e| sql_error(path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| sql_error(path, e))?;
        // Room for every statement the ports prepare, so a bulk write never re-parses one.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // A batch write holds a savepoint per item: keep their journals in memory. On disk
        // (SQLite's default once one passes 64 KiB) every item of a batch rewrote the pages it
        // touched to a temporary file, several times the batch's own writes.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(|e| sql_error(path, e))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(|e| match e.sqlite_error_code() {
                Some(ErrorCode::NotADatabase) => not_ours("file is not a database"),
                _ => sql_error(path, e),
            })?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "cannot switch {} to WAL mode (got '{mode}'); is it on a network file system?",
                path.display()
            )));
        }
        let mut conn = conn;
        init_schema(&mut conn, path).map_err(|f| match f {
            Fail::Store(e) => e,
            Fail::Sql(e) => sql_error(path, e),
        })?;
        let found = conn
            .query_row("PRAGMA application_id", [], |r| r.get::<_, i64>(0))
            .map_err(|e| sql_error(path, e))?;
        if found != APPLICATION_ID {
            return Err(not_ours("it belongs to another program"));
        }
        for suffix in ["-wal", "-shm"] {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            let side = PathBuf::from(side);
            if side.exists() {
                restrict(&side)?;
            }
        }
        Ok(Db {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// Runs `f` with the connection, off the async threads when inside a tokio runtime.
    async fn run<T, F>(self: &Arc<Self>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> FailResult<T> + Send + 'static,
    {
        let db = Arc::clone(self);
        let job = move || {
            let mut conn = db.conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn).map_err(|fail| fail.into_store(&db.path))
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => rt.spawn_blocking(job).await.map_err(|e| {
                StoreError::Backend(format!("local store operation did not finish: {e}"))
            })?,
            Err(_) => job(),
        }
    }
}

/// Creates the schema in an empty database, or checks that an existing one is ours.
/// A database that holds other tables, or whose application id is not ours, is left alone.
fn init_schema(conn: &mut Connection, path: &Path) -> FailResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let app: i64 = tx.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if app == APPLICATION_ID {
        if version > SCHEMA_VERSION {
            return Err(StoreError::Backend(format!(
                "the local database {} has schema version {version}, newer than this console's \
                 {SCHEMA_VERSION}: upgrade mtls-console",
                path.display()
            ))
            .into());
        }
        if version < SCHEMA_VERSION {
            tx.execute_batch(COORDINATION_TABLE)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            tx.commit()?;
        }
        return Ok(());
    }
    let tables: i64 = tx.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
    if app != 0 || tables != 0 {
        // Not ours; the caller reports it by the application id.
        return Ok(());
    }
    tx.execute_batch(SCHEMA)?;
    tx.execute_batch(COORDINATION_TABLE)?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// Sets a file to 0600, whatever the umask made of it.
fn restrict(path: &Path) -> StoreResult<()> {
    std::fs::set_permissions(path, Permissions::from_mode(0o600)).map_err(|e| {
        StoreError::Backend(format!(
            "cannot make {} private (mode 0600): {e}; it must belong to you",
            path.display()
        ))
    })
}

fn sql_error(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Backend(format!(
            "the local database {} stayed locked by another process for more than {} s; retry \
             when it has finished",
            path.display(),
            BUSY_TIMEOUT.as_secs()
        )),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Backend(format!(
            "the local database {} is damaged ({e}); restore it from a backup",
            path.display()
        )),
        _ => StoreError::Backend(format!("local database {}: {e}", path.display())),
    }
}

/// A random hex string of `bytes` random bytes.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    hex::encode(buf)
}

/// An integer column from an unsigned count (SQLite integers are signed).
fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(dir: &Path) -> EnvConfig {
        EnvConfig {
            name: "unit".into(),
            data_dir: Some(dir.to_path_buf()),
            ..EnvConfig::default()
        }
    }

    #[test]
    fn works_outside_a_tokio_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let backend = open(&env(dir.path())).unwrap();
        assert!(
            futures::executor::block_on(backend.roster.list(false))
                .unwrap()
                .is_empty()
        );
        assert!(dir.path().join("unit.sqlite3").is_file());
    }

    #[test]
    fn the_schema_is_made_once_and_marked_as_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("unit.sqlite3");
        drop(open_at(&path, &env(dir.path())).unwrap());
        drop(open_at(&path, &env(dir.path())).unwrap());
        let conn = Connection::open(&path).unwrap();
        let ids: (i64, i64) = conn
            .query_row(
                "SELECT * FROM pragma_application_id, pragma_user_version",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(ids, (APPLICATION_ID, SCHEMA_VERSION));
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("unit.sqlite3");
        drop(open_at(&path, &env(dir.path())).unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = open_at(&path, &env(dir.path())).err().unwrap().to_string();
        assert!(err.contains("upgrade mtls-console"), "{err}");
    }

    #[test]
    fn a_commit_writes_the_vault_with_the_roster_or_nothing() {
        use crate::model::VaultItem;
        use crate::store::{ClientHead, Commit, Contended, HeadWrite, VaultWrite};
        use zeroize::Zeroizing;
        let dir = tempfile::tempdir().unwrap();
        let backend = open(&env(dir.path())).unwrap();
        assert!(backend.roster.commits_vault());
        let new_client = |id: &str| Commit {
            heads: vec![HeadWrite {
                head: ClientHead {
                    client_id: id.into(),
                    version: 0,
                    current: None,
                    claim: None,
                    updated_at: time::OffsetDateTime::now_utc(),
                },
                expect: 0,
            }],
            vault: vec![VaultWrite {
                item: VaultItem::ClientCert(id.into()),
                value: Zeroizing::new(format!("cert of {id}")),
            }],
            ..Commit::default()
        };
        futures::executor::block_on(backend.roster.commit(new_client("a"))).unwrap();
        let cert = |id: &str| {
            futures::executor::block_on(backend.vault.get(&VaultItem::ClientCert(id.into())))
                .unwrap()
                .map(|v| v.to_string())
        };
        assert_eq!(cert("a").as_deref(), Some("cert of a"));

        let mut again = new_client("a");
        again.vault[0].value = Zeroizing::new("second cert of a".into());
        let results =
            futures::executor::block_on(backend.roster.commit_each(vec![again, new_client("b")]));
        assert!(
            matches!(&results[0], Err(e) if e.contended() == Some(&Contended::Client("a".into()))),
            "{results:?}"
        );
        assert!(results[1].is_ok(), "{results:?}");
        assert_eq!(cert("a").as_deref(), Some("cert of a"));
        assert_eq!(cert("b").as_deref(), Some("cert of b"));
        let debug = format!("{:?}", new_client("c"));
        assert!(!debug.contains("cert of c"), "{debug}");
    }

    #[test]
    fn unsafe_environment_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["", "../etc", ".hidden", "a/b"] {
            let env = EnvConfig {
                name: name.into(),
                ..env(dir.path())
            };
            assert!(matches!(open(&env), Err(Error::Config(_))), "{name}");
        }
    }
}
