//! The truststore: the bundle the CA implies, what is published, publish, history, rollback.

use std::collections::HashSet;

use super::query::{ca_chain_der, latest_per_client};
use super::{BundleView, CheckStatus, Ctx, DoctorCheck, Published, TruststoreCheck};
use crate::error::{Error, Result};
use crate::model::CertRecord;
use crate::pki::{self, CertInfo};
use crate::store::{DomainTruststore, StoreError, TruststoreVersion};

/// The bundle the vault's CA implies: intermediate(s), root, then the pinned external CAs.
/// While a CA rotation is in progress the CA it moves to is in the bundle too.
pub async fn truststore_build(ctx: &Ctx) -> Result<BundleView> {
    let mut chain = ca_chain_der(ctx).await?.ok_or_else(|| {
        Error::NotFound(format!(
            "no CA in environment '{}' to build a truststore from; run `ca init` first",
            ctx.env.name
        ))
    })?;
    if let Some(next) = super::journal::next_chain_der(ctx).await? {
        chain = merge_chains(chain, next);
    }
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

/// Two CA chains as one bundle order: the intermediates of both, then the roots of both.
fn merge_chains(current: Vec<Vec<u8>>, next: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let is_root = |der: &Vec<u8>| pki::inspect(der).map(|i| i.self_signed).unwrap_or(false);
    let (roots, inters): (Vec<_>, Vec<_>) = current.into_iter().chain(next).partition(is_root);
    let mut out = Vec::new();
    for der in inters.into_iter().chain(roots) {
        if !out.contains(&der) {
            out.push(der);
        }
    }
    out
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
/// `what` names the change in the refusal ("publish", "rollback").
async fn check_publishable(ctx: &Ctx, bundle: &BundleView, force: bool, what: &str) -> Result<()> {
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
            "the bundle breaks API Gateway's rules; {what} refused, nothing was written (--force overrides):\n  {}",
            fatal.join("\n  ")
        )));
    }
    let records = latest_per_client(ctx.roster(false).await?);
    let losing = clients_losing_trust(&records, &bundle.certs, ctx);
    if !losing.is_empty() && !force {
        let shown: Vec<&str> = losing.iter().take(20).map(String::as_str).collect();
        return Err(Error::Invalid(format!(
            "the bundle would stop trusting {} active client(s); {what} refused, nothing was written (--force overrides):\n  {}{}",
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
/// diff was made against (`If-Match`), or on there being none (`If-None-Match: *`). When the
/// environment names a gateway domain, the domain is then pointed at that version (a bundle
/// that is already the newest version is not written again, but the domain still is pointed),
/// so running publish again finishes a publish whose domain update failed.
pub async fn truststore_publish(ctx: &Ctx, force: bool) -> Result<Published> {
    ctx.require_writable("truststore publish")?;
    let bundle = truststore_build(ctx).await?;
    check_publishable(ctx, &bundle, force, "publish").await?;
    let current = ctx.backend.truststore.current().await?;
    let (version, changed) = match current {
        Some((pem, version)) if pki::same_bundle(&pem, &bundle.pem) => (version, false),
        current => {
            let if_match = current.as_ref().map(|(_, v)| v.etag.clone());
            let location = ctx.backend.truststore.location();
            let change = async {
                Ok(ctx
                    .backend
                    .truststore
                    .put(&bundle.pem, if_match.as_deref())
                    .await?)
            };
            let version = ctx
                .audited(
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
                .await?;
            (version, true)
        }
    };
    let domain = point_domain(ctx, &version).await?;
    Ok(Published {
        version,
        changed,
        domain,
    })
}

/// Points the environment's gateway domain (if it names one) at `version`, unless it already
/// serves it. API Gateway reads a truststore only by version, so until this call the domain
/// keeps serving the previous bundle.
pub(crate) async fn point_domain(
    ctx: &Ctx,
    version: &TruststoreVersion,
) -> Result<Option<DomainTruststore>> {
    let Some(name) = &ctx.env.gateway_domain else {
        return Ok(None);
    };
    let gateway = &ctx.backend.gateway;
    let location = ctx.backend.truststore.location();
    let before = gateway.domain(name).await.ok();
    if let Some(now) = &before
        && now.truststore_version.as_deref() == Some(version.version_id.as_str())
        && now.truststore_uri.as_deref() == Some(location.as_str())
    {
        return Ok(before);
    }
    if before.as_ref().is_some_and(|d| d.truststore_uri.is_none()) {
        ctx.warn(format!(
            "mutual TLS was off on domain {name}; pointing it at version {} turns it on again",
            version.version_id
        ));
    }
    let change = async {
        gateway
            .point_truststore(name, &location, &version.version_id)
            .await
            .map_err(|e| {
                Error::Store(StoreError::Backend(format!(
                    "truststore version {} is stored at {location}, but domain {name} still serves \
                     the version it had: {e}. Run `truststore publish` again to point the domain",
                    version.version_id
                )))
            })
    };
    let domain = ctx
        .audited("gateway.update", name, change, |d: &DomainTruststore| {
            format!(
                "truststore {location} version {}{}",
                version.version_id,
                if d.warnings.is_empty() {
                    String::new()
                } else {
                    format!("; API Gateway warned: {}", d.warnings.join("; "))
                }
            )
        })
        .await?;
    Ok(Some(domain))
}

/// Every published version, newest first.
pub async fn truststore_history(ctx: &Ctx) -> Result<Vec<TruststoreVersion>> {
    Ok(ctx.backend.truststore.history().await?)
}

/// Makes an earlier version the newest again (a new version with its content) and points the
/// gateway domain at it, in one action. Refused, as a publish is, when the old bundle breaks
/// the gateway's rules or would stop trusting an active client, unless forced.
pub async fn truststore_rollback(ctx: &Ctx, version_id: &str, force: bool) -> Result<Published> {
    ctx.require_writable("truststore rollback")?;
    let history = ctx.backend.truststore.history().await?;
    if !history.iter().any(|v| v.version_id == version_id) {
        return Err(Error::NotFound(format!(
            "no truststore version '{version_id}' at {}; `truststore history` lists the versions",
            ctx.backend.truststore.location()
        )));
    }
    let pem = ctx.backend.truststore.get_version(version_id).await?;
    let bundle = view(ctx, pem.clone(), None)?;
    check_publishable(
        ctx,
        &bundle,
        force,
        &format!("rollback to version {version_id}"),
    )
    .await?;
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
    let version = ctx
        .audited(
            "truststore.rollback",
            &location,
            change,
            |v: &TruststoreVersion| {
                format!(
                    "restored version {version_id} as version {}{}",
                    v.version_id,
                    if force { ", forced" } else { "" }
                )
            },
        )
        .await?;
    let domain = point_domain(ctx, &version).await?;
    Ok(Published {
        version,
        changed: true,
        domain,
    })
}

fn check(name: &str, status: CheckStatus, detail: impl Into<String>) -> DoctorCheck {
    DoctorCheck {
        name: name.to_string(),
        status,
        detail: detail.into(),
    }
}

fn subjects(certs: &[CertInfo]) -> HashSet<String> {
    certs.iter().map(|c| c.subject.clone()).collect()
}

/// Compares the three places a truststore lives: the newest S3 version, the version the
/// gateway domain serves, and the bundle the vault's CA implies; explains every drift, warns
/// about CAs expiring within 90 days and lists active clients the served bundle does not trust.
pub async fn truststore_check(ctx: &Ctx) -> Result<TruststoreCheck> {
    let location = ctx.backend.truststore.location();
    let mut checks = super::gateway::guard_checks(ctx, false).await;
    let newest = ctx.backend.truststore.current().await?;
    let implied = match truststore_build(ctx).await {
        Ok(b) => Some(b),
        Err(Error::NotFound(msg)) => {
            checks.push(check("vault CA", CheckStatus::Fail, msg));
            None
        }
        Err(e) => return Err(e),
    };
    let Some((newest_pem, newest_version)) = newest else {
        checks.push(check(
            "published",
            CheckStatus::Fail,
            format!("nothing is published at {location}: API Gateway trusts no client; run `truststore publish`"),
        ));
        return Ok(TruststoreCheck {
            location,
            newest: None,
            served_version: None,
            domain: None,
            checks,
        });
    };
    checks.push(check(
        "published",
        CheckStatus::Ok,
        format!("newest version {} at {location}", newest_version.version_id),
    ));
    let newest_view = view(ctx, newest_pem.clone(), Some(newest_version.clone()))?;
    if let Some(implied) = &implied {
        if pki::same_bundle(&implied.pem, &newest_pem) {
            checks.push(check(
                "vault CA",
                CheckStatus::Ok,
                "the newest version holds exactly the certificates the vault's CA (and pinned \
                 CAs) imply, in that order",
            ));
        } else {
            let want = subjects(&implied.certs);
            let have = subjects(&newest_view.certs);
            let mut missing: Vec<_> = want.difference(&have).cloned().collect();
            let mut extra: Vec<_> = have.difference(&want).cloned().collect();
            missing.sort();
            extra.sort();
            let mut parts = Vec::new();
            if !missing.is_empty() {
                parts.push(format!("missing from S3: {}", missing.join("; ")));
            }
            if !extra.is_empty() {
                parts.push(format!(
                    "in S3 but not implied by the vault: {}",
                    extra.join("; ")
                ));
            }
            if parts.is_empty() {
                parts.push("the same CAs in another order".into());
            }
            checks.push(check(
                "vault CA",
                CheckStatus::Warn,
                format!(
                    "the newest version differs from the bundle the vault's CA implies ({}); \
                     the CA changed since the last publish (or a rollback is in effect): \
                     `truststore publish` publishes the implied bundle",
                    parts.join("; ")
                ),
            ));
        }
    }
    let (served_version, served_view, domain) = match &ctx.env.gateway_domain {
        None => {
            checks.push(check(
                "domain",
                CheckStatus::Warn,
                "the environment names no gateway_domain, so which version the gateway serves \
                 is not checked; the newest version is assumed",
            ));
            (Some(newest_version.version_id.clone()), newest_view, None)
        }
        Some(name) => {
            let domain = ctx.backend.gateway.domain(name).await?;
            let served = domain.truststore_version.clone();
            let served_view = if domain.truststore_uri.as_deref() != Some(location.as_str()) {
                let detail = match &domain.truststore_uri {
                    Some(uri) => format!(
                        "domain {name} reads {uri} but this environment publishes to \
                                 {location}; fix truststore_bucket / truststore_key or the domain"
                    ),
                    None => super::gateway::off_detail(
                        name,
                        &super::gateway::gateway_mtls_state(ctx).await?,
                    ),
                };
                checks.push(check("domain", CheckStatus::Fail, detail));
                None
            } else {
                match served.as_deref() {
                    Some(v) if v == newest_version.version_id => {
                        checks.push(check(
                            "domain",
                            CheckStatus::Ok,
                            format!("domain {name} serves the newest version {v}"),
                        ));
                        Some(newest_view)
                    }
                    Some(v) => {
                        let history = ctx.backend.truststore.history().await?;
                        let known = history.iter().find(|h| h.version_id == v);
                        checks.push(check(
                            "domain",
                            CheckStatus::Warn,
                            format!(
                                "domain {name} serves version {v}{}, not the newest {}: a publish \
                                 whose domain update did not finish, or a rollback of the domain \
                                 only; `truststore publish` points the domain at the newest",
                                known
                                    .map(|h| format!(
                                        " (stored {})",
                                        crate::timefmt::format(h.last_modified)
                                    ))
                                    .unwrap_or_else(|| " (no longer in S3's history)".into()),
                                newest_version.version_id
                            ),
                        ));
                        match known {
                            Some(h) => {
                                let pem = ctx.backend.truststore.get_version(v).await?;
                                Some(view(ctx, pem, Some(h.clone()))?)
                            }
                            None => None,
                        }
                    }
                    None => {
                        checks.push(check(
                            "domain",
                            CheckStatus::Warn,
                            format!(
                                "domain {name} names no truststore version, so it serves whatever \
                                 was newest at its last update; `truststore publish` pins it"
                            ),
                        ));
                        Some(newest_view)
                    }
                }
            };
            if let Some(status) = domain.status.as_deref().filter(|s| *s != "AVAILABLE") {
                checks.push(check(
                    "domain status",
                    CheckStatus::Warn,
                    format!("domain {name} is {status}: a change is still being applied"),
                ));
            }
            for w in &domain.warnings {
                checks.push(check(
                    "gateway warning",
                    CheckStatus::Warn,
                    format!("API Gateway reported: {w}"),
                ));
            }
            match served_view {
                Some(v) => (served, v, Some(domain)),
                None => {
                    return Ok(TruststoreCheck {
                        location,
                        newest: Some(newest_version),
                        served_version: served,
                        domain: Some(domain),
                        checks,
                    });
                }
            }
        }
    };
    for p in &served_view.problems {
        checks.push(check(
            "served bundle",
            if p.fatal {
                CheckStatus::Fail
            } else {
                CheckStatus::Warn
            },
            match &p.subject {
                Some(s) => format!("{s}: {}", p.message),
                None => p.message.clone(),
            },
        ));
    }
    let records = latest_per_client(ctx.roster(false).await?);
    let losing = clients_losing_trust(&records, &served_view.certs, ctx);
    if losing.is_empty() {
        checks.push(check(
            "clients",
            CheckStatus::Ok,
            "every active client's issuer is in the served bundle",
        ));
    } else {
        let shown: Vec<&str> = losing.iter().take(10).map(String::as_str).collect();
        checks.push(check(
            "clients",
            CheckStatus::Fail,
            format!(
                "{} active client(s) are refused by the gateway (issuer not in the served bundle): {}{}",
                losing.len(),
                shown.join(", "),
                if losing.len() > shown.len() { ", ..." } else { "" }
            ),
        ));
    }
    Ok(TruststoreCheck {
        location,
        newest: Some(newest_version),
        served_version,
        domain,
        checks,
    })
}
