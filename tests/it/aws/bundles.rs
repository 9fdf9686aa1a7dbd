//! Bundles compared as certificates on moto, through the release binary: the reference
//! tooling's object ("intermediate PEM, blank line, root PEM", written straight to S3) is no
//! drift for `truststore check` and doctor, and publish writes no new S3 version for it; a
//! real change (a pinned CA added) is drift, and publish writes it.

use mtls_console::model::VaultItem;
use mtls_console::ops::Ctx;
use mtls_console::store::aws as aws_store;

use super::{env, home_for, raw};
use crate::bundles::pinned_ca;

/// `--env moto` and then `args`.
fn with<'a>(args: &[&'a str]) -> Vec<&'a str> {
    [&["--env", "moto"][..], args].concat()
}

fn status(checks: &serde_json::Value, name: &str) -> (String, String) {
    let c = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {checks}"));
    (
        c["status"].as_str().unwrap().to_string(),
        c["detail"].as_str().unwrap().to_string(),
    )
}

async fn versions(env: &mtls_console::config::EnvConfig) -> usize {
    raw(env)
        .await
        .s3
        .list_object_versions()
        .bucket(env.truststore_bucket.as_deref().unwrap())
        .prefix(&env.truststore_key)
        .send()
        .await
        .unwrap()
        .versions()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reference_bundle_in_s3_is_no_drift_and_is_not_published_again() {
    let env = env("refbundle");
    aws_store::init_infra(&env).await.unwrap();
    let home = home_for(&env, "");
    home.ok(&with(&[
        "--yes",
        "ca",
        "init",
        "--key-algorithm",
        "ecdsa-p256",
    ]));

    let ctx = Ctx::open(env.clone()).await.unwrap();
    let vault = &ctx.backend.vault;
    let inter = vault
        .get(&VaultItem::IntermediateCert)
        .await
        .unwrap()
        .unwrap();
    let root = vault.get(&VaultItem::RootCert).await.unwrap().unwrap();
    let reference = format!("{}\n\n{}\n", inter.trim_end(), root.trim_end());
    raw(&env)
        .await
        .s3
        .put_object()
        .bucket(env.truststore_bucket.as_deref().unwrap())
        .key(&env.truststore_key)
        .body(reference.into_bytes().into())
        .send()
        .await
        .unwrap();
    assert_eq!(versions(&env).await, 1);

    let check = home.json(&with(&["truststore", "check"]));
    let (s, detail) = status(&check["checks"], "vault CA");
    assert_eq!(s, "ok", "{detail}");
    let doctor = home.run(&with(&["--json", "doctor"]));
    let doctor: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let (s, detail) = status(&doctor, "truststore");
    assert_eq!(s, "ok", "{detail}");
    let published = home.json(&with(&["--yes", "truststore", "publish"]));
    assert_eq!(published["changed"], false, "{published}");
    assert_eq!(versions(&env).await, 1, "no new S3 version for whitespace");

    // A real change is drift, and publish writes it.
    let pinned = tempfile::tempdir().unwrap();
    let file = pinned_ca(pinned.path());
    let home = home_for(&env, &format!("pinned_cas = [\"{}\"]\n", file.display()));
    let check = home.run(&with(&["--json", "truststore", "check"]));
    let check: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    let (s, detail) = status(&check["checks"], "vault CA");
    assert_eq!(s, "warn", "{detail}");
    assert!(detail.contains("CDN Origin Pull CA"), "{detail}");
    let published = home.json(&with(&["--yes", "truststore", "publish"]));
    assert_eq!(published["changed"], true, "{published}");
    assert_eq!(versions(&env).await, 2);
}
