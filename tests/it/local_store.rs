//! The embedded backend through its public API: DynamoDB-like conditions, S3-like truststore
//! versions, SSM-like vault versions, the append-only audit log, file permissions, and races
//! between threads and between two OS processes.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mtls_console::config::EnvConfig;
use mtls_console::model::{
    AuditOutcome, AuditRecord, CertRecord, CertStatus, RevocationReason, VaultItem,
};
use mtls_console::store::local::{open, open_at};
use mtls_console::store::{Backend, Expect, RosterWrite, StoreError};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::datetime;

fn env_in(dir: &Path) -> EnvConfig {
    EnvConfig {
        name: "test".into(),
        data_dir: Some(dir.to_path_buf()),
        ..EnvConfig::default()
    }
}

/// A fresh database in a temporary directory.
fn fresh() -> (tempfile::TempDir, PathBuf, Backend) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.sqlite3");
    let backend = open_at(&path, &env_in(dir.path())).unwrap();
    (dir, path, backend)
}

fn cert(serial: &str, client_id: &str) -> CertRecord {
    CertRecord {
        serial: serial.into(),
        client_id: client_id.into(),
        client_name: client_id.into(),
        status: CertStatus::Active,
        issued_at: datetime!(2025-01-31 12:00:00 UTC),
        not_before: Some(datetime!(2025-01-31 11:55:00 UTC)),
        expiry: datetime!(2026-03-02 12:00:00 UTC),
        ttl: datetime!(2026-05-31 12:00:00 UTC).unix_timestamp(),
        not_after: Some(datetime!(2026-03-02 12:00:00 UTC)),
        cert_pem: Some(format!(
            "-----BEGIN CERTIFICATE-----\n{serial}\n-----END CERTIFICATE-----\n"
        )),
        fingerprint: Some("ab".repeat(32)),
        issuer: Some("CN=Test Intermediate".into()),
        issuer_fingerprint: Some("cd".repeat(32)),
        key_algorithm: Some("ecdsa-p256".into()),
        key_held: true,
        revoked_at: None,
        revocation_reason: None,
        revoked_by: None,
        revocation_note: None,
        replaces: None,
        replaced_by: None,
        version: 0,
    }
}

fn revoked(mut rec: CertRecord, by: &str) -> CertRecord {
    rec.status = CertStatus::Revoked;
    rec.revoked_at = Some(datetime!(2025-06-01 08:00:00 UTC));
    rec.revocation_reason = Some(RevocationReason::KeyCompromise);
    rec.revoked_by = Some(by.into());
    rec
}

fn conflict_message(result: Result<(), StoreError>) -> String {
    match result {
        Err(StoreError::Conflict { message: m, .. }) => m,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn side_file(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[tokio::test]
async fn open_creates_a_private_directory_and_private_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data").join("mtls-console");
    let backend = open(&env_in(&data_dir)).unwrap();
    let db = data_dir.join("test.sqlite3");
    backend
        .roster
        .transact(vec![RosterWrite::Put(cert("1", "a"))])
        .await
        .unwrap();

    assert_eq!(mode(&data_dir), 0o700);
    for file in [db.clone(), side_file(&db, "-wal"), side_file(&db, "-shm")] {
        assert!(file.exists(), "{} is missing", file.display());
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    assert_eq!(backend.description, format!("local ({})", db.display()));
    assert!(!backend.operator.is_empty());
    assert_eq!(
        backend.truststore.location(),
        format!("local:{}#truststore.pem", db.display())
    );
}

#[tokio::test]
async fn loose_permissions_are_tightened_on_open() {
    let (dir, path, backend) = fresh();
    drop(backend);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _backend = open_at(&path, &env_in(dir.path())).unwrap();
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn a_file_that_is_not_a_database_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.sqlite3");
    std::fs::write(
        &path,
        "this is a text file, not an SQLite database\n".repeat(20),
    )
    .unwrap();
    let err = open_at(&path, &env_in(dir.path()))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("not an mtls-console database"), "{err}");
    assert!(err.contains("move it aside"), "{err}");
}

#[test]
fn another_programs_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.sqlite3");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
        .unwrap();
    let err = open_at(&path, &env_in(dir.path()))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not an mtls-console database"), "{err}");
}

#[test]
fn an_uncreatable_directory_is_reported_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "x").unwrap();
    let err = open(&env_in(&blocker.join("sub")))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("cannot create the data directory"), "{err}");
    assert!(
        err.contains(&blocker.join("sub").display().to_string()),
        "{err}"
    );
    assert!(err.contains("data_dir"), "{err}");
}

#[tokio::test]
async fn items_round_trip_and_listings_leave_out_the_pem() {
    let (_dir, _path, backend) = fresh();
    let roster = &backend.roster;
    let mut older = cert("100", "acme");
    older.issued_at = datetime!(2024-01-01 00:00:00 UTC);
    roster
        .transact(vec![
            RosterWrite::Put(cert("200", "acme")),
            RosterWrite::Put(older.clone()),
            RosterWrite::Put(cert("300", "other")),
        ])
        .await
        .unwrap();

    assert_eq!(roster.get("200").await.unwrap(), Some(cert("200", "acme")));
    assert_eq!(roster.get("999").await.unwrap(), None);

    let listed = roster.list(false).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|r| r.cert_pem.is_none()));
    let mut with_pem = roster.list(true).await.unwrap();
    with_pem.sort_by(|a, b| a.serial.cmp(&b.serial));
    assert_eq!(
        with_pem,
        vec![older.clone(), cert("200", "acme"), cert("300", "other")]
    );

    let mine = roster.by_client("acme").await.unwrap();
    assert_eq!(mine, vec![older, cert("200", "acme")]);
}

#[tokio::test]
async fn putting_an_existing_serial_conflicts() {
    let (_dir, _path, backend) = fresh();
    let roster = &backend.roster;
    roster
        .transact(vec![RosterWrite::Put(cert("1234", "a"))])
        .await
        .unwrap();
    let msg = conflict_message(
        roster
            .transact(vec![RosterWrite::Put(cert("1234", "b"))])
            .await,
    );
    assert!(msg.contains("certificate 1234"), "{msg}");
    assert_eq!(roster.get("1234").await.unwrap().unwrap().client_id, "a");
}

#[tokio::test]
async fn updates_are_conditional_on_version_and_status() {
    let (_dir, _path, backend) = fresh();
    let roster = &backend.roster;
    roster
        .transact(vec![RosterWrite::Put(cert("1234", "a"))])
        .await
        .unwrap();

    let revoke = |version| {
        RosterWrite::Update(
            revoked(cert("1234", "a"), "alice"),
            Expect {
                version,
                active: true,
            },
        )
    };
    roster.transact(vec![revoke(0)]).await.unwrap();
    let stored = roster.get("1234").await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.status, CertStatus::Revoked);
    assert_eq!(stored.revoked_by.as_deref(), Some("alice"));

    let stale = conflict_message(roster.transact(vec![revoke(0)]).await);
    assert_eq!(
        stale,
        "certificate 1234 was changed by someone else (expected version 0, found 1); reload and retry"
    );
    let inactive = conflict_message(roster.transact(vec![revoke(1)]).await);
    assert_eq!(inactive, "certificate 1234 is not active (revoked)");

    // Without the status condition the same update goes through, and bumps the version.
    let mut note = revoked(cert("1234", "a"), "bob");
    note.version = 77;
    roster
        .transact(vec![RosterWrite::Update(
            note,
            Expect {
                version: 1,
                active: false,
            },
        )])
        .await
        .unwrap();
    let stored = roster.get("1234").await.unwrap().unwrap();
    assert_eq!(
        (stored.version, stored.revoked_by.as_deref()),
        (2, Some("bob"))
    );

    let missing = conflict_message(
        roster
            .transact(vec![RosterWrite::Update(
                cert("555", "x"),
                Expect {
                    version: 0,
                    active: false,
                },
            )])
            .await,
    );
    assert!(missing.contains("certificate 555"), "{missing}");
}

#[tokio::test]
async fn a_transaction_with_one_failing_write_changes_nothing() {
    let (_dir, _path, backend) = fresh();
    let roster = &backend.roster;
    roster
        .transact(vec![
            RosterWrite::Put(cert("1", "a")),
            RosterWrite::Put(cert("2", "b")),
        ])
        .await
        .unwrap();
    let before = roster.list(true).await.unwrap();

    // Rotation: revoke 1 and put its successor, but the revoke's condition fails at the end.
    let mut successor = cert("3", "a");
    successor.replaces = Some("1".into());
    let msg = conflict_message(
        roster
            .transact(vec![
                RosterWrite::Put(successor),
                RosterWrite::Update(
                    revoked(cert("2", "b"), "x"),
                    Expect {
                        version: 0,
                        active: true,
                    },
                ),
                RosterWrite::Update(
                    revoked(cert("1", "a"), "x"),
                    Expect {
                        version: 9,
                        active: true,
                    },
                ),
            ])
            .await,
    );
    assert!(msg.contains("certificate 1 "), "{msg}");
    assert_eq!(roster.get("3").await.unwrap(), None);
    assert_eq!(roster.list(true).await.unwrap(), before);

    // Two writes on one item are refused before anything is looked at, as DynamoDB does.
    let err = roster
        .transact(vec![
            RosterWrite::Put(cert("4", "c")),
            RosterWrite::Put(cert("4", "c")),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    assert_eq!(roster.get("4").await.unwrap(), None);
}

#[tokio::test]
async fn legacy_items_written_by_other_tooling_are_read_and_updated() {
    let (_dir, path, backend) = fresh();
    // An item as the pre-console scripts wrote it: no client_id, notBefore or version,
    // Python isoformat() times, and an attribute the console does not know.
    let item = r#"{"serialNumber":{"S":"4242"},"clientName":{"S":"legacy-client"},
        "status":{"S":"active"},"issuedAt":{"S":"2024-02-01T10:00:00.123456"},
        "expiry":{"S":"2025-03-02T10:00:00+00:00"},"ttl":{"N":"1748685600"},
        "owner":{"S":"team-x"}}"#;
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO roster (serialNumber, client_id, status, issuedAt, version, item)
             VALUES ('4242', 'legacy-client', 'active', '2024-02-01T10:00:00Z', 0, ?1)",
            [item],
        )
        .unwrap();

    let rec = backend.roster.get("4242").await.unwrap().unwrap();
    assert_eq!(rec.client_id, "legacy-client");
    assert_eq!(rec.client_name, "legacy-client");
    assert_eq!(rec.not_before, None);
    assert_eq!(rec.version, 0);
    assert_eq!(rec.expiry, datetime!(2025-03-02 10:00:00 UTC));
    assert_eq!(rec.cert_pem, None);
    assert_eq!(
        backend.roster.by_client("legacy-client").await.unwrap(),
        vec![rec.clone()]
    );

    let revoke = RosterWrite::Update(
        revoked(rec, "alice"),
        Expect {
            version: 0,
            active: true,
        },
    );
    backend.roster.transact(vec![revoke]).await.unwrap();
    let rec = backend.roster.get("4242").await.unwrap().unwrap();
    assert_eq!((rec.status, rec.version), (CertStatus::Revoked, 1));

    // An expiry nobody can read is an error naming the serial, not a silent default.
    let bad = item
        .replace("2025-03-02T10:00:00+00:00", "someday")
        .replace("4242", "4343");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO roster (serialNumber, client_id, status, issuedAt, version, item)
             VALUES ('4343', 'legacy-client', 'active', '2024-02-01T10:00:00Z', 0, ?1)",
            [bad],
        )
        .unwrap();
    let err = backend.roster.get("4343").await.unwrap_err().to_string();
    assert!(err.contains("4343") && err.contains("someday"), "{err}");
}

#[tokio::test]
async fn the_vault_keeps_ssm_names_kinds_and_versions() {
    let (_dir, path, backend) = fresh();
    let vault = &backend.vault;
    let key = VaultItem::IntermediateKey;
    let cert_item = VaultItem::ClientCert("acme".into());
    assert_eq!(
        vault.name_of(&key),
        "/apigw-mtls/test/ca/intermediate/private-key"
    );

    assert_eq!(vault.get(&key).await.unwrap(), None);
    vault.put(&key, "KEY-1", false).await.unwrap();
    vault.put(&cert_item, "CERT-1", false).await.unwrap();
    let msg = match vault.put(&key, "KEY-2", false).await {
        Err(StoreError::Conflict { message: m, .. }) => m,
        other => panic!("expected a conflict, got {other:?}"),
    };
    assert!(
        msg.contains("/apigw-mtls/test/ca/intermediate/private-key"),
        "{msg}"
    );
    assert!(!msg.contains("KEY-1") && !msg.contains("KEY-2"), "{msg}");
    assert_eq!(vault.get(&key).await.unwrap().unwrap().as_str(), "KEY-1");

    for n in 2..=106 {
        vault.put(&key, &format!("KEY-{n}"), true).await.unwrap();
    }
    assert_eq!(vault.get(&key).await.unwrap().unwrap().as_str(), "KEY-106");
    assert!(matches!(
        vault.put(&key, "", true).await,
        Err(StoreError::Invalid(_))
    ));

    let conn = rusqlite::Connection::open(&path).unwrap();
    let (kind, version): (String, i64) = conn
        .query_row(
            "SELECT kind, version FROM vault WHERE name = '/apigw-mtls/test/ca/intermediate/private-key'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((kind.as_str(), version), ("SecureString", 106));
    let cert_kind: String = conn
        .query_row(
            "SELECT kind FROM vault WHERE name = '/apigw-mtls/test/clients/acme/certificate'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(cert_kind, "String");
    // Like SSM: the last 100 versions, i.e. the current one and 99 older ones.
    let (count, oldest, newest, oldest_value): (i64, i64, i64, String) = conn
        .query_row(
            "SELECT count(*), min(version), max(version),
                    (SELECT value FROM vault_history WHERE version = 7)
             FROM vault_history",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        (count, oldest, newest, oldest_value.as_str()),
        (99, 7, 105, "KEY-7")
    );
}

#[tokio::test]
async fn the_truststore_is_versioned_and_conditional_like_s3() {
    let (_dir, _path, backend) = fresh();
    let ts = &backend.truststore;
    assert_eq!(ts.current().await.unwrap(), None);
    assert!(ts.history().await.unwrap().is_empty());

    let v1 = ts.put("BUNDLE-1", None).await.unwrap();
    let sha = hex::encode(Sha256::digest(b"BUNDLE-1"));
    assert_eq!(v1.etag, format!("\"{sha}\""));
    assert_eq!(v1.size, 8);
    assert!(v1.is_latest);
    assert_eq!(v1.version_id.len(), 32);

    let exists = ts.put("BUNDLE-X", None).await.unwrap_err();
    assert!(matches!(exists, StoreError::Conflict { .. }), "{exists}");
    let moved = ts.put("BUNDLE-X", Some("\"0000\"")).await.unwrap_err();
    assert!(matches!(moved, StoreError::Conflict { .. }), "{moved}");

    let v2 = ts.put("BUNDLE-2", Some(&v1.etag)).await.unwrap();
    let v3 = ts
        .put("BUNDLE-3", Some(v2.etag.trim_matches('"')))
        .await
        .unwrap();
    let stale = ts.put("BUNDLE-X", Some(&v2.etag)).await.unwrap_err();
    assert!(stale.to_string().contains(&v3.version_id), "{stale}");

    let history = ts.history().await.unwrap();
    let ids: Vec<&str> = history.iter().map(|v| v.version_id.as_str()).collect();
    assert_eq!(ids, [&v3.version_id, &v2.version_id, &v1.version_id]);
    let latest: Vec<bool> = history.iter().map(|v| v.is_latest).collect();
    assert_eq!(latest, [true, false, false]);

    let (content, current) = ts.current().await.unwrap().unwrap();
    assert_eq!((content.as_str(), current), ("BUNDLE-3", v3.clone()));
    assert_eq!(ts.get_version(&v1.version_id).await.unwrap(), "BUNDLE-1");
    assert!(matches!(
        ts.get_version("nope").await,
        Err(StoreError::NotFound(_))
    ));
}

fn audit(id: &str, at: OffsetDateTime) -> AuditRecord {
    AuditRecord {
        id: id.into(),
        at,
        operator: "alice".into(),
        action: "revoke".into(),
        target: "1234".into(),
        outcome: AuditOutcome::Ok,
        detail: "reason keyCompromise".into(),
    }
}

#[tokio::test]
async fn the_audit_log_is_append_only_down_to_the_database() {
    let (_dir, path, backend) = fresh();
    let log = &backend.audit;
    let first = audit("1-a", datetime!(2025-01-01 10:00:00.25 UTC));
    let second = audit("2-b", datetime!(2025-01-01 10:00:01 UTC));
    let third = audit("3-c", datetime!(2025-01-01 12:00:00 +02:00));
    for r in [&first, &third, &second] {
        log.append(r).await.unwrap();
    }
    assert_eq!(
        log.recent(10).await.unwrap(),
        vec![second.clone(), first.clone(), third]
    );
    assert_eq!(log.recent(1).await.unwrap(), vec![second]);
    assert!(matches!(
        log.append(&first).await,
        Err(StoreError::Conflict { .. })
    ));

    let conn = rusqlite::Connection::open(&path).unwrap();
    for sql in [
        "UPDATE audit SET detail = 'nothing happened'",
        "DELETE FROM audit WHERE id = '1-a'",
        "INSERT OR REPLACE INTO audit (id, at, atNanos, operator, action, target, outcome, detail)
         VALUES ('1-a', 'x', 0, 'mallory', 'none', 'none', 'ok', 'rewritten')",
    ] {
        let err = conn.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(log.recent(10).await.unwrap().len(), 3);
}

/// Serial raced over by the concurrency tests.
const RACED: &str = "1000";

/// Revokes RACED on condition of version 0 and active; Ok(()) for the winner.
async fn race_revoke(backend: &Backend, who: &str) -> Result<(), StoreError> {
    let rec = revoked(cert(RACED, "racer"), who);
    backend
        .roster
        .transact(vec![RosterWrite::Update(
            rec,
            Expect {
                version: 0,
                active: true,
            },
        )])
        .await
}

async fn seeded() -> (tempfile::TempDir, PathBuf) {
    let (dir, path, backend) = fresh();
    backend
        .roster
        .transact(vec![RosterWrite::Put(cert(RACED, "racer"))])
        .await
        .unwrap();
    (dir, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_threads_let_exactly_one_conditional_update_win() {
    let (dir, path) = seeded().await;
    let env = env_in(dir.path());
    let shared = open_at(&path, &env).unwrap();
    let mut tasks = Vec::new();
    for n in 0..8 {
        // Half on their own connection, half sharing one.
        let backend = if n % 2 == 0 {
            open_at(&path, &env).unwrap()
        } else {
            shared.clone()
        };
        tasks.push(tokio::spawn(async move {
            race_revoke(&backend, &format!("task-{n}")).await
        }));
    }
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => wins += 1,
            Err(StoreError::Conflict { message: m, .. }) => {
                assert!(m.contains("certificate 1000"), "{m}")
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(shared.roster.get(RACED).await.unwrap().unwrap().version, 1);
}

const CHILD_DB: &str = "MTLS_LOCAL_STORE_CHILD_DB";
const CHILD_NAME: &str = "MTLS_LOCAL_STORE_CHILD_NAME";
const CHILD_GO: &str = "MTLS_LOCAL_STORE_CHILD_GO";

/// The child side of the two-process race; does nothing unless started by that test.
#[test]
fn child_entry() {
    let (Ok(db), Ok(name), Ok(go)) = (
        std::env::var(CHILD_DB),
        std::env::var(CHILD_NAME),
        std::env::var(CHILD_GO),
    ) else {
        return;
    };
    let db = PathBuf::from(db);
    let go = PathBuf::from(go);
    let backend = open_at(&db, &env_in(db.parent().unwrap())).unwrap();
    std::fs::write(go.with_extension(format!("ready-{name}")), "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !go.exists() {
        assert!(Instant::now() < deadline, "no go signal");
        std::thread::sleep(Duration::from_millis(1));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let outcome = match rt.block_on(race_revoke(&backend, &name)) {
        Ok(()) => "ok".to_string(),
        Err(StoreError::Conflict { message: m, .. }) => format!("conflict: {m}"),
        Err(e) => format!("error: {e}"),
    };
    // On a line of its own: libtest prints the test's name on the current one.
    println!("\nCHILD-OUTCOME={outcome}");
}

#[tokio::test]
async fn racing_processes_let_exactly_one_conditional_update_win() {
    let (dir, path) = seeded().await;
    let go = dir.path().join("go");
    let children: Vec<_> = ["one", "two"]
        .into_iter()
        .map(|name| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "local_store::child_entry",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_DB, &path)
                .env(CHILD_NAME, name)
                .env(CHILD_GO, &go)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    for name in ["one", "two"] {
        while !go.with_extension(format!("ready-{name}")).exists() {
            assert!(Instant::now() < deadline, "child {name} never got ready");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    std::fs::write(&go, "").unwrap();

    let mut outcomes = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = stdout
            .lines()
            .find_map(|l| l.split_once("CHILD-OUTCOME=").map(|(_, outcome)| outcome))
            .unwrap_or_else(|| panic!("the child ran no race:\n{stdout}"))
            .to_string();
        outcomes.push(line);
    }
    outcomes.sort();
    assert_eq!(outcomes[1], "ok", "{outcomes:?}");
    assert_eq!(
        outcomes[0],
        "conflict: certificate 1000 was changed by someone else (expected version 0, found 1); \
         reload and retry"
    );
    let backend = open_at(&path, &env_in(dir.path())).unwrap();
    let stored = backend.roster.get(RACED).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.version), (CertStatus::Revoked, 1));
}
