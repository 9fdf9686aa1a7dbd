//! The truststore: the bundle the CA implies, what is published, publish, history, rollback.

use std::collections::HashSet;

use super::query::{ca_chain_der, latest_per_client};
use super::{BundleView, Ctx};
use crate::error::{Error, Result};
use crate::model::CertRecord;
use crate::pki::{self, CertInfo};
use crate::store::TruststoreVersion;

/// The bundle the vault's CA implies: intermediate(s), root, then the pinned external CAs.
pub async fn truststore_build(ctx: &Ctx) -> Result<BundleView> {
    let chain = ca_chain_der(ctx).await?.ok_or_else(|| {
        Error::NotFound(format!(
            "no CA in environment '{}' to build a truststore from; run `ca init` first",
            ctx.env.name
        ))
    })?;
    let mut pinned = Vec::new();
    for path in &ctx.env.pinned_cas {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!(
                "cannot read pinned CA file {} (pinned_cas in environment '{}'): {e}",
                path.display(),
                ctx.env.name
            ))
        })?;
        pinned.extend(
            pki::parse_pem_certs(&text, false)
                .map_err(|e| Error::Config(format!("pinned CA file {}: {e}", path.display())))?,
        );
    }
    let pem = pki::build_bundle(&chain, &pinned);
    view(ctx, pem, None)
}

fn view(ctx: &Ctx, pem: String, version: Option<TruststoreVersion>) -> Result<BundleView> {
    let problems = pki::validate_bundle(&pem, ctx.now());
    let certs = pki::parse_pem_certs(&pem, true)
        .map(|ders| ders.iter().filter_map(|d| pki::inspect(d).ok()).collect())
        .unwrap_or_default();
    Ok(BundleView {
        pem,
        certs,
        problems,
        version,
    })
}

/// The published bundle, or None when nothing was ever published.
pub async fn truststore_show(ctx: &Ctx) -> Result<Option<BundleView>> {
    match ctx.backend.truststore.current().await? {
        Some((pem, version)) => Ok(Some(view(ctx, pem, Some(version))?)),
        None => Ok(None),
    }
}

/// Active clients whose issuer is not among `certs` (they would be refused by the gateway).
fn clients_losing_trust(records: &[CertRecord], certs: &[CertInfo], ctx: &Ctx) -> Vec<String> {
    let now = ctx.now();
    let fingerprints: HashSet<&str> = certs
        .iter()
        .map(|c| c.fingerprint_sha256.as_str())
        .collect();
    let subjects: HashSet<&str> = certs.iter().map(|c| c.subject.as_str()).collect();
    records
        .iter()
        .filter(|r| r.authorizer_allows(now))
        .filter(|r| match (&r.issuer_fingerprint, &r.issuer) {
            (Some(fp), _) => !fingerprints.contains(fp.as_str()),
            (None, Some(issuer)) => !subjects.contains(issuer.as_str()),
            (None, None) => false,
        })
        .map(|r| format!("{} (serial {})", r.client_id, r.serial))
        .collect()
}

/// Refuses a bundle with fatal problems or one that would stop trusting an active client,
/// unless forced.
async fn check_publishable(ctx: &Ctx, bundle: &BundleView, force: bool) -> Result<()> {
    let fatal: Vec<String> = bundle
        .problems
        .iter()
        .filter(|p| p.fatal)
        .map(|p| match &p.subject {
            Some(s) => format!("{s}: {}", p.message),
            None => p.message.clone(),
        })
        .collect();
    if !fatal.is_empty() && !force {
        return Err(Error::Invalid(format!(
            "the bundle breaks API Gateway's rules; nothing was published (--force publishes anyway):\n  {}",
            fatal.join("\n  ")
        )));
    }
    let records = latest_per_client(ctx.backend.roster.list(false).await?);
    let losing = clients_losing_trust(&records, &bundle.certs, ctx);
    if !losing.is_empty() && !force {
        let shown: Vec<&str> = losing.iter().take(20).map(String::as_str).collect();
        return Err(Error::Invalid(format!(
            "the bundle would stop trusting {} active client(s); nothing was published (--force publishes anyway):\n  {}{}",
            losing.len(),
            shown.join("\n  "),
            if losing.len() > shown.len() {
                "\n  ..."
            } else {
                ""
            }
        )));
    }
    Ok(())
}

/// Publishes the bundle the CA implies as a new version, conditional on the version the
/// diff was made against (`If-Match`), or on there being none (`If-None-Match: *`).
pub async fn truststore_publish(ctx: &Ctx, force: bool) -> Result<TruststoreVersion> {
    ctx.require_writable("truststore publish")?;
    let bundle = truststore_build(ctx).await?;
    check_publishable(ctx, &bundle, force).await?;
    let current = ctx.backend.truststore.current().await?;
    if let Some((pem, version)) = &current
        && *pem == bundle.pem
    {
        return Ok(version.clone());
    }
    let if_match = current.as_ref().map(|(_, v)| v.etag.clone());
    let location = ctx.backend.truststore.location();
    let change = async {
        Ok(ctx
            .backend
            .truststore
            .put(&bundle.pem, if_match.as_deref())
            .await?)
    };
    ctx.audited(
        "truststore.publish",
        &location,
        change,
        |v: &TruststoreVersion| {
            format!(
                "version {} ({} certificates){}",
                v.version_id,
                bundle.certs.len(),
                if force { ", forced" } else { "" }
            )
        },
    )
    .await
}

/// Every published version, newest first.
pub async fn truststore_history(ctx: &Ctx) -> Result<Vec<TruststoreVersion>> {
    Ok(ctx.backend.truststore.history().await?)
}

/// Makes an earlier version the newest again (a new version with its content).
pub async fn truststore_rollback(ctx: &Ctx, version_id: &str) -> Result<TruststoreVersion> {
    ctx.require_writable("truststore rollback")?;
    let history = ctx.backend.truststore.history().await?;
    if !history.iter().any(|v| v.version_id == version_id) {
        return Err(Error::NotFound(format!(
            "no truststore version '{version_id}' at {}; `truststore history` lists the versions",
            ctx.backend.truststore.location()
        )));
    }
    let pem = ctx.backend.truststore.get_version(version_id).await?;
    let current = ctx.backend.truststore.current().await?;
    let if_match = current.as_ref().map(|(_, v)| v.etag.clone());
    let location = ctx.backend.truststore.location();
    let change = async {
        Ok(ctx
            .backend
            .truststore
            .put(&pem, if_match.as_deref())
            .await?)
    };
    ctx.audited(
        "truststore.rollback",
        &location,
        change,
        |v: &TruststoreVersion| {
            format!("restored version {version_id} as version {}", v.version_id)
        },
    )
    .await
}
