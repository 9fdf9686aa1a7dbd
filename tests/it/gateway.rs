//! The emergency `gateway mtls off` / `on` on the embedded backend (its gateway models the
//! domain's truststore pointer, not APIs): through the binary (confirmation, reason, audit,
//! doctor and check) and in-process (`on` restores the version served before, not the newest).

use mtls_console::ops;

use crate::bundles::{DOMAIN, init_ca, local_ctx, reference_bundle};
use crate::common::{Home, code, stderr};

/// `on` puts back what was served when mTLS went off, even when a newer version exists.
#[tokio::test]
async fn mtls_on_restores_the_version_served_before_not_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = local_ctx(dir.path(), Vec::new()).await;
    init_ca(&ctx).await;
    let served = ops::truststore_publish(&ctx, false).await.unwrap();
    let newest = reference_bundle(&ctx).await + "\n";
    let etag = served.version.etag.clone();
    let newer = ctx
        .backend
        .truststore
        .put(&newest, Some(&etag))
        .await
        .unwrap();
    assert_ne!(newer.version_id, served.version.version_id);

    let off = ops::gateway_mtls_off(&ctx, "INC-42 every client refused")
        .await
        .unwrap();
    assert_eq!(off.domain.truststore_uri, None);
    assert_eq!(
        off.record.truststore_version.as_deref(),
        Some(served.version.version_id.as_str())
    );
    let domain = ctx.backend.gateway.domain(DOMAIN).await.unwrap();
    assert_eq!(domain.truststore_uri, None, "mTLS is off");

    let refused = ops::gateway_mtls_off(&ctx, "again").await.unwrap_err();
    assert!(refused.to_string().contains("already off"), "{refused}");
    let on = ops::gateway_mtls_on(&ctx).await.unwrap();
    assert!(on.record.restored_at.is_some());
    let domain = ctx.backend.gateway.domain(DOMAIN).await.unwrap();
    assert_eq!(
        domain.truststore_uri.as_deref(),
        Some(ctx.backend.truststore.location().as_str())
    );
    assert_eq!(
        domain.truststore_version.as_deref(),
        Some(served.version.version_id.as_str()),
        "the version served before, not the newest {}",
        newer.version_id
    );
    let again = ops::gateway_mtls_on(&ctx).await.unwrap_err();
    assert!(again.to_string().contains("on already"), "{again}");
    // A publish while mTLS is off turns it on, and says so.
    ops::gateway_mtls_off(&ctx, "INC-43").await.unwrap();
    ops::truststore_publish(&ctx, false).await.unwrap();
    let domain = ctx.backend.gateway.domain(DOMAIN).await.unwrap();
    assert!(domain.truststore_uri.is_some());
    let warned = ctx.take_warnings();
    assert!(
        warned.iter().any(|w| w.contains("mutual TLS was off")),
        "{warned:?}"
    );
    let blank = ops::gateway_mtls_off(&ctx, "  ").await.unwrap_err();
    assert!(blank.to_string().contains("--reason"), "{blank}");
    let domain = ctx.backend.gateway.domain(DOMAIN).await.unwrap();
    assert!(
        domain.truststore_uri.is_some(),
        "a refused off changes nothing"
    );
}

fn home_with_domain() -> Home {
    let home = Home::new();
    let dir = home.path().join("config/mtls-console");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!("[environments.local]\nbackend = \"local\"\ngateway_domain = \"{DOMAIN}\"\n"),
    )
    .unwrap();
    home
}

/// The emergency switch as an operator runs it: refused without a terminal or --yes (and
/// without --reason), stated plainly, audited with the reason, seen by doctor and check,
/// and undone by `on`.
#[test]
fn gateway_mtls_off_and_on_through_the_binary() {
    let home = home_with_domain();
    home.ok(&["--yes", "ca", "init", "--key-algorithm", "ecdsa-p256"]);
    home.ok(&["issue", "acme"]);
    let published = home.json(&["--yes", "truststore", "publish"]);
    let version = published["version_id"].as_str().unwrap().to_string();

    let no_reason = home.run(&["--yes", "gateway", "mtls", "off"]);
    assert_eq!(code(&no_reason), 2, "{}", stderr(&no_reason));
    let read_only = home.run(&["--read-only", "gateway", "mtls", "off", "--reason", "x"]);
    assert_eq!(code(&read_only), 3);
    assert!(
        stderr(&read_only).contains("read-only"),
        "{}",
        stderr(&read_only)
    );
    let unconfirmed = home.run(&["gateway", "mtls", "off", "--reason", "INC-42"]);
    assert_eq!(code(&unconfirmed), 3);
    let said = stderr(&unconfirmed);
    assert!(
        said.contains(DOMAIN)
            && said.contains("WITHOUT a client certificate")
            && said.contains("--yes"),
        "{said}"
    );
    let check = home.json(&["truststore", "check"]);
    assert!(
        check["domain"]["truststore_uri"].is_string(),
        "nothing changed: {check}"
    );

    let off = home.ok(&[
        "--yes",
        "gateway",
        "mtls",
        "off",
        "--reason",
        "INC-42 truststore rejects every client",
    ]);
    assert!(
        off.contains(&format!("mutual TLS is OFF on domain {DOMAIN}"))
            && off.contains("accepts requests without a client certificate")
            && off.contains(&version),
        "{off}"
    );

    let doctor = home.run(&["doctor"]);
    assert_eq!(code(&doctor), 9);
    let report = String::from_utf8_lossy(&doctor.stdout).into_owned();
    let line = report
        .lines()
        .find(|l| l.contains("gateway.mtls"))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(
        line.starts_with("FAIL") && line.contains("INC-42") && line.contains(&version),
        "{line}"
    );
    let check = home.run(&["truststore", "check"]);
    assert_eq!(code(&check), 9);
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("mutual TLS is OFF"),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    let audit = home.json(&["audit", "--limit", "5"]);
    let record = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "gateway.mtls-off" && r["outcome"] == "ok")
        .unwrap_or_else(|| panic!("{audit}"));
    let detail = record["detail"].as_str().unwrap();
    assert!(
        detail.contains("INC-42 truststore rejects every client")
            && detail.contains(&version)
            && detail.contains("without a client certificate"),
        "{detail}"
    );

    let unconfirmed_on = home.run(&["gateway", "mtls", "on"]);
    assert_eq!(code(&unconfirmed_on), 3, "{}", stderr(&unconfirmed_on));
    let on = home.json(&["--yes", "gateway", "mtls", "on"]);
    assert_eq!(on["domain"]["truststore_version"], version.as_str());
    assert!(on["record"]["restored_at"].is_string(), "{on}");
    let doctor = home.ok(&["doctor"]);
    assert!(
        doctor
            .lines()
            .any(|l| l.starts_with("ok") && l.contains("gateway.mtls")),
        "{doctor}"
    );
    let audit = home.json(&["audit", "--limit", "5"]);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "gateway.mtls-on" && r["outcome"] == "ok"),
        "{audit}"
    );
}

/// Without a domain there is nothing to switch: a config error that says what to set.
#[test]
fn gateway_mtls_needs_a_domain() {
    let home = Home::new();
    home.ok(&["--yes", "ca", "init", "--key-algorithm", "ecdsa-p256"]);
    let out = home.run(&["--yes", "gateway", "mtls", "off", "--reason", "test"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("gateway_domain"), "{}", stderr(&out));
}
