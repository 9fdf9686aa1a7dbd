//! Real OS processes of the binary racing, and `kill -9` of the binary by its PID, on the
//! embedded backend and on moto; every scenario ends with the invariant check.

use std::time::Duration;

use mtls_console::config::VaultKind;
use mtls_console::ops;

use super::{Site, check, ids, race, report, settled, text};
use crate::common::code;

/// Finding 1: two rotations at once. One run holds the `ca` lease; the other is refused
/// naming it (or, when the first already finished, runs a rotation of its own after it).
async fn rotations(site: &Site, rounds: usize) {
    site.bootstrap(&ids("rot", 6));
    let mut contended = 0;
    for _ in 0..rounds {
        let run = vec!["ca", "rotate-intermediate", "--yes", "--grace", "0s"];
        let outs = race(site, &[run.clone(), run]);
        contended += settled(&outs);
        let ctx = site.ctx().await;
        let journal = ops::rotation_status(&ctx).await.unwrap();
        assert!(
            journal.is_none_or(|j| j.phase == ops::RotationPhase::Done),
            "a finished race leaves no rotation in progress"
        );
    }
    let ctx = site.ctx().await;
    let starts = ctx
        .backend
        .audit
        .recent(100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| {
            r.action == "rotation.start" && r.outcome == mtls_console::model::AuditOutcome::Ok
        })
        .count();
    assert_eq!(
        starts,
        2 * rounds - contended,
        "one rotation.start per run that ran"
    );
    report(
        site,
        "two `ca rotate-intermediate` at once",
        2 * rounds,
        contended,
        &check(site).await,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_rotations_at_once_embedded() {
    rotations(&Site::local(), 4).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_rotations_at_once_moto() {
    rotations(&Site::moto("race-rot", VaultKind::Ssm).await, 2).await;
}

/// Finding 2: two `reissue --rekey` of each client at once, every client at the same time.
async fn reissues(site: &Site, clients: usize, rounds: usize) {
    let clients = ids("re", clients);
    site.bootstrap(&clients);
    let mut contended = 0;
    for _ in 0..rounds {
        let runs: Vec<Vec<&str>> = clients
            .iter()
            .flat_map(|c| {
                let run = vec!["reissue", c.as_str(), "--rekey", "--yes"];
                [run.clone(), run]
            })
            .collect();
        contended += settled(&race(site, &runs));
    }
    report(
        site,
        "two `reissue --rekey` of every client at once",
        2 * clients.len() * rounds,
        contended,
        &check(site).await,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_reissues_per_client_embedded() {
    reissues(&Site::local(), 8, 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_reissues_per_client_moto() {
    reissues(&Site::moto("race-re", VaultKind::Ssm).await, 4, 2).await;
}

/// Finding 2: two `rotate-clients --all --grace 0s` at once, then `--resume` of whatever
/// is left.
async fn client_rotations(site: &Site, clients: usize, rounds: usize) {
    site.bootstrap(&ids("rc", clients));
    let mut contended = 0;
    for _ in 0..rounds {
        let run = vec!["rotate-clients", "--all", "--grace", "0s", "--yes"];
        contended += settled(&race(site, &[run.clone(), run]));
        let ctx = site.ctx().await;
        if ops::rotation_status(&ctx)
            .await
            .unwrap()
            .is_some_and(|j| j.phase != ops::RotationPhase::Done)
        {
            site.ok(&["rotate-clients", "--resume", "--yes"]);
        }
    }
    report(
        site,
        "two `rotate-clients --all` at once, then `--resume`",
        2 * rounds,
        contended,
        &check(site).await,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_client_rotations_embedded() {
    client_rotations(&Site::local(), 12, 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_client_rotations_moto() {
    client_rotations(&Site::moto("race-rc", VaultKind::Ssm).await, 10, 2).await;
}

/// Finding 4: two `issue` of one new client_id at once: exactly one gets the cert.
async fn issues(site: &Site, per_round: usize, rounds: usize) {
    site.bootstrap(&[]);
    let mut contended = 0;
    for round in 0..rounds {
        let new = ids(&format!("new{round}"), per_round);
        let runs: Vec<Vec<&str>> = new
            .iter()
            .flat_map(|c| [vec!["issue", c.as_str()], vec!["issue", c.as_str()]])
            .collect();
        let outs = race(site, &runs);
        let refused = settled(&outs);
        assert_eq!(refused, per_round, "exactly one issue of each client wins");
        contended += refused;
    }
    let tally = check(site).await;
    assert_eq!(tally.clients, per_round * rounds);
    report(
        site,
        "two `issue` of one new client at once",
        2 * per_round * rounds,
        contended,
        &tally,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_issues_of_one_client_embedded() {
    issues(&Site::local(), 6, 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_issues_of_one_client_moto() {
    issues(&Site::moto("race-issue", VaultKind::Ssm).await, 4, 2).await;
}

/// Finding 4: two `issue --from` of one file at once; a run that lost some clients to the
/// other says so (exit 3, "run the same command again") and a rerun changes nothing.
async fn bulk_issues(site: &Site, clients: usize, rounds: usize) {
    site.bootstrap(&[]);
    let mut contended = 0;
    for round in 0..rounds {
        let file = site.bulk_file(&format!("bulk{round}"), &ids(&format!("b{round}"), clients));
        let run = vec!["issue", "--from", file.to_str().unwrap()];
        let outs = race(site, &[run.clone(), run.clone()]);
        for out in &outs {
            match code(out) {
                0 => {}
                3 => {
                    contended += 1;
                    let err = String::from_utf8_lossy(&out.stderr);
                    assert!(err.contains("run the same command again"), "{}", text(out));
                }
                _ => panic!("a raced bulk issue failed:\n{}", text(out)),
            }
        }
        site.ok(&run);
    }
    let tally = check(site).await;
    assert_eq!(tally.clients, clients * rounds);
    report(
        site,
        "two `issue --from` of one file at once",
        2 * rounds,
        contended,
        &tally,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_bulk_issues_of_one_file_embedded() {
    bulk_issues(&Site::local(), 60, 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_bulk_issues_of_one_file_moto() {
    bulk_issues(&Site::moto("race-bulk", VaultKind::Ssm).await, 30, 2).await;
}

/// Finding 6: `kill -9` of `issue --from` (the binary's own PID) part-way, then a rerun:
/// every client issued once, every issue audited.
async fn killed_bulk_issue(site: &Site, clients: usize, kills_ms: &[u64]) {
    site.bootstrap(&[]);
    let file = site.bulk_file("kill", &ids("k", clients));
    let run = ["issue", "--from", file.to_str().unwrap()];
    for &ms in kills_ms {
        let mut child = site.spawn(&run);
        std::thread::sleep(Duration::from_millis(ms));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    site.ok(&run);
    let tally = check(site).await;
    assert_eq!(tally.clients, clients);
    report(
        site,
        "`kill -9` of `issue --from` part-way, then a rerun",
        kills_ms.len(),
        0,
        &tally,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_bulk_issue_embedded() {
    killed_bulk_issue(&Site::local(), 400, &[100, 150, 200, 300]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_bulk_issue_moto() {
    killed_bulk_issue(
        &Site::moto("kill-bulk", VaultKind::Ssm).await,
        60,
        &[600, 1200],
    )
    .await;
}

/// A rotation killed by PID part-way: its lease names a dead process, so `--resume` takes
/// it over and finishes.
async fn killed_rotation(site: &Site, kills_ms: &[u64]) {
    site.bootstrap(&ids("kr", 6));
    for &ms in kills_ms {
        let mut child = site.spawn(&["ca", "rotate-intermediate", "--yes", "--grace", "0s"]);
        std::thread::sleep(Duration::from_millis(ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let ctx = site.ctx().await;
        if ops::rotation_status(&ctx)
            .await
            .unwrap()
            .is_some_and(|j| j.phase != ops::RotationPhase::Done)
        {
            let out = site.run(&["ca", "rotate-intermediate", "--resume", "--yes"]);
            assert_eq!(
                code(&out),
                0,
                "--resume takes the dead run's lease over:\n{}",
                text(&out)
            );
        }
    }
    // A run killed before its journal existed leaves only its lease: `repair` releases it.
    site.ok(&["repair", "--yes"]);
    report(
        site,
        "`kill -9` of `ca rotate-intermediate`, then `--resume`",
        kills_ms.len(),
        0,
        &check(site).await,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_rotation_resumes_embedded() {
    killed_rotation(&Site::local(), &[20, 40, 60, 90, 130]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_rotation_resumes_moto() {
    killed_rotation(&Site::moto("kill-rot", VaultKind::Ssm).await, &[400, 900]).await;
}

/// Finding 9: `kill -9` of `ca init` at many points; the next `ca init` finishes the CA (or
/// says it exists), `ca show` shows it and a client can be issued.
async fn killed_ca_init(site: &Site, kills_ms: &[u64]) {
    let init = ["ca", "init", "--key-algorithm", "ecdsa-p256", "--yes"];
    for &ms in kills_ms {
        let mut child = site.spawn(&init);
        std::thread::sleep(Duration::from_millis(ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let out = site.run(&init);
        let again = String::from_utf8_lossy(&out.stderr);
        assert!(
            code(&out) == 0 || (code(&out) == 5 && again.contains("a CA already exists")),
            "ca init after a kill at {ms} ms:\n{}",
            text(&out)
        );
        site.ok(&["ca", "show"]);
        let ctx = site.ctx().await;
        ops::load_issuer(&ctx).await.unwrap();
        break_ca(site).await;
    }
}

/// Removes the CA so the next round starts from nothing.
async fn break_ca(site: &Site) {
    use mtls_console::model::VaultItem;
    let ctx = site.ctx().await;
    for item in [
        VaultItem::RootKey,
        VaultItem::RootCert,
        VaultItem::IntermediateKey,
        VaultItem::IntermediateCert,
    ] {
        ctx.backend.vault.delete(&item).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_ca_init_finishes_embedded() {
    killed_ca_init(&Site::local(), &[2, 5, 8, 11, 14, 18, 25, 35]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_ca_init_finishes_moto() {
    killed_ca_init(
        &Site::moto("kill-init", VaultKind::Ssm).await,
        &[150, 300, 450, 600],
    )
    .await;
}
