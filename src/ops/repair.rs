//! `repair`: makes the vault and the client heads follow the roster again. The roster's
//! current cert of each client is the truth; for every client the reconciler checks that
//! - the vault's `clients/{id}/certificate` is that cert,
//! - the vault's `clients/{id}/private-key` is its key when the vault holds the key (a key
//!   that lost a race is found again in the vault's history, which SSM keeps for 99
//!   versions), and that no stale key sits beside a cert whose key the vault does not hold,
//! - the vault holds nothing for a client the roster has no cert of (what a crash between
//!   the vault writes and the roster commit of a first issue leaves),
//! - the head names that cert and no claim is left by a run that stopped.
//!
//! It also releases the `ca` lease when its holder stopped (a rotation or `ca init` killed
//! before it wrote anything): the next run would take it over anyway, but a lease nobody
//! holds should not be shown as held.
//!
//! Each client is repaired under its claim, and every repair is audited. Every rotation ends
//! with it. A client with two current certs at once (written by other tooling) is reported,
//! never changed: revoke the one that should not be.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use zeroize::Zeroizing;

use super::Ctx;
use super::claim::{self, is_stale};
use super::query::current_cert;
use crate::error::Result;
use crate::model::{AuditOutcome, CertRecord, CertStatus, VaultItem};
use crate::pki;
use crate::store::{ClientHead, Commit};

/// One client found out of step with the roster.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RepairFinding {
    pub client_id: String,
    /// What differs, in words.
    pub problem: String,
    /// What was done (or, in a dry run, would be); None when it cannot be repaired here.
    pub action: Option<String>,
    pub fixed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RepairReport {
    pub dry_run: bool,
    /// Clients examined.
    pub clients: usize,
    pub findings: Vec<RepairFinding>,
    /// Leases whose holder stopped: what was (or, in a dry run, would be) released.
    pub stale_leases: Vec<String>,
}

/// One change a client needs.
enum Fix {
    PutCert(String),
    PutKey(Zeroizing<String>),
    DeleteKey,
    DeleteCert,
    /// The head's current cert (and no claim).
    Head(Option<String>),
}

/// Compares the vault and the heads with the roster; with `fix`, repairs what differs.
pub async fn repair(ctx: &Ctx, fix: bool) -> Result<RepairReport> {
    if fix {
        ctx.require_writable("repair")?;
    }
    let mut report = repair_clients(ctx, None, fix).await?;
    let coordination = &ctx.backend.coordination;
    if let Some(held) = coordination.lease(super::lease::CA_LEASE).await?
        && super::lease::is_stale(&held)
    {
        if fix {
            coordination.delete_lease(&held.name, &held.token).await?;
            ctx.audit(
                "repair",
                &format!("lease {}", held.name),
                AuditOutcome::Ok,
                format!(
                    "released the lease of a run that stopped: {}",
                    super::lease::describe(&held.owner)
                ),
            )
            .await?;
        }
        report.stale_leases.push(format!(
            "the {} lease is held by a run that stopped ({} by {} since {})",
            held.name,
            held.purpose,
            super::lease::describe(&held.owner),
            crate::timefmt::format(held.acquired_at)
        ));
    }
    Ok(report)
}

/// [`repair`] of the clients in `only` (all when None).
pub(crate) async fn repair_clients(
    ctx: &Ctx,
    only: Option<&HashSet<String>>,
    fix: bool,
) -> Result<RepairReport> {
    let wanted = |id: &str| only.is_none_or(|o| o.contains(id));
    let mut by_client: BTreeMap<String, Vec<CertRecord>> = BTreeMap::new();
    for rec in ctx.roster(true).await? {
        if wanted(&rec.client_id) {
            by_client
                .entry(rec.client_id.clone())
                .or_default()
                .push(rec);
        }
    }
    let mut heads: BTreeMap<String, ClientHead> = BTreeMap::new();
    for head in ctx.backend.roster.heads().await? {
        if wanted(&head.client_id) {
            by_client.entry(head.client_id.clone()).or_default();
            heads.insert(head.client_id.clone(), head);
        }
    }
    let ids: Vec<String> = by_client.keys().cloned().collect();
    let items: Vec<VaultItem> = ids
        .iter()
        .flat_map(|id| {
            [
                VaultItem::ClientCert(id.clone()),
                VaultItem::ClientKey(id.clone()),
            ]
        })
        .collect();
    let values = ctx.backend.vault.get_each(&items).await;
    let mut report = RepairReport {
        dry_run: !fix,
        clients: ids.len(),
        findings: Vec::new(),
        stale_leases: Vec::new(),
    };
    let mut values = values.into_iter();
    for (id, certs) in by_client {
        let cert = values.next().transpose()?.flatten();
        let key = values.next().transpose()?.flatten();
        let head = heads.remove(&id);
        let (mut problems, mut fixes) = examine(ctx, &id, &certs, cert, key, head.as_ref()).await?;
        if problems.is_empty() {
            continue;
        }
        let mut fixed = false;
        if fix && fixes.iter().any(Option::is_some) {
            // Looked at again under the claim, so nothing changes in between.
            if let Some(fresh) = apply(ctx, &id).await? {
                (problems, fixes) = fresh;
                fixed = true;
            }
        }
        for (problem, action) in problems.into_iter().zip(fixes) {
            report.findings.push(RepairFinding {
                client_id: id.clone(),
                problem,
                fixed: fixed && action.is_some(),
                action: action.map(|a| describe(&a)),
            });
        }
    }
    Ok(report)
}

fn describe(fix: &Fix) -> String {
    match fix {
        Fix::PutCert(_) => "write the roster's current cert to the vault".into(),
        Fix::PutKey(_) => "restore the current cert's key from the vault's history".into(),
        Fix::DeleteKey => "remove the stale key from the vault".into(),
        Fix::DeleteCert => {
            "remove the vault's certificate of a client the roster has none of".into()
        }
        Fix::Head(Some(serial)) => format!("point the client's head at serial {serial}"),
        Fix::Head(None) => "clear the client's head".into(),
    }
}

/// What is out of step for one client, and the fix for each problem (None: not fixable).
async fn examine(
    ctx: &Ctx,
    id: &str,
    certs: &[CertRecord],
    vault_cert: Option<Zeroizing<String>>,
    vault_key: Option<Zeroizing<String>>,
    head: Option<&ClientHead>,
) -> Result<(Vec<String>, Vec<Option<Fix>>)> {
    let now = time::OffsetDateTime::now_utc();
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    if let Some(claim) = head.and_then(|h| h.claim.as_ref())
        && !is_stale(claim, now)
    {
        // Being changed right now: nothing to judge.
        return Ok((problems, fixes));
    }
    let current: Vec<&CertRecord> = certs
        .iter()
        .filter(|c| c.status == CertStatus::Active && c.replaced_by.is_none())
        .collect();
    if current.len() > 1 {
        problems.push(format!(
            "{} certificates are current at once (serials {}); revoke the one that should not be",
            current.len(),
            current
                .iter()
                .map(|c| c.serial.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        fixes.push(None);
    }
    let active = current_cert(certs).filter(|c| c.status == CertStatus::Active);
    // The vault follows a cert nothing replaced; a client left with only a grace cert (its
    // newer cert revoked with --keep-grace) keeps what the vault has.
    match active.filter(|c| c.replaced_by.is_none()) {
        Some(rec) => {
            let Some(pem) = rec.cert_pem.as_deref() else {
                return Ok((problems, fixes));
            };
            let same_cert = vault_cert
                .as_deref()
                .is_some_and(|v| same_certificate(v, pem));
            if !same_cert {
                problems.push(match &vault_cert {
                    Some(_) => format!(
                        "the vault's certificate is not the current cert (serial {})",
                        rec.serial
                    ),
                    None => format!(
                        "the vault has no certificate; the current cert is serial {}",
                        rec.serial
                    ),
                });
                fixes.push(Some(Fix::PutCert(pem.to_string())));
            }
            let key_ok = vault_key
                .as_deref()
                .is_some_and(|k| pki::key_matches_cert(k, pem).unwrap_or(false));
            if rec.key_held && !key_ok {
                let item = VaultItem::ClientKey(id.to_string());
                let found = ctx
                    .backend
                    .vault
                    .history(&item)
                    .await?
                    .into_iter()
                    .find(|k| pki::key_matches_cert(k, pem).unwrap_or(false));
                problems.push(format!(
                    "the vault's key is {} the key of the current cert (serial {})",
                    if vault_key.is_some() {
                        "not"
                    } else {
                        "missing, not"
                    },
                    rec.serial
                ));
                fixes.push(found.map(Fix::PutKey));
                if fixes.last().is_some_and(Option::is_none) {
                    problems.push(format!(
                        "no version of {} holds that key: it is lost; `reissue {id} --rekey` gives the client a new one",
                        ctx.backend.vault.name_of(&item)
                    ));
                    fixes.push(None);
                }
            }
            if !rec.key_held && vault_key.is_some() && !key_ok {
                problems.push(
                    "the vault holds a key that is not the current cert's (the client sent a CSR)"
                        .into(),
                );
                fixes.push(Some(Fix::DeleteKey));
            }
        }
        // The slot may be another client's (a vault layout that maps names onto shared
        // secrets): only a certificate issued to this client is this client's leftover.
        None if certs.is_empty()
            && vault_cert.as_deref().is_none_or(|pem| {
                pki::inspect(pem.as_bytes()).is_ok_and(|info| info.cn.as_deref() == Some(id))
            }) =>
        {
            if vault_cert.is_some() {
                problems.push(
                    "the vault holds a certificate of a client the roster has none of (an issue that stopped before its commit)".into(),
                );
                fixes.push(Some(Fix::DeleteCert));
            }
            if vault_key.is_some() {
                problems.push("the vault holds a key of a client the roster has none of".into());
                fixes.push(Some(Fix::DeleteKey));
            }
        }
        None => {}
    }
    if let Some(head) = head {
        let want = active.map(|c| c.serial.clone());
        if head.current != want || head.claim.is_some() {
            problems.push(match &head.claim {
                Some(c) => format!(
                    "a claim left by a run that stopped ({} by {} since {})",
                    c.purpose,
                    super::lease::describe(&c.owner),
                    crate::timefmt::format(c.since)
                ),
                None => format!(
                    "the head names serial {} rather than {}",
                    head.current.as_deref().unwrap_or("(none)"),
                    want.as_deref().unwrap_or("(none)")
                ),
            });
            fixes.push(Some(Fix::Head(want)));
        }
    }
    Ok((problems, fixes))
}

/// Do two PEM texts hold the same certificate (whatever their whitespace)?
fn same_certificate(a: &str, b: &str) -> bool {
    match (
        pki::parse_pem_certs(a, false),
        pki::parse_pem_certs(b, false),
    ) {
        (Ok(a), Ok(b)) => a.first() == b.first(),
        _ => false,
    }
}

/// Repairs one client under its claim: examined again, then the vault writes, then the head
/// and the audit record in one commit. Returns what was found and fixed, None when the client
/// was busy.
async fn apply(ctx: &Ctx, id: &str) -> Result<Option<(Vec<String>, Vec<Option<Fix>>)>> {
    let head = match claim::claim(ctx, id, "repair").await {
        Ok(head) => head,
        Err(e) if e.contended().is_some() => return Ok(None),
        Err(e) => return Err(e),
    };
    let vault = &ctx.backend.vault;
    let work = async {
        let certs = ctx.client_certs(id).await?;
        let cert = vault.get(&VaultItem::ClientCert(id.into())).await?;
        let key = vault.get(&VaultItem::ClientKey(id.into())).await?;
        let unclaimed = ClientHead {
            claim: None,
            ..head.clone()
        };
        let (problems, fixes) = examine(ctx, id, &certs, cert, key, Some(&unclaimed)).await?;
        let done: Vec<String> = problems
            .iter()
            .zip(&fixes)
            .filter_map(|(p, f)| f.as_ref().map(|f| format!("{p}: {}", describe(f))))
            .collect();
        if !done.is_empty() {
            ctx.audit("repair", id, AuditOutcome::Started, done.join("; "))
                .await?;
        }
        let mut current = head.current.clone();
        for fix in fixes.iter().flatten() {
            match fix {
                Fix::PutCert(pem) => {
                    vault
                        .put(&VaultItem::ClientCert(id.into()), pem, true)
                        .await?
                }
                Fix::PutKey(key) => {
                    vault
                        .put(&VaultItem::ClientKey(id.into()), key, true)
                        .await?
                }
                Fix::DeleteKey => vault.delete(&VaultItem::ClientKey(id.into())).await?,
                Fix::DeleteCert => vault.delete(&VaultItem::ClientCert(id.into())).await?,
                Fix::Head(serial) => current = serial.clone(),
            }
        }
        let audit = if done.is_empty() {
            Vec::new()
        } else {
            vec![ctx.audit_record("repair", id, AuditOutcome::Ok, done.join("; "))]
        };
        ctx.backend
            .roster
            .commit(Commit {
                heads: vec![claim::settle(&head, current)],
                audit,
                ..Commit::default()
            })
            .await?;
        Ok::<_, crate::error::Error>((problems, fixes))
    };
    match work.await {
        Ok(found) => Ok(Some(found)),
        Err(e) => {
            claim::release(ctx, &head).await;
            ctx.audit_failure("repair", id, &e).await;
            Err(e)
        }
    }
}
