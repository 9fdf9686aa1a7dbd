//! Rotations and the truststore's life on the embedded backend, in-process with a controlled
//! clock: phases, the grace period, abort and roll-back, the emergency revoke by CA, publish
//! refusal, rollback and `truststore check` against a gateway domain.

use mtls_console::config::EnvConfig;
use mtls_console::model::{CertStatus, RevocationReason, VaultItem};
use mtls_console::ops::{
    self, CaInitOptions, CheckStatus, ClientSelection, Ctx, IssueOptions, RevokeScope,
    RotationKind, RotationOptions, RotationPhase,
};
use mtls_console::pki::{self, KeyAlgorithm, Subject};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2026-03-01 09:00 UTC);

async fn ctx_at(dir: &std::path::Path, domain: Option<&str>, now: OffsetDateTime) -> Ctx {
    let env = EnvConfig {
        name: "rot".into(),
        data_dir: Some(dir.to_path_buf()),
        gateway_domain: domain.map(str::to_string),
        client_key_algorithm: KeyAlgorithm::EcdsaP256,
        ..EnvConfig::default()
    };
    let mut ctx = Ctx::open(env).await.unwrap();
    ctx.clock = Some(now);
    ctx
}

fn at(ctx: &Ctx, now: OffsetDateTime) -> Ctx {
    ctx.with_clock(now)
}

async fn bootstrap(ctx: &Ctx, root_only: bool, clients: &[&str]) {
    ops::ca_init(
        ctx,
        &CaInitOptions {
            root_only,
            key_algorithm: KeyAlgorithm::EcdsaP256,
            subject: Subject::default(),
            root_days: 3650,
            intermediate_days: 1825,
        },
    )
    .await
    .unwrap();
    for c in clients {
        ops::issue(
            ctx,
            &IssueOptions {
                client: (*c).into(),
                cn: None,
                days: None,
                key: None,
            },
        )
        .await
        .unwrap();
    }
    ops::truststore_publish(ctx, false).await.unwrap();
}

fn opts(grace_hours: i64) -> RotationOptions {
    RotationOptions {
        grace: Duration::hours(grace_hours),
        ..RotationOptions::default()
    }
}

/// Would the gateway (published bundle) and the authorizer accept `client` at `ctx`'s time?
async fn accepted(ctx: &Ctx, client: &str) -> bool {
    let now = ctx.now();
    let (pem, _) = ctx.backend.truststore.current().await.unwrap().unwrap();
    let bundle = pki::parse_pem_certs(&pem, false).unwrap();
    let anchors: Vec<Vec<u8>> = bundle
        .iter()
        .filter(|d| pki::inspect(d).unwrap().self_signed)
        .cloned()
        .collect();
    ctx.backend
        .roster
        .by_client(client)
        .await
        .unwrap()
        .iter()
        .any(|r| {
            let der = pki::parse_pem_certs(r.cert_pem.as_deref().unwrap(), false)
                .unwrap()
                .remove(0);
            r.authorizer_allows(now) && pki::verify_chain(&der, &bundle, &anchors, now).ok
        })
}

async fn issuer_of_current(ctx: &Ctx, client: &str) -> String {
    let certs = ctx.backend.roster.by_client(client).await.unwrap();
    certs
        .iter()
        .filter(|r| r.authorizer_allows(ctx.now()) && r.replaced_by.is_none())
        .max_by_key(|r| r.issued_at)
        .and_then(|r| r.issuer_fingerprint.clone())
        .unwrap()
}

#[tokio::test]
async fn intermediate_rotation_waits_for_the_grace_period_then_retires_the_old_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx_at(dir.path(), Some("api.example.com"), T0).await;
    let clients = ["acme", "globex", "initech"];
    bootstrap(&ctx, false, &clients).await;
    let old = ops::ca_show(&ctx).await.unwrap().intermediate.unwrap();

    // The dry run says what would happen and changes nothing.
    let t1 = T0 + Duration::hours(1);
    let ctx1 = at(&ctx, t1);
    let plan = ops::rotation_plan(&ctx1, RotationKind::Intermediate, &opts(24), false)
        .await
        .unwrap();
    assert_eq!(plan.clients_to_move, 3);
    let phases: Vec<RotationPhase> = plan.steps.iter().map(|s| s.phase).collect();
    assert_eq!(
        phases,
        [
            RotationPhase::Prepared,
            RotationPhase::Published,
            RotationPhase::Moved,
            RotationPhase::Promoted,
            RotationPhase::Done
        ]
    );
    assert!(ops::rotation_status(&ctx1).await.unwrap().is_none());

    let report = ops::rotation_run(&ctx1, RotationKind::Intermediate, &opts(24), false)
        .await
        .unwrap();
    assert_eq!(report.journal.phase, RotationPhase::Moved);
    assert_eq!(report.waiting_until, Some(t1 + Duration::hours(24)));
    let new_fp = report.journal.new_issuer.clone().unwrap();
    for c in clients {
        assert_eq!(issuer_of_current(&ctx1, c).await, new_fp);
        assert!(accepted(&ctx1, c).await, "{c} during the grace period");
    }
    // New certs come from the new intermediate while the rotation runs.
    let late = ops::issue(
        &ctx1,
        &IssueOptions {
            client: "hooli".into(),
            cn: None,
            days: None,
            key: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        late.record.issuer_fingerprint.as_deref(),
        Some(new_fp.as_str())
    );
    // The gateway domain serves the dual bundle.
    let check = ops::truststore_check(&ctx1).await.unwrap();
    assert!(
        check.checks.iter().all(|c| c.status != CheckStatus::Fail),
        "{:?}",
        check.checks
    );
    assert_eq!(check.served_version, report.journal.published_version);

    // Before the grace period ends, resume waits and changes nothing.
    let ctx2 = at(&ctx, t1 + Duration::hours(2));
    let waiting = ops::rotation_run(&ctx2, RotationKind::Intermediate, &opts(24), true)
        .await
        .unwrap();
    assert_eq!(waiting.journal.phase, RotationPhase::Moved);
    assert!(waiting.waiting_until.is_some());
    assert!(waiting.steps.is_empty());

    // After it: superseded certs revoked, new intermediate promoted, old one dropped.
    let ctx3 = at(&ctx, t1 + Duration::hours(25));
    let done = ops::rotation_run(&ctx3, RotationKind::Intermediate, &opts(24), true)
        .await
        .unwrap();
    assert_eq!(done.journal.phase, RotationPhase::Done);
    let ca = ops::ca_show(&ctx3).await.unwrap();
    assert_eq!(ca.intermediate.unwrap().fingerprint_sha256, new_fp);
    for c in clients.iter().chain(["hooli"].iter()) {
        assert!(accepted(&ctx3, c).await, "{c} after the rotation");
    }
    let old_active = ctx3
        .backend
        .roster
        .list(false)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.issuer_fingerprint.as_deref() == Some(old.fingerprint_sha256.as_str()))
        .filter(|r| r.status == CertStatus::Active)
        .count();
    assert_eq!(old_active, 0);
    let check = ops::truststore_check(&ctx3).await.unwrap();
    assert!(
        check.checks.iter().all(|c| c.status == CheckStatus::Ok),
        "{:?}",
        check.checks
    );
    assert!(
        ctx3.backend
            .vault
            .get(&VaultItem::NextIntermediateKey)
            .await
            .unwrap()
            .is_none()
    );
    // A second rotation may start once the first is done.
    let plan = ops::rotation_plan(&ctx3, RotationKind::Intermediate, &opts(1), false)
        .await
        .unwrap();
    assert_eq!(plan.clients_to_move, 4);
}

#[tokio::test]
async fn an_abort_after_clients_moved_moves_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx_at(dir.path(), None, T0).await;
    let clients = ["acme", "globex"];
    bootstrap(&ctx, false, &clients).await;
    let old = ops::ca_show(&ctx).await.unwrap().intermediate.unwrap();
    let t1 = T0 + Duration::hours(1);
    let ctx1 = at(&ctx, t1);
    let mut stop = opts(12);
    stop.stop_after = Some(RotationPhase::Moved);
    ops::rotation_run(&ctx1, RotationKind::Intermediate, &stop, false)
        .await
        .unwrap();
    // Starting another rotation meanwhile is refused.
    let err = ops::rotation_run(&ctx1, RotationKind::Root, &opts(1), false)
        .await
        .err()
        .unwrap();
    assert_eq!(err.exit_code(), 5, "{err}");

    let aborted = ops::rotation_abort(&ctx1).await.unwrap();
    assert!(aborted.journal.rolling_back);
    let ctx2 = at(&ctx, t1 + Duration::hours(1));
    let back = ops::rotation_run(&ctx2, RotationKind::Intermediate, &opts(12), true)
        .await
        .unwrap();
    assert!(back.waiting_until.is_some());
    for c in clients {
        assert_eq!(issuer_of_current(&ctx2, c).await, old.fingerprint_sha256);
        assert!(accepted(&ctx2, c).await);
    }
    let ctx3 = at(&ctx, t1 + Duration::hours(14));
    let end = ops::rotation_run(&ctx3, RotationKind::Intermediate, &opts(12), true)
        .await
        .unwrap();
    assert_eq!(end.journal.phase, RotationPhase::Aborted);
    for c in clients {
        assert!(accepted(&ctx3, c).await);
    }
    let ca = ops::ca_show(&ctx3).await.unwrap();
    assert_eq!(
        ca.intermediate.unwrap().fingerprint_sha256,
        old.fingerprint_sha256
    );
    let (pem, _) = ctx3.backend.truststore.current().await.unwrap().unwrap();
    assert_eq!(pki::parse_pem_certs(&pem, false).unwrap().len(), 2);
}

#[tokio::test]
async fn root_rotation_of_a_root_only_hierarchy_and_a_due_client_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx_at(dir.path(), None, T0).await;
    bootstrap(&ctx, true, &["Prod-NextJs-Client", "Prod-Api-Client"]).await;
    let err = ops::rotation_run(&ctx, RotationKind::Intermediate, &opts(1), false)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("rotate-root"), "{err}");

    let t1 = T0 + Duration::hours(1);
    let ctx1 = at(&ctx, t1);
    let r = ops::rotation_run(&ctx1, RotationKind::Root, &opts(1), false)
        .await
        .unwrap();
    assert_eq!(r.journal.phase, RotationPhase::Moved);
    let (pem, _) = ctx1.backend.truststore.current().await.unwrap().unwrap();
    assert_eq!(
        pki::parse_pem_certs(&pem, false).unwrap().len(),
        2,
        "both roots"
    );
    let ctx2 = at(&ctx, t1 + Duration::hours(2));
    let r = ops::rotation_run(&ctx2, RotationKind::Root, &opts(1), true)
        .await
        .unwrap();
    assert_eq!(r.journal.phase, RotationPhase::Done);
    let ca = ops::ca_show(&ctx2).await.unwrap();
    assert!(ca.intermediate.is_none());
    assert_eq!(
        Some(ca.root.fingerprint_sha256.clone()),
        r.journal.new_issuer
    );
    for c in ["Prod-NextJs-Client", "Prod-Api-Client"] {
        assert!(accepted(&ctx2, c).await);
    }

    // 380 days later both certs (395 days) are due within 30 days: renew only those due.
    let t3 = T0 + Duration::days(380);
    let ctx3 = at(&ctx, t3);
    let due = ops::due_for_renewal(&ctx3, 30).await.unwrap();
    assert_eq!(due.len(), 2);
    let mut o = opts(2);
    o.selection = ClientSelection::DueWithinDays(30);
    let r = ops::rotation_run(&ctx3, RotationKind::Clients, &o, false)
        .await
        .unwrap();
    assert_eq!(r.journal.phase, RotationPhase::Moved);
    assert!(ops::due_for_renewal(&ctx3, 30).await.unwrap().is_empty());
    let ctx4 = at(&ctx, t3 + Duration::hours(3));
    let r = ops::rotation_run(&ctx4, RotationKind::Clients, &o, true)
        .await
        .unwrap();
    assert_eq!(r.journal.phase, RotationPhase::Done);
    let revoked = ctx4
        .backend
        .roster
        .list(false)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.revocation_reason == Some(RevocationReason::Superseded))
        .count();
    assert_eq!(
        revoked, 4,
        "two from the root rotation, two from the renewal"
    );
}

#[tokio::test]
async fn revoke_by_ca_counts_first_then_revokes_every_active_cert() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx_at(dir.path(), None, T0).await;
    bootstrap(&ctx, false, &["a1", "a2", "a3"]).await;
    ops::revoke(
        &ctx,
        "a3",
        RevocationReason::KeyCompromise,
        None,
        RevokeScope::All,
    )
    .await
    .unwrap();
    let dry = ops::revoke_issued_by(
        &ctx,
        "intermediate",
        RevocationReason::CaCompromise,
        None,
        true,
        4,
    )
    .await
    .unwrap();
    assert_eq!((dry.matching, dry.revoked), (2, 0));
    assert_eq!(dry.clients, vec!["a1", "a2"]);
    assert!(accepted(&ctx, "a1").await, "a dry run changes nothing");
    let err = ops::revoke_issued_by(
        &ctx,
        "deadbeef00",
        RevocationReason::CaCompromise,
        None,
        true,
        4,
    )
    .await
    .err()
    .unwrap();
    assert_eq!(err.exit_code(), 4, "{err}");
    let done = ops::revoke_issued_by(
        &ctx,
        "intermediate",
        RevocationReason::CaCompromise,
        None,
        false,
        4,
    )
    .await
    .unwrap();
    assert_eq!(done.revoked, 2);
    for c in ["a1", "a2"] {
        assert!(!accepted(&ctx, c).await);
    }
    let again = ops::revoke_issued_by(
        &ctx,
        "intermediate",
        RevocationReason::CaCompromise,
        None,
        true,
        4,
    )
    .await
    .unwrap();
    assert_eq!(again.matching, 0);
}

#[tokio::test]
async fn publish_refuses_to_drop_a_trusted_ca_and_rollback_repoints_the_domain() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx_at(dir.path(), Some("api.example.com"), T0).await;
    bootstrap(&ctx, false, &["acme"]).await;
    let v1 = ops::truststore_publish(&ctx, false).await.unwrap();
    assert!(!v1.changed);
    assert_eq!(
        v1.domain.as_ref().unwrap().truststore_version.as_deref(),
        Some(v1.version.version_id.as_str())
    );

    // Replace the intermediate by hand (what the old tooling did): publishing the bundle
    // without the old intermediate would cut acme off, so it is refused and names acme.
    let root = ctx
        .backend
        .vault
        .get(&VaultItem::RootCert)
        .await
        .unwrap()
        .unwrap();
    let root_key = ctx
        .backend
        .vault
        .get(&VaultItem::RootKey)
        .await
        .unwrap()
        .unwrap();
    let inter = pki::create_intermediate(
        &pki::CaMaterial {
            cert_pem: root.to_string(),
            key_pem: root_key,
        },
        &pki::CaParams {
            subject: Subject {
                cn: Some("Replacement Intermediate".into()),
                ..Subject::default()
            },
            key_algorithm: KeyAlgorithm::EcdsaP256,
            validity_days: 365,
        },
        T0,
    )
    .unwrap();
    let saved = ctx
        .backend
        .vault
        .get(&VaultItem::IntermediateCert)
        .await
        .unwrap()
        .unwrap();
    ctx.backend
        .vault
        .put(&VaultItem::IntermediateCert, &inter.cert_pem, true)
        .await
        .unwrap();
    let err = ops::truststore_publish(&ctx, false).await.err().unwrap();
    assert!(err.to_string().contains("acme"), "{err}");
    let check = ops::truststore_check(&ctx).await.unwrap();
    assert!(
        check
            .checks
            .iter()
            .any(|c| c.name == "vault CA" && c.status == CheckStatus::Warn),
        "{:?}",
        check.checks
    );
    let forced = ops::truststore_publish(&ctx, true).await.unwrap();
    assert!(forced.changed);
    assert!(!accepted(&ctx, "acme").await);

    // One action restores the earlier version in S3 and on the domain.
    let back = ops::truststore_rollback(&ctx, &v1.version.version_id, false)
        .await
        .unwrap();
    assert_eq!(
        back.domain.unwrap().truststore_version.as_deref(),
        Some(back.version.version_id.as_str())
    );
    assert!(accepted(&ctx, "acme").await);
    ctx.backend
        .vault
        .put(&VaultItem::IntermediateCert, &saved, true)
        .await
        .unwrap();

    // A domain left on an older version is drift that check explains.
    ctx.backend
        .gateway
        .point_truststore(
            "api.example.com",
            &ctx.backend.truststore.location(),
            &forced.version.version_id,
        )
        .await
        .unwrap();
    let check = ops::truststore_check(&ctx).await.unwrap();
    let domain = check.checks.iter().find(|c| c.name == "domain").unwrap();
    assert_eq!(domain.status, CheckStatus::Warn);
    assert!(
        domain.detail.contains(&forced.version.version_id),
        "{}",
        domain.detail
    );
    let clients = check.checks.iter().find(|c| c.name == "clients").unwrap();
    assert_eq!(clients.status, CheckStatus::Fail, "{}", clients.detail);
    ops::truststore_publish(&ctx, false).await.unwrap();
    let check = ops::truststore_check(&ctx).await.unwrap();
    assert!(
        check.checks.iter().all(|c| c.status == CheckStatus::Ok),
        "{:?}",
        check.checks
    );
}
