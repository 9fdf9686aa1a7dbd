//! Issue (single and bulk), revoke and re-issue: the changes to the roster.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::ca::{Issuer, load_issuer};
use super::query::current_cert;
use super::{
    BulkReport, Ctx, IssueOptions, IssueOutcome, KeyChoice, Progress, ReissueOptions,
    ReissueOutcome, validate_client_id,
};
use crate::error::{Error, Result};
use crate::model::{
    AuditOutcome, AuditRecord, CertRecord, CertStatus, RevocationReason, VaultItem,
};
use crate::pki::{self, ClientRequest, IssuedCert, KeyAlgorithm, KeySource};
use crate::store::{Expect, RosterWrite};

/// How long DynamoDB keeps an item after the cert's notAfter (the contract's `ttl`).
const TTL_AFTER_EXPIRY: Duration = Duration::days(90);

/// A resolved, validated issue request.
struct Prepared {
    client_id: String,
    request: ClientRequest,
}

fn prepare(ctx: &Ctx, opts: &IssueOptions) -> Result<Prepared> {
    let client_id = ctx.env.render_client_id(opts.client.trim());
    validate_client_id(&client_id)?;
    let cn = opts.cn.clone().unwrap_or_else(|| client_id.clone());
    if cn != client_id {
        return Err(Error::Invalid(format!(
            "CN '{cn}' differs from client_id '{client_id}': the deployed authorizer denies every request whose certificate CN is not the client_id; drop --cn or make it equal"
        )));
    }
    let days = opts.days.unwrap_or(ctx.env.client_validity_days);
    if days == 0 || days > 3650 {
        return Err(Error::Invalid(format!(
            "validity of {days} days is out of range; give 1 to 3650 days"
        )));
    }
    let key = match &opts.key {
        None => KeySource::Generate(ctx.env.client_key_algorithm),
        Some(KeyChoice::Generate(alg)) => KeySource::Generate(*alg),
        Some(KeyChoice::Csr(pem)) => KeySource::Csr(pem.clone()),
    };
    Ok(Prepared {
        client_id,
        request: ClientRequest {
            cn,
            validity_days: days,
            key,
        },
    })
}

/// Signs off the async runtime: key generation (RSA above all) is CPU-bound.
async fn sign(issuer: &Issuer, request: ClientRequest, now: OffsetDateTime) -> Result<IssuedCert> {
    let material = issuer.material.clone();
    tokio::task::spawn_blocking(move || pki::issue_client(&material, &request, now))
        .await
        .map_err(|e| Error::Io(format!("signing task failed: {e}")))?
        .map_err(Error::from)
}

/// The roster item for a freshly issued cert.
pub(crate) fn new_record(
    client_id: &str,
    issued: &IssuedCert,
    issuer: &Issuer,
    now: OffsetDateTime,
) -> CertRecord {
    let info = &issued.info;
    CertRecord {
        serial: info.serial_decimal.clone(),
        client_id: client_id.to_string(),
        client_name: info.cn.clone().unwrap_or_else(|| client_id.to_string()),
        status: CertStatus::Active,
        issued_at: now,
        not_before: Some(info.not_before),
        expiry: info.not_after,
        ttl: crate::timefmt::epoch(info.not_after + TTL_AFTER_EXPIRY),
        not_after: Some(info.not_after),
        cert_pem: Some(issued.cert_pem.clone()),
        fingerprint: Some(info.fingerprint_sha256.clone()),
        issuer: Some(info.issuer.clone()),
        issuer_fingerprint: Some(issuer.info.fingerprint_sha256.clone()),
        key_algorithm: Some(info.key_algorithm.clone()),
        key_held: issued.key_pem.is_some(),
        revoked_at: None,
        revocation_reason: None,
        revoked_by: None,
        revocation_note: None,
        replaces: None,
        replaced_by: None,
        version: 1,
    }
}

fn outcome(record: CertRecord, issued: IssuedCert, issuer: &Issuer) -> IssueOutcome {
    IssueOutcome {
        record,
        info: issued.info,
        cert_pem: issued.cert_pem,
        key_pem: issued.key_pem,
        chain_pem: issuer.chain_pem.clone(),
    }
}

/// Refuses to issue to a client that holds a cert the authorizer still accepts.
async fn ensure_no_active(ctx: &Ctx, client_id: &str, now: OffsetDateTime) -> Result<()> {
    let certs = ctx.backend.roster.by_client(client_id).await?;
    if let Some(active) = certs.iter().find(|c| c.authorizer_allows(now)) {
        return Err(Error::Conflict(format!(
            "client '{client_id}' already has an active certificate (serial {}, valid until {}); use `reissue {client_id}` to replace it or `revoke` it first",
            active.serial,
            crate::timefmt::format(active.expiry)
        )));
    }
    Ok(())
}

/// Stores a new client cert: vault first (key, cert), then the roster item, so the
/// authorizer never accepts a cert whose key the vault does not hold.
async fn store_new(
    ctx: &Ctx,
    client_id: &str,
    issuer: &Issuer,
    issued: IssuedCert,
    now: OffsetDateTime,
) -> Result<IssueOutcome> {
    let vault = &ctx.backend.vault;
    if let Some(key) = &issued.key_pem {
        vault
            .put(&VaultItem::ClientKey(client_id.to_string()), key, true)
            .await?;
    }
    vault
        .put(
            &VaultItem::ClientCert(client_id.to_string()),
            &issued.cert_pem,
            true,
        )
        .await?;
    let record = new_record(client_id, &issued, issuer, now);
    ctx.backend
        .roster
        .transact(vec![RosterWrite::Put(record.clone())])
        .await?;
    Ok(outcome(record, issued, issuer))
}

/// Issues one client certificate.
pub async fn issue(ctx: &Ctx, opts: &IssueOptions) -> Result<IssueOutcome> {
    ctx.require_writable("issue")?;
    let prepared = prepare(ctx, opts)?;
    let issuer = load_issuer(ctx).await?;
    let now = ctx.now();
    ensure_no_active(ctx, &prepared.client_id, now).await?;
    issue_prepared(ctx, &issuer, prepared, now).await
}

async fn issue_prepared(
    ctx: &Ctx,
    issuer: &Issuer,
    prepared: Prepared,
    now: OffsetDateTime,
) -> Result<IssueOutcome> {
    let Prepared { client_id, request } = prepared;
    let change = async {
        let issued = sign(issuer, request, now).await?;
        store_new(ctx, &client_id, issuer, issued, now).await
    };
    ctx.audited("issue", &client_id, change, |o: &IssueOutcome| {
        issue_detail(&o.record, &o.info.key_algorithm)
    })
    .await
}

/// The audit detail of an issue.
fn issue_detail(record: &CertRecord, key_algorithm: &str) -> String {
    format!(
        "serial {} ({key_algorithm}), valid until {}",
        record.serial,
        crate::timefmt::format(record.expiry)
    )
}

/// Issues a client at a given time (demo data with past dates).
pub(crate) async fn issue_at(
    ctx: &Ctx,
    issuer: &Issuer,
    opts: &IssueOptions,
    now: OffsetDateTime,
) -> Result<IssueOutcome> {
    let prepared = prepare(ctx, opts)?;
    issue_prepared(ctx, issuer, prepared, now).await
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkFile {
    clients: Vec<BulkEntry>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkEntry {
    client_id: String,
    #[serde(default)]
    cn: Option<String>,
    #[serde(default)]
    days: Option<u32>,
    #[serde(default)]
    key_algorithm: Option<String>,
}

/// Parses a bulk file in the reference format `{"clients":[{"client_id":"..."}]}`
/// (optional per client: `cn`, `days`, `key_algorithm`). Every entry is checked first;
/// one bad entry refuses the whole file, naming each problem.
pub fn parse_bulk_file(ctx: &Ctx, text: &str) -> Result<Vec<IssueOptions>> {
    let file: BulkFile = serde_json::from_str(text).map_err(|e| {
        Error::Invalid(format!(
            "the bulk file is not in the expected format {{\"clients\":[{{\"client_id\":\"...\"}}]}}: {e}"
        ))
    })?;
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, entry) in file.clients.into_iter().enumerate() {
        let key = match entry.key_algorithm.as_deref() {
            None => None,
            Some(s) => match KeyAlgorithm::parse(s) {
                Some(alg) => Some(KeyChoice::Generate(alg)),
                None => {
                    problems.push(format!(
                        "clients[{i}]: unknown key_algorithm '{s}' (use one of {})",
                        key_algorithm_names()
                    ));
                    continue;
                }
            },
        };
        let opts = IssueOptions {
            client: entry.client_id,
            cn: entry.cn,
            days: entry.days,
            key,
        };
        match prepare(ctx, &opts) {
            Ok(p) => {
                if !seen.insert(p.client_id.clone()) {
                    problems.push(format!("clients[{i}]: '{}' appears twice", p.client_id));
                }
            }
            Err(e) => problems.push(format!("clients[{i}]: {e}")),
        }
        out.push(opts);
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(format!(
            "the bulk file has {} problem(s); nothing was issued:\n  {}",
            problems.len(),
            problems.join("\n  ")
        )));
    }
    if out.is_empty() {
        return Err(Error::Invalid(
            "the bulk file lists no clients; nothing to issue".into(),
        ));
    }
    Ok(out)
}

pub(crate) fn key_algorithm_names() -> String {
    KeyAlgorithm::ALL
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many threads sign at once: one per core (key generation and signing are CPU-bound).
fn bulk_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Most clients stored together on the embedded backend: one transaction (one fsync) per
/// store per batch.
const BULK_BATCH: usize = 256;
/// Most clients stored together on AWS, where a batch costs no commit: small batches keep the
/// SSM pacer busy with one batch's vault writes while others write their roster items and
/// audit records, instead of each store waiting for the one before it.
const BULK_BATCH_AWS: usize = 25;
/// Batches being stored at once: on AWS their vault writes queue at the SSM pacer, so it is
/// never idle while a batch writes its roster items and audit records.
const BULK_BATCHES_IN_FLIGHT: usize = 4;

/// Issues many clients. Idempotent: clients that already hold an active cert are skipped,
/// so a failed or interrupted run can simply be run again.
///
/// Keys are generated and certificates signed on every core; signed clients are stored in
/// batches of whatever is ready (at most [`BULK_BATCH`], [`BULK_BATCH_AWS`] on AWS): vault first (key, cert), then the
/// roster items of the clients whose vault writes all succeeded, then one audit record each.
/// Each client succeeds or fails on its own, as if issued alone.
pub async fn issue_bulk(
    ctx: &Ctx,
    clients: &[IssueOptions],
    progress: Option<Progress>,
) -> Result<BulkReport> {
    ctx.require_writable("issue")?;
    let mut prepared = Vec::with_capacity(clients.len());
    for opts in clients {
        prepared.push(prepare(ctx, opts)?);
    }
    let issuer = load_issuer(ctx).await?;
    let now = ctx.now();
    let roster = ctx.backend.roster.list(false).await?;
    let active: HashSet<String> = roster
        .into_iter()
        .filter(|r| r.authorizer_allows(now))
        .map(|r| r.client_id)
        .collect();
    let mut report = BulkReport::default();
    let mut todo = Vec::new();
    for p in prepared {
        if active.contains(&p.client_id) {
            report.skipped.push(p.client_id);
        } else {
            todo.push(p);
        }
    }
    let total = todo.len();
    if let Some(cb) = &progress {
        cb(0, total);
    }

    let batch_size = match ctx.env.backend {
        crate::config::BackendKind::Local => BULK_BATCH,
        crate::config::BackendKind::Aws => BULK_BATCH_AWS,
    };
    let (signed_tx, mut signed_rx) = tokio::sync::mpsc::channel(BULK_BATCH * 2);
    let queue = Arc::new(Mutex::new(todo.into_iter()));
    let signers: Vec<_> = (0..bulk_concurrency())
        .map(|_| {
            let queue = Arc::clone(&queue);
            let signed_tx = signed_tx.clone();
            let material = issuer.material.clone();
            tokio::task::spawn_blocking(move || {
                // The CA is loaded once per thread; if that fails, each client gets the error
                // a single issue would give.
                let signer = pki::ClientSigner::new(&material, now).ok();
                loop {
                    let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
                    let Some(Prepared { client_id, request }) = next else {
                        break;
                    };
                    let signed = match &signer {
                        Some(signer) => signer.issue(&request),
                        None => pki::issue_client(&material, &request, now),
                    }
                    .map_err(Error::from);
                    if signed_tx.blocking_send((client_id, signed)).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(signed_tx);

    let signed = futures::stream::poll_fn(move |cx| signed_rx.poll_recv(cx));
    let issuer_ref = &issuer;
    let mut stored = signed
        .ready_chunks(batch_size)
        .map(|batch| store_batch(ctx, issuer_ref, batch, now))
        .buffer_unordered(BULK_BATCHES_IN_FLIGHT);
    let mut done = 0;
    while let Some(results) = stored.next().await {
        for (id, result) in results {
            match result {
                Ok(()) => report.issued.push(id),
                Err(e) => report.failed.push((id, e.to_string())),
            }
            done += 1;
        }
        if let Some(cb) = &progress {
            cb(done, total);
        }
    }
    for signer in signers {
        signer
            .await
            .map_err(|e| Error::Io(format!("signing task failed: {e}")))?;
    }
    report.issued.sort();
    report.failed.sort();
    Ok(report)
}

/// Stores a batch of signed clients (see [`issue_bulk`]); one result per client.
async fn store_batch(
    ctx: &Ctx,
    issuer: &Issuer,
    batch: Vec<(String, Result<IssuedCert>)>,
    now: OffsetDateTime,
) -> Vec<(String, Result<()>)> {
    let mut results: Vec<(String, Result<()>)> = Vec::with_capacity(batch.len());
    let mut signed = Vec::with_capacity(batch.len());
    for (id, outcome) in batch {
        match outcome {
            Ok(issued) => signed.push((id, issued)),
            Err(e) => results.push((id, Err(e))),
        }
    }

    let mut writes: Vec<(VaultItem, &str)> = Vec::with_capacity(signed.len() * 2);
    let mut owner = Vec::with_capacity(signed.len() * 2);
    for (i, (id, issued)) in signed.iter().enumerate() {
        if let Some(key) = &issued.key_pem {
            writes.push((VaultItem::ClientKey(id.clone()), key.as_str()));
            owner.push(i);
        }
        writes.push((VaultItem::ClientCert(id.clone()), issued.cert_pem.as_str()));
        owner.push(i);
    }
    let mut vault_failure: Vec<Option<Error>> = signed.iter().map(|_| None).collect();
    for (i, written) in owner
        .into_iter()
        .zip(ctx.backend.vault.put_each(&writes, true).await)
    {
        if let Err(e) = written
            && vault_failure[i].is_none()
        {
            vault_failure[i] = Some(e.into());
        }
    }
    drop(writes);

    let mut stored = Vec::with_capacity(signed.len());
    for ((id, issued), failure) in signed.into_iter().zip(vault_failure) {
        match failure {
            Some(e) => results.push((id, Err(e))),
            None => {
                let record = new_record(&id, &issued, issuer, now);
                stored.push((id, record, issued.info.key_algorithm));
            }
        }
    }
    let records = stored.iter().map(|(_, r, _)| r.clone()).collect();
    let written = ctx.backend.roster.put_each(records).await;

    let mut audits = Vec::with_capacity(results.len() + stored.len());
    let mut outcomes: Vec<(String, Result<()>)> = Vec::with_capacity(audits.capacity());
    for (id, result) in results {
        let e = result.err();
        audits.push(failure_audit(ctx, &id, e.as_ref()));
        outcomes.push((id, e.map_or(Ok(()), Err)));
    }
    for ((id, record, key_algorithm), result) in stored.into_iter().zip(written) {
        match result {
            Ok(()) => {
                audits.push(ctx.audit_record(
                    "issue",
                    &id,
                    AuditOutcome::Ok,
                    issue_detail(&record, &key_algorithm),
                ));
                outcomes.push((id, Ok(())));
            }
            Err(e) => {
                let e = Error::from(e);
                audits.push(failure_audit(ctx, &id, Some(&e)));
                outcomes.push((id, Err(e)));
            }
        }
    }
    let appended = ctx.backend.audit.append_each(&audits).await;
    for ((_, outcome), appended) in outcomes.iter_mut().zip(appended) {
        // As for a single issue: a change the audit log could not record is reported as failed;
        // the original error matters more than a failure to record it.
        if outcome.is_ok()
            && let Err(e) = appended
        {
            *outcome = Err(e.into());
        }
    }
    outcomes
}

/// The audit record of a client a bulk issue could not issue.
fn failure_audit(ctx: &Ctx, client_id: &str, error: Option<&Error>) -> AuditRecord {
    let (outcome, detail) = match error {
        Some(e) if e.exit_code() == 5 => (AuditOutcome::Conflict, e.to_string()),
        Some(e) => (AuditOutcome::Failed, e.to_string()),
        None => (AuditOutcome::Failed, String::new()),
    };
    ctx.audit_record("issue", client_id, outcome, detail)
}

/// Finds the cert a revoke aims at: a decimal serial, or the client's current active cert.
async fn revoke_target(ctx: &Ctx, target: &str) -> Result<CertRecord> {
    let target = target.trim();
    if !target.is_empty()
        && target.chars().all(|c| c.is_ascii_digit())
        && let Some(rec) = ctx.backend.roster.get(target).await?
    {
        return Ok(rec);
    }
    let certs = ctx.backend.roster.by_client(target).await?;
    if certs.is_empty() {
        return Err(Error::NotFound(format!(
            "no client or serial '{target}' in environment '{}'; `list` shows the roster",
            ctx.env.name
        )));
    }
    certs
        .into_iter()
        .filter(|c| c.status == CertStatus::Active)
        .max_by_key(|c| c.issued_at)
        .ok_or_else(|| {
            Error::Conflict(format!(
                "client '{target}' has no active certificate: every one is already revoked"
            ))
        })
}

/// Revokes a cert (by serial) or a client's active cert. Conditional on the cert still being
/// active and unchanged, so two operators revoking at once get one success and one conflict.
pub async fn revoke(
    ctx: &Ctx,
    target: &str,
    reason: RevocationReason,
    note: Option<&str>,
) -> Result<CertRecord> {
    ctx.require_writable("revoke")?;
    let rec = match revoke_target(ctx, target).await {
        Ok(rec) => rec,
        Err(err) => {
            if let Error::Conflict(msg) = &err {
                ctx.audit("revoke", target, AuditOutcome::Conflict, msg.clone())
                    .await?;
            }
            return Err(err);
        }
    };
    let label = format!("{} (serial {})", rec.client_id, rec.serial);
    let change = async {
        if rec.status == CertStatus::Revoked {
            return Err(Error::Conflict(format!(
                "certificate {} of '{}' is already revoked ({} on {}); nothing changed",
                rec.serial,
                rec.client_id,
                rec.revocation_reason
                    .map(|r| r.as_str())
                    .unwrap_or("no reason recorded"),
                rec.revoked_at
                    .map(crate::timefmt::format)
                    .unwrap_or_else(|| "an unknown date".into())
            )));
        }
        let mut revoked = rec.clone();
        revoked.status = CertStatus::Revoked;
        revoked.revoked_at = Some(ctx.now());
        revoked.revocation_reason = Some(reason);
        revoked.revoked_by = Some(ctx.backend.operator.clone());
        revoked.revocation_note = note.map(str::to_string);
        let expect = Expect {
            version: rec.version,
            active: true,
        };
        ctx.backend
            .roster
            .transact(vec![RosterWrite::Update(revoked.clone(), expect)])
            .await?;
        revoked.version = rec.version + 1;
        Ok(revoked)
    };
    let note = note.map(|n| format!("; note: {n}")).unwrap_or_default();
    ctx.audited("revoke", &label, change, |_| {
        format!("reason {}{note}", reason.as_str())
    })
    .await
}

/// Re-issues a client's current cert: a new serial, the same key unless `rekey`. The old cert
/// is revoked (superseded) at once, or kept valid for the grace period by shortening its
/// `expiry` (the only field besides `status` the deployed authorizer reads). The old item's
/// update and the new item's put are one transaction.
pub async fn reissue(ctx: &Ctx, client_id: &str, opts: &ReissueOptions) -> Result<ReissueOutcome> {
    ctx.require_writable("reissue")?;
    let certs = ctx.backend.roster.by_client(client_id).await?;
    let Some(old) = current_cert(&certs).filter(|c| c.status == CertStatus::Active) else {
        return Err(Error::NotFound(format!(
            "client '{client_id}' has no active certificate to re-issue; use `issue {client_id}`"
        )));
    };
    let old = old.clone();
    let issuer = load_issuer(ctx).await?;
    reissue_record(ctx, &issuer, old, opts).await
}

/// Re-issues `old` (an active cert) under `issuer`; see [`reissue`]. Rotations call this with
/// the CA they move clients to.
pub(crate) async fn reissue_record(
    ctx: &Ctx,
    issuer: &Issuer,
    old: CertRecord,
    opts: &ReissueOptions,
) -> Result<ReissueOutcome> {
    let now = ctx.now();
    let client_id = old.client_id.as_str();
    let key = if opts.rekey {
        let alg = opts
            .key_algorithm
            .or_else(|| old.key_algorithm.as_deref().and_then(KeyAlgorithm::parse))
            .unwrap_or(ctx.env.client_key_algorithm);
        KeySource::Generate(alg)
    } else {
        let pem = match &old.cert_pem {
            Some(pem) => pem.clone(),
            None => ctx
                .backend
                .vault
                .get(&VaultItem::ClientCert(client_id.to_string()))
                .await?
                .map(|p| p.to_string())
                .ok_or_else(|| {
                    Error::NotFound(format!(
                        "keeping the key needs the current certificate of '{client_id}', which neither the roster nor {} holds; use --rekey",
                        ctx.backend
                            .vault
                            .name_of(&VaultItem::ClientCert(client_id.to_string()))
                    ))
                })?,
        };
        KeySource::ExistingCert(pem)
    };
    let request = ClientRequest {
        cn: old.client_name.clone(),
        validity_days: opts.days.unwrap_or(ctx.env.client_validity_days),
        key,
    };
    let label = format!("{client_id} (serial {})", old.serial);
    let change = async {
        let issued = sign(issuer, request, now).await?;
        let mut new = new_record(client_id, &issued, issuer, now);
        new.replaces = Some(old.serial.clone());
        let mut superseded = old.clone();
        superseded.replaced_by = Some(new.serial.clone());
        match opts.grace {
            Some(grace) if grace > Duration::ZERO => {
                superseded.expiry = superseded.expiry.min(now + grace);
            }
            _ => {
                superseded.status = CertStatus::Revoked;
                superseded.revoked_at = Some(now);
                superseded.revocation_reason = Some(RevocationReason::Superseded);
                superseded.revoked_by = Some(ctx.backend.operator.clone());
            }
        }
        let previous = swap_vault(ctx, client_id, &issued).await?;
        let expect = Expect {
            version: old.version,
            active: true,
        };
        let written = ctx
            .backend
            .roster
            .transact(vec![
                RosterWrite::Update(superseded.clone(), expect),
                RosterWrite::Put(new.clone()),
            ])
            .await;
        if let Err(err) = written {
            restore_vault(ctx, client_id, previous).await;
            return Err(err.into());
        }
        superseded.version = old.version + 1;
        Ok(ReissueOutcome {
            old: superseded,
            new: outcome(new, issued, issuer),
        })
    };
    ctx.audited("reissue", &label, change, |o: &ReissueOutcome| {
        format!(
            "new serial {}{} under {}; old cert {}",
            o.new.record.serial,
            if opts.rekey {
                " (new key)"
            } else {
                " (same key)"
            },
            issuer.info.subject,
            match o.old.status {
                CertStatus::Revoked => "revoked (superseded)".to_string(),
                CertStatus::Active =>
                    format!("valid until {}", crate::timefmt::format(o.old.expiry)),
            }
        )
    })
    .await
}

/// What the vault held for a client before a re-issue changed it.
struct VaultBefore {
    key: Option<Zeroizing<String>>,
    cert: Option<Zeroizing<String>>,
}

async fn swap_vault(ctx: &Ctx, client_id: &str, issued: &IssuedCert) -> Result<VaultBefore> {
    let vault = &ctx.backend.vault;
    let key_item = VaultItem::ClientKey(client_id.to_string());
    let cert_item = VaultItem::ClientCert(client_id.to_string());
    let before = VaultBefore {
        key: match &issued.key_pem {
            Some(_) => vault.get(&key_item).await?,
            None => None,
        },
        cert: vault.get(&cert_item).await?,
    };
    if let Some(key) = &issued.key_pem {
        vault.put(&key_item, key, true).await?;
    }
    vault.put(&cert_item, &issued.cert_pem, true).await?;
    Ok(before)
}

/// Puts back what a failed re-issue replaced, so a lost race leaves the vault as it was.
async fn restore_vault(ctx: &Ctx, client_id: &str, before: VaultBefore) {
    let vault = &ctx.backend.vault;
    let items = [
        (VaultItem::ClientKey(client_id.to_string()), before.key),
        (VaultItem::ClientCert(client_id.to_string()), before.cert),
    ];
    for (item, value) in items {
        if let Some(value) = value
            && let Err(e) = vault.put(&item, &value, true).await
        {
            tracing::error!(
                name = %vault.name_of(&item),
                error = %e,
                "could not restore the vault after a failed re-issue"
            );
        }
    }
}
