//! Finding 12: the fault-injecting store drives every multi-step operation through each of
//! its store calls, once as a crash there (that call and every later one fail, as if the
//! process died) and once as a single failed call. After each, an operator's recovery (the
//! same command again, `--resume`, `repair`) must leave the invariants intact. Every
//! operation is swept on the embedded backend; the per-client ones on moto as well.

use std::sync::Arc;

use mtls_console::model::RevocationReason;
use mtls_console::ops::{
    self, CaInitOptions, Ctx, IssueOptions, ReissueOptions, RevokeScope, RotationKind,
    RotationOptions, RotationPhase,
};
use mtls_console::pki::{KeyAlgorithm, Subject};
use mtls_console::store::faulty::{self, Faults};
use time::Duration;

use super::{Site, Tally, check, record};

#[derive(Debug, Clone, Copy)]
enum Op {
    CaInit,
    Issue,
    Bulk,
    Reissue,
    Revoke,
    Publish,
    Rollback,
    Rotation,
}

/// Where the sweep runs: a fresh embedded store or fresh moto resources per run.
#[derive(Debug, Clone, Copy)]
enum Place {
    Embedded,
    Moto,
}

impl Place {
    async fn site(self, tag: &str) -> Site {
        match self {
            Place::Embedded => Site::local(),
            Place::Moto => Site::moto(tag, mtls_console::config::VaultKind::Ssm).await,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Crash,
    FailOne,
}

fn ca_options() -> CaInitOptions {
    CaInitOptions {
        root_only: false,
        key_algorithm: KeyAlgorithm::EcdsaP256,
        subject: Subject::default(),
        root_days: 3650,
        intermediate_days: 1825,
    }
}

fn client(id: &str) -> IssueOptions {
    IssueOptions {
        client: id.into(),
        cn: None,
        days: None,
        key: None,
    }
}

fn bulk() -> Vec<IssueOptions> {
    (1..=4).map(|i| client(&format!("bulk-{i}"))).collect()
}

fn rotation() -> RotationOptions {
    RotationOptions {
        grace: Duration::ZERO,
        ..RotationOptions::default()
    }
}

/// A self-signed CA certificate to pin, so a second publish writes a different bundle.
fn pinned_ca(site: &Site) -> std::path::PathBuf {
    let dir = site.home.path();
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-subj", "/CN=Pinned Partner CA", "-days", "30"])
        .arg("-addext")
        .arg("basicConstraints=critical,CA:TRUE")
        .arg("-keyout")
        .arg(dir.join("pinned.key"))
        .arg("-out")
        .arg(dir.join("pinned.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("pinned.pem")
}

/// The state the operation starts from; returns the truststore version a rollback targets.
async fn setup(op: Op, site: &Site) -> Option<String> {
    if matches!(op, Op::CaInit) {
        return None;
    }
    let ctx = site.ctx().await;
    ops::ca_init(&ctx, &ca_options()).await.unwrap();
    if matches!(op, Op::Bulk | Op::Issue) {
        ops::truststore_publish(&ctx, false).await.unwrap();
        return None;
    }
    ops::issue(&ctx, &client("f1")).await.unwrap();
    if matches!(op, Op::Rotation) {
        ops::issue(&ctx, &client("f2")).await.unwrap();
    }
    if matches!(op, Op::Publish) {
        return None;
    }
    let v1 = ops::truststore_publish(&ctx, false).await.unwrap();
    if matches!(op, Op::Rollback) {
        let mut env = site.env.clone();
        env.pinned_cas = vec![pinned_ca(site)];
        let pinned = Ctx::open(env).await.unwrap();
        ops::truststore_publish(&pinned, false).await.unwrap();
        return Some(v1.version.version_id);
    }
    None
}

/// The operation itself, on `ctx` (possibly faulty). Errors are expected.
async fn run(op: Op, ctx: &Ctx, version: Option<&str>) -> Result<(), String> {
    let r = match op {
        Op::CaInit => ops::ca_init(ctx, &ca_options()).await.map(drop),
        Op::Issue => ops::issue(ctx, &client("f1")).await.map(drop),
        Op::Bulk => ops::issue_bulk(ctx, &bulk(), None).await.map(drop),
        Op::Reissue => ops::reissue(
            ctx,
            "f1",
            &ReissueOptions {
                rekey: true,
                grace: None,
                days: None,
                key_algorithm: None,
            },
        )
        .await
        .map(drop),
        Op::Revoke => ops::revoke(
            ctx,
            "f1",
            RevocationReason::KeyCompromise,
            Some("sweep"),
            RevokeScope::All,
        )
        .await
        .map(drop),
        Op::Publish => ops::truststore_publish(ctx, false).await.map(drop),
        Op::Rollback => ops::truststore_rollback(ctx, version.unwrap(), true)
            .await
            .map(drop),
        Op::Rotation => ops::rotation_run(ctx, RotationKind::Intermediate, &rotation(), false)
            .await
            .map(drop),
    };
    r.map_err(|e| e.to_string())
}

/// The crashed process is gone: its leases and claims name a PID that no longer runs
/// (Linux PIDs stop at 4194304), as after a real `kill -9`.
async fn bury_this_process(site: &Site) {
    let ours = format!("\"pid\":{},", std::process::id());
    let dead = "\"pid\":4194305,";
    if !site.aws {
        let db = site.env.data_dir.as_ref().unwrap().join("t.sqlite3");
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute(
            "UPDATE coordination SET body = replace(body, ?1, ?2)",
            [ours.as_str(), dead],
        )
        .unwrap();
        return;
    }
    use aws_sdk_dynamodb::types::AttributeValue;
    let raw = crate::aws::raw(&site.env).await;
    let rows = raw
        .dynamo
        .scan()
        .table_name(&site.env.coordination_table)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    for mut row in rows {
        let Some(AttributeValue::S(body)) = row.get("body") else {
            continue;
        };
        if body.contains(&ours) {
            let body = body.replace(&ours, dead);
            row.insert("body".into(), AttributeValue::S(body));
            raw.dynamo
                .put_item()
                .table_name(&site.env.coordination_table)
                .set_item(Some(row))
                .send()
                .await
                .unwrap();
        }
    }
}

/// What an operator does after the failure: `repair`, then the command again (or
/// `--resume`) until its effect is there.
async fn recover(op: Op, site: &Site, version: Option<&str>) {
    bury_this_process(site).await;
    let ctx = site.ctx().await;
    if !matches!(op, Op::CaInit | Op::Publish | Op::Rollback) {
        ops::repair(&ctx, true).await.unwrap();
    }
    let current = |id: &'static str| {
        let ctx = &ctx;
        async move {
            ctx.backend
                .roster
                .client_items(id)
                .await
                .unwrap()
                .records
                .iter()
                .any(|c| c.status == mtls_console::model::CertStatus::Active)
        }
    };
    match op {
        Op::CaInit => {
            if let Err(e) = ops::ca_init(&ctx, &ca_options()).await {
                assert!(e.to_string().contains("a CA already exists"), "{e}");
            }
            ops::issue(&ctx, &client("f1")).await.unwrap();
            ops::truststore_publish(&ctx, false).await.unwrap();
        }
        Op::Issue => {
            if !current("f1").await {
                ops::issue(&ctx, &client("f1")).await.unwrap();
            }
        }
        Op::Bulk => {
            let report = ops::issue_bulk(&ctx, &bulk(), None).await.unwrap();
            assert!(report.failed.is_empty(), "{:?}", report.failed);
        }
        Op::Reissue => {}
        Op::Revoke => {
            if current("f1").await {
                run(op, &ctx, None).await.unwrap();
            }
        }
        Op::Publish => {
            ops::truststore_publish(&ctx, false).await.unwrap();
        }
        Op::Rollback => {
            ops::truststore_rollback(&ctx, version.unwrap(), true)
                .await
                .unwrap();
        }
        Op::Rotation => {
            let unfinished = ops::rotation_status(&ctx)
                .await
                .unwrap()
                .is_some_and(|j| !matches!(j.phase, RotationPhase::Done | RotationPhase::Aborted));
            if unfinished {
                ops::rotation_run(&ctx, RotationKind::Intermediate, &rotation(), true)
                    .await
                    .unwrap();
            }
        }
    }
    if !matches!(op, Op::CaInit | Op::Publish | Op::Rollback) {
        ops::repair(&ctx, true).await.unwrap();
    }
}

/// One fresh site, the operation with the fault at store call `n`, recovery, the check.
async fn once(place: Place, op: Op, mode: Mode, n: usize) -> (Result<(), String>, Tally) {
    let tag = format!("fs-{op:?}-{mode:?}-{n}").to_lowercase();
    let site = place.site(&tag).await;
    let version = setup(op, &site).await;
    let faults = Faults::new();
    match mode {
        Mode::Crash => faults.crash_at(n),
        Mode::FailOne => faults.fail_call(n),
    }
    let backend = site.ctx().await.backend;
    let ctx = Ctx::new(site.env.clone(), faulty::wrap(backend, Arc::clone(&faults)));
    let result = run(op, &ctx, version.as_deref()).await;
    drop(ctx);
    recover(op, &site, version.as_deref()).await;
    (result, check(&site).await)
}

/// How many store calls the operation makes when nothing fails.
async fn calls(place: Place, op: Op) -> usize {
    let site = place.site(&format!("fs-{op:?}-count").to_lowercase()).await;
    let version = setup(op, &site).await;
    let faults = Faults::new();
    let backend = site.ctx().await.backend;
    let ctx = Ctx::new(site.env.clone(), faulty::wrap(backend, Arc::clone(&faults)));
    run(op, &ctx, version.as_deref()).await.unwrap();
    let n = faults.calls().len();
    assert!(n > 1, "{op:?} makes {n} store calls");
    n
}

async fn sweep(place: Place, op: Op) {
    let total = calls(place, op).await;
    let mut failed_runs = 0;
    let mut problems = Vec::new();
    let mut sum = Tally::default();
    for mode in [Mode::Crash, Mode::FailOne] {
        for n in 1..=total {
            let (result, tally) = once(place, op, mode, n).await;
            if matches!(mode, Mode::Crash) && n == 1 {
                assert!(
                    result.is_err(),
                    "{op:?} reports a store that fails from its first call"
                );
            }
            failed_runs += usize::from(result.is_err());
            sum.clients = sum.clients.max(tally.clients);
            sum.lost += tally.lost;
            sum.stale_vault += tally.stale_vault;
            sum.missing_audit += tally.missing_audit;
            for p in tally.problems {
                problems.push(format!(
                    "{place:?} {op:?} {mode:?} at call {n}/{total}: {p}"
                ));
            }
        }
    }
    record(
        &format!("{op:?}: a crash and a failure at each of its {total} store calls, then recovery"),
        match place {
            Place::Embedded => "embedded",
            Place::Moto => "moto",
        },
        2 * total,
        failed_runs,
        &sum,
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_failure_point_of_ca_init() {
    sweep(Place::Embedded, Op::CaInit).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_failure_point_of_issue() {
    sweep(Place::Embedded, Op::Issue).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_failure_point_of_bulk_issue() {
    sweep(Place::Embedded, Op::Bulk).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_failure_point_of_reissue() {
    sweep(Place::Embedded, Op::Reissue).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_failure_point_of_revoke() {
    sweep(Place::Embedded, Op::Revoke).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_failure_point_of_publish() {
    sweep(Place::Embedded, Op::Publish).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_failure_point_of_rollback() {
    sweep(Place::Embedded, Op::Rollback).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_failure_point_of_rotation() {
    sweep(Place::Embedded, Op::Rotation).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_failure_point_of_issue_on_moto() {
    sweep(Place::Moto, Op::Issue).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_failure_point_of_revoke_on_moto() {
    sweep(Place::Moto, Op::Revoke).await;
}
