//! Rotations on moto over 200 clients, driven through the CLI binary the way an operator runs
//! them, killed (SIGKILL) at random points and resumed. After every run, killed or not, every
//! client must hold at least one cert that the gateway accepts (chain to the truststore version
//! in S3) and the deployed authorizer accepts (status active, now <= expiry, CN = client_id).

use std::collections::HashMap;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use mtls_console::config::EnvConfig;
use mtls_console::model::{CertRecord, CertStatus, VaultItem};
use mtls_console::ops::{self, Ctx, RotationPhase};
use mtls_console::pki;
use mtls_console::store::aws as aws_store;
use time::OffsetDateTime;

use super::env;
use crate::common::Home;

const CLIENTS: usize = 200;

fn cli(home: &Home, args: &[&str]) -> Command {
    let mut all = vec!["--env", "moto", "--yes"];
    all.extend_from_slice(args);
    let mut cmd = home.cmd(&all);
    cmd.envs([
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        // moto has no PutParameter quota; pacing at 3/s would only slow the test down.
        ("MTLS_CONSOLE_SSM_WRITES_PER_SEC", "1000"),
    ]);
    cmd
}

fn ok(home: &Home, args: &[&str]) -> String {
    let out = cli(home, args).output().unwrap();
    assert!(
        out.status.success(),
        "`{}` failed ({:?}):\n{}{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A small xorshift generator, seeded from the clock and printed, so a failing sequence of
/// kill points can be replayed with ROTATION_SEED.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("ROTATION_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("kill points seeded with ROTATION_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Every client holds a cert that both the gateway and the authorizer accept right now.
async fn assert_every_client_accepted(ctx: &Ctx, clients: &[String], when: &str) {
    let now = OffsetDateTime::now_utc();
    let (pem, _) = ctx
        .backend
        .truststore
        .current()
        .await
        .unwrap()
        .expect("a published truststore");
    let bundle = pki::parse_pem_certs(&pem, false).unwrap();
    let anchors: Vec<Vec<u8>> = bundle
        .iter()
        .filter(|d| pki::inspect(d).unwrap().self_signed)
        .cloned()
        .collect();
    let mut by_client: HashMap<String, Vec<CertRecord>> = HashMap::new();
    for rec in ctx.backend.roster.list(true).await.unwrap() {
        by_client
            .entry(rec.client_id.clone())
            .or_default()
            .push(rec);
    }
    let mut refused = Vec::new();
    for id in clients {
        let accepted = by_client.get(id).into_iter().flatten().any(|rec| {
            let Some(cert) = &rec.cert_pem else {
                return false;
            };
            let der = pki::parse_pem_certs(cert, false).unwrap().remove(0);
            let info = pki::inspect(&der).unwrap();
            rec.status == CertStatus::Active
                && now <= rec.expiry
                && ops::authorizer_cn(&info.subject) == Some(id.as_str())
                && pki::verify_chain(&der, &bundle, &anchors, now).ok
        });
        if !accepted {
            refused.push(id.clone());
        }
    }
    assert!(
        refused.is_empty(),
        "{when}: {} client(s) hold no accepted cert, e.g. {:?}",
        refused.len(),
        &refused[..refused.len().min(5)]
    );
}

/// Each client's current cert (active, not superseded) comes from the issuer `fp`, and no
/// client has two of them.
async fn assert_all_on(ctx: &Ctx, clients: &[String], fp: &str) {
    let now = OffsetDateTime::now_utc();
    let mut current: HashMap<String, Vec<CertRecord>> = HashMap::new();
    for rec in ctx.backend.roster.list(false).await.unwrap() {
        if rec.status == CertStatus::Active && rec.replaced_by.is_none() && now <= rec.expiry {
            current.entry(rec.client_id.clone()).or_default().push(rec);
        }
    }
    for id in clients {
        let certs = current.get(id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(certs.len(), 1, "{id} should hold exactly one current cert");
        assert_eq!(certs[0].issuer_fingerprint.as_deref(), Some(fp), "{id}");
    }
}

async fn setup(tag: &str) -> (EnvConfig, Home, Ctx, Vec<String>) {
    let env = env(tag);
    aws_store::init_infra(&env).await.unwrap();
    let home = super::home_for(&env, "client_key_algorithm = \"ecdsa-p256\"\n");
    ok(
        &home,
        &[
            "ca",
            "init",
            "--key-algorithm",
            "ecdsa-p256",
            "--intermediate-days",
            "1000",
        ],
    );
    let clients: Vec<String> = (0..CLIENTS).map(|i| format!("partner-{i:03}")).collect();
    let file = home.path().join("clients.json");
    let entries: Vec<serde_json::Value> = clients
        .iter()
        .map(|c| serde_json::json!({ "client_id": c }))
        .collect();
    std::fs::write(&file, serde_json::json!({ "clients": entries }).to_string()).unwrap();
    ok(&home, &["issue", "--from", file.to_str().unwrap()]);
    ok(&home, &["truststore", "publish"]);
    let ctx = Ctx::open(env.clone()).await.unwrap();
    assert_every_client_accepted(&ctx, &clients, "before the rotation").await;
    (env, home, ctx, clients)
}

/// Runs `start` (unless the rotation in the journal is already under way) then `--resume`
/// until the journal says done, killing each run after a random delay (some runs finish on
/// their own); checks the clients after every run. `earlier` is the id of a finished rotation
/// whose journal does not count.
async fn rotate_with_kills(
    home: &Home,
    ctx: &Ctx,
    clients: &[String],
    start: &[&str],
    earlier: Option<String>,
) -> usize {
    let mut rng = Rng::new();
    let mut kills = 0;
    let began = Instant::now();
    let first_id = earlier;
    for round in 0..80 {
        let journal = ops::rotation_status(ctx).await.unwrap();
        let ours = journal.filter(|j| Some(&j.id) != first_id.as_ref());
        let mut args = start.to_vec();
        match &ours {
            Some(j) if j.phase == RotationPhase::Done => return kills,
            Some(j) => {
                assert!(!j.phase.is_terminal(), "rotation ended as {:?}", j.phase);
                args.push("--resume");
            }
            None => {}
        }
        let mut child: Child = cli(home, &args).spawn().unwrap();
        // Kill points spread over the first seconds of a run, later rounds allowing longer
        // runs so that a slow machine still makes progress between kills.
        let delay = Duration::from_millis(50 + rng.below(2500 + 500 * round));
        let deadline = Instant::now() + delay;
        let mut finished = None;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                finished = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if finished.is_none() {
            let _ = child.kill();
            kills += 1;
        }
        // Reaps the child (a finished one reports the same status again).
        child.wait().unwrap();
        assert_every_client_accepted(
            ctx,
            clients,
            &format!(
                "after run {round} ({})",
                if finished.is_some() {
                    "finished"
                } else {
                    "killed"
                }
            ),
        )
        .await;
        // Waiting out the grace period: let it pass rather than spin.
        if finished.is_some_and(|s| s.success()) {
            std::thread::sleep(Duration::from_millis(500));
        }
        // A hang guard, not a speed target: alone these tests took 4.5 and 10 minutes on a
        // 2-core machine, and both passed 10 while the rest of the suite ran.
        assert!(
            began.elapsed() < Duration::from_secs(1200),
            "the rotation did not finish in 20 minutes"
        );
    }
    panic!("the rotation did not finish in 80 runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intermediate_rotation_survives_kills_and_keeps_every_client_accepted() {
    let (_env, home, ctx, clients) = setup("rotint").await;
    let before = ops::ca_show(&ctx).await.unwrap().intermediate.unwrap();

    // The dry run counts the clients and changes nothing.
    let plan = ok(&home, &["--json", "ca", "rotate-intermediate", "--dry-run"]);
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(plan["clients_to_move"], CLIENTS);
    assert!(ops::rotation_status(&ctx).await.unwrap().is_none());

    let kills = rotate_with_kills(
        &home,
        &ctx,
        &clients,
        &[
            "ca",
            "rotate-intermediate",
            "--grace",
            "3s",
            "--concurrency",
            "8",
        ],
        None,
    )
    .await;
    eprintln!("intermediate rotation finished after {kills} kill(s)");
    assert!(
        kills > 0,
        "no run was interrupted: the kill points missed the rotation"
    );

    let after = ops::ca_show(&ctx).await.unwrap().intermediate.unwrap();
    assert_ne!(before.fingerprint_sha256, after.fingerprint_sha256);
    assert_every_client_accepted(&ctx, &clients, "after the rotation").await;
    assert_all_on(&ctx, &clients, &after.fingerprint_sha256).await;

    // The final bundle dropped the old intermediate; the next-* slots are gone.
    let (pem, _) = ctx.backend.truststore.current().await.unwrap().unwrap();
    let subjects: Vec<String> = pki::parse_pem_certs(&pem, false)
        .unwrap()
        .iter()
        .map(|d| pki::inspect(d).unwrap().fingerprint_sha256)
        .collect();
    assert!(subjects.contains(&after.fingerprint_sha256));
    assert!(!subjects.contains(&before.fingerprint_sha256));
    assert_eq!(subjects.len(), 2, "intermediate + root");
    for item in [
        VaultItem::NextIntermediateKey,
        VaultItem::NextIntermediateCert,
    ] {
        assert!(ctx.backend.vault.get(&item).await.unwrap().is_none());
    }
    // Every superseded cert was revoked, none is left active under the old intermediate.
    let old_active = ctx
        .backend
        .roster
        .list(false)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| {
            r.status == CertStatus::Active
                && r.issuer_fingerprint.as_deref() == Some(before.fingerprint_sha256.as_str())
        })
        .count();
    assert_eq!(old_active, 0);
    // openssl agrees for a client cert from the new intermediate against the new bundle.
    let dir = home.path().join("verify");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bundle.pem"), &pem).unwrap();
    let cert = ctx
        .backend
        .vault
        .get(&VaultItem::ClientCert(clients[7].clone()))
        .await
        .unwrap()
        .unwrap();
    std::fs::write(dir.join("client.pem"), cert.as_str()).unwrap();
    let (verified, text) = crate::common::openssl(&[
        "verify",
        "-CAfile",
        dir.join("bundle.pem").to_str().unwrap(),
        dir.join("client.pem").to_str().unwrap(),
    ]);
    assert!(verified, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_and_client_rotations_with_kills() {
    let (_env, home, ctx, clients) = setup("rotroot").await;
    let root_before = ops::ca_show(&ctx).await.unwrap().root;

    // Root rotation: the first phases one explicit run each, clients checked after each;
    // then the moves and the retirement of the old root killed at random points and resumed.
    let base = ["ca", "rotate-root", "--grace", "2s", "--concurrency", "8"];
    let mut args = base.to_vec();
    args.extend(["--stop-after", "prepared"]);
    ok(&home, &args);
    assert_every_client_accepted(&ctx, &clients, "root rotation: prepared").await;
    let mut args = base.to_vec();
    args.extend(["--resume", "--stop-after", "published"]);
    ok(&home, &args);
    let j = ops::rotation_status(&ctx).await.unwrap().unwrap();
    assert_eq!(j.phase, RotationPhase::Published);
    assert_every_client_accepted(&ctx, &clients, "root rotation: published").await;
    // The dual-root bundle holds both roots and both intermediates.
    let (pem, _) = ctx.backend.truststore.current().await.unwrap().unwrap();
    assert_eq!(pki::parse_pem_certs(&pem, false).unwrap().len(), 4);
    let kills = rotate_with_kills(&home, &ctx, &clients, &base, None).await;
    eprintln!("root rotation finished after {kills} kill(s)");
    let j = ops::rotation_status(&ctx).await.unwrap().unwrap();
    assert_eq!(j.phase, RotationPhase::Done);
    let ca = ops::ca_show(&ctx).await.unwrap();
    assert_ne!(ca.root.fingerprint_sha256, root_before.fingerprint_sha256);
    assert_every_client_accepted(&ctx, &clients, "root rotation: done").await;
    let inter = ca.intermediate.unwrap();
    assert_eq!(inter.issuer, ca.root.subject);
    assert_all_on(&ctx, &clients, &inter.fingerprint_sha256).await;
    let (pem, _) = ctx.backend.truststore.current().await.unwrap().unwrap();
    assert_eq!(pki::parse_pem_certs(&pem, false).unwrap().len(), 2);

    // Client rotation of every client, killed at random points and resumed.
    let kills = rotate_with_kills(
        &home,
        &ctx,
        &clients,
        &[
            "rotate-clients",
            "--all",
            "--grace",
            "2s",
            "--concurrency",
            "8",
        ],
        Some(j.id.clone()),
    )
    .await;
    eprintln!("client rotation finished after {kills} kill(s)");
    assert_every_client_accepted(&ctx, &clients, "client rotation: done").await;
    assert_all_on(&ctx, &clients, &inter.fingerprint_sha256).await;
    // Every client's current cert is one the client rotation issued.
    let j = ops::rotation_status(&ctx).await.unwrap().unwrap();
    let renewed = ctx
        .backend
        .roster
        .list(false)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.status == CertStatus::Active && r.replaced_by.is_none())
        .filter(|r| r.issued_at >= j.started_at)
        .count();
    assert_eq!(renewed, CLIENTS);
}
