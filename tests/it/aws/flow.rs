//! The operations end to end on moto, through `crate::ops` as the CLI and TUI call them,
//! checked through the emulator's own API: item attributes and types, decimal serials equal
//! to the certificates' own (parsed here with x509-parser), SecureString keys, object versions.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_ssm::types::ParameterType;
use mtls_console::config::EnvConfig;
use mtls_console::model::{CertStatus, RevocationReason, VaultItem};
use mtls_console::ops::{
    self, CaInitOptions, CheckStatus, Ctx, IssueOptions, ReissueOptions, RevokeScope, StatusFilter,
};
use mtls_console::pki::{self, CaParams, KeyAlgorithm, Subject};
use mtls_console::store::aws as aws_store;

use super::{env, raw};

/// The decimal serial of a PEM certificate, read independently of the console's PKI code.
fn x509_serial(pem: &str) -> String {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("a PEM certificate");
    let cert = pem.parse_x509().expect("an X.509 certificate");
    cert.tbs_certificate.serial.to_string()
}

async fn scan_items(env: &EnvConfig) -> Vec<HashMap<String, AttributeValue>> {
    raw(env)
        .await
        .dynamo
        .scan()
        .table_name(&env.table)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
}

fn s<'a>(item: &'a HashMap<String, AttributeValue>, k: &str) -> &'a str {
    match item.get(k) {
        Some(AttributeValue::S(v)) => v,
        other => panic!("{k} should be a string attribute, is {other:?}"),
    }
}

async fn parameter_type(env: &EnvConfig, item: &VaultItem) -> ParameterType {
    raw(env)
        .await
        .ssm
        .get_parameter()
        .name(item.ssm_name(&env.project, env.account_name()))
        .send()
        .await
        .unwrap()
        .parameter
        .unwrap()
        .r#type
        .unwrap()
}

fn client(name: &str) -> IssueOptions {
    IssueOptions {
        client: name.into(),
        cn: None,
        days: None,
        key: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_issue_revoke_reissue_publish_rollback_verify_doctor() {
    let env = env("flow");
    aws_store::init_infra(&env).await.unwrap();
    let ctx = Ctx::open(env.clone()).await.unwrap();

    // Bootstrap: a three-tier CA in SSM.
    let ca = ops::ca_init(
        &ctx,
        &CaInitOptions {
            root_only: false,
            key_algorithm: KeyAlgorithm::EcdsaP384,
            subject: Subject::default(),
            root_days: 3650,
            intermediate_days: 1825,
        },
    )
    .await
    .unwrap();
    assert!(ca.intermediate.is_some());
    for item in [VaultItem::RootKey, VaultItem::IntermediateKey] {
        assert_eq!(
            parameter_type(&env, &item).await,
            ParameterType::SecureString
        );
    }
    for item in [VaultItem::RootCert, VaultItem::IntermediateCert] {
        assert_eq!(parameter_type(&env, &item).await, ParameterType::String);
    }

    // Bulk issue, then again: idempotent.
    let names = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];
    let all: Vec<IssueOptions> = names.iter().map(|n| client(n)).collect();
    let report = ops::issue_bulk(&ctx, &all, None).await.unwrap();
    assert_eq!(report.issued.len(), names.len(), "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    let again = ops::issue_bulk(&ctx, &all, None).await.unwrap();
    assert_eq!((again.issued.len(), again.skipped.len()), (0, names.len()));

    // The items as the authorizer reads them.
    let items = scan_items(&env).await;
    assert_eq!(items.len(), names.len());
    for item in &items {
        let pem = s(item, "certificatePem");
        assert_eq!(
            s(item, "serialNumber"),
            x509_serial(pem),
            "decimal serial = the cert's"
        );
        assert_eq!(s(item, "client_id"), s(item, "clientName"));
        assert_eq!(s(item, "status"), "active");
        for k in ["issuedAt", "notBefore", "expiry"] {
            assert!(s(item, k).ends_with('Z'), "{k} = {}", s(item, k));
        }
        assert!(matches!(item.get("ttl"), Some(AttributeValue::N(_))));
        assert!(matches!(
            item.get("keyHeld"),
            Some(AttributeValue::Bool(true))
        ));
        let id = s(item, "client_id").to_string();
        assert_eq!(
            parameter_type(&env, &VaultItem::ClientKey(id.clone())).await,
            ParameterType::SecureString
        );
        assert_eq!(
            parameter_type(&env, &VaultItem::ClientCert(id)).await,
            ParameterType::String
        );
    }
    assert_eq!(
        ops::list(&ctx, StatusFilter::All).await.unwrap().len(),
        names.len()
    );

    // Revoke.
    let out = ops::revoke(
        &ctx,
        "alpha",
        RevocationReason::KeyCompromise,
        Some("laptop lost"),
        RevokeScope::All,
    )
    .await
    .unwrap();
    assert_eq!(out.revoked.len(), 1);
    let revoked = &out.revoked[0];
    assert_eq!(revoked.status, CertStatus::Revoked);
    assert_eq!(revoked.revocation_note.as_deref(), Some("laptop lost"));
    let item = scan_items(&env)
        .await
        .into_iter()
        .find(|i| s(i, "serialNumber") == revoked.serial)
        .unwrap();
    assert_eq!(s(&item, "status"), "revoked");
    assert_eq!(s(&item, "revocationReason"), "keyCompromise");
    assert!(s(&item, "revokedBy").contains("123456789012"));
    assert_eq!(s(&item, "revocationNote"), "laptop lost");
    assert!(
        ops::revoke(
            &ctx,
            &revoked.serial,
            RevocationReason::Unspecified,
            None,
            RevokeScope::All
        )
        .await
        .is_err()
    );

    // Re-issue: the old item revoked and the new one put in one transaction.
    let re = ops::reissue(
        &ctx,
        "bravo",
        &ReissueOptions {
            rekey: true,
            grace: None,
            days: None,
            key_algorithm: None,
        },
    )
    .await
    .unwrap();
    let items = scan_items(&env).await;
    let old = items
        .iter()
        .find(|i| s(i, "serialNumber") == re.old.serial)
        .unwrap();
    let new = items
        .iter()
        .find(|i| s(i, "serialNumber") == re.new.record.serial)
        .unwrap();
    assert_eq!(
        (s(old, "status"), s(old, "replacedBy")),
        ("revoked", re.new.record.serial.as_str())
    );
    assert_eq!(
        (s(new, "status"), s(new, "replaces")),
        ("active", re.old.serial.as_str())
    );
    assert_eq!(s(new, "serialNumber"), x509_serial(&re.new.cert_pem));
    let vault_cert = raw(&env)
        .await
        .ssm
        .get_parameter()
        .name(VaultItem::ClientCert("bravo".into()).ssm_name(&env.project, env.account_name()))
        .send()
        .await
        .unwrap()
        .parameter
        .unwrap()
        .value
        .unwrap();
    assert_eq!(
        x509_serial(&vault_cert),
        re.new.record.serial,
        "the vault holds the new cert"
    );

    // Publish the truststore, publish a bundle with a pinned third-party CA, roll back.
    let v1 = ops::truststore_publish(&ctx, false).await.unwrap().version;
    let unchanged = ops::truststore_publish(&ctx, false).await.unwrap();
    assert!(!unchanged.changed);
    assert_eq!(
        unchanged.version.version_id, v1.version_id,
        "same bundle, no new version"
    );
    let cdn = pki::create_root(
        &CaParams {
            subject: Subject {
                cn: Some("CDN Origin Pull CA".into()),
                ..Subject::default()
            },
            key_algorithm: KeyAlgorithm::EcdsaP256,
            validity_days: 3650,
        },
        ctx.now(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pinned = dir.path().join("cdn.pem");
    std::fs::write(&pinned, &cdn.cert_pem).unwrap();
    let mut pinned_env = env.clone();
    pinned_env.pinned_cas = vec![pinned];
    let pinned_ctx = ctx.with_env(pinned_env);
    let v2 = ops::truststore_publish(&pinned_ctx, false)
        .await
        .unwrap()
        .version;
    assert_ne!(v2.version_id, v1.version_id);
    let v3 = ops::truststore_rollback(&ctx, &v1.version_id, false)
        .await
        .unwrap()
        .version;
    let history = ops::truststore_history(&ctx).await.unwrap();
    let ids: Vec<&str> = history.iter().map(|v| v.version_id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            v3.version_id.as_str(),
            v2.version_id.as_str(),
            v1.version_id.as_str()
        ]
    );
    let listed = raw(&env)
        .await
        .s3
        .list_object_versions()
        .bucket(env.truststore_bucket.as_ref().unwrap())
        .prefix(&env.truststore_key)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.versions().len(), 3);
    let (current, _) = ctx.backend.truststore.current().await.unwrap().unwrap();
    assert_eq!(
        current,
        ctx.backend
            .truststore
            .get_version(&v1.version_id)
            .await
            .unwrap()
    );
    assert!(
        !current.contains(cdn.cert_pem.trim()),
        "the rollback dropped the pinned CA again"
    );

    // Verify as the gateway and the authorizer would.
    let charlie = ops::show(&ctx, "charlie").await.unwrap();
    let ok = ops::verify(&ctx, charlie.record.cert_pem.as_deref().unwrap())
        .await
        .unwrap();
    assert!(ok.allow, "{:?}", ok.reasons);
    let alpha_pem = raw(&env)
        .await
        .ssm
        .get_parameter()
        .name(VaultItem::ClientCert("alpha".into()).ssm_name(&env.project, env.account_name()))
        .send()
        .await
        .unwrap()
        .parameter
        .unwrap()
        .value
        .unwrap();
    let denied = ops::verify(&ctx, &alpha_pem).await.unwrap();
    assert!(!denied.allow);
    assert!(
        denied.reasons.iter().any(|r| r.contains("revoked")),
        "{:?}",
        denied.reasons
    );

    // Doctor: nothing failing, the AWS checks all OK.
    let checks = ops::doctor(&ctx).await.unwrap();
    let failing: Vec<_> = checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail)
        .collect();
    assert!(failing.is_empty(), "{failing:#?}");
    for name in [
        "aws identity",
        "roster table",
        "roster ttl",
        "audit table",
        "vault parameters",
    ] {
        let c = checks.iter().find(|c| c.name == name).unwrap();
        assert_eq!(c.status, CheckStatus::Ok, "{c:?}");
    }

    // Every change is in the audit table, with the STS caller as operator.
    let audit = ops::audit(&ctx, 100).await.unwrap();
    for action in [
        "ca.init",
        "issue",
        "revoke",
        "reissue",
        "truststore.publish",
        "truststore.rollback",
    ] {
        assert!(
            audit.iter().any(|a| a.action == action),
            "{action} not audited"
        );
    }
    assert!(audit.iter().all(|a| a.operator == ctx.backend.operator));
    let raw_audit = raw(&env)
        .await
        .dynamo
        .scan()
        .table_name(&env.audit_table)
        .send()
        .await
        .unwrap();
    assert_eq!(raw_audit.items().len(), audit.len());
}
