//! Issue (single and bulk), revoke and re-issue: the changes to the roster.
//!
//! Every change of a client goes the same way (see [`super::claim`]): claim the client's
//! head, check what the roster holds now, write the vault, then commit the roster items, the
//! head and the audit record together. A change that fails before its commit puts the vault
//! back (it holds the claim, so nobody else wrote it meanwhile); a crash leaves a claim that
//! expires and a vault that `repair` makes follow the roster again.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::ca::{Issuer, load_issuer};
use super::claim;
use super::query::current_cert;
use super::{
    BulkReport, Ctx, IssueOptions, IssueOutcome, KeyChoice, Progress, ReissueOptions,
    ReissueOutcome, RevokeOutcome, validate_client_id,
};
use crate::error::{Error, Result};
use crate::model::{
    AuditOutcome, AuditRecord, CertRecord, CertStatus, RevocationReason, VaultItem,
};
use crate::pki::{self, ClientRequest, IssuedCert, KeyAlgorithm, KeySource};
use crate::store::{ClientHead, Commit, Contended, Expect, HeadWrite, RosterWrite, VaultWrite};

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
    let days = super::limits::client_days(opts.days.unwrap_or(ctx.env.client_validity_days))?;
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
    let certs = ctx.client_certs(client_id).await?;
    if let Some(active) = certs.iter().find(|c| c.authorizer_allows(now)) {
        return Err(Error::conflict(
            Contended::Client(client_id.to_string()),
            format!(
                "client '{client_id}' already has an active certificate (serial {}, valid until {}); use `reissue {client_id}` to replace it or `revoke` it first",
                active.serial,
                crate::timefmt::format(active.expiry)
            ),
        ));
    }
    Ok(())
}

/// What the vault held for a client before a change wrote it.
pub(crate) struct VaultBefore {
    client_id: String,
    /// The key before, when the change wrote a key.
    key: Option<Option<Zeroizing<String>>>,
    cert: Option<Zeroizing<String>>,
}

/// Writes a new client cert (and key, when generated) to the vault, returning what it held.
/// A cert signed from a CSR removes the key an earlier cert left, so the vault never pairs a
/// cert with a key that is not its own. Only a claim holder calls this.
async fn write_vault(
    ctx: &Ctx,
    client_id: &str,
    issued: &IssuedCert,
    from_csr: bool,
) -> Result<VaultBefore> {
    let vault = &ctx.backend.vault;
    let key_item = VaultItem::ClientKey(client_id.to_string());
    let cert_item = VaultItem::ClientCert(client_id.to_string());
    let key = if issued.key_pem.is_some() || from_csr {
        Some(vault.get(&key_item).await?)
    } else {
        None
    };
    let before = VaultBefore {
        client_id: client_id.to_string(),
        key: key.filter(|old| issued.key_pem.is_some() || old.is_some()),
        cert: vault.get(&cert_item).await?,
    };
    match &issued.key_pem {
        Some(key) => vault.put(&key_item, key, true).await?,
        None if before.key.is_some() => vault.delete(&key_item).await?,
        None => {}
    }
    vault.put(&cert_item, &issued.cert_pem, true).await?;
    Ok(before)
}

/// Puts back what a change that did not commit wrote to the vault (the claim holder alone
/// writes it, so this restores exactly what the roster still says). Best effort: what cannot
/// be put back, `repair` fixes from the roster.
async fn restore_vault(ctx: &Ctx, before: VaultBefore) {
    let vault = &ctx.backend.vault;
    let id = before.client_id;
    let mut items = vec![(VaultItem::ClientCert(id.clone()), before.cert)];
    if let Some(key) = before.key {
        items.push((VaultItem::ClientKey(id), key));
    }
    for (item, value) in items {
        let done = match value {
            Some(value) => vault.put(&item, &value, true).await,
            None => vault.delete(&item).await,
        };
        if let Err(e) = done {
            tracing::error!(
                name = %vault.name_of(&item),
                error = %e,
                "could not restore the vault after a change that did not commit; `repair` fixes it"
            );
        }
    }
}

/// Did a commit whose answer was lost land after all? (A timeout can hide a success.)
async fn landed(ctx: &Ctx, serial: &str, fingerprint: Option<&str>) -> bool {
    matches!(
        ctx.backend.roster.get(serial).await,
        Ok(Some(rec)) if rec.fingerprint.as_deref() == fingerprint
    )
}

/// Commits a change whose vault writes are done: on failure the vault is put back, unless
/// the commit landed after all or another run took the claim over (then the vault is theirs).
async fn commit_or_restore(
    ctx: &Ctx,
    commit: Commit,
    new: &CertRecord,
    before: VaultBefore,
) -> Result<()> {
    let Err(err) = ctx.backend.roster.commit(commit).await else {
        return Ok(());
    };
    if err.contended().is_none() && landed(ctx, &new.serial, new.fingerprint.as_deref()).await {
        return Ok(());
    }
    if !matches!(err.contended(), Some(Contended::Client(_))) {
        restore_vault(ctx, before).await;
    }
    Err(err.into())
}

/// Runs `change` on a claimed client: the claim is released when the change fails, and a
/// failure is audited (as `conflict` or `failed`).
async fn on_claimed<T, F, Fut>(
    ctx: &Ctx,
    client_id: &str,
    purpose: &str,
    action: &str,
    target: &str,
    change: F,
) -> Result<T>
where
    F: FnOnce(ClientHead) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let result = async {
        let head = claim::claim(ctx, client_id, purpose).await?;
        let keep = head.clone();
        let result = change(head).await;
        if result.is_err() {
            claim::release(ctx, &keep).await;
        }
        result
    }
    .await;
    if let Err(e) = &result {
        ctx.audit_failure(action, target, e).await;
    }
    result
}

/// Issues one client certificate.
pub async fn issue(ctx: &Ctx, opts: &IssueOptions) -> Result<IssueOutcome> {
    ctx.require_writable("issue")?;
    let prepared = prepare(ctx, opts)?;
    let issuer = load_issuer(ctx).await?;
    let now = ctx.now();
    issue_prepared(ctx, &issuer, prepared, now).await
}

async fn issue_prepared(
    ctx: &Ctx,
    issuer: &Issuer,
    prepared: Prepared,
    now: OffsetDateTime,
) -> Result<IssueOutcome> {
    let Prepared { client_id, request } = prepared;
    let client_id = &client_id;
    on_claimed(
        ctx,
        client_id,
        "issue",
        "issue",
        client_id,
        move |head| async move {
            ensure_no_active(ctx, client_id, now).await?;
            let from_csr = matches!(request.key, KeySource::Csr(_));
            let days = request.validity_days;
            let issued = sign(issuer, request, now).await?;
            warn_if_capped(ctx, client_id, days, &issued, now);
            let before = write_vault(ctx, client_id, &issued, from_csr).await?;
            let record = new_record(client_id, &issued, issuer, now);
            let commit = Commit {
                certs: vec![RosterWrite::Put(record.clone())],
                heads: vec![claim::settle(&head, Some(record.serial.clone()))],
                audit: vec![ctx.audit_record(
                    "issue",
                    client_id,
                    AuditOutcome::Ok,
                    issue_detail(&record, &issued.info.key_algorithm),
                )],
                fence: ctx.fence.clone(),
                vault: Vec::new(),
            };
            commit_or_restore(ctx, commit, &record, before).await?;
            Ok(outcome(record, issued, issuer))
        },
    )
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
    const SHAPE: &str = "{\"clients\": [{\"client_id\": \"acme\"}, {\"client_id\": \"globex\", \
                         \"days\": 90, \"key_algorithm\": \"rsa-2048\"}]}";
    let file: BulkFile = serde_json::from_str(text).map_err(|e| {
        if text.trim_start().starts_with('[') {
            Error::Invalid(format!(
                "the bulk file is a JSON array; it must be an object whose \"clients\" holds \
                 that array, e.g. {SHAPE}"
            ))
        } else {
            Error::Invalid(format!(
                "the bulk file is not in the expected format ({e}); it must look like {SHAPE}"
            ))
        }
    })?;
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    let mut lowered = std::collections::HashMap::new();
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
                } else if let Some(other) =
                    lowered.insert(p.client_id.to_lowercase(), p.client_id.clone())
                {
                    ctx.warn(format!(
                        "clients[{i}]: '{}' and '{other}' differ only in case; both are issued as \
                         separate clients",
                        p.client_id
                    ));
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
/// batches of whatever is ready (at most [`BULK_BATCH`], [`BULK_BATCH_AWS`] on AWS): see
/// [`store_batch`]. Each client succeeds or fails on its own, as if issued alone.
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
    let roster = ctx.roster(false).await?;
    let active: HashSet<String> = roster
        .into_iter()
        .filter(|r| r.authorizer_allows(now))
        .map(|r| r.client_id)
        .collect();
    let mut report = BulkReport::default();
    let mut todo = Vec::new();
    let active_lowered: std::collections::HashMap<String, &String> =
        active.iter().map(|id| (id.to_lowercase(), id)).collect();
    for p in prepared {
        if let Some(other) = active_lowered.get(&p.client_id.to_lowercase())
            && **other != p.client_id
        {
            ctx.warn(format!(
                "'{}' differs only in case from the active client '{other}'; it is issued as a \
                 separate client",
                p.client_id
            ));
        }
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

/// The commit that issues `id` as a new client: its roster item, its first head (expected
/// not to exist: a client that has one is refused as contended) and its audit record, plus
/// its vault items when the roster writes them too.
fn new_client_commit(
    ctx: &Ctx,
    id: &str,
    issued: &IssuedCert,
    record: &CertRecord,
    head: HeadWrite,
    vault: Vec<VaultWrite>,
) -> Commit {
    Commit {
        certs: vec![RosterWrite::Put(record.clone())],
        heads: vec![head],
        audit: vec![ctx.audit_record(
            "issue",
            id,
            AuditOutcome::Ok,
            issue_detail(record, &issued.info.key_algorithm),
        )],
        fence: ctx.fence.clone(),
        vault,
    }
}

/// Where the roster writes the vault too (the embedded backend), stores each client that has
/// no head yet in one commit of everything (vault items, roster item, head, audit record),
/// all of the batch in one database transaction. Returns the outcomes, the failures to audit
/// and the clients that have a head already, to be stored with a claim.
async fn store_new_together(
    ctx: &Ctx,
    issuer: &Issuer,
    signed: Vec<(String, IssuedCert)>,
    now: OffsetDateTime,
) -> (
    Vec<(String, Result<()>)>,
    Vec<AuditRecord>,
    Vec<(String, IssuedCert)>,
) {
    let commits = signed
        .iter()
        .map(|(id, issued)| {
            let record = new_record(id, issued, issuer, now);
            let mut vault = Vec::with_capacity(2);
            if let Some(key) = &issued.key_pem {
                vault.push(VaultWrite {
                    item: VaultItem::ClientKey(id.clone()),
                    value: key.clone(),
                });
            }
            vault.push(VaultWrite {
                item: VaultItem::ClientCert(id.clone()),
                value: Zeroizing::new(issued.cert_pem.clone()),
            });
            let head = claim::first_head(id, Some(record.serial.clone()));
            new_client_commit(ctx, id, issued, &record, head, vault)
        })
        .collect();
    let written = ctx.backend.roster.commit_each(commits).await;
    let mut outcomes = Vec::with_capacity(signed.len());
    let mut failures = Vec::new();
    let mut rest = Vec::new();
    for ((id, issued), result) in signed.into_iter().zip(written) {
        match result {
            Ok(()) => outcomes.push((id, Ok(()))),
            Err(e) if matches!(e.contended(), Some(Contended::Client(_))) => {
                rest.push((id, issued));
            }
            Err(e) => {
                let e = Error::from(e);
                failures.push(ctx.failure_record("issue", &id, &e));
                outcomes.push((id, Err(e)));
            }
        }
    }
    (outcomes, failures, rest)
}

/// Stores a batch of signed clients (see [`issue_bulk`]); one result per client. Clients
/// without a head are stored in one transaction where the roster can write the vault (see
/// [`store_new_together`]). The others are claimed together, their vault items written
/// together, then each client's roster item, head and audit record committed on its own
/// (one database transaction for all of them on the embedded backend).
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
    let mut done = Vec::new();
    let mut failures = Vec::new();
    if ctx.backend.roster.commits_vault() && !signed.is_empty() {
        (done, failures, signed) = store_new_together(ctx, issuer, signed, now).await;
    }

    // Claim every client; one already claimed elsewhere, or issued meanwhile, fails alone.
    let ids: Vec<String> = signed.iter().map(|(id, _)| id.clone()).collect();
    let claims = claim::claim_each(ctx, &ids, "issue --from").await;
    let mut claimed = Vec::with_capacity(signed.len());
    for ((id, issued), head) in signed.into_iter().zip(claims) {
        match head {
            Ok(head) => match issued_meanwhile(ctx, &head, now).await {
                Ok(None) => claimed.push((id, issued, head)),
                Ok(Some(e)) | Err(e) => {
                    claim::release(ctx, &head).await;
                    results.push((id, Err(e)));
                }
            },
            Err(e) => results.push((id, Err(e))),
        }
    }

    let mut writes: Vec<(VaultItem, &str)> = Vec::with_capacity(claimed.len() * 2);
    let mut owner = Vec::with_capacity(claimed.len() * 2);
    for (i, (id, issued, _)) in claimed.iter().enumerate() {
        if let Some(key) = &issued.key_pem {
            writes.push((VaultItem::ClientKey(id.clone()), key.as_str()));
            owner.push(i);
        }
        writes.push((VaultItem::ClientCert(id.clone()), issued.cert_pem.as_str()));
        owner.push(i);
    }
    let mut vault_failure: Vec<Option<Error>> = claimed.iter().map(|_| None).collect();
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

    let mut stored = Vec::with_capacity(claimed.len());
    let mut commits = Vec::with_capacity(claimed.len());
    for ((id, issued, head), failure) in claimed.into_iter().zip(vault_failure) {
        match failure {
            Some(e) => {
                forget_new(ctx, &id, issued.key_pem.is_some()).await;
                claim::release(ctx, &head).await;
                results.push((id, Err(e)));
            }
            None => {
                let record = new_record(&id, &issued, issuer, now);
                let settled = claim::settle(&head, Some(record.serial.clone()));
                commits.push(new_client_commit(
                    ctx,
                    &id,
                    &issued,
                    &record,
                    settled,
                    Vec::new(),
                ));
                stored.push((id, record, issued.key_pem.is_some(), head));
            }
        }
    }
    let written = ctx.backend.roster.commit_each(commits).await;

    let mut outcomes: Vec<(String, Result<()>)> = done;
    outcomes.reserve(results.len() + stored.len());
    for (id, result) in results {
        if let Err(e) = &result {
            failures.push(ctx.failure_record("issue", &id, e));
        }
        outcomes.push((id, result));
    }
    for ((id, record, key_written, head), result) in stored.into_iter().zip(written) {
        match result {
            Ok(()) => outcomes.push((id, Ok(()))),
            Err(e)
                if e.contended().is_none()
                    && landed(ctx, &record.serial, record.fingerprint.as_deref()).await =>
            {
                outcomes.push((id, Ok(())));
            }
            Err(e) => {
                if !matches!(e.contended(), Some(Contended::Client(_))) {
                    forget_new(ctx, &id, key_written).await;
                    claim::release(ctx, &head).await;
                }
                let e = Error::from(e);
                failures.push(ctx.failure_record("issue", &id, &e));
                outcomes.push((id, Err(e)));
            }
        }
    }
    // Failures are audited apart (best effort); every success was audited in its commit.
    for (record, appended) in failures
        .iter()
        .zip(ctx.backend.audit.append_each(&failures).await)
    {
        if let Err(e) = appended {
            tracing::warn!(target = %record.target, error = %e, "could not audit a failed issue");
        }
    }
    outcomes
}

/// Why a client claimed for a bulk issue already holds a cert issued through the console
/// since the listing the bulk issue started from (its head names a current cert that is still
/// accepted), if it does.
async fn issued_meanwhile(
    ctx: &Ctx,
    head: &ClientHead,
    now: OffsetDateTime,
) -> Result<Option<Error>> {
    let Some(serial) = &head.current else {
        return Ok(None);
    };
    Ok(match ctx.backend.roster.get(serial).await? {
        Some(rec) if rec.authorizer_allows(now) => Some(Error::conflict(
            Contended::Client(head.client_id.clone()),
            format!(
                "client '{}' was issued a certificate meanwhile (serial {serial}); nothing was \
                 issued for it",
                head.client_id
            ),
        )),
        _ => None,
    })
}

/// Says so when a cert was cut short to end with its issuer (a cert cannot outlive the CA
/// that signed it): `days` were asked, fewer given.
fn warn_if_capped(ctx: &Ctx, client_id: &str, days: u32, issued: &IssuedCert, now: OffsetDateTime) {
    let asked = now + Duration::days(i64::from(days));
    if issued.info.not_after + Duration::minutes(1) < asked {
        ctx.warn(format!(
            "the certificate of '{client_id}' is valid {} days, not the {days} asked: it ends \
             with its issuing CA ({}); rotate the CA (`ca rotate-intermediate`) for longer-lived \
             client certs",
            (issued.info.not_after - now).whole_days(),
            crate::timefmt::format(issued.info.not_after)
        ));
    }
}

/// Removes the vault items written for a new client whose issue did not commit (a bulk issue
/// only issues clients without an active cert, so nothing older is lost).
async fn forget_new(ctx: &Ctx, client_id: &str, key_written: bool) {
    restore_vault(
        ctx,
        VaultBefore {
            client_id: client_id.to_string(),
            key: key_written.then_some(None),
            cert: None,
        },
    )
    .await;
}

/// Finds the client a revoke aims at and which of its certs: a decimal serial (that cert),
/// or a client_id (its active certs).
pub async fn revoke_target(ctx: &Ctx, target: &str) -> Result<(String, Option<String>)> {
    let target = target.trim();
    if !target.is_empty()
        && target.chars().all(|c| c.is_ascii_digit())
        && let Some(rec) = ctx.backend.roster.get(target).await?
    {
        return Ok((rec.client_id, Some(rec.serial)));
    }
    let certs = ctx.client_certs(target).await?;
    if certs.is_empty() {
        return Err(Error::NotFound(format!(
            "no client or serial '{target}' in environment '{}'; `list` shows the roster",
            ctx.env.name
        )));
    }
    Ok((target.to_string(), None))
}

/// Which certs of a client a revoke changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeScope {
    /// Every cert of the client the authorizer could still accept (the current one and those
    /// in a grace period): after the revoke no cert of the client is accepted.
    All,
    /// The client's current cert only; superseded certs in their grace period stay accepted
    /// until it ends.
    KeepGrace,
}

/// Revokes a cert (by serial), or every active cert of a client (by client_id; see
/// [`RevokeScope`]), in one commit with the client's head and an audit record per cert.
/// Two operators revoking at once get one success and one conflict.
pub async fn revoke(
    ctx: &Ctx,
    target: &str,
    reason: RevocationReason,
    note: Option<&str>,
    scope: RevokeScope,
) -> Result<RevokeOutcome> {
    ctx.require_writable("revoke")?;
    let (client_id, serial) = match revoke_target(ctx, target).await {
        Ok(found) => found,
        Err(err) => {
            ctx.audit_failure("revoke", target, &err).await;
            return Err(err);
        }
    };
    let now = ctx.now();
    let pick = |c: &CertRecord| match &serial {
        Some(s) => c.serial == *s,
        None => match scope {
            RevokeScope::All => true,
            RevokeScope::KeepGrace => !(c.replaced_by.is_some() && c.authorizer_allows(now)),
        },
    };
    let label = match &serial {
        Some(s) => format!("{client_id} (serial {s})"),
        None => client_id.clone(),
    };
    let (revoked, certs) =
        revoke_client_certs(ctx, &client_id, &label, pick, reason, note, None).await?;
    if revoked.is_empty() {
        let err = nothing_to_revoke(&client_id, certs.iter().find(|c| pick(c)));
        ctx.audit_failure("revoke", &label, &err).await;
        return Err(err);
    }
    let kept = certs
        .into_iter()
        .filter(|c| c.authorizer_allows(now))
        .collect();
    let at = revoked.iter().find_map(|c| c.revoked_at).unwrap_or(now);
    let takes_effect = super::revocation_latency(ctx).await.effect(at);
    Ok(RevokeOutcome {
        client_id,
        revoked,
        kept,
        takes_effect,
    })
}

/// The conflict of a revoke that found nothing active to revoke.
fn nothing_to_revoke(client_id: &str, already: Option<&CertRecord>) -> Error {
    Error::conflict(
        Contended::Client(client_id.to_string()),
        match already {
            Some(rec) => format!(
                "certificate {} of '{client_id}' is already revoked ({} on {}); nothing changed",
                rec.serial,
                rec.revocation_reason
                    .map(|r| r.as_str())
                    .unwrap_or("no reason recorded"),
                rec.revoked_at
                    .map(crate::timefmt::format)
                    .unwrap_or_else(|| "an unknown date".into())
            ),
            None => format!(
                "client '{client_id}' has no active certificate: every one is already revoked"
            ),
        },
    )
}

/// Most certs revoked in one commit (each takes a roster write and an audit record).
const REVOKES_PER_COMMIT: usize = 45;

/// Revokes the active certs of one client that `pick` selects, under the client's claim: one
/// commit of the roster updates, the head and an audit record per cert (split in commits of
/// [`REVOKES_PER_COMMIT`] for clients with very many certs). Returns the certs revoked and
/// every cert of the client afterwards (nothing revoked when none of its active certs is
/// picked). `detail` is added to each audit record.
pub(crate) async fn revoke_client_certs(
    ctx: &Ctx,
    client_id: &str,
    label: &str,
    pick: impl Fn(&CertRecord) -> bool,
    reason: RevocationReason,
    note: Option<&str>,
    detail: Option<&str>,
) -> Result<(Vec<CertRecord>, Vec<CertRecord>)> {
    if let Some(note) = note {
        super::validate_note(note)?;
    }
    on_claimed(
        ctx,
        client_id,
        "revoke",
        "revoke",
        label,
        |head| async move {
            let now = ctx.now();
            let mut certs = ctx.client_certs(client_id).await?;
            let targets: Vec<usize> = (0..certs.len())
                .filter(|&i| certs[i].status == CertStatus::Active && pick(&certs[i]))
                .collect();
            if targets.is_empty() {
                claim::release(ctx, &head).await;
                return Ok((Vec::new(), certs));
            }
            let mut revoked = Vec::with_capacity(targets.len());
            let chunks: Vec<&[usize]> = targets.chunks(REVOKES_PER_COMMIT).collect();
            for ((n, chunk), head_version) in chunks.iter().enumerate().zip(head.version..) {
                let mut writes = Vec::with_capacity(chunk.len());
                let mut audit = Vec::with_capacity(chunk.len());
                for &i in *chunk {
                    let rec = &certs[i];
                    let mut r = rec.clone();
                    r.status = CertStatus::Revoked;
                    r.revoked_at = Some(now);
                    r.revocation_reason = Some(reason);
                    r.revoked_by = Some(ctx.backend.operator.clone());
                    r.revocation_note = note.map(str::to_string);
                    audit.push(ctx.audit_record(
                        "revoke",
                        &format!("{client_id} (serial {})", rec.serial),
                        AuditOutcome::Ok,
                        format!(
                            "reason {}{}{}",
                            reason.as_str(),
                            note.map(|n| format!("; note: {n}")).unwrap_or_default(),
                            detail.map(|d| format!("; {d}")).unwrap_or_default()
                        ),
                    ));
                    writes.push(RosterWrite::Update(
                        r,
                        Expect {
                            version: rec.version,
                            active: true,
                        },
                    ));
                }
                let head_write = if n + 1 == chunks.len() {
                    let remaining: Vec<CertRecord> = (0..certs.len())
                        .filter(|i| !targets.contains(i))
                        .map(|i| certs[i].clone())
                        .collect();
                    let current = current_cert(&remaining)
                        .filter(|c| c.status == CertStatus::Active)
                        .map(|c| c.serial.clone());
                    claim::settle(
                        &ClientHead {
                            version: head_version,
                            ..head.clone()
                        },
                        current,
                    )
                } else {
                    HeadWrite {
                        head: head.clone(),
                        expect: head_version,
                    }
                };
                ctx.backend
                    .roster
                    .commit(Commit {
                        certs: writes.clone(),
                        heads: vec![head_write],
                        audit,
                        fence: ctx.fence.clone(),
                        vault: Vec::new(),
                    })
                    .await?;
                for write in writes {
                    if let RosterWrite::Update(mut r, expect) = write {
                        r.version = expect.version + 1;
                        if let Some(slot) = certs.iter_mut().find(|c| c.serial == r.serial) {
                            *slot = r.clone();
                        }
                        revoked.push(r);
                    }
                }
            }
            Ok((revoked, certs))
        },
    )
    .await
}

/// Re-issues a client's current cert: a new serial, the same key unless `rekey`. The old cert
/// is revoked (superseded) at once, or kept valid for the grace period by shortening its
/// `expiry` (the only field besides `status` the deployed authorizer reads).
pub async fn reissue(ctx: &Ctx, client_id: &str, opts: &ReissueOptions) -> Result<ReissueOutcome> {
    ctx.require_writable("reissue")?;
    check_reissue_options(ctx, opts)?;
    let certs = ctx.client_certs(client_id).await?;
    let Some(old) = current_cert(&certs).filter(|c| c.status == CertStatus::Active) else {
        return Err(Error::NotFound(format!(
            "client '{client_id}' has no active certificate to re-issue; use `issue {client_id}`"
        )));
    };
    let old = old.clone();
    let issuer = load_issuer(ctx).await?;
    reissue_record(ctx, &issuer, old, opts).await
}

/// Refuses a validity or grace out of range before anything is read or claimed.
pub(crate) fn check_reissue_options(ctx: &Ctx, opts: &ReissueOptions) -> Result<()> {
    super::limits::client_days(opts.days.unwrap_or(ctx.env.client_validity_days))?;
    if let Some(grace) = opts.grace {
        super::limits::grace(grace)?;
    }
    Ok(())
}

/// Re-issues `old` (an active cert) under `issuer`; see [`reissue`]. Rotations call this with
/// the CA they move clients to. The old item's update, the new item's put, the head and the
/// audit record are one commit.
pub(crate) async fn reissue_record(
    ctx: &Ctx,
    issuer: &Issuer,
    old: CertRecord,
    opts: &ReissueOptions,
) -> Result<ReissueOutcome> {
    let client_id = &old.client_id.clone();
    let label = &format!("{client_id} (serial {})", old.serial);
    on_claimed(ctx, client_id, "reissue", "reissue", label, move |head| async move {
        // The cert must still be what the caller read: re-read it under the claim.
        let old = match ctx.backend.roster.get(&old.serial).await? {
            Some(fresh)
                if fresh.version == old.version && fresh.status == CertStatus::Active =>
            {
                fresh
            }
            _ => {
                return Err(Error::conflict(
                    Contended::Cert(old.serial.clone()),
                    format!(
                        "certificate {} of '{client_id}' changed since it was read (revoked or \
                         re-issued by someone else); nothing was changed",
                        old.serial
                    ),
                ));
            }
        };
        let now = ctx.now();
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
                    .get(&VaultItem::ClientCert(client_id.clone()))
                    .await?
                    .map(|p| p.to_string())
                    .ok_or_else(|| {
                        Error::NotFound(format!(
                            "keeping the key needs the current certificate of '{client_id}', which neither the roster nor {} holds; use --rekey",
                            ctx.backend
                                .vault
                                .name_of(&VaultItem::ClientCert(client_id.clone()))
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
        let days = request.validity_days;
        let issued = sign(issuer, request, now).await?;
        warn_if_capped(ctx, client_id, days, &issued, now);
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
        let detail = format!(
            "new serial {}{} under {}; old cert {}",
            new.serial,
            if opts.rekey {
                " (new key)"
            } else {
                " (same key)"
            },
            issuer.info.subject,
            match superseded.status {
                CertStatus::Revoked => "revoked (superseded)".to_string(),
                CertStatus::Active => format!(
                    "valid until {}",
                    crate::timefmt::format(superseded.expiry)
                ),
            }
        );
        let before = write_vault(ctx, client_id, &issued, false).await?;
        let commit = Commit {
            certs: vec![
                RosterWrite::Update(
                    superseded.clone(),
                    Expect {
                        version: old.version,
                        active: true,
                    },
                ),
                RosterWrite::Put(new.clone()),
            ],
            heads: vec![claim::settle(&head, Some(new.serial.clone()))],
            audit: vec![ctx.audit_record("reissue", label, AuditOutcome::Ok, detail)],
            fence: ctx.fence.clone(),
            vault: Vec::new(),
        };
        commit_or_restore(ctx, commit, &new, before).await?;
        superseded.version = old.version + 1;
        Ok(ReissueOutcome {
            old: superseded,
            new: outcome(new, issued, issuer),
        })
    })
    .await
}
