//! The roster as auditors read it (`report`) and the expiry alarm cron and CI run (`expiry`):
//! one roster read, the CA and truststore certificates beside it.

use serde::Serialize;
use time::OffsetDateTime;

use super::Ctx;
use crate::error::{Error, Result};
use crate::model::{CertRecord, ClientState};

/// Everything `report` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub environment: String,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// A cert expiring within this many days is `expiring`.
    pub expiring_days: u32,
    pub counts: ReportCounts,
    /// Every certificate of the roster, by client then issue time.
    pub certificates: Vec<ReportRow>,
    /// The CA certificates in the vault and every certificate of the published truststore.
    pub authorities: Vec<ReportAuthority>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ReportCounts {
    pub clients: usize,
    pub certificates: usize,
    pub active: usize,
    pub expiring: usize,
    pub expired: usize,
    pub revoked: usize,
    pub superseded_in_grace: usize,
}

/// One certificate of the roster.
#[derive(Debug, Clone, Serialize)]
pub struct ReportRow {
    pub client_id: String,
    pub serial: String,
    /// active, expiring, expired, revoked or superseded-in-grace.
    pub state: &'static str,
    /// Is this the client's current cert (the one `list` shows)?
    pub current: bool,
    /// Whole days until the authorizer stops accepting it (`expiry`); negative once past.
    pub days_left: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub expiry: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    pub issuer: Option<String>,
    pub key_algorithm: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    pub revocation_reason: Option<String>,
    pub revocation_note: Option<String>,
    pub revoked_by: Option<String>,
}

/// A CA certificate: the vault's own, or one the published truststore holds.
#[derive(Debug, Clone, Serialize)]
pub struct ReportAuthority {
    /// `root CA`, `intermediate CA`, or `truststore` (the published bundle, pinned CAs
    /// included).
    pub role: String,
    pub subject: String,
    pub fingerprint_sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub days_left: i64,
}

/// Something `expiry` alarms on.
#[derive(Debug, Clone, Serialize)]
pub struct Expiring {
    /// `client`, `root CA`, `intermediate CA` or `truststore`.
    pub kind: String,
    /// The client_id, or the certificate's subject.
    pub name: String,
    pub serial_or_fingerprint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    pub days_left: i64,
}

/// Whole days until `until`, as [`CertRecord::days_left`] counts them for client certs.
fn days_left(until: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (until - now).whole_days()
}

/// The report of the environment: one roster scan, the CA from the vault, the published
/// bundle from the truststore.
pub async fn report(ctx: &Ctx) -> Result<Report> {
    let now = ctx.now();
    let expiring = i64::from(ctx.env.expiring_days);
    let mut roster = ctx.roster(false).await?;
    roster.sort_by(|a, b| {
        (a.client_id.as_str(), a.issued_at, a.serial.as_str()).cmp(&(
            b.client_id.as_str(),
            b.issued_at,
            b.serial.as_str(),
        ))
    });
    let current: std::collections::HashSet<String> = super::latest_per_client(roster.clone())
        .into_iter()
        .map(|r| r.serial)
        .collect();
    let mut counts = ReportCounts {
        clients: roster
            .iter()
            .map(|r| r.client_id.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len(),
        certificates: roster.len(),
        ..ReportCounts::default()
    };
    let certificates = roster
        .into_iter()
        .map(|rec| {
            let state = rec.state(now, expiring);
            match state {
                ClientState::Active => counts.active += 1,
                ClientState::Expiring => counts.expiring += 1,
                ClientState::Expired => counts.expired += 1,
                ClientState::Revoked => counts.revoked += 1,
                ClientState::SupersededInGrace => counts.superseded_in_grace += 1,
            }
            row(&rec, state, current.contains(&rec.serial), now)
        })
        .collect();
    Ok(Report {
        environment: ctx.env.name.clone(),
        generated_at: now,
        expiring_days: ctx.env.expiring_days,
        counts,
        certificates,
        authorities: authorities(ctx, now).await?,
    })
}

fn row(rec: &CertRecord, state: ClientState, current: bool, now: OffsetDateTime) -> ReportRow {
    ReportRow {
        client_id: rec.client_id.clone(),
        serial: rec.serial.clone(),
        state: state.as_str(),
        current,
        days_left: rec.days_left(now),
        expiry: rec.expiry,
        issued_at: rec.issued_at,
        issuer: rec.issuer.clone(),
        key_algorithm: rec.key_algorithm.clone(),
        revoked_at: rec.revoked_at,
        revocation_reason: rec.revocation_reason.map(|r| r.as_str().to_string()),
        revocation_note: rec.revocation_note.clone(),
        revoked_by: rec.revoked_by.clone(),
    }
}

async fn authorities(ctx: &Ctx, now: OffsetDateTime) -> Result<Vec<ReportAuthority>> {
    let mut out = Vec::new();
    let entry = |role: &str, info: &crate::pki::CertInfo| ReportAuthority {
        role: role.to_string(),
        subject: info.subject.clone(),
        fingerprint_sha256: info.fingerprint_sha256.clone(),
        not_after: info.not_after,
        days_left: days_left(info.not_after, now),
    };
    match super::ca_show(ctx).await {
        Ok(ca) => {
            out.push(entry("root CA", &ca.root));
            if let Some(intermediate) = &ca.intermediate {
                out.push(entry("intermediate CA", intermediate));
            }
        }
        // No CA is a state to report, not a failure of the report.
        Err(Error::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    if let Some(bundle) = super::truststore_show(ctx).await? {
        out.extend(bundle.certs.iter().map(|c| entry("truststore", c)));
    }
    Ok(out)
}

/// What expires within `days` days: each client's current cert while not revoked (an
/// expired one stays listed until the client is renewed or revoked: it is refused today),
/// and every CA and truststore certificate. Soonest first.
pub fn expiring_within(report: &Report, days: u32) -> Vec<Expiring> {
    let days = i64::from(days);
    let mut out: Vec<Expiring> = report
        .certificates
        .iter()
        .filter(|r| r.current && r.state != "revoked" && r.days_left <= days)
        .map(|r| Expiring {
            kind: "client".into(),
            name: r.client_id.clone(),
            serial_or_fingerprint: r.serial.clone(),
            expires: r.expiry,
            days_left: r.days_left,
        })
        .chain(
            report
                .authorities
                .iter()
                .filter(|a| a.days_left <= days)
                .map(|a| Expiring {
                    kind: a.role.clone(),
                    name: a.subject.clone(),
                    serial_or_fingerprint: a.fingerprint_sha256.clone(),
                    expires: a.not_after,
                    days_left: a.days_left,
                }),
        )
        .collect();
    out.sort_by(|a, b| (a.expires, &a.name).cmp(&(b.expires, &b.name)));
    out
}
