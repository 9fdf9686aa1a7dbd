//! Bundles compared as certificates on the embedded backend: the reference tooling's
//! "intermediate, blank line, root" is no drift for `truststore check` and doctor, and publish
//! writes no new version for it; a real change is drift and is published.

use mtls_console::config::EnvConfig;
use mtls_console::model::VaultItem;
use mtls_console::ops::{self, CaInitOptions, CheckStatus, Ctx};
use mtls_console::pki::{self, CaParams, KeyAlgorithm, Subject};

pub const DOMAIN: &str = "api.example.com";

pub async fn local_ctx(dir: &std::path::Path, pinned: Vec<std::path::PathBuf>) -> Ctx {
    Ctx::open(EnvConfig {
        name: "gw".into(),
        data_dir: Some(dir.to_path_buf()),
        gateway_domain: Some(DOMAIN.into()),
        client_key_algorithm: KeyAlgorithm::EcdsaP256,
        pinned_cas: pinned,
        ..EnvConfig::default()
    })
    .await
    .unwrap()
}

pub async fn init_ca(ctx: &Ctx) {
    ops::ca_init(
        ctx,
        &CaInitOptions {
            root_only: false,
            key_algorithm: KeyAlgorithm::EcdsaP256,
            subject: Subject::default(),
            root_days: 3650,
            intermediate_days: 1825,
        },
    )
    .await
    .unwrap();
}

/// The bundle as the reference tooling writes it: intermediate PEM, a blank line, root PEM.
pub async fn reference_bundle(ctx: &Ctx) -> String {
    let vault = &ctx.backend.vault;
    let inter = vault
        .get(&VaultItem::IntermediateCert)
        .await
        .unwrap()
        .unwrap();
    let root = vault.get(&VaultItem::RootCert).await.unwrap().unwrap();
    format!("{}\n\n{}\n", inter.trim_end(), root.trim_end())
}

/// A CA nobody here holds the key of (a CDN's origin-pull CA), as a pinned CA file.
pub fn pinned_ca(dir: &std::path::Path) -> std::path::PathBuf {
    let ca = pki::create_root(
        &CaParams {
            subject: Subject {
                cn: Some("CDN Origin Pull CA".into()),
                ..Subject::default()
            },
            key_algorithm: KeyAlgorithm::EcdsaP256,
            validity_days: 3650,
        },
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let path = dir.join("cdn-origin-pull.pem");
    std::fs::write(&path, ca.cert_pem).unwrap();
    path
}

pub fn status_of(checks: &[ops::DoctorCheck], name: &str) -> (CheckStatus, String) {
    let c = checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name} in {checks:?}"));
    (c.status, c.detail.clone())
}

#[tokio::test]
async fn a_reference_bundle_is_no_drift_and_is_not_published_again() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = local_ctx(dir.path(), Vec::new()).await;
    init_ca(&ctx).await;
    let reference = reference_bundle(&ctx).await;
    let built = ops::truststore_build(&ctx).await.unwrap();
    assert_ne!(
        reference, built.pem,
        "the texts differ, the certificates do not"
    );
    let written = ctx.backend.truststore.put(&reference, None).await.unwrap();
    ctx.backend
        .gateway
        .point_truststore(
            DOMAIN,
            &ctx.backend.truststore.location(),
            &written.version_id,
        )
        .await
        .unwrap();

    let check = ops::truststore_check(&ctx).await.unwrap();
    let (status, detail) = status_of(&check.checks, "vault CA");
    assert_eq!(status, CheckStatus::Ok, "{detail}");
    let doctor = ops::doctor(&ctx).await.unwrap();
    let (status, detail) = status_of(&doctor, "truststore");
    assert_eq!(status, CheckStatus::Ok, "{detail}");

    let published = ops::truststore_publish(&ctx, false).await.unwrap();
    assert!(!published.changed);
    assert_eq!(published.version.version_id, written.version_id);
    assert_eq!(ops::truststore_history(&ctx).await.unwrap().len(), 1);

    // A real change (a pinned CA added) is drift, and publish writes it.
    let changed = local_ctx(dir.path(), vec![pinned_ca(dir.path())]).await;
    let check = ops::truststore_check(&changed).await.unwrap();
    let (status, detail) = status_of(&check.checks, "vault CA");
    assert_eq!(status, CheckStatus::Warn, "{detail}");
    assert!(detail.contains("CDN Origin Pull CA"), "{detail}");
    let published = ops::truststore_publish(&changed, false).await.unwrap();
    assert!(published.changed);
    assert_eq!(ops::truststore_history(&changed).await.unwrap().len(), 2);
}
