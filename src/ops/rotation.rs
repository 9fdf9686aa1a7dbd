//! Rotations without a refused request: the intermediate, the root, or the client certs.
//!
//! A rotation is a journaled plan (the journal is a document of the console's coordination
//! state, so every operator's console sees it; see [`super::journal`]) run under the CA
//! lease, so only one run at a time advances it, through explicit phases:
//!
//! | phase | what the step did |
//! |---|---|
//! | `started` | journal written; the new CA is being created |
//! | `prepared` | new CA stored in the vault's `next` slots; the old one still issues |
//! | `published` | bundle with both CAs (+ pinned CAs) published, domain pointed at it; new certs come from the new CA |
//! | `moved` | every active client re-issued under the new CA; old certs kept valid for the grace period through `expiry` |
//! | `promoted` | grace over: superseded certs revoked, the new CA is the CA (vault); final bundle pending |
//! | `done` / `aborted` | final bundle published (domain pointed), `next` slots removed |
//!
//! Client rotation uses `started -> moved -> done`. Every step is idempotent and re-derives
//! what is left from the roster and the vault, so a crash at any point followed by `--resume`
//! completes the rotation. Clients are only moved once the bundle trusting the new CA is
//! published, and old certs are only revoked (and the old CA only dropped from the bundle)
//! once every client holds a cert from the new CA and the grace period is over: at every
//! point each client holds a cert the gateway and the authorizer accept.
//!
//! An abort before clients moved drops the new CA. An abort after some moved turns the
//! rotation around: the same steps move those clients back to the current CA (with the same
//! grace), then the new CA is dropped from the bundle.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::ca::{Issuer, load_current_issuer, load_next_issuer};
use super::journal::{self, ClientSelection, RotationJournal, RotationKind, RotationPhase};
use super::lifecycle::reissue_record;
use super::truststore::truststore_publish;
use super::{Ctx, Progress, ReissueOptions, lease};
use crate::error::{Error, Result};
use crate::model::{CertRecord, CertStatus, RevocationReason, VaultItem};
use crate::pki::{self, CaMaterial, CaParams, KeyAlgorithm, Subject};

/// Largest journal kept (a DynamoDB item holds 400 KB; selections of client ids are the
/// only part that grows).
const MAX_JOURNAL_BYTES: usize = 64 * 1024;

/// How to run a rotation.
#[derive(Clone)]
pub struct RotationOptions {
    pub grace: Duration,
    pub rekey: bool,
    /// Validity of the new client certs.
    pub client_days: Option<u32>,
    /// Key algorithm of the new CA (default: the current CA's).
    pub ca_key_algorithm: Option<KeyAlgorithm>,
    /// Validity of the new CA in days (default: the current CA's lifetime).
    pub ca_days: Option<u32>,
    /// Client rotation: which clients.
    pub selection: ClientSelection,
    /// Re-issues at once (signing, DynamoDB and SSM; SSM writes are paced by the vault).
    pub concurrency: usize,
    /// Stop once this phase is reached.
    pub stop_after: Option<RotationPhase>,
    /// Finish before the grace period is over (clients that did not fetch their new cert
    /// are refused from then on).
    pub force: bool,
    pub progress: Option<Progress>,
}

impl Default for RotationOptions {
    fn default() -> Self {
        RotationOptions {
            grace: Duration::days(7),
            rekey: false,
            client_days: None,
            ca_key_algorithm: None,
            ca_days: None,
            selection: ClientSelection::All,
            concurrency: 4,
            stop_after: None,
            force: false,
            progress: None,
        }
    }
}

/// One step a run made, for the operator.
#[derive(Debug, Clone, Serialize)]
pub struct RotationStep {
    pub phase: RotationPhase,
    pub detail: String,
}

/// What a run did and where the rotation stands.
#[derive(Debug, Clone, Serialize)]
pub struct RotationReport {
    pub journal: RotationJournal,
    pub steps: Vec<RotationStep>,
    /// Clients that could not be moved in this run (id, why); `--resume` retries them.
    pub failed: Vec<(String, String)>,
    /// The run stopped because the next phase must wait until then (grace period).
    #[serde(with = "time::serde::rfc3339::option")]
    pub waiting_until: Option<OffsetDateTime>,
}

/// The dry run: what the next run would do, changing nothing.
#[derive(Debug, Clone, Serialize)]
pub struct RotationPlan {
    pub kind: RotationKind,
    pub journal: Option<RotationJournal>,
    /// The phases the next run would go through, each with what it changes.
    pub steps: Vec<RotationStep>,
    /// Active clients the move phase re-issues.
    pub clients_to_move: usize,
    /// Clients with no cert the move could use (listed, not moved).
    pub skipped: Vec<(String, String)>,
    /// Vault writes the move needs (SSM PutParameter is paced at about 3/s by default).
    pub vault_writes: usize,
}

/// Emergency revoke of every active cert issued by one CA.
#[derive(Debug, Clone, Serialize)]
pub struct RevokeByCaReport {
    pub ca_subject: String,
    pub ca_fingerprint: String,
    pub dry_run: bool,
    /// Active certs issued by the CA (what a dry run would revoke).
    pub matching: usize,
    pub clients: Vec<String>,
    pub revoked: usize,
    /// Clients whose certs could not be revoked (client, why); running again retries them.
    pub failed: Vec<(String, String)>,
    /// The CAs now marked compromised (nothing is issued from them until they are rotated).
    pub marked_compromised: Vec<String>,
    /// When the revokes bite (None for a dry run): the authorizer's result cache may answer
    /// until its TTL has passed.
    pub takes_effect: Option<super::RevocationEffect>,
}

/// The CN of a rotated CA: the old one's without an earlier rotation stamp, plus the date.
fn rotated_subject(old_dn: &str, now: OffsetDateTime) -> Subject {
    let mut subject = Subject::default();
    for part in old_dn.split(',') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let v = Some(v.trim().to_string());
        match k.trim() {
            "C" => subject.c = v,
            "ST" => subject.st = v,
            "L" => subject.l = v,
            "O" => subject.o = v,
            "OU" => subject.ou = v,
            "CN" => subject.cn = v,
            _ => {}
        }
    }
    let base = subject.cn.clone().unwrap_or_else(|| "CA".into());
    let base = match base.rfind(" (") {
        Some(i) if base.ends_with(')') => base[..i].to_string(),
        _ => base,
    };
    subject.cn = Some(format!(
        "{base} ({:04}-{:02}-{:02} {:02}:{:02})",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute()
    ));
    subject
}

fn lifetime_days(info: &pki::CertInfo) -> u32 {
    u32::try_from((info.not_after - info.not_before).whole_days().max(1)).unwrap_or(u32::MAX)
}

/// Phase `prepared`: creates the new CA and stores it in the `next` slots (keys first).
async fn prepare(ctx: &Ctx, j: &mut RotationJournal, opts: &RotationOptions) -> Result<String> {
    let vault = &ctx.backend.vault;
    let now = ctx.now();
    let current = load_current_issuer(ctx, now).await?;
    let root_pem = current.root_pem().to_string();
    let root_key_item = VaultItem::RootKey;
    let root_key = vault.get(&root_key_item).await?.ok_or_else(|| {
        Error::NotFound(format!(
            "the root key {} is missing; a new CA cannot be signed",
            vault.name_of(&root_key_item)
        ))
    })?;
    let root_info = pki::inspect(root_pem.as_bytes())?;
    let alg = opts
        .ca_key_algorithm
        .or_else(|| KeyAlgorithm::parse(&current.info.key_algorithm))
        .unwrap_or(KeyAlgorithm::EcdsaP256);
    let kind = j.kind;
    let root_only = current.root_only;
    let inter_params = CaParams {
        subject: rotated_subject(&current.info.subject, now),
        key_algorithm: alg,
        validity_days: opts.ca_days.unwrap_or_else(|| lifetime_days(&current.info)),
    };
    let root_params = CaParams {
        subject: rotated_subject(&root_info.subject, now),
        key_algorithm: opts
            .ca_key_algorithm
            .or_else(|| KeyAlgorithm::parse(&root_info.key_algorithm))
            .unwrap_or(alg),
        validity_days: opts.ca_days.unwrap_or_else(|| lifetime_days(&root_info)),
    };
    let old_root = CaMaterial {
        cert_pem: root_pem,
        key_pem: root_key,
    };
    let (new_root, new_inter) = tokio::task::spawn_blocking(move || -> Result<_> {
        match kind {
            RotationKind::Root => {
                let root = pki::create_root(&root_params, now)?;
                let inter = if root_only {
                    None
                } else {
                    Some(pki::create_intermediate(&root, &inter_params, now)?)
                };
                Ok((Some(root), inter))
            }
            _ => Ok((
                None,
                Some(pki::create_intermediate(&old_root, &inter_params, now)?),
            )),
        }
    })
    .await
    .map_err(|e| Error::Io(format!("key generation task failed: {e}")))??;
    if let Some(inter) = &new_inter {
        vault
            .put(&VaultItem::NextIntermediateKey, &inter.key_pem, true)
            .await?;
    }
    if let Some(root) = &new_root {
        vault
            .put(&VaultItem::NextRootKey, &root.key_pem, true)
            .await?;
    }
    if let Some(inter) = &new_inter {
        vault
            .put(&VaultItem::NextIntermediateCert, &inter.cert_pem, true)
            .await?;
    }
    if let Some(root) = &new_root {
        vault
            .put(&VaultItem::NextRootCert, &root.cert_pem, true)
            .await?;
    }
    let issuing = new_inter
        .as_ref()
        .or(new_root.as_ref())
        .map(|m| pki::inspect(m.cert_pem.as_bytes()))
        .transpose()?
        .ok_or_else(|| Error::Io("no new CA was created".into()))?;
    j.new_issuer = Some(issuing.fingerprint_sha256.clone());
    j.new_issuer_subject = Some(issuing.subject.clone());
    Ok(format!(
        "created {} ({}, valid until {}) in {}",
        issuing.subject,
        issuing.key_algorithm,
        crate::timefmt::format(issuing.not_after),
        vault.name_of(if new_inter.is_some() {
            &VaultItem::NextIntermediateCert
        } else {
            &VaultItem::NextRootCert
        })
    ))
}

/// Which CA issued a roster item: its recorded issuer fingerprint, else the issuer DN
/// (recorded, or read from the PEM) matched against the CAs in play.
fn issuer_of(rec: &CertRecord, cas: &[(String, String)]) -> Option<String> {
    if let Some(fp) = &rec.issuer_fingerprint {
        return Some(fp.clone());
    }
    let dn = rec.issuer.clone().or_else(|| {
        rec.cert_pem
            .as_deref()
            .and_then(|pem| pki::inspect(pem.as_bytes()).ok())
            .map(|i| i.issuer)
    })?;
    cas.iter()
        .find(|(_, subject)| *subject == dn)
        .map(|(fp, _)| fp.clone())
}

/// A client's current cert: its newest active cert the authorizer accepts that has not been
/// replaced (a superseded cert in its grace period does not count).
fn current_of(certs: &[&CertRecord], now: OffsetDateTime) -> Option<CertRecord> {
    certs
        .iter()
        .filter(|c| c.authorizer_allows(now) && c.replaced_by.is_none())
        .max_by_key(|c| c.issued_at)
        .map(|c| (*c).clone())
}

/// What the move phase would do now: the certs to re-issue, and clients it cannot move.
struct MovePlan {
    to_move: Vec<CertRecord>,
    skipped: Vec<(String, String)>,
}

fn selected(j: &RotationJournal, rec: &CertRecord) -> bool {
    match &j.selection {
        ClientSelection::All => true,
        ClientSelection::Ids(ids) => ids.contains(&rec.client_id),
        ClientSelection::DueWithinDays(days) => {
            rec.expiry <= j.started_at + Duration::days(i64::from(*days))
        }
    }
}

/// The CA fingerprints clients move from and to in the journal's current direction.
fn direction(j: &RotationJournal) -> (String, String) {
    // Before the new CA exists nothing is on it yet.
    let new = j.new_issuer.clone().unwrap_or_default();
    if j.rolling_back {
        (new, j.old_issuer.clone())
    } else {
        (j.old_issuer.clone(), new)
    }
}

fn known_cas(j: &RotationJournal) -> Vec<(String, String)> {
    let mut cas = vec![(j.old_issuer.clone(), j.old_issuer_subject.clone())];
    if let (Some(fp), Some(subject)) = (&j.new_issuer, &j.new_issuer_subject) {
        cas.push((fp.clone(), subject.clone()));
    }
    cas
}

async fn plan_moves(ctx: &Ctx, j: &RotationJournal) -> Result<MovePlan> {
    let now = ctx.now();
    let records = ctx.backend.roster.list(true).await?;
    let cas = known_cas(j);
    let (from, to) = direction(j);
    let mut by_client: HashMap<&str, Vec<&CertRecord>> = HashMap::new();
    for rec in &records {
        by_client
            .entry(rec.client_id.as_str())
            .or_default()
            .push(rec);
    }
    let mut plan = MovePlan {
        to_move: Vec::new(),
        skipped: Vec::new(),
    };
    let mut ids: Vec<&str> = by_client.keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let Some(cur) = current_of(&by_client[id], now) else {
            continue;
        };
        if j.kind == RotationKind::Clients {
            if cur.issued_at < j.started_at && selected(j, &cur) {
                plan.to_move.push(cur);
            }
            continue;
        }
        match issuer_of(&cur, &cas) {
            Some(fp) if fp == to => {}
            Some(fp) if fp == from => plan.to_move.push(cur),
            // Legacy items that record no issuer were issued by the CA being replaced.
            None if !j.rolling_back => plan.to_move.push(cur),
            other => plan.skipped.push((
                id.to_string(),
                format!(
                    "its cert (serial {}) comes from {}, which this rotation does not move",
                    cur.serial,
                    other.unwrap_or_else(|| "an unknown CA".into())
                ),
            )),
        }
    }
    Ok(plan)
}

/// The move phase: re-issues every client still on the old CA under the new one, at most
/// `concurrency` at once. Clients that failed (a throttled or dropped call) get two more
/// passes. Returns the number moved and the clients that still failed.
async fn move_clients(
    ctx: &Ctx,
    j: &mut RotationJournal,
    opts: &RotationOptions,
) -> Result<(usize, Vec<(String, String)>)> {
    let target = if j.kind == RotationKind::Clients || j.rolling_back {
        load_current_issuer(ctx, ctx.now()).await?
    } else {
        load_next_issuer(ctx, j.kind, ctx.now()).await?
    };
    let reissue_opts = ReissueOptions {
        rekey: j.rekey,
        grace: Some(j.grace()),
        days: j.client_days,
        key_algorithm: None,
    };
    let mut moved = 0;
    let mut failed = Vec::new();
    for pass in 0..3 {
        let plan = plan_moves(ctx, j).await?;
        let total = plan.to_move.len();
        if total > 0 && j.first_move_at.is_none() {
            j.first_move_at = Some(ctx.now());
            journal::save(ctx, j).await?;
        }
        if pass > 0 {
            tracing::warn!(
                pass,
                clients = total,
                "retrying clients that failed to move"
            );
        }
        if let Some(cb) = &opts.progress {
            cb(0, total);
        }
        let target_ref: &Issuer = &target;
        let ropts = &reissue_opts;
        let mut stream = futures::stream::iter(plan.to_move.into_iter().map(|rec| async move {
            let id = rec.client_id.clone();
            (id, reissue_record(ctx, target_ref, rec, ropts).await)
        }))
        .buffer_unordered(opts.concurrency.max(1));
        failed.clear();
        let mut done = 0;
        while let Some((id, result)) = stream.next().await {
            match result {
                Ok(_) => moved += 1,
                Err(e) => failed.push((id, e.to_string())),
            }
            done += 1;
            if let Some(cb) = &opts.progress {
                cb(done, total);
            }
        }
        if failed.is_empty() {
            break;
        }
    }
    failed.sort();
    Ok((moved, failed))
}

/// Revokes the certs the rotation superseded (they are past their grace period by now),
/// each client under its claim, with an audit record per cert.
async fn revoke_superseded(
    ctx: &Ctx,
    j: &RotationJournal,
    opts: &RotationOptions,
) -> Result<usize> {
    let records = ctx.roster(true).await?;
    let cas = known_cas(j);
    let (from, _) = direction(j);
    let mut targets: HashMap<String, HashSet<String>> = HashMap::new();
    for r in records
        .into_iter()
        .filter(|r| r.status == CertStatus::Active)
        .filter(|r| match j.kind {
            RotationKind::Clients => {
                r.replaced_by.is_some() && r.issued_at < j.started_at && selected(j, r)
            }
            _ => issuer_of(r, &cas).is_none_or(|fp| fp == from) && r.replaced_by.is_some(),
        })
    {
        targets.entry(r.client_id).or_default().insert(r.serial);
    }
    let detail = format!("rotation {}: grace period over", j.id);
    let detail = detail.as_str();
    let mut stream =
        futures::stream::iter(targets.into_iter().map(|(client, serials)| async move {
            super::lifecycle::revoke_client_certs(
                ctx,
                &client,
                &client,
                |c| serials.contains(&c.serial),
                RevocationReason::Superseded,
                None,
                Some(detail),
            )
            .await
        }))
        .buffer_unordered(opts.concurrency.max(1));
    let mut count = 0;
    while let Some(res) = stream.next().await {
        match res {
            // Nothing left when someone else revoked them meanwhile: the goal is reached.
            Ok((revoked, _)) => count += revoked.len(),
            Err(e) => return Err(e),
        }
    }
    Ok(count)
}

/// Makes the new CA the CA: copies the `next` slots over the current ones (keys first).
async fn promote(ctx: &Ctx, j: &RotationJournal) -> Result<String> {
    let vault = &ctx.backend.vault;
    // Keys before certificates: a CA is only seen as changed once its certificate is.
    let inter = vault.get(&VaultItem::NextIntermediateCert).await?.is_some();
    let root = j.kind == RotationKind::Root;
    let pairs = [
        (
            inter,
            VaultItem::NextIntermediateKey,
            VaultItem::IntermediateKey,
        ),
        (root, VaultItem::NextRootKey, VaultItem::RootKey),
        (
            inter,
            VaultItem::NextIntermediateCert,
            VaultItem::IntermediateCert,
        ),
        (root, VaultItem::NextRootCert, VaultItem::RootCert),
    ]
    .into_iter()
    .filter_map(|(wanted, from, to)| wanted.then_some((from, to)));
    let mut names = Vec::new();
    for (from, to) in pairs {
        let value = vault.get(&from).await?.ok_or_else(|| {
            Error::NotFound(format!(
                "{} is missing while the rotation promotes it; restore it from the parameter's history",
                vault.name_of(&from)
            ))
        })?;
        vault.put(&to, &value, true).await?;
        names.push(vault.name_of(&to));
    }
    Ok(format!(
        "{} is now the CA ({})",
        j.new_issuer_subject.as_deref().unwrap_or("the new CA"),
        names.join(", ")
    ))
}

async fn clear_next(ctx: &Ctx) -> Result<()> {
    for item in [
        VaultItem::NextIntermediateKey,
        VaultItem::NextIntermediateCert,
        VaultItem::NextRootKey,
        VaultItem::NextRootCert,
    ] {
        ctx.backend.vault.delete(&item).await?;
    }
    Ok(())
}

/// The last step of every rotation: the vault and the client heads follow the roster
/// (`repair`); returns what it did, for the step's detail.
async fn reconcile(ctx: &Ctx) -> Result<String> {
    let report = super::repair::repair_clients(ctx, None, true).await?;
    let fixed = report.findings.iter().filter(|f| f.fixed).count();
    let open: Vec<String> = report
        .findings
        .iter()
        .filter(|f| !f.fixed)
        .map(|f| format!("{}: {}", f.client_id, f.problem))
        .collect();
    for left in &open {
        ctx.warn(format!("repair after the rotation left: {left}"));
    }
    Ok(format!(
        "vault checked against the roster for {} client(s): {fixed} repaired, {} left for an operator (`repair --dry-run`)",
        report.clients,
        open.len()
    ))
}

/// Before clients move to a new CA, the gateway must serve a bundle that trusts it.
async fn domain_ready(ctx: &Ctx, j: &RotationJournal) -> Result<Option<String>> {
    let (Some(name), Some(version)) = (&ctx.env.gateway_domain, &j.published_version) else {
        return Ok(None);
    };
    let domain = ctx.backend.gateway.domain(name).await?;
    if domain.truststore_version.as_deref() != Some(version.as_str()) {
        return Ok(Some(format!(
            "domain {name} serves truststore version {} rather than {version}",
            domain.truststore_version.as_deref().unwrap_or("(none)")
        )));
    }
    match domain.status.as_deref() {
        Some("AVAILABLE") | None => Ok(None),
        Some(status) => Ok(Some(format!(
            "domain {name} is {status}; clients move once it is AVAILABLE"
        ))),
    }
}

fn step(steps: &mut Vec<RotationStep>, phase: RotationPhase, detail: impl Into<String>) {
    let detail = detail.into();
    tracing::info!(phase = phase.as_str(), %detail, "rotation step");
    steps.push(RotationStep { phase, detail });
}

/// Refuses a grace or validity out of range before anything is read or changed.
fn check_options(opts: &RotationOptions) -> Result<()> {
    super::limits::grace(opts.grace)?;
    if let Some(days) = opts.client_days {
        super::limits::client_days(days)?;
    }
    if let Some(days) = opts.ca_days {
        super::limits::ca_days("the new CA's", days)?;
    }
    Ok(())
}

/// The journal of a rotation of `kind` about to start from the vault's current CA.
async fn new_journal(
    ctx: &Ctx,
    kind: RotationKind,
    opts: &RotationOptions,
) -> Result<RotationJournal> {
    // Roster times are whole seconds: starting on a second boundary keeps every cert issued
    // before the start strictly before it, and every cert the rotation issues at or after it.
    let now = ctx.now().replace_nanosecond(0).unwrap_or(ctx.now());
    let current = load_current_issuer(ctx, now).await?;
    if kind == RotationKind::Intermediate && current.root_only {
        return Err(Error::Invalid(
            "this hierarchy is root-only (the root signs client certs): there is no intermediate \
             to rotate; use `ca rotate-root`"
                .into(),
        ));
    }
    let same_ca = kind == RotationKind::Clients;
    Ok(RotationJournal {
        id: format!(
            "{}-{}",
            kind.as_str(),
            crate::timefmt::format(now)
                .replace([':', '-'], "")
                .trim_end_matches('Z')
        ),
        kind,
        phase: RotationPhase::Started,
        rolling_back: false,
        started_at: now,
        started_by: ctx.backend.operator.clone(),
        updated_at: now,
        grace_secs: opts.grace.whole_seconds(),
        rekey: opts.rekey,
        client_days: opts.client_days,
        old_issuer: current.info.fingerprint_sha256.clone(),
        old_issuer_subject: current.info.subject.clone(),
        new_issuer: same_ca.then(|| current.info.fingerprint_sha256.clone()),
        new_issuer_subject: same_ca.then(|| current.info.subject.clone()),
        selection: opts.selection.clone(),
        first_move_at: None,
        grace_until: None,
        published_version: None,
        moved: 0,
        stored_version: 0,
    })
}

/// The rotation in the journal (finished ones included), if any.
pub async fn rotation_status(ctx: &Ctx) -> Result<Option<RotationJournal>> {
    journal::load(ctx).await
}

/// Starts a rotation of `kind` (refused while another one is unfinished).
async fn start(ctx: &Ctx, kind: RotationKind, opts: &RotationOptions) -> Result<RotationJournal> {
    let previous = journal::load(ctx).await?;
    if let Some(j) = &previous
        && !j.phase.is_terminal()
    {
        return Err(Error::conflict(
            crate::store::Contended::Journal,
            format!(
                "a {} rotation ({}) is in phase {} since {}; `{} --resume` continues it, `--abort` ends it",
                j.kind.as_str(),
                j.id,
                j.phase.as_str(),
                crate::timefmt::format(j.updated_at),
                j.kind.command()
            ),
        ));
    }
    if opts.grace < Duration::ZERO {
        return Err(Error::Invalid("the grace period cannot be negative".into()));
    }
    if let ClientSelection::Ids(ids) = &opts.selection {
        for id in ids {
            super::validate_client_id(id)?;
        }
    }
    if ctx.clock.is_none() {
        let now = ctx.now();
        let into_second = now - now.replace_nanosecond(0).unwrap_or(now);
        tokio::time::sleep((Duration::SECOND - into_second).unsigned_abs()).await;
    }
    let mut j = new_journal(ctx, kind, opts).await?;
    j.stored_version = previous.map_or(0, |p| p.stored_version);
    let text = serde_json::to_string(&j).unwrap_or_default();
    if text.len() > MAX_JOURNAL_BYTES {
        return Err(Error::Invalid(format!(
            "the selection is too long to journal ({} bytes, at most {MAX_JOURNAL_BYTES}); \
             select fewer clients at once, or use --all / --due-within",
            text.len()
        )));
    }
    journal::save(ctx, &mut j).await?;
    ctx.audit(
        "rotation.start",
        &j.id,
        crate::model::AuditOutcome::Ok,
        format!(
            "{} rotation from {}; grace {}s{}",
            kind.as_str(),
            j.old_issuer_subject,
            j.grace_secs,
            if j.rekey { ", new keys" } else { "" }
        ),
    )
    .await?;
    Ok(j)
}

/// Starts (or with `resume`, continues) a rotation and runs its phases until it is done,
/// reaches `stop_after`, or must wait for the grace period or the gateway. Runs under the CA
/// lease: a second run at the same time is refused, naming this one.
pub async fn rotation_run(
    ctx: &Ctx,
    kind: RotationKind,
    opts: &RotationOptions,
    resume: bool,
) -> Result<RotationReport> {
    ctx.require_writable("rotation")?;
    check_options(opts)?;
    let purpose = format!(
        "{} {}",
        kind.command(),
        if resume { "--resume" } else { "(start)" }
    );
    lease::exclusive(ctx, &purpose, |ctx| async move {
        run_phases(&ctx, kind, opts, resume).await
    })
    .await
}

async fn run_phases(
    ctx: &Ctx,
    kind: RotationKind,
    opts: &RotationOptions,
    resume: bool,
) -> Result<RotationReport> {
    let mut j = if resume {
        let j = journal::load(ctx).await?.filter(|j| !j.phase.is_terminal());
        match j {
            Some(j) if j.kind == kind => j,
            Some(j) => {
                return Err(Error::conflict(
                    crate::store::Contended::Journal,
                    format!(
                        "the rotation in progress is a {} rotation ({}); resume it with `{} --resume`",
                        j.kind.as_str(),
                        j.id,
                        j.kind.command()
                    ),
                ));
            }
            None => {
                return Err(Error::NotFound(format!(
                    "no {} rotation is in progress in environment '{}'; start one without --resume",
                    kind.as_str(),
                    ctx.env.name
                )));
            }
        }
    } else {
        start(ctx, kind, opts).await?
    };
    let mut steps = Vec::new();
    let mut failed = Vec::new();
    let mut waiting_until = None;
    while let Some(next) = j.next_step() {
        if opts.stop_after.is_some_and(|stop| j.phase >= stop) {
            break;
        }
        ctx.check_lease()?;
        let detail = match next {
            RotationPhase::Prepared => prepare(ctx, &mut j, opts).await?,
            RotationPhase::Published => {
                let published = truststore_publish(ctx, false).await?;
                j.published_version = Some(published.version.version_id.clone());
                format!(
                    "published truststore version {} trusting {} and {}{}",
                    published.version.version_id,
                    j.old_issuer_subject,
                    j.new_issuer_subject.as_deref().unwrap_or("the new CA"),
                    match &published.domain {
                        Some(d) if d.warnings.is_empty() =>
                            format!("; domain {} points at it", d.domain),
                        Some(d) => format!(
                            "; domain {} points at it; API Gateway warned: {}",
                            d.domain,
                            d.warnings.join("; ")
                        ),
                        None => String::new(),
                    }
                )
            }
            RotationPhase::Moved => {
                if j.kind != RotationKind::Clients
                    && !j.rolling_back
                    && let Some(why) = domain_ready(ctx, &j).await?
                {
                    return Err(Error::conflict(
                        crate::store::Contended::Journal,
                        format!(
                            "clients are not moved yet: {why}. Wait for the gateway, then `{} --resume`",
                            j.kind.command()
                        ),
                    ));
                }
                let (moved, fails) = move_clients(ctx, &mut j, opts).await?;
                j.moved += moved as u64;
                if !fails.is_empty() {
                    failed = fails;
                    journal::save(ctx, &mut j).await?;
                    step(
                        &mut steps,
                        j.phase,
                        format!(
                            "moved {moved} client(s); {} failed and stay on their current cert: `{} --resume` retries them",
                            failed.len(),
                            j.kind.command()
                        ),
                    );
                    break;
                }
                let now = ctx.now();
                j.grace_until = Some(if j.first_move_at.is_some() {
                    now + j.grace()
                } else {
                    now
                });
                format!(
                    "{} client(s) re-issued under {} ({moved} in this run); superseded certs stay valid until {}",
                    j.moved,
                    if j.rolling_back {
                        j.old_issuer_subject.as_str()
                    } else {
                        j.new_issuer_subject.as_deref().unwrap_or("the new CA")
                    },
                    crate::timefmt::format(j.grace_until.unwrap_or(now))
                )
            }
            RotationPhase::Promoted | RotationPhase::Done if j.phase == RotationPhase::Moved => {
                let now = ctx.now();
                if let Some(until) = j.grace_until
                    && now < until
                    && !opts.force
                {
                    waiting_until = Some(until);
                    break;
                }
                // Clients issued under the old CA since the move (by a console that loaded
                // it before the bundle was published) are moved now, with a fresh grace.
                let (late, fails) = move_clients(ctx, &mut j, opts).await?;
                if late > 0 || !fails.is_empty() {
                    j.moved += late as u64;
                    j.grace_until = Some(now + j.grace());
                    failed = fails;
                    journal::save(ctx, &mut j).await?;
                    step(
                        &mut steps,
                        j.phase,
                        format!(
                            "{late} client(s) were still on the old CA and were moved now; the rotation finishes after {}",
                            crate::timefmt::format(now + j.grace())
                        ),
                    );
                    if failed.is_empty() && !opts.force {
                        waiting_until = j.grace_until;
                    }
                    break;
                }
                let revoked = revoke_superseded(ctx, &j, opts).await?;
                let mut detail = format!("revoked {revoked} superseded cert(s)");
                if j.kind != RotationKind::Clients && !j.rolling_back {
                    ctx.check_lease()?;
                    detail.push_str("; ");
                    detail.push_str(&promote(ctx, &j).await?);
                }
                if j.kind == RotationKind::Clients {
                    detail.push_str("; ");
                    detail.push_str(&reconcile(ctx).await?);
                    j.phase = RotationPhase::Done;
                    journal::save(ctx, &mut j).await?;
                    step(&mut steps, RotationPhase::Done, detail);
                    continue;
                }
                detail
            }
            RotationPhase::Done => {
                let published = truststore_publish(ctx, false).await?;
                j.published_version = Some(published.version.version_id.clone());
                ctx.check_lease()?;
                clear_next(ctx).await?;
                let detail = format!(
                    "published truststore version {} without {}; {}",
                    published.version.version_id,
                    if j.rolling_back {
                        j.new_issuer_subject.as_deref().unwrap_or("the new CA")
                    } else {
                        j.old_issuer_subject.as_str()
                    },
                    reconcile(ctx).await?
                );
                if j.rolling_back {
                    j.phase = RotationPhase::Aborted;
                    journal::save(ctx, &mut j).await?;
                    step(&mut steps, RotationPhase::Aborted, detail);
                    continue;
                }
                detail
            }
            RotationPhase::Started | RotationPhase::Promoted | RotationPhase::Aborted => {
                return Err(Error::Io(format!(
                    "the rotation journal is in an unexpected state ({} -> {})",
                    j.phase.as_str(),
                    next.as_str()
                )));
            }
        };
        j.phase = next;
        journal::save(ctx, &mut j).await?;
        step(&mut steps, next, detail);
    }
    if !steps.is_empty() {
        let summary: Vec<String> = steps
            .iter()
            .map(|s| format!("{}: {}", s.phase.as_str(), s.detail))
            .collect();
        ctx.audit(
            "rotation.step",
            &j.id,
            if failed.is_empty() {
                crate::model::AuditOutcome::Ok
            } else {
                crate::model::AuditOutcome::Failed
            },
            summary.join(" | "),
        )
        .await?;
    }
    Ok(RotationReport {
        journal: j,
        steps,
        failed,
        waiting_until,
    })
}

/// Ends the rotation in progress. Before any client moved, the new CA is dropped at once.
/// After, the rotation turns around: `--resume` moves those clients back (with the grace
/// period) and then drops the new CA. Refused once the new CA is the CA. Runs under the CA
/// lease.
pub async fn rotation_abort(ctx: &Ctx) -> Result<RotationReport> {
    ctx.require_writable("rotation abort")?;
    lease::exclusive(ctx, "rotation --abort", |ctx| async move {
        abort_locked(&ctx).await
    })
    .await
}

async fn abort_locked(ctx: &Ctx) -> Result<RotationReport> {
    let Some(mut j) = journal::load(ctx).await?.filter(|j| !j.phase.is_terminal()) else {
        return Err(Error::NotFound(format!(
            "no rotation is in progress in environment '{}'",
            ctx.env.name
        )));
    };
    let mut steps = Vec::new();
    if j.rolling_back {
        return Err(Error::conflict(
            crate::store::Contended::Journal,
            format!(
                "the rotation {} is already being rolled back; `{} --resume` finishes it",
                j.id,
                j.kind.command()
            ),
        ));
    }
    match (j.kind, j.phase) {
        (RotationKind::Clients, _) | (_, RotationPhase::Started | RotationPhase::Prepared) => {
            if j.kind != RotationKind::Clients {
                clear_next(ctx).await?;
            }
            j.phase = RotationPhase::Aborted;
            journal::save(ctx, &mut j).await?;
            step(
                &mut steps,
                RotationPhase::Aborted,
                if j.kind == RotationKind::Clients {
                    "stopped; renewed clients keep their new certs and their old ones stay valid until the grace period ends"
                } else {
                    "the new CA was removed from the vault; nothing had been published"
                },
            );
        }
        (_, RotationPhase::Published | RotationPhase::Moved) => {
            j.rolling_back = true;
            j.phase = RotationPhase::Published;
            j.first_move_at = None;
            j.grace_until = None;
            j.moved = 0;
            journal::save(ctx, &mut j).await?;
            step(
                &mut steps,
                RotationPhase::Published,
                format!(
                    "rolling back: `{} --resume` moves clients back to {} (old certs kept for the grace period), then drops the new CA from the truststore",
                    j.kind.command(),
                    j.old_issuer_subject
                ),
            );
        }
        _ => {
            return Err(Error::conflict(
                crate::store::Contended::Journal,
                format!(
                    "the new CA is already the CA (phase {}); `{} --resume` finishes publishing, and \
                 going back takes a new rotation",
                    j.phase.as_str(),
                    j.kind.command()
                ),
            ));
        }
    }
    ctx.audit(
        "rotation.abort",
        &j.id,
        crate::model::AuditOutcome::Ok,
        steps
            .iter()
            .map(|s| s.detail.clone())
            .collect::<Vec<_>>()
            .join(" | "),
    )
    .await?;
    Ok(RotationReport {
        journal: j,
        steps,
        failed: Vec::new(),
        waiting_until: None,
    })
}

/// The dry run of the next `rotation_run`: what each phase would change. Changes nothing.
pub async fn rotation_plan(
    ctx: &Ctx,
    kind: RotationKind,
    opts: &RotationOptions,
    resume: bool,
) -> Result<RotationPlan> {
    check_options(opts)?;
    let journal = journal::load(ctx).await?.filter(|j| !j.phase.is_terminal());
    let j = match (&journal, resume) {
        (Some(j), true) => j.clone(),
        (Some(j), false) => {
            return Err(Error::conflict(
                crate::store::Contended::Journal,
                format!(
                    "a {} rotation ({}) is in phase {}; plan the rest with `{} --resume --dry-run`",
                    j.kind.as_str(),
                    j.id,
                    j.phase.as_str(),
                    j.kind.command()
                ),
            ));
        }
        (None, true) => {
            return Err(Error::NotFound(format!(
                "no {} rotation is in progress in environment '{}'",
                kind.as_str(),
                ctx.env.name
            )));
        }
        (None, false) => new_journal(ctx, kind, opts).await?,
    };
    let moves = plan_moves(ctx, &j).await?;
    // The client's cert, plus its new key when the server generates one.
    let vault_writes = moves.to_move.len() * (1 + usize::from(j.rekey));
    let mut steps = Vec::new();
    let mut phase = j.phase;
    let grace = crate::timefmt::duration(j.grace());
    while let Some(next) = (RotationJournal { phase, ..j.clone() }).next_step() {
        if opts.stop_after.is_some_and(|stop| phase >= stop) {
            break;
        }
        let detail = match next {
            RotationPhase::Prepared => format!(
                "create a new {} signed by {}, store it in the vault's next-* slots (the current CA keeps issuing)",
                if kind == RotationKind::Root { "root" } else { "intermediate" },
                if kind == RotationKind::Root { "itself" } else { "the current root" }
            ),
            RotationPhase::Published => format!(
                "publish a truststore trusting both CAs (+ pinned CAs){}; from then on new certs come from the new CA",
                match &ctx.env.gateway_domain {
                    Some(d) => format!(" and point domain {d} at it (UpdateDomainName, about one call per 30 s)"),
                    None => String::new(),
                }
            ),
            RotationPhase::Moved => format!(
                "re-issue {} client(s) ({}), {} at once; each old cert stays valid {grace} longer (its expiry) so the client can fetch the new one{}",
                moves.to_move.len(),
                if j.rekey { "new keys" } else { "same keys" },
                opts.concurrency.max(1),
                if moves.skipped.is_empty() {
                    String::new()
                } else {
                    format!("; {} client(s) skipped", moves.skipped.len())
                }
            ),
            RotationPhase::Promoted => format!(
                "after the grace period ({grace} after the last move): revoke the superseded certs and make the new CA the vault's CA"
            ),
            RotationPhase::Done if j.kind == RotationKind::Clients => format!(
                "after the grace period ({grace} after the last renewal): revoke the superseded certs"
            ),
            RotationPhase::Done => "publish the truststore without the old CA (domain pointed at it) and remove the next-* slots".into(),
            RotationPhase::Started | RotationPhase::Aborted => String::new(),
        };
        steps.push(RotationStep {
            phase: next,
            detail,
        });
        phase = next;
    }
    Ok(RotationPlan {
        kind,
        journal,
        steps,
        clients_to_move: moves.to_move.len(),
        skipped: moves.skipped,
        vault_writes,
    })
}

/// Active clients whose current cert expires within `days`, soonest first.
pub async fn due_for_renewal(ctx: &Ctx, days: u32) -> Result<Vec<CertRecord>> {
    let now = ctx.now();
    let limit = now + Duration::days(i64::from(days));
    let mut rows: Vec<CertRecord> = super::latest_per_client(ctx.backend.roster.list(false).await?)
        .into_iter()
        .filter(|r| r.authorizer_allows(now) && r.expiry <= limit)
        .collect();
    rows.sort_by(|a, b| a.expiry.cmp(&b.expiry).then(a.client_id.cmp(&b.client_id)));
    Ok(rows)
}

/// The CAs the vault holds, by slot name.
async fn vault_cas(ctx: &Ctx) -> Result<Vec<(&'static str, pki::CertInfo)>> {
    let vault = &ctx.backend.vault;
    let mut cas = Vec::new();
    for (name, item) in [
        ("intermediate", VaultItem::IntermediateCert),
        ("root", VaultItem::RootCert),
        ("next", VaultItem::NextIntermediateCert),
        ("next-root", VaultItem::NextRootCert),
    ] {
        if let Some(pem) = vault.get(&item).await? {
            cas.push((name, pki::inspect(pem.as_bytes())?));
        }
    }
    Ok(cas)
}

/// Finds a CA by `intermediate`, `root`, `next`, a SHA-256 fingerprint (hex, colons optional,
/// at least 8 digits of its start) or an exact subject DN, among the CAs the vault holds.
fn find_ca(cas: &[(&str, pki::CertInfo)], which: &str) -> Result<pki::CertInfo> {
    if let Some((_, info)) = cas.iter().find(|(n, _)| *n == which) {
        return Ok(info.clone());
    }
    let hex: String = which
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    let by_fp = |info: &pki::CertInfo| {
        hex.len() >= 8
            && hex.chars().all(|c| c.is_ascii_hexdigit())
            && info
                .fingerprint_sha256
                .replace(':', "")
                .to_ascii_lowercase()
                .starts_with(&hex)
    };
    if let Some((_, info)) = cas
        .iter()
        .find(|(_, i)| by_fp(i) || i.subject == which.trim())
    {
        return Ok(info.clone());
    }
    Err(Error::NotFound(format!(
        "no CA '{which}' in the vault; name it `intermediate`, `root`, `next`, by its SHA-256 \
         fingerprint or its subject (`ca show` lists them)"
    )))
}

/// A CA and every CA of the vault under it: a root brings the intermediates it signed, so
/// revoking by a root reaches every client cert that chains to it.
fn ca_and_below(ca: &pki::CertInfo, cas: &[(&str, pki::CertInfo)]) -> Vec<pki::CertInfo> {
    let mut out = vec![ca.clone()];
    if ca.self_signed {
        for (_, other) in cas {
            if !other.self_signed
                && other.issuer == ca.subject
                && !out
                    .iter()
                    .any(|o| o.fingerprint_sha256 == other.fingerprint_sha256)
            {
                out.push(other.clone());
            }
        }
    }
    out
}

/// Does revoking by CA for this reason mean the CA itself must no longer issue?
fn compromises_the_ca(reason: RevocationReason) -> bool {
    matches!(
        reason,
        RevocationReason::CaCompromise
            | RevocationReason::KeyCompromise
            | RevocationReason::AaCompromise
    )
}

/// Emergency switch for a compromised CA: revokes every active cert it issued (for a root,
/// every cert under it, its intermediates' included), at most `concurrency` clients at once,
/// each with the client's head and an audit record per cert. With a compromise reason the CA
/// (and the CAs under it) is marked compromised, and nothing is issued from it until it is
/// rotated. With `dry_run`, only counts. Runs under the CA lease.
pub async fn revoke_issued_by(
    ctx: &Ctx,
    ca: &str,
    reason: RevocationReason,
    note: Option<&str>,
    dry_run: bool,
    concurrency: usize,
) -> Result<RevokeByCaReport> {
    if let Some(note) = note {
        super::validate_note(note)?;
    }
    let cas = vault_cas(ctx).await?;
    let info = find_ca(&cas, ca)?;
    let below = ca_and_below(&info, &cas);
    let known: Vec<(String, String)> = cas
        .iter()
        .map(|(_, i)| (i.fingerprint_sha256.clone(), i.subject.clone()))
        .collect();
    let fingerprints: HashSet<&str> = below
        .iter()
        .map(|i| i.fingerprint_sha256.as_str())
        .collect();
    let records = ctx.roster(false).await?;
    let mut by_client: HashMap<String, HashSet<String>> = HashMap::new();
    let mut matching = 0;
    for r in records
        .into_iter()
        .filter(|r| r.status == CertStatus::Active)
    {
        if issuer_of(&r, &known).is_some_and(|fp| fingerprints.contains(fp.as_str())) {
            matching += 1;
            by_client.entry(r.client_id).or_default().insert(r.serial);
        }
    }
    let mut clients: Vec<String> = by_client.keys().cloned().collect();
    clients.sort();
    let mut report = RevokeByCaReport {
        ca_subject: info.subject.clone(),
        ca_fingerprint: info.fingerprint_sha256.clone(),
        dry_run,
        matching,
        clients,
        revoked: 0,
        failed: Vec::new(),
        marked_compromised: Vec::new(),
        takes_effect: None,
    };
    if dry_run {
        return Ok(report);
    }
    ctx.require_writable("revoke --issued-by")?;
    let purpose = format!("revoke --issued-by {}", info.subject);
    let mut report = lease::exclusive(ctx, &purpose, |ctx| async move {
        let detail = format!("issued by {} ({})", info.subject, info.fingerprint_sha256);
        let detail = detail.as_str();
        let ctx = &ctx;
        let mut stream =
            futures::stream::iter(by_client.into_iter().map(|(client, serials)| async move {
                let res = super::lifecycle::revoke_client_certs(
                    ctx,
                    &client,
                    &client,
                    |c| serials.contains(&c.serial),
                    reason,
                    note,
                    Some(detail),
                )
                .await;
                (client, res)
            }))
            .buffer_unordered(concurrency.max(1));
        while let Some((client, res)) = stream.next().await {
            match res {
                Ok((revoked, _)) => report.revoked += revoked.len(),
                Err(e) => report.failed.push((client, e.to_string())),
            }
        }
        report.failed.sort();
        if compromises_the_ca(reason) {
            super::ca::mark_compromised(ctx, &below, reason).await?;
            report.marked_compromised = below.iter().map(|i| i.subject.clone()).collect();
        }
        ctx.audit(
            "revoke.issued-by",
            &info.subject,
            if report.failed.is_empty() {
                crate::model::AuditOutcome::Ok
            } else {
                crate::model::AuditOutcome::Failed
            },
            format!(
                "{} of {} active cert(s) revoked ({}); {} client(s) failed{}",
                report.revoked,
                report.matching,
                reason.as_str(),
                report.failed.len(),
                if report.marked_compromised.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; marked compromised: {}",
                        report.marked_compromised.join("; ")
                    )
                }
            ),
        )
        .await?;
        Ok(report)
    })
    .await?;
    // Timed from the end of the run: every revoke bites by then at the latest.
    report.takes_effect = Some(super::revocation_latency(ctx).await.effect(ctx.now()));
    Ok(report)
}
