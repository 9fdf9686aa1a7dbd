//! The rotation journal: the plan and progress of the rotation in progress (or the last
//! one), a JSON document in the console's coordination state. Saves are conditional on the
//! version read and fenced by the CA lease, so two runs never both advance one rotation.
//! A journal an older console left in the vault (`ca/rotation/journal`) is read until the
//! first save moves it.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::Ctx;
use crate::error::{Error, Result};
use crate::model::VaultItem;
use crate::pki;
use crate::store::{Contended, JOURNAL_DOC};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RotationKind {
    /// New intermediate under the same root.
    Intermediate,
    /// New root (and a new intermediate under it in a three-tier hierarchy).
    Root,
    /// New certs for selected clients from the same CA.
    Clients,
}

impl RotationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RotationKind::Intermediate => "intermediate",
            RotationKind::Root => "root",
            RotationKind::Clients => "clients",
        }
    }

    /// The CLI command that runs this kind of rotation.
    pub fn command(self) -> &'static str {
        match self {
            RotationKind::Intermediate => "ca rotate-intermediate",
            RotationKind::Root => "ca rotate-root",
            RotationKind::Clients => "rotate-clients",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RotationPhase {
    Started,
    Prepared,
    Published,
    Moved,
    Promoted,
    Done,
    Aborted,
}

impl RotationPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            RotationPhase::Started => "started",
            RotationPhase::Prepared => "prepared",
            RotationPhase::Published => "published",
            RotationPhase::Moved => "moved",
            RotationPhase::Promoted => "promoted",
            RotationPhase::Done => "done",
            RotationPhase::Aborted => "aborted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            RotationPhase::Started,
            RotationPhase::Prepared,
            RotationPhase::Published,
            RotationPhase::Moved,
            RotationPhase::Promoted,
            RotationPhase::Done,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, RotationPhase::Done | RotationPhase::Aborted)
    }
}

/// Which clients a client rotation renews.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ClientSelection {
    /// Every active client.
    #[default]
    All,
    /// These client ids.
    Ids(Vec<String>),
    /// Clients whose cert expires within this many days of the rotation's start.
    DueWithinDays(u32),
}

/// The journal of a rotation (JSON in the vault's `ca/rotation/journal`; never secrets).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RotationJournal {
    pub id: String,
    pub kind: RotationKind,
    pub phase: RotationPhase,
    /// An abort after clients moved: the steps now move clients back to the current CA.
    pub rolling_back: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    pub started_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// How long a superseded cert stays valid after its client got the new one.
    pub grace_secs: i64,
    pub rekey: bool,
    /// Validity of the new client certs (None: the environment's default).
    pub client_days: Option<u32>,
    /// Fingerprint and subject of the CA clients move away from (the issuing CA at start).
    pub old_issuer: String,
    pub old_issuer_subject: String,
    /// Fingerprint and subject of the CA clients move to (the same for a client rotation).
    pub new_issuer: Option<String>,
    pub new_issuer_subject: Option<String>,
    /// Client rotation: which clients.
    #[serde(default)]
    pub selection: ClientSelection,
    /// When the first client was moved in the current direction (grace is due from then).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub first_move_at: Option<OffsetDateTime>,
    /// Superseded certs may be revoked and the old CA dropped from this time on.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub grace_until: Option<OffsetDateTime>,
    /// The truststore version that trusts both CAs, then the final one.
    pub published_version: Option<String>,
    /// Clients re-issued so far in the current direction.
    #[serde(default)]
    pub moved: u64,
    /// The stored version this journal was read at (its next save is conditional on it).
    #[serde(skip)]
    pub stored_version: u64,
}

impl RotationJournal {
    /// The grace period, within [`super::limits::MAX_GRACE`] (a journal written before the
    /// bound, or by hand, cannot make `--resume` overflow a date).
    pub fn grace(&self) -> Duration {
        Duration::seconds(
            self.grace_secs
                .clamp(0, super::limits::MAX_GRACE.whole_seconds()),
        )
    }

    /// The phase the next `--resume` runs.
    pub fn next_step(&self) -> Option<RotationPhase> {
        let clients = self.kind == RotationKind::Clients;
        match self.phase {
            RotationPhase::Started if clients => Some(RotationPhase::Moved),
            RotationPhase::Started => Some(RotationPhase::Prepared),
            RotationPhase::Prepared => Some(RotationPhase::Published),
            RotationPhase::Published => Some(RotationPhase::Moved),
            RotationPhase::Moved if clients => Some(RotationPhase::Done),
            RotationPhase::Moved => Some(RotationPhase::Promoted),
            RotationPhase::Promoted => Some(RotationPhase::Done),
            RotationPhase::Done | RotationPhase::Aborted => None,
        }
    }
}

/// The journal, if a rotation ever ran.
pub(crate) async fn load(ctx: &Ctx) -> Result<Option<RotationJournal>> {
    let (text, version, legacy) = match ctx.backend.coordination.doc(JOURNAL_DOC).await? {
        Some(doc) => (doc.text, doc.version, false),
        None => match ctx.backend.vault.get(&VaultItem::RotationJournal).await? {
            Some(text) => (text.to_string(), 0, true),
            None => return Ok(None),
        },
    };
    let mut journal: RotationJournal = serde_json::from_str(&text).map_err(|e| {
        Error::Invalid(format!(
            "the rotation journal ({}) is unreadable ({e}); fix or delete it by hand",
            if legacy {
                ctx.backend.vault.name_of(&VaultItem::RotationJournal)
            } else {
                format!("{JOURNAL_DOC} in {}", ctx.backend.coordination.location())
            }
        ))
    })?;
    journal.stored_version = version;
    Ok(Some(journal))
}

/// Saves the journal, conditional on the version it was read at (and on the lease of the
/// context's fence); a lost race is a conflict on the journal.
pub(crate) async fn save(ctx: &Ctx, journal: &mut RotationJournal) -> Result<()> {
    journal.updated_at = ctx.now();
    let text = serde_json::to_string(journal)
        .map_err(|e| Error::Io(format!("cannot encode the rotation journal: {e}")))?;
    ctx.backend
        .coordination
        .put_doc(
            JOURNAL_DOC,
            &text,
            journal.stored_version,
            ctx.fence.as_ref(),
            Contended::Journal,
        )
        .await?;
    if journal.stored_version == 0 {
        // Moved out of the vault, where an older console kept it.
        ctx.backend
            .vault
            .delete(&VaultItem::RotationJournal)
            .await?;
    }
    journal.stored_version += 1;
    Ok(())
}

/// Some(kind) while new certs must come from the rotation's new CA: after the bundle that
/// trusts it is published, unless the rotation is moving clients back.
pub(crate) async fn issuing_with_next(ctx: &Ctx) -> Result<Option<RotationKind>> {
    Ok(load(ctx).await?.and_then(|j| {
        (j.kind != RotationKind::Clients
            && !j.rolling_back
            && matches!(
                j.phase,
                RotationPhase::Published | RotationPhase::Moved | RotationPhase::Promoted
            ))
        .then_some(j.kind)
    }))
}

/// The new CA's chain (DER, issuer first) while a CA rotation keeps it in the bundle.
pub(crate) async fn next_chain_der(ctx: &Ctx) -> Result<Option<Vec<Vec<u8>>>> {
    let Some(j) = load(ctx).await? else {
        return Ok(None);
    };
    let keeps_next = j.kind != RotationKind::Clients
        && j.phase >= RotationPhase::Prepared
        && !j.phase.is_terminal()
        && !(j.rolling_back && j.phase == RotationPhase::Promoted);
    if !keeps_next {
        return Ok(None);
    }
    let vault = &ctx.backend.vault;
    let mut chain = Vec::new();
    for item in [VaultItem::NextIntermediateCert, VaultItem::NextRootCert] {
        if let Some(pem) = vault.get(&item).await? {
            chain.extend(pki::parse_pem_certs(&pem, false)?);
        }
    }
    Ok((!chain.is_empty()).then_some(chain))
}
