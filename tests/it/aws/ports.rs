//! The storage ports on moto, checked through the raw SDK clients.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeyType, ProjectionType, TimeToLiveStatus};
use aws_sdk_ssm::types::{ParameterTier, ParameterType};
use mtls_console::config::VaultKind;
use mtls_console::model::{
    AuditOutcome, AuditRecord, CertRecord, CertStatus, RevocationReason, VaultItem,
};
use mtls_console::ops::CheckStatus;
use mtls_console::store::aws::{self as aws_store, GSI_NAME};
use mtls_console::store::{Expect, RosterWrite, StoreError};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::{env, raw};

const CERT_PEM: &str =
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUFakeFakeFake\n-----END CERTIFICATE-----\n";

fn record(serial: &str, client: &str, issued: OffsetDateTime) -> CertRecord {
    let not_after = issued + Duration::days(395);
    CertRecord {
        serial: serial.into(),
        client_id: client.into(),
        client_name: client.into(),
        status: CertStatus::Active,
        issued_at: issued,
        not_before: Some(issued),
        expiry: not_after,
        ttl: (not_after + Duration::days(90)).unix_timestamp(),
        not_after: Some(not_after),
        cert_pem: Some(CERT_PEM.into()),
        fingerprint: Some("ab".repeat(32)),
        issuer: Some("CN=Issuing CA,O=Example".into()),
        issuer_fingerprint: Some("cd".repeat(32)),
        key_algorithm: Some("ecdsa-p256".into()),
        key_held: true,
        revoked_at: None,
        revocation_reason: None,
        revoked_by: None,
        revocation_note: None,
        replaces: None,
        replaced_by: None,
        version: 1,
    }
}

async fn connect(env: &mtls_console::config::EnvConfig) -> mtls_console::store::Backend {
    aws_store::init_infra(env)
        .await
        .expect("init_infra on moto");
    aws_store::connect(env).await.expect("connect to moto")
}

async fn raw_item(
    env: &mtls_console::config::EnvConfig,
    serial: &str,
) -> HashMap<String, AttributeValue> {
    raw(env)
        .await
        .dynamo
        .get_item()
        .table_name(&env.table)
        .key("serialNumber", AttributeValue::S(serial.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("item exists")
}

#[tokio::test]
async fn init_infra_creates_the_contract_resources_once() {
    let env = env("infra");
    let first = aws_store::init_infra(&env).await.unwrap();
    assert_eq!(first.len(), 4, "{first:?}");
    assert!(first.iter().all(|l| l.contains("created")), "{first:?}");
    let again = aws_store::init_infra(&env).await.unwrap();
    assert!(
        again.iter().all(|l| l.contains("already present")),
        "{again:?}"
    );

    let c = raw(&env).await;
    let t = c
        .dynamo
        .describe_table()
        .table_name(&env.table)
        .send()
        .await
        .unwrap();
    let t = t.table.unwrap();
    let keys = t.key_schema();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].attribute_name(), "serialNumber");
    assert_eq!(keys[0].key_type(), &KeyType::Hash);
    let gsi = &t.global_secondary_indexes()[0];
    assert_eq!(gsi.index_name(), Some(GSI_NAME));
    let gk: Vec<(&str, &KeyType)> = gsi
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type()))
        .collect();
    assert_eq!(
        gk,
        vec![("status", &KeyType::Hash), ("issuedAt", &KeyType::Range)]
    );
    assert_eq!(
        gsi.projection().and_then(|p| p.projection_type()),
        Some(&ProjectionType::All)
    );
    let ttl = c
        .dynamo
        .describe_time_to_live()
        .table_name(&env.table)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.attribute_name(), Some("ttl"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));

    let audit = c
        .dynamo
        .describe_table()
        .table_name(&env.audit_table)
        .send()
        .await
        .unwrap();
    assert_eq!(audit.table.unwrap().key_schema()[0].attribute_name(), "id");

    let bucket = env.truststore_bucket.clone().unwrap();
    // Versioning is on: two writes of one key leave two versions. (moto 5.2 answers
    // GetBucketVersioning with an XML root the Rust SDK refuses to decode.)
    for body in ["one", "two"] {
        c.s3.put_object()
            .bucket(&bucket)
            .key("probe")
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let versions =
        c.s3.list_object_versions()
            .bucket(&bucket)
            .prefix("probe")
            .send()
            .await
            .unwrap();
    let ids: Vec<&str> = versions
        .versions()
        .iter()
        .filter_map(|v| v.version_id())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(
        ids.iter().all(|id| *id != "null") && ids[0] != ids[1],
        "{ids:?}"
    );
    let pab =
        c.s3.get_public_access_block()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
    let pab = pab.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            pab.block_public_acls(),
            pab.ignore_public_acls(),
            pab.block_public_policy(),
            pab.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let enc =
        c.s3.get_bucket_encryption()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
    let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm()
            .as_str(),
        "AES256"
    );
}

#[tokio::test]
async fn connect_names_the_caller_and_the_account() {
    let env = env("identity");
    let backend = connect(&env).await;
    assert!(
        backend.operator.starts_with("arn:aws:"),
        "{}",
        backend.operator
    );
    assert!(
        backend.operator.contains("123456789012"),
        "{}",
        backend.operator
    );
    assert_eq!(backend.description, "aws 123456789012 us-east-1");
    assert_eq!(
        backend.truststore.location(),
        format!("s3://{}/truststore.pem", env.truststore_bucket.unwrap())
    );
    let mut default_bucket = super::env("identity2");
    default_bucket.truststore_bucket = None;
    let b = aws_store::connect(&default_bucket).await.unwrap();
    assert_eq!(
        b.truststore.location(),
        "s3://sandboxidentity2-mtls-truststore-123456789012/truststore.pem"
    );
}

#[tokio::test]
async fn roster_writes_items_of_the_contract_and_reads_them_back() {
    let env = env("roster");
    let b = connect(&env).await;
    let t0 = datetime!(2025-01-10 09:00:00 UTC);
    let a1 = record("283740128374012837401283740128374012", "acme", t0);
    let a2 = record("1000000000000000000002", "acme", t0 + Duration::days(30));
    let z1 = record("77", "zeta", t0 + Duration::days(1));
    for r in [&a1, &a2, &z1] {
        b.roster
            .transact(vec![RosterWrite::Put(r.clone())])
            .await
            .unwrap();
    }

    assert_eq!(b.roster.get(&a1.serial).await.unwrap(), Some(a1.clone()));
    assert_eq!(b.roster.get("404").await.unwrap(), None);

    // The attributes and types the authorizer and existing tooling read.
    let item = raw_item(&env, &a1.serial).await;
    let s = |k: &str| match item.get(k) {
        Some(AttributeValue::S(v)) => v.clone(),
        other => panic!("{k} should be S, is {other:?}"),
    };
    assert_eq!(s("serialNumber"), a1.serial);
    assert_eq!(s("client_id"), "acme");
    assert_eq!(s("clientName"), "acme");
    assert_eq!(s("status"), "active");
    assert_eq!(s("issuedAt"), "2025-01-10T09:00:00Z");
    assert_eq!(s("notBefore"), "2025-01-10T09:00:00Z");
    assert_eq!(s("expiry"), "2026-02-09T09:00:00Z");
    assert!(matches!(item.get("ttl"), Some(AttributeValue::N(n)) if *n == a1.ttl.to_string()));
    assert!(matches!(
        item.get("keyHeld"),
        Some(AttributeValue::Bool(true))
    ));
    assert!(matches!(item.get("version"), Some(AttributeValue::N(n)) if n == "1"));

    let listed = b.roster.list(false).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        listed.iter().all(|r| r.cert_pem.is_none()),
        "the listing projection leaves out PEMs"
    );
    let mut without_pem = a2.clone();
    without_pem.cert_pem = None;
    assert!(listed.contains(&without_pem));
    let full = b.roster.list(true).await.unwrap();
    assert!(full.contains(&a2) && full.contains(&z1));

    let mut acme = b.roster.by_client("acme").await.unwrap();
    acme.sort_by_key(|r| r.issued_at);
    assert_eq!(acme, vec![a1.clone(), a2.clone()]);
    assert_eq!(b.roster.by_client("nobody").await.unwrap(), vec![]);
}

#[tokio::test]
async fn roster_writes_are_conditional() {
    let env = env("cond");
    let b = connect(&env).await;
    let t0 = datetime!(2025-02-01 12:00:00 UTC);
    let old = record("500", "acme", t0);
    b.roster
        .transact(vec![RosterWrite::Put(old.clone())])
        .await
        .unwrap();

    // A second Put of the same serial loses.
    let err = b
        .roster
        .transact(vec![RosterWrite::Put(old.clone())])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { message: m, .. } if m.contains("500")),
        "{err}"
    );

    // An update under a stale version loses; under the current one it wins and bumps it.
    let mut revoked = old.clone();
    revoked.status = CertStatus::Revoked;
    revoked.revoked_at = Some(t0 + Duration::days(3));
    revoked.revocation_reason = Some(RevocationReason::KeyCompromise);
    revoked.revoked_by = Some("arn:aws:iam::123456789012:user/alice".into());
    let stale = Expect {
        version: 0,
        active: true,
    };
    let err = b
        .roster
        .transact(vec![RosterWrite::Update(revoked.clone(), stale)])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { message: m, .. } if m.contains("500")),
        "{err}"
    );
    let current = Expect {
        version: 1,
        active: true,
    };
    b.roster
        .transact(vec![RosterWrite::Update(revoked.clone(), current)])
        .await
        .unwrap();
    let stored = b.roster.get("500").await.unwrap().unwrap();
    assert_eq!(stored.status, CertStatus::Revoked);
    assert_eq!(stored.version, 2);
    assert_eq!(
        stored.revocation_reason,
        Some(RevocationReason::KeyCompromise)
    );

    // Requiring `active` on a revoked item loses even with the right version.
    let err = b
        .roster
        .transact(vec![RosterWrite::Update(
            stored.clone(),
            Expect {
                version: 2,
                active: true,
            },
        )])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");

    // A re-issue transaction: the old item's condition fails, so the new one is not written either.
    let new = record("501", "acme", t0 + Duration::days(3));
    let err = b
        .roster
        .transact(vec![
            RosterWrite::Put(new.clone()),
            RosterWrite::Update(
                stored.clone(),
                Expect {
                    version: 2,
                    active: true,
                },
            ),
        ])
        .await
        .unwrap_err();
    match &err {
        StoreError::Conflict { message: m, .. } => {
            assert!(m.contains("500") && !m.contains("501"), "{m}")
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert_eq!(b.roster.get("501").await.unwrap(), None, "all or nothing");

    // And when every condition holds, both writes land together.
    let live = record("600", "beta", t0);
    b.roster
        .transact(vec![RosterWrite::Put(live.clone())])
        .await
        .unwrap();
    let mut superseded = live.clone();
    superseded.status = CertStatus::Revoked;
    superseded.replaced_by = Some("601".into());
    let mut successor = record("601", "beta", t0 + Duration::days(1));
    successor.replaces = Some("600".into());
    b.roster
        .transact(vec![
            RosterWrite::Update(
                superseded,
                Expect {
                    version: 1,
                    active: true,
                },
            ),
            RosterWrite::Put(successor.clone()),
        ])
        .await
        .unwrap();
    assert_eq!(b.roster.get("601").await.unwrap(), Some(successor));
    let old_beta = b.roster.get("600").await.unwrap().unwrap();
    assert_eq!(
        (old_beta.status, old_beta.version),
        (CertStatus::Revoked, 2)
    );
    assert_eq!(old_beta.replaced_by.as_deref(), Some("601"));
}

#[tokio::test]
async fn legacy_items_of_the_reference_tooling_read_back() {
    let env = env("legacy");
    let b = connect(&env).await;
    let c = raw(&env).await;
    let s = |v: &str| AttributeValue::S(v.into());
    // As the reference tooling writes them: no client_id, no notBefore, none of the extras.
    c.dynamo
        .put_item()
        .table_name(&env.table)
        .item("serialNumber", s("123456789"))
        .item("clientName", s("Prod-NextJs-Client"))
        .item("status", s("active"))
        .item("issuedAt", s("2024-03-01T10:00:00"))
        .item("expiry", s("2025-03-01T10:00:00Z"))
        .item("ttl", AttributeValue::N("1748512800".into()))
        .send()
        .await
        .unwrap();
    // With client_id but an unknown extra attribute of a type the console does not use.
    c.dynamo
        .put_item()
        .table_name(&env.table)
        .item("serialNumber", s("987654321"))
        .item("client_id", s("legacy-two"))
        .item("clientName", s("legacy-two"))
        .item("status", s("revoked"))
        .item("issuedAt", s("2024-01-01T00:00:00Z"))
        .item("notBefore", s("2024-01-01T00:00:00Z"))
        .item("expiry", s("2025-01-01T00:00:00Z"))
        .item("ttl", AttributeValue::N("1743465600".into()))
        .item("tags", AttributeValue::L(vec![s("x")]))
        .send()
        .await
        .unwrap();

    let one = b.roster.get("123456789").await.unwrap().unwrap();
    assert_eq!(
        one.client_id, "Prod-NextJs-Client",
        "clientName stands in for client_id"
    );
    assert_eq!(one.client_name, "Prod-NextJs-Client");
    assert_eq!(one.status, CertStatus::Active);
    assert_eq!(one.not_before, None);
    assert_eq!(one.issued_at, datetime!(2024-03-01 10:00:00 UTC));
    assert_eq!(one.expiry, datetime!(2025-03-01 10:00:00 UTC));
    assert_eq!(one.ttl, 1748512800);
    assert_eq!(
        (one.version, one.key_held, one.cert_pem.clone()),
        (0, false, None)
    );

    let two = b.roster.get("987654321").await.unwrap().unwrap();
    assert_eq!(
        (two.client_id.as_str(), two.status),
        ("legacy-two", CertStatus::Revoked)
    );

    assert_eq!(b.roster.list(false).await.unwrap().len(), 2);
    let by_name = b.roster.by_client("Prod-NextJs-Client").await.unwrap();
    assert_eq!(by_name.len(), 1);
    assert_eq!(by_name[0].serial, "123456789");

    // The console can revoke a legacy item (no version attribute counts as 0) ...
    let mut revoked = one.clone();
    revoked.status = CertStatus::Revoked;
    b.roster
        .transact(vec![RosterWrite::Update(
            revoked,
            Expect {
                version: 0,
                active: true,
            },
        )])
        .await
        .unwrap();
    let item = raw_item(&env, "123456789").await;
    assert!(matches!(item.get("status"), Some(AttributeValue::S(v)) if v == "revoked"));
    assert!(matches!(item.get("version"), Some(AttributeValue::N(v)) if v == "1"));
    // ... and the contract's attributes keep their names and formats.
    assert!(
        matches!(item.get("clientName"), Some(AttributeValue::S(v)) if v == "Prod-NextJs-Client")
    );
    assert!(matches!(item.get("ttl"), Some(AttributeValue::N(v)) if v == "1748512800"));
}

#[tokio::test]
async fn ssm_vault_stores_keys_as_securestring_and_certs_as_string() {
    let env = env("ssm");
    let b = connect(&env).await;
    let c = raw(&env).await;
    let key = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";
    let cases = [
        (VaultItem::RootKey, key, ParameterType::SecureString),
        (VaultItem::RootCert, CERT_PEM, ParameterType::String),
        (VaultItem::IntermediateKey, key, ParameterType::SecureString),
        (VaultItem::IntermediateCert, CERT_PEM, ParameterType::String),
        (
            VaultItem::ClientKey("acme".into()),
            key,
            ParameterType::SecureString,
        ),
        (
            VaultItem::ClientCert("acme".into()),
            CERT_PEM,
            ParameterType::String,
        ),
    ];
    for (item, value, kind) in &cases {
        assert_eq!(b.vault.get(item).await.unwrap(), None);
        b.vault.put(item, value, false).await.unwrap();
        let name = b.vault.name_of(item);
        assert_eq!(name, item.ssm_name(&env.project, "sandboxssm"));
        let p = c
            .ssm
            .get_parameter()
            .name(&name)
            .send()
            .await
            .unwrap()
            .parameter
            .unwrap();
        assert_eq!(p.r#type(), Some(kind), "{name}");
        assert_eq!(
            b.vault
                .get(item)
                .await
                .unwrap()
                .as_deref()
                .map(String::as_str),
            Some(*value)
        );
    }
    assert_eq!(
        b.vault.name_of(&VaultItem::ClientKey("acme".into())),
        format!("/{}/sandboxssm/clients/acme/private-key", env.project)
    );

    // No silent overwrite; an explicit one replaces the value.
    let err = b
        .vault
        .put(&VaultItem::RootCert, "other", false)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { message: m, .. } if m.contains("/ca/root/certificate")),
        "{err}"
    );
    b.vault
        .put(&VaultItem::RootCert, "replaced", true)
        .await
        .unwrap();
    assert_eq!(
        b.vault
            .get(&VaultItem::RootCert)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        "replaced"
    );

    // Over 4096 bytes is refused before AWS is called (moto would accept it).
    let big = "A".repeat(5000);
    let item = VaultItem::ClientKey("big".into());
    let err = b.vault.put(&item, &big, false).await.unwrap_err();
    match &err {
        StoreError::Invalid(m) => {
            assert!(
                m.contains("5000") && m.contains("4096") && m.contains("ssm_advanced_tier"),
                "{m}"
            )
        }
        other => panic!("expected Invalid, got {other}"),
    }
    let missing = c
        .ssm
        .get_parameter()
        .name(b.vault.name_of(&item))
        .send()
        .await;
    assert!(missing.is_err(), "nothing may be written");

    // With advanced tier enabled the same value goes in as an advanced parameter.
    let mut adv_env = env.clone();
    adv_env.ssm_advanced_tier = true;
    let adv = aws_store::connect(&adv_env).await.unwrap();
    adv.vault.put(&item, &big, false).await.unwrap();
    let meta = c
        .ssm
        .describe_parameters()
        .parameter_filters(
            aws_sdk_ssm::types::ParameterStringFilter::builder()
                .key("Name")
                .option("Equals")
                .values(adv.vault.name_of(&item))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(meta.parameters()[0].tier(), Some(&ParameterTier::Advanced));
}

#[tokio::test]
async fn secrets_manager_layout_keeps_the_reference_json() {
    let mut env = env("sm");
    env.vault = VaultKind::SecretsManager;
    env.account_name = Some("prodsm".into());
    let b = connect(&env).await;
    let c = raw(&env).await;
    let read_json = |name: &'static str| {
        let c = c.clone();
        async move {
            let out = c
                .secrets
                .get_secret_value()
                .secret_id(name)
                .send()
                .await
                .unwrap();
            serde_json::from_str::<serde_json::Value>(out.secret_string().unwrap()).unwrap()
        }
    };

    b.vault
        .put(&VaultItem::RootKey, "ROOTKEY-PEM", false)
        .await
        .unwrap();
    b.vault
        .put(&VaultItem::RootCert, "ROOTCERT-PEM", false)
        .await
        .unwrap();
    let root = read_json("Prodsm/Arda/RootCA").await;
    assert_eq!(root["ROOT_CA_KEY"], "ROOTKEY-PEM");
    assert_eq!(root["ROOT_CA_CERT"], "ROOTCERT-PEM");
    assert_eq!(
        b.vault
            .get(&VaultItem::RootCert)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        "ROOTCERT-PEM"
    );
    assert_eq!(
        b.vault.name_of(&VaultItem::RootKey),
        "Prodsm/Arda/RootCA:ROOT_CA_KEY"
    );

    // The consumer's secret already exists with a field the console does not know: it stays.
    c.secrets
        .create_secret()
        .name("Prodsm/NextJs/MtlsKeys")
        .secret_string(r#"{"MTLS_KEY":"old","MTLS_CERT":"old","CONSUMER_NOTE":"keep me"}"#)
        .send()
        .await
        .unwrap();
    let nextjs = "Prodsm-NextJs-Client".to_string();
    let err = b
        .vault
        .put(&VaultItem::ClientKey(nextjs.clone()), "NEWKEY", false)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    b.vault
        .put(&VaultItem::ClientKey(nextjs.clone()), "NEWKEY", true)
        .await
        .unwrap();
    b.vault
        .put(&VaultItem::ClientCert(nextjs.clone()), "NEWCERT", true)
        .await
        .unwrap();
    let mtls = read_json("Prodsm/NextJs/MtlsKeys").await;
    assert_eq!(mtls["MTLS_KEY"], "NEWKEY");
    assert_eq!(mtls["MTLS_CERT"], "NEWCERT");
    assert_eq!(mtls["CONSUMER_NOTE"], "keep me");

    // Clients outside the naming convention get a secret of their own.
    b.vault
        .put(&VaultItem::ClientCert("acme".into()), "ACMECERT", false)
        .await
        .unwrap();
    assert_eq!(
        read_json("Prodsm/mtls-clients/acme").await["MTLS_CERT"],
        "ACMECERT"
    );

    // No intermediate in this layout.
    assert_eq!(
        b.vault.get(&VaultItem::IntermediateCert).await.unwrap(),
        None
    );
    let err = b
        .vault
        .put(&VaultItem::IntermediateKey, "K", false)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(m) if m.contains("root-only")),
        "{err}"
    );
}

#[tokio::test]
async fn truststore_publishes_conditionally_and_keeps_versions() {
    let env = env("trust");
    let b = connect(&env).await;
    let ts = &b.truststore;
    assert!(ts.current().await.unwrap().is_none());
    assert!(ts.history().await.unwrap().is_empty());

    let v1 = ts.put("BUNDLE ONE\n", None).await.unwrap();
    let err = ts.put("BUNDLE RACE\n", None).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { message: m, .. } if m.contains("changed since you looked")),
        "{err}"
    );
    let err = ts
        .put("BUNDLE RACE\n", Some("\"0123456789abcdef\""))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { message: m, .. } if m.contains("changed since you looked")),
        "{err}"
    );
    let v2 = ts.put("BUNDLE TWO\n", Some(&v1.etag)).await.unwrap();
    assert_ne!(v1.version_id, v2.version_id);
    assert_eq!(v2.size, 11);
    // The ETag of v1 is stale now.
    assert!(matches!(
        ts.put("BUNDLE X\n", Some(&v1.etag)).await,
        Err(StoreError::Conflict { .. })
    ));

    let (pem, cur) = ts.current().await.unwrap().unwrap();
    assert_eq!(pem, "BUNDLE TWO\n");
    assert_eq!(
        (cur.version_id.as_str(), cur.etag.as_str()),
        (v2.version_id.as_str(), v2.etag.as_str())
    );

    let history = ts.history().await.unwrap();
    let ids: Vec<&str> = history.iter().map(|v| v.version_id.as_str()).collect();
    assert_eq!(ids, vec![v2.version_id.as_str(), v1.version_id.as_str()]);
    assert!(history[0].is_latest && !history[1].is_latest);
    assert_eq!(
        ts.get_version(&v1.version_id).await.unwrap(),
        "BUNDLE ONE\n"
    );
    assert!(matches!(
        ts.get_version("no-such-version").await,
        Err(StoreError::NotFound(_))
    ));

    // The emulator's own listing agrees.
    let c = raw(&env).await;
    let listed =
        c.s3.list_object_versions()
            .bucket(env.truststore_bucket.as_ref().unwrap())
            .prefix("truststore.pem")
            .send()
            .await
            .unwrap();
    let mut raw_ids: Vec<String> = listed
        .versions()
        .iter()
        .filter_map(|v| v.version_id.clone())
        .collect();
    raw_ids.sort();
    let mut ours: Vec<String> = history.iter().map(|v| v.version_id.clone()).collect();
    ours.sort();
    assert_eq!(raw_ids, ours);
}

#[tokio::test]
async fn audit_appends_and_reads_newest_first() {
    let env = env("audit");
    let b = connect(&env).await;
    let at = datetime!(2025-05-01 08:00:00 UTC);
    let rec = |i: i64, action: &str| AuditRecord {
        id: format!(
            "{}-{i:04x}",
            (at + Duration::minutes(i)).unix_timestamp() * 1000
        ),
        at: at + Duration::minutes(i) + Duration::milliseconds(250),
        operator: b.operator.clone(),
        action: action.into(),
        target: "acme".into(),
        outcome: if i == 2 {
            AuditOutcome::Conflict
        } else {
            AuditOutcome::Ok
        },
        detail: format!("step {i}"),
    };
    for (i, a) in [(0, "ca.init"), (2, "revoke"), (1, "issue")] {
        b.audit.append(&rec(i, a)).await.unwrap();
    }
    let err = b.audit.append(&rec(1, "issue")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    let recent = b.audit.recent(2).await.unwrap();
    assert_eq!(recent, vec![rec(2, "revoke"), rec(1, "issue")]);
    assert_eq!(b.audit.recent(10).await.unwrap().len(), 3);
    assert!(recent[0].operator.contains("123456789012"));
}

#[tokio::test]
async fn doctor_is_all_ok_on_fresh_infrastructure_with_a_ca() {
    let env = env("doctor");
    let b = connect(&env).await;
    for item in [VaultItem::RootKey, VaultItem::IntermediateKey] {
        b.vault.put(&item, "KEY", false).await.unwrap();
    }
    for item in [VaultItem::RootCert, VaultItem::IntermediateCert] {
        b.vault.put(&item, CERT_PEM, false).await.unwrap();
    }
    let checks = aws_store::doctor_checks(&env, &b).await;
    let bad: Vec<_> = checks
        .iter()
        .filter(|c| c.status != CheckStatus::Ok)
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    for n in [
        "aws identity",
        "roster table",
        "roster ttl",
        "audit table",
        "vault parameters",
        "truststore versioning",
        "truststore public access",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
}

#[tokio::test]
async fn doctor_reports_what_is_missing_and_how_to_fix_it() {
    let env = env("doctorbad");
    let b = aws_store::connect(&env).await.unwrap();
    // A private key stored as a plain String by some other tool.
    raw(&env)
        .await
        .ssm
        .put_parameter()
        .name(VaultItem::RootKey.ssm_name(&env.project, env.account_name()))
        .value("KEY")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();
    let checks = aws_store::doctor_checks(&env, &b).await;
    let get = |n: &str| {
        checks
            .iter()
            .find(|c| c.name == n)
            .unwrap_or_else(|| panic!("{n}: {checks:#?}"))
    };
    assert_eq!(get("aws identity").status, CheckStatus::Ok);
    let roster = get("roster table");
    assert_eq!(roster.status, CheckStatus::Fail);
    assert!(roster.detail.contains("init-infra"), "{}", roster.detail);
    let audit = get("audit table");
    assert_eq!(audit.status, CheckStatus::Fail);
    assert!(
        audit.detail.contains("mtls-console init-infra"),
        "{}",
        audit.detail
    );
    let vault = get("vault parameters");
    assert_eq!(vault.status, CheckStatus::Fail);
    assert!(vault.detail.contains("SecureString"), "{}", vault.detail);
    let bucket = get("truststore bucket");
    assert_eq!(bucket.status, CheckStatus::Fail);
    assert!(
        bucket
            .detail
            .contains(env.truststore_bucket.as_deref().unwrap()),
        "{}",
        bucket.detail
    );
}
