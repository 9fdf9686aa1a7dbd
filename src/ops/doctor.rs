//! doctor: is this environment healthy? Each check says what it found and what to do.

use time::Duration;

use super::ca::load_issuer;
use super::truststore::{truststore_build, truststore_show};
use super::{CheckStatus, Ctx, DoctorCheck};
use crate::error::Result;
use crate::model::VaultItem;
use crate::pki;

fn check(name: &str, status: CheckStatus, detail: impl Into<String>) -> DoctorCheck {
    DoctorCheck {
        name: name.to_string(),
        status,
        detail: detail.into(),
    }
}

/// Expiry check of one CA certificate.
fn ca_expiry(name: &str, info: &pki::CertInfo, now: time::OffsetDateTime) -> DoctorCheck {
    let days = info.days_left(now);
    let until = crate::timefmt::format(info.not_after);
    if now > info.not_after {
        check(
            name,
            CheckStatus::Fail,
            format!("'{}' expired on {until}; rotate it", info.subject),
        )
    } else if days < 90 {
        check(
            name,
            CheckStatus::Warn,
            format!(
                "'{}' expires in {days} days ({until}); plan its rotation",
                info.subject
            ),
        )
    } else {
        check(
            name,
            CheckStatus::Ok,
            format!("'{}' valid until {until} ({days} days)", info.subject),
        )
    }
}

/// Runs every check; a failing check never stops the others.
pub async fn doctor(ctx: &Ctx) -> Result<Vec<DoctorCheck>> {
    let now = ctx.now();
    let mut checks = vec![check(
        "backend",
        CheckStatus::Ok,
        format!("{} as {}", ctx.backend.description, ctx.backend.operator),
    )];
    if ctx.env.backend == crate::config::BackendKind::Aws {
        checks.extend(crate::store::aws::doctor_checks(&ctx.env, &ctx.backend).await);
    }

    let vault = &ctx.backend.vault;
    let root_pem = match vault.get(&VaultItem::RootCert).await {
        Ok(Some(pem)) => Some(pem),
        Ok(None) => {
            checks.push(check(
                "ca",
                CheckStatus::Fail,
                format!(
                    "no root certificate at {}; run `ca init`",
                    vault.name_of(&VaultItem::RootCert)
                ),
            ));
            None
        }
        Err(e) => {
            checks.push(check("ca", CheckStatus::Fail, e.to_string()));
            None
        }
    };
    let mut issuer_not_after = None;
    if let Some(root_pem) = root_pem {
        match pki::inspect(root_pem.as_bytes()) {
            Ok(root) => checks.push(ca_expiry("ca.root", &root, now)),
            Err(e) => checks.push(check("ca.root", CheckStatus::Fail, e.to_string())),
        }
        match load_issuer(ctx).await {
            Ok(issuer) => {
                if !issuer.root_only {
                    checks.push(ca_expiry("ca.intermediate", &issuer.info, now));
                    let chain = issuer.chain_der()?;
                    let report = pki::verify_chain(&chain[0], &chain[1..], &chain[1..], now);
                    let problems: Vec<String> = report
                        .links
                        .iter()
                        .flat_map(|l| l.problems.clone())
                        .collect();
                    checks.push(if report.ok {
                        check(
                            "ca.chain",
                            CheckStatus::Ok,
                            "the intermediate verifies against the root",
                        )
                    } else {
                        check("ca.chain", CheckStatus::Fail, problems.join("; "))
                    });
                }
                checks.push(check(
                    "ca.key",
                    CheckStatus::Ok,
                    "the issuing CA's key matches its certificate",
                ));
                issuer_not_after = Some(issuer.info.not_after);
            }
            Err(e) => checks.push(check("ca.issuer", CheckStatus::Fail, e.to_string())),
        }
    }

    match (truststore_show(ctx).await, truststore_build(ctx).await) {
        (Ok(None), _) => checks.push(check(
            "truststore",
            CheckStatus::Warn,
            format!(
                "nothing published at {}; run `truststore publish`",
                ctx.backend.truststore.location()
            ),
        )),
        (Ok(Some(published)), built) => {
            let version = published
                .version
                .as_ref()
                .map(|v| v.version_id.clone())
                .unwrap_or_default();
            for p in &published.problems {
                checks.push(check(
                    "truststore.rules",
                    if p.fatal {
                        CheckStatus::Fail
                    } else {
                        CheckStatus::Warn
                    },
                    format!(
                        "{}{}",
                        p.subject
                            .as_ref()
                            .map(|s| format!("{s}: "))
                            .unwrap_or_default(),
                        p.message
                    ),
                ));
            }
            match built {
                Ok(built) if pki::same_bundle(&built.pem, &published.pem) => checks.push(check(
                    "truststore",
                    CheckStatus::Ok,
                    format!("version {version} matches the CA in the vault"),
                )),
                Ok(_) => checks.push(check(
                    "truststore",
                    CheckStatus::Warn,
                    format!("version {version} differs from the bundle the CA implies; `truststore show` and `truststore publish`"),
                )),
                Err(e) => checks.push(check("truststore", CheckStatus::Fail, e.to_string())),
            }
        }
        (Err(e), _) => checks.push(check("truststore", CheckStatus::Fail, e.to_string())),
    }

    checks.extend(super::gateway::mtls_check(ctx).await);
    checks.extend(super::gateway::guard_checks(ctx, true).await);

    match ctx.backend.roster.scan(false).await {
        Ok(listing) => {
            let records = listing.records;
            if !listing.skipped.is_empty() {
                checks.push(check(
                    "roster.unreadable",
                    CheckStatus::Warn,
                    format!(
                        "{} item(s) other tooling wrote in a form the console does not read, \
                         skipped everywhere (the authorizer denies them unless status is \
                         'active'): {}",
                        listing.skipped.len(),
                        listing
                            .skipped
                            .iter()
                            .take(10)
                            .map(|s| format!("serial {} ({})", s.serial, s.why))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                ));
            }
            let legacy = records.iter().filter(|r| r.version == 0).count();
            checks.push(check(
                "roster",
                CheckStatus::Ok,
                format!(
                    "{} certificates ({legacy} written by other tooling)",
                    records.len()
                ),
            ));
            if let Some(limit) = issuer_not_after {
                let outliving: Vec<&str> = records
                    .iter()
                    .filter(|r| r.authorizer_allows(now) && r.expiry > limit + Duration::seconds(1))
                    .map(|r| r.client_id.as_str())
                    .collect();
                if !outliving.is_empty() {
                    checks.push(check(
                        "roster.outlive-issuer",
                        CheckStatus::Warn,
                        format!(
                            "{} active cert(s) outlive their issuer: {}",
                            outliving.len(),
                            outliving
                                .iter()
                                .take(10)
                                .copied()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        }
        Err(e) => checks.push(check("roster", CheckStatus::Fail, e.to_string())),
    }
    let coordination = &ctx.backend.coordination;
    match coordination.lease(super::lease::CA_LEASE).await {
        Ok(None) => checks.push(check(
            "coordination",
            CheckStatus::Ok,
            format!("{}; no exclusive run in progress", coordination.location()),
        )),
        Ok(Some(held)) => checks.push(check(
            "coordination",
            if super::lease::is_stale(&held) {
                CheckStatus::Warn
            } else {
                CheckStatus::Ok
            },
            format!(
                "{}; the {} lease is held: {} by {} since {}{}",
                coordination.location(),
                held.name,
                held.purpose,
                super::lease::describe(&held.owner),
                crate::timefmt::format(held.acquired_at),
                if super::lease::is_stale(&held) {
                    " (that run stopped; `repair` releases it, and the next run takes it over)"
                } else {
                    ""
                }
            ),
        )),
        Err(e) => checks.push(check("coordination", CheckStatus::Fail, e.to_string())),
    }
    match ctx.backend.audit.recent(1).await {
        Ok(_) => checks.push(check("audit", CheckStatus::Ok, "the audit log is readable")),
        Err(e) => checks.push(check("audit", CheckStatus::Fail, e.to_string())),
    }
    Ok(checks)
}
