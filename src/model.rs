//! The records the console keeps: one roster item per issued certificate (the DynamoDB item
//! of the contract), audit records, and the names of everything held in the key vault.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// `status` of a roster item, spelled as the authorizer reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CertStatus {
    Active,
    Revoked,
}

impl CertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CertStatus::Active => "active",
            CertStatus::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(CertStatus::Active),
            "revoked" => Some(CertStatus::Revoked),
            _ => None,
        }
    }
}

/// RFC 5280 CRLReason values (5.3.1), by their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
    PrivilegeWithdrawn,
    AaCompromise,
}

impl RevocationReason {
    pub const ALL: [RevocationReason; 9] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise,
    ];

    /// The camelCase name RFC 5280 uses (`keyCompromise`), which is also the stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::CaCompromise => "cACompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::CertificateHold => "certificateHold",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
            RevocationReason::AaCompromise => "aACompromise",
        }
    }

    /// The CRLReason code.
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::CaCompromise => 2,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::CertificateHold => 6,
            RevocationReason::PrivilegeWithdrawn => 9,
            RevocationReason::AaCompromise => 10,
        }
    }

    /// Accepts the RFC name in any case, with or without `-`/`_` (`key-compromise`), or the code.
    pub fn parse(s: &str) -> Option<Self> {
        let norm: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect::<String>()
            .to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().to_ascii_lowercase() == norm || r.code().to_string() == norm)
    }
}

/// One roster item: one issued certificate. Field names in the store follow the contract
/// (`serialNumber`, `client_id`, `clientName`, `status`, `issuedAt`, `notBefore`, `expiry`,
/// `ttl`); the rest are the console's own additions, optional so legacy items still read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertRecord {
    /// The certificate serial as a decimal string (the hash key).
    pub serial: String,
    /// The client the cert belongs to. Legacy items without `client_id` take `clientName`.
    pub client_id: String,
    /// The certificate's CN (`clientName`).
    pub client_name: String,
    pub status: CertStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_before: Option<OffsetDateTime>,
    /// The authorizer's "valid until": notAfter, or earlier when a grace period ends it.
    #[serde(with = "time::serde::rfc3339")]
    pub expiry: OffsetDateTime,
    /// Epoch seconds when DynamoDB may delete the item (notAfter + 90 days).
    pub ttl: i64,
    /// The certificate's own notAfter, when known (differs from `expiry` during a grace period).
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_after: Option<OffsetDateTime>,
    pub cert_pem: Option<String>,
    /// SHA-256 of the DER, lower-case hex.
    pub fingerprint: Option<String>,
    /// Issuer DN as RFC 4514 text.
    pub issuer: Option<String>,
    /// SHA-256 fingerprint of the issuing CA certificate.
    pub issuer_fingerprint: Option<String>,
    pub key_algorithm: Option<String>,
    /// True when the client's private key is held in the vault (server-side keygen).
    pub key_held: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    pub revocation_reason: Option<RevocationReason>,
    pub revoked_by: Option<String>,
    /// Why, in the operator's words (`revoke --note`); never secrets.
    pub revocation_note: Option<String>,
    /// Serial this cert replaced (re-issue / rotation).
    pub replaces: Option<String>,
    /// Serial of the cert that replaced this one.
    pub replaced_by: Option<String>,
    /// Optimistic-locking counter; 0 for items written by other tooling.
    pub version: u64,
}

impl CertRecord {
    /// Would the deployed authorizer allow this item at `now` (status and expiry only)?
    pub fn authorizer_allows(&self, now: OffsetDateTime) -> bool {
        self.status == CertStatus::Active && now <= self.expiry
    }

    /// Whole days from `now` until `expiry` (negative once expired).
    /// `keyCompromise, 2026-11-02 10:00:00Z by alice: ticket SEC-1` for a revoked cert: the
    /// why, who and when wherever a revoked cert is shown.
    pub fn revocation_summary(&self) -> Option<String> {
        if self.status != CertStatus::Revoked {
            return None;
        }
        let mut out = self
            .revocation_reason
            .map_or("reason not recorded", RevocationReason::as_str)
            .to_string();
        if let Some(at) = self.revoked_at {
            out.push_str(&format!(", {}", crate::timefmt::format(at)));
        }
        if let Some(by) = &self.revoked_by {
            out.push_str(&format!(" by {by}"));
        }
        if let Some(note) = self.revocation_note.as_deref().filter(|n| !n.is_empty()) {
            out.push_str(&format!(": {note}"));
        }
        Some(out)
    }

    pub fn days_left(&self, now: OffsetDateTime) -> i64 {
        (self.expiry - now).whole_days()
    }

    /// The state a security officer sorts by. A cert that another one replaced but whose grace
    /// period still runs (the authorizer accepts it until its `expiry`) is superseded-in-grace.
    pub fn state(&self, now: OffsetDateTime, expiring_within_days: i64) -> ClientState {
        if self.status == CertStatus::Revoked {
            ClientState::Revoked
        } else if now > self.expiry {
            ClientState::Expired
        } else if self.replaced_by.is_some() {
            ClientState::SupersededInGrace
        } else if self.expiry - now <= time::Duration::days(expiring_within_days) {
            ClientState::Expiring
        } else {
            ClientState::Active
        }
    }
}

/// Derived state of a roster item at a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientState {
    Active,
    Expiring,
    Expired,
    Revoked,
    /// Replaced by a newer cert, still accepted until its grace period ends (`expiry`).
    SupersededInGrace,
}

impl ClientState {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientState::Active => "active",
            ClientState::Expiring => "expiring",
            ClientState::Expired => "expired",
            ClientState::Revoked => "revoked",
            ClientState::SupersededInGrace => "superseded-in-grace",
        }
    }
}

/// Outcome of an audited change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcome {
    Ok,
    Conflict,
    Failed,
    /// Written before a change that cannot be one transaction with its audit record (a vault
    /// or S3 write): if the run dies half way, the log still shows what it began. The `ok`
    /// or `failed` record follows.
    Started,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Ok => "ok",
            AuditOutcome::Conflict => "conflict",
            AuditOutcome::Failed => "failed",
            AuditOutcome::Started => "started",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ok" => Some(AuditOutcome::Ok),
            "conflict" => Some(AuditOutcome::Conflict),
            "failed" => Some(AuditOutcome::Failed),
            "started" => Some(AuditOutcome::Started),
            _ => None,
        }
    }
}

/// One append-only audit entry: who, what, when, why. Never key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Unique id (time-ordered): `{epoch_millis}-{random hex}`.
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who: OS user on the local backend, the STS caller ARN on AWS.
    pub operator: String,
    /// What: `ca.init`, `issue`, `revoke`, `reissue`, `export`, `truststore.publish`, ...
    pub action: String,
    /// On what: client id, serial, truststore version ...
    pub target: String,
    pub outcome: AuditOutcome,
    /// Why / details (reason, new serial, error message). Never secrets.
    pub detail: String,
}

/// What the key vault holds, by role. Store adapters map these to their own names
/// (SSM parameter paths of the contract, Secrets Manager secrets, local rows).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VaultItem {
    RootKey,
    RootCert,
    IntermediateKey,
    IntermediateCert,
    ClientKey(String),
    ClientCert(String),
    /// The root a root rotation is moving to, until it becomes the root.
    NextRootKey,
    NextRootCert,
    /// The intermediate a rotation is moving to, until it becomes the intermediate.
    NextIntermediateKey,
    NextIntermediateCert,
    /// The journal of the rotation in progress (JSON, no secrets).
    RotationJournal,
}

impl VaultItem {
    /// Private keys are SecureString / secret; certificates are plain.
    pub fn is_secret(&self) -> bool {
        matches!(
            self,
            VaultItem::RootKey
                | VaultItem::IntermediateKey
                | VaultItem::ClientKey(_)
                | VaultItem::NextRootKey
                | VaultItem::NextIntermediateKey
        )
    }

    /// The contract's SSM name, `/{project}/{env}/...`.
    pub fn ssm_name(&self, project: &str, env: &str) -> String {
        let tail = match self {
            VaultItem::RootKey => "ca/root/private-key".to_string(),
            VaultItem::RootCert => "ca/root/certificate".to_string(),
            VaultItem::IntermediateKey => "ca/intermediate/private-key".to_string(),
            VaultItem::IntermediateCert => "ca/intermediate/certificate".to_string(),
            VaultItem::ClientKey(id) => format!("clients/{id}/private-key"),
            VaultItem::ClientCert(id) => format!("clients/{id}/certificate"),
            VaultItem::NextRootKey => "ca/next-root/private-key".to_string(),
            VaultItem::NextRootCert => "ca/next-root/certificate".to_string(),
            VaultItem::NextIntermediateKey => "ca/next-intermediate/private-key".to_string(),
            VaultItem::NextIntermediateCert => "ca/next-intermediate/certificate".to_string(),
            VaultItem::RotationJournal => "ca/rotation/journal".to_string(),
        };
        format!("/{project}/{env}/{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_parse_by_name_and_code() {
        assert_eq!(
            RevocationReason::parse("key-compromise"),
            Some(RevocationReason::KeyCompromise)
        );
        assert_eq!(
            RevocationReason::parse("keyCompromise"),
            Some(RevocationReason::KeyCompromise)
        );
        assert_eq!(
            RevocationReason::parse("4"),
            Some(RevocationReason::Superseded)
        );
        assert_eq!(
            RevocationReason::parse("CACompromise"),
            Some(RevocationReason::CaCompromise)
        );
        assert_eq!(RevocationReason::parse("bored"), None);
    }

    #[test]
    fn ssm_names_follow_the_contract() {
        assert_eq!(
            VaultItem::IntermediateKey.ssm_name("apigw-mtls", "sandbox"),
            "/apigw-mtls/sandbox/ca/intermediate/private-key"
        );
        assert_eq!(
            VaultItem::ClientCert("acme".into()).ssm_name("p", "uat"),
            "/p/uat/clients/acme/certificate"
        );
    }
}
