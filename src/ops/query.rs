//! Read-only use cases: the roster, one client's details, verify, the audit log.

use std::collections::HashMap;

use super::{ClientDetail, Ctx, StatusFilter, Verdict};
use crate::error::{Error, Result};
use crate::model::{AuditRecord, CertRecord, CertStatus, ClientState, VaultItem};
use crate::pki::{self, CertInfo};

/// How a cert ranks as its client's current one: an active cert nothing replaced beats an
/// active one in its grace period, which beats a revoked one; then the newest. Roster times
/// are whole seconds, so an issue and a re-issue in the same second are told apart by
/// `replacedBy`, not by time.
fn rank(r: &CertRecord) -> (bool, bool, time::OffsetDateTime, usize, &str) {
    let active = r.status == CertStatus::Active;
    (
        active,
        active && r.replaced_by.is_none(),
        r.issued_at,
        r.serial.len(),
        r.serial.as_str(),
    )
}

/// A client's current cert: its active cert that nothing replaced (the newest, if several),
/// else its newest active cert, else its newest cert.
pub(crate) fn current_cert(certs: &[CertRecord]) -> Option<&CertRecord> {
    certs.iter().max_by(|a, b| rank(a).cmp(&rank(b)))
}

/// One record per client: the current cert (newest active, else newest), sorted by client_id.
/// Works on indexes so that each record moves once (listings run to 100,000s of items).
pub fn latest_per_client(records: Vec<CertRecord>) -> Vec<CertRecord> {
    let mut keep: Vec<usize> = {
        let mut best: HashMap<&str, usize> = HashMap::with_capacity(records.len());
        for (i, rec) in records.iter().enumerate() {
            best.entry(rec.client_id.as_str())
                .and_modify(|cur| {
                    if newer(rec, &records[*cur]) {
                        *cur = i;
                    }
                })
                .or_insert(i);
        }
        best.into_values().collect()
    };
    keep.sort_unstable_by(|&a, &b| records[a].client_id.cmp(&records[b].client_id));
    let mut slots: Vec<Option<CertRecord>> = records.into_iter().map(Some).collect();
    keep.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// Does `a` beat `b` as a client's current cert?
fn newer(a: &CertRecord, b: &CertRecord) -> bool {
    rank(a) > rank(b)
}

/// One row per client (its current cert), filtered by state.
pub async fn list(ctx: &Ctx, filter: StatusFilter) -> Result<Vec<CertRecord>> {
    let now = ctx.now();
    let days = i64::from(ctx.env.expiring_days);
    let rows = latest_per_client(ctx.roster(false).await?);
    Ok(rows
        .into_iter()
        .filter(|r| {
            let state = r.state(now, days);
            match filter {
                StatusFilter::All => true,
                StatusFilter::Active => {
                    matches!(
                        state,
                        ClientState::Active
                            | ClientState::Expiring
                            | ClientState::SupersededInGrace
                    )
                }
                StatusFilter::Expiring => state == ClientState::Expiring,
                StatusFilter::Expired => state == ClientState::Expired,
                StatusFilter::Revoked => state == ClientState::Revoked,
            }
        })
        .collect())
}

/// Finds one cert by decimal serial, colon-hex serial, or client_id (its current cert).
async fn find(ctx: &Ctx, key: &str) -> Result<(CertRecord, Vec<CertRecord>)> {
    let key = key.trim();
    let serial = if key.contains(':') {
        hex_serial_to_decimal(key)
    } else if !key.is_empty() && key.chars().all(|c| c.is_ascii_digit()) {
        Some(key.to_string())
    } else {
        None
    };
    if let Some(serial) = serial
        && let Some(rec) = ctx.backend.roster.get(&serial).await?
    {
        let history = ctx.client_certs(&rec.client_id).await?;
        return Ok((rec, history));
    }
    let history = ctx.client_certs(key).await?;
    let rec = current_cert(&history).cloned().ok_or_else(|| {
        Error::NotFound(format!(
            "no client or serial '{key}' in environment '{}'; `list` shows the roster",
            ctx.env.name
        ))
    })?;
    Ok((rec, history))
}

fn hex_serial_to_decimal(hex_serial: &str) -> Option<String> {
    let digits: String = hex_serial.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(digits).ok()?;
    Some(num_bigint::BigUint::from_bytes_be(&bytes).to_str_radix(10))
}

/// The certificates of the published truststore (DER), if one is published.
async fn published_bundle(ctx: &Ctx) -> Result<Option<Vec<Vec<u8>>>> {
    match ctx.backend.truststore.current().await? {
        Some((pem, _)) => Ok(Some(pki::parse_pem_certs(&pem, true)?)),
        None => Ok(None),
    }
}

/// The self-signed certificates of a bundle: the anchors a chain must end at.
pub(crate) fn anchors(bundle: &[Vec<u8>]) -> Vec<Vec<u8>> {
    bundle
        .iter()
        .filter(|der| pki::inspect(der).map(|i| i.self_signed).unwrap_or(false))
        .cloned()
        .collect()
}

/// A client's details: the cert, its chain checked against the vault's CA, whether the
/// published truststore trusts it, and its earlier certs.
pub async fn show(ctx: &Ctx, client_or_serial: &str) -> Result<ClientDetail> {
    let (mut record, mut history) = find(ctx, client_or_serial).await?;
    if record.cert_pem.is_none() {
        record.cert_pem = ctx
            .backend
            .vault
            .get(&VaultItem::ClientCert(record.client_id.clone()))
            .await?
            .map(|p| p.to_string())
            .filter(|pem| {
                pki::inspect(pem.as_bytes())
                    .map(|i| i.serial_decimal == record.serial)
                    .unwrap_or(false)
            });
    }
    let now = ctx.now();
    let (info, chain, in_truststore) = match &record.cert_pem {
        Some(pem) => {
            let info = pki::inspect(pem.as_bytes())?;
            let leaf = pki::parse_pem_certs(pem, false)?.remove(0);
            let chain = match ca_chain_der(ctx).await? {
                Some(chain) => {
                    let root = chain.last().cloned().into_iter().collect::<Vec<_>>();
                    Some(pki::verify_chain(&leaf, &chain, &root, now))
                }
                None => None,
            };
            let trusted = published_bundle(ctx)
                .await?
                .map(|bundle| pki::verify_chain(&leaf, &bundle, &anchors(&bundle), now).ok);
            (Some(info), chain, trusted)
        }
        None => (None, None, None),
    };
    history.sort_by_key(|c| std::cmp::Reverse(c.issued_at));
    Ok(ClientDetail {
        record,
        info,
        chain,
        issuer_in_truststore: in_truststore,
        history,
    })
}

/// The vault's CA chain as DER (issuer first, root last), or None when there is no CA.
pub(crate) async fn ca_chain_der(ctx: &Ctx) -> Result<Option<Vec<Vec<u8>>>> {
    let vault = &ctx.backend.vault;
    let Some(root) = vault.get(&VaultItem::RootCert).await? else {
        return Ok(None);
    };
    let mut chain = Vec::new();
    if let Some(inter) = vault.get(&VaultItem::IntermediateCert).await? {
        chain.extend(pki::parse_pem_certs(&inter, false)?);
    }
    chain.extend(pki::parse_pem_certs(&root, false)?);
    Ok(Some(chain))
}

/// The CN the deployed authorizer sees: the text after the last `CN=` up to the next `,`.
pub fn authorizer_cn(subject_dn: &str) -> Option<&str> {
    let start = subject_dn.rfind("CN=")? + 3;
    let rest = &subject_dn[start..];
    Some(rest.split(',').next().unwrap_or(rest))
}

/// Would API Gateway and the deployed authorizer accept this client cert right now?
/// ALLOW only when every check passes; DENY lists every reason.
pub async fn verify(ctx: &Ctx, cert_pem: &str) -> Result<Verdict> {
    let certs = pki::parse_pem_certs(cert_pem, true)?;
    let leaf = &certs[0];
    let info = pki::inspect(leaf)?;
    let now = ctx.now();
    let mut reasons = Vec::new();

    // API Gateway: chain to the published truststore, strong algorithms, not self-signed.
    let bundle = match published_bundle(ctx).await? {
        Some(b) => b,
        None => {
            reasons.push("gateway: no truststore is published, so API Gateway trusts nothing (`truststore publish`)".into());
            Vec::new()
        }
    };
    if info.self_signed {
        reasons.push("gateway: the certificate is self-signed".into());
    }
    gateway_algorithm_checks(&info, &mut reasons);
    if !bundle.is_empty() && !info.self_signed {
        let mut issuers = bundle.clone();
        issuers.extend(certs[1..].iter().cloned());
        let report = pki::verify_chain(leaf, &issuers, &anchors(&bundle), now);
        for link in &report.links {
            for p in &link.problems {
                reasons.push(format!("gateway: {}: {p}", link.subject));
            }
        }
        if !report.ok && report.links.iter().all(|l| l.problems.is_empty()) {
            reasons
                .push("gateway: the chain does not reach a CA in the published truststore".into());
        }
    }

    // The Lambda authorizer, step by step as it runs (it stops at its first refusal).
    let item = ctx.backend.roster.get_item(&info.serial_decimal).await?;
    let record = match &item {
        Some(attrs) => crate::store::item::from_attrs(attrs).ok(),
        None => None,
    };
    match (
        super::authorizer::refusal(item.as_ref(), &info.subject, now),
        &record,
    ) {
        (None, _) => {}
        (Some(_), Some(rec)) if rec.status == CertStatus::Revoked => reasons.push(format!(
            "authorizer: the certificate is revoked{}{}{}{}",
            rec.revocation_reason
                .map(|r| format!(" ({})", r.as_str()))
                .unwrap_or_default(),
            rec.revoked_at
                .map(|t| format!(" since {}", crate::timefmt::format(t)))
                .unwrap_or_default(),
            rec.revoked_by
                .as_deref()
                .map(|by| format!(" by {by}"))
                .unwrap_or_default(),
            rec.revocation_note
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        )),
        (Some(why), _) => reasons.push(format!("authorizer: {why}")),
    }
    let at = record.as_ref().and_then(|r| r.revoked_at).unwrap_or(now);
    let revocation = super::revocation_latency(ctx).await.effect(at);
    Ok(Verdict {
        allow: reasons.is_empty(),
        reasons,
        info: Some(info),
        record,
        revocation,
    })
}

/// API Gateway's algorithm rules for client certs.
fn gateway_algorithm_checks(info: &CertInfo, reasons: &mut Vec<String>) {
    let key_ok = matches!(info.key_algorithm.as_str(), "ecdsa-p256" | "ecdsa-p384")
        || (info.key_algorithm.starts_with("rsa-") && info.key_bits >= 2048);
    if !key_ok {
        reasons.push(format!(
            "gateway: key {} is not accepted (RSA-2048 or stronger, ECDSA P-256 or P-384)",
            info.key_algorithm
        ));
    }
    let sig = info.signature_algorithm.to_ascii_lowercase();
    if sig.contains("sha1") || sig.contains("md5") || sig.contains("sha224") {
        reasons.push(format!(
            "gateway: signature algorithm {} is too weak (SHA-256 or stronger)",
            info.signature_algorithm
        ));
    }
    if info.not_after < info.not_before {
        reasons.push("gateway: the validity period is empty".into());
    }
}

/// The newest audit records.
pub async fn audit(ctx: &Ctx, limit: usize) -> Result<Vec<AuditRecord>> {
    Ok(ctx.backend.audit.recent(limit).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorizer_cn_follows_the_deployed_rule() {
        assert_eq!(authorizer_cn("CN=acme,O=Example"), Some("acme"));
        assert_eq!(authorizer_cn("O=Example,CN=acme"), Some("acme"));
        assert_eq!(authorizer_cn("CN=outer,OU=x,CN=inner"), Some("inner"));
        assert_eq!(authorizer_cn("O=Example"), None);
    }

    fn cert(client: &str, serial: &str, day: i64, active: bool) -> CertRecord {
        let at = time::macros::datetime!(2025-01-01 00:00 UTC) + time::Duration::days(day);
        CertRecord {
            serial: serial.into(),
            client_id: client.into(),
            client_name: client.into(),
            status: if active {
                CertStatus::Active
            } else {
                CertStatus::Revoked
            },
            issued_at: at,
            not_before: Some(at),
            expiry: at + time::Duration::days(395),
            ttl: 0,
            not_after: None,
            cert_pem: None,
            fingerprint: None,
            issuer: None,
            issuer_fingerprint: None,
            key_algorithm: None,
            key_held: false,
            revoked_at: None,
            revocation_reason: None,
            revoked_by: None,
            revocation_note: None,
            replaces: None,
            replaced_by: None,
            version: 1,
        }
    }

    #[test]
    fn one_row_per_client_its_newest_active_else_newest_cert_sorted_by_client() {
        let rows = latest_per_client(vec![
            cert("zeta", "1", 0, true),
            cert("acme", "2", 5, false),
            cert("acme", "3", 1, true),
            cert("zeta", "4", 3, true),
            cert("beta", "5", 2, false),
            cert("beta", "6", 7, false),
            cert("acme", "7", 0, true),
        ]);
        let got: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.client_id.as_str(), r.serial.as_str()))
            .collect();
        assert_eq!(got, [("acme", "3"), ("beta", "6"), ("zeta", "4")]);
        assert!(latest_per_client(Vec::new()).is_empty());
    }

    #[test]
    fn hex_serials_convert() {
        assert_eq!(hex_serial_to_decimal("01:00").as_deref(), Some("256"));
        assert_eq!(hex_serial_to_decimal("zz:00"), None);
    }
}
