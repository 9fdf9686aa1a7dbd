//! The roster item as DynamoDB holds it: one attribute map per certificate, shared by every
//! backend so that the local database and the DynamoDB table carry the same item.
//!
//! The contract's attributes keep their names and formats exactly (`serialNumber`,
//! `client_id`, `clientName`, `status`, `issuedAt`, `notBefore`, `expiry` as ISO-8601 UTC
//! with whole seconds, `ttl` as epoch seconds); the console's own additions are camelCase.
//! Reading is tolerant of items written by older tooling: `notBefore` may be missing,
//! `client_id` falls back to `clientName`, `version` to 0, and unknown attributes are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::model::{CertRecord, CertStatus, RevocationReason};
use crate::store::StoreError;
use crate::timefmt;

/// Attribute names of a roster item.
pub mod names {
    pub const SERIAL_NUMBER: &str = "serialNumber";
    pub const CLIENT_ID: &str = "client_id";
    pub const CLIENT_NAME: &str = "clientName";
    pub const STATUS: &str = "status";
    pub const ISSUED_AT: &str = "issuedAt";
    pub const NOT_BEFORE: &str = "notBefore";
    pub const EXPIRY: &str = "expiry";
    pub const TTL: &str = "ttl";
    pub const NOT_AFTER: &str = "notAfter";
    pub const CERTIFICATE_PEM: &str = "certificatePem";
    pub const FINGERPRINT: &str = "fingerprint";
    pub const ISSUER: &str = "issuer";
    pub const ISSUER_FINGERPRINT: &str = "issuerFingerprint";
    pub const KEY_ALGORITHM: &str = "keyAlgorithm";
    pub const KEY_HELD: &str = "keyHeld";
    pub const REVOKED_AT: &str = "revokedAt";
    pub const REVOCATION_REASON: &str = "revocationReason";
    pub const REVOKED_BY: &str = "revokedBy";
    pub const REVOCATION_NOTE: &str = "revocationNote";
    pub const REPLACES: &str = "replaces";
    pub const REPLACED_BY: &str = "replacedBy";
    pub const VERSION: &str = "version";
}

use names::*;

/// Seconds DynamoDB keeps an item after the certificate's notAfter (`ttl` = notAfter + 90 days).
pub const TTL_AFTER_EXPIRY_SECS: i64 = 90 * 24 * 3600;

/// One DynamoDB attribute value, of the types a roster item uses. Serializes as DynamoDB
/// JSON: `{"S": "..."}`, `{"N": "123"}`, `{"BOOL": true}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttrValue {
    S(String),
    N(String),
    #[serde(rename = "BOOL")]
    Bool(bool),
}

/// An item as stored: its attributes of the types a roster item uses (S, N, BOOL).
pub type Item = BTreeMap<String, AttrValue>;

/// An item given as DynamoDB JSON, with every attribute of a known type (others dropped, as
/// [`from_attrs`] ignores them too).
pub fn item_from_json(json: &str) -> Result<Item, StoreError> {
    let raw: BTreeMap<String, serde_json::Value> = serde_json::from_str(json).map_err(|e| {
        StoreError::Backend(format!(
            "a roster item is not valid DynamoDB JSON ({e}); restore the database from a backup"
        ))
    })?;
    Ok(raw
        .into_iter()
        .filter_map(|(k, v)| serde_json::from_value::<AttrValue>(v).ok().map(|v| (k, v)))
        .collect())
}

/// The item of a record. Timestamps lose their sub-second part (the contract's format).
pub fn to_attrs(rec: &CertRecord) -> BTreeMap<String, AttrValue> {
    let mut m = BTreeMap::new();
    let mut s = |k: &str, v: &str| {
        m.insert(k.to_string(), AttrValue::S(v.to_string()));
    };
    s(SERIAL_NUMBER, &rec.serial);
    s(CLIENT_ID, &rec.client_id);
    s(CLIENT_NAME, &rec.client_name);
    s(STATUS, rec.status.as_str());
    s(ISSUED_AT, &timefmt::format(rec.issued_at));
    s(EXPIRY, &timefmt::format(rec.expiry));
    let optional_times = [
        (NOT_BEFORE, rec.not_before),
        (NOT_AFTER, rec.not_after),
        (REVOKED_AT, rec.revoked_at),
    ];
    for (k, v) in optional_times {
        if let Some(t) = v {
            s(k, &timefmt::format(t));
        }
    }
    let optional_strings = [
        (CERTIFICATE_PEM, rec.cert_pem.as_deref()),
        (FINGERPRINT, rec.fingerprint.as_deref()),
        (ISSUER, rec.issuer.as_deref()),
        (ISSUER_FINGERPRINT, rec.issuer_fingerprint.as_deref()),
        (KEY_ALGORITHM, rec.key_algorithm.as_deref()),
        (REVOCATION_REASON, rec.revocation_reason.map(|r| r.as_str())),
        (REVOKED_BY, rec.revoked_by.as_deref()),
        (REVOCATION_NOTE, rec.revocation_note.as_deref()),
        (REPLACES, rec.replaces.as_deref()),
        (REPLACED_BY, rec.replaced_by.as_deref()),
    ];
    for (k, v) in optional_strings {
        if let Some(v) = v {
            s(k, v);
        }
    }
    m.insert(TTL.into(), AttrValue::N(rec.ttl.to_string()));
    m.insert(VERSION.into(), AttrValue::N(rec.version.to_string()));
    m.insert(KEY_HELD.into(), AttrValue::Bool(rec.key_held));
    m
}

/// The record of an item, tolerant of legacy items (see the module doc). An item without a
/// serial, status or expiry, or with a value of the wrong type or format, is an error naming
/// the serial and the attribute.
pub fn from_attrs(attrs: &BTreeMap<String, AttrValue>) -> Result<CertRecord, StoreError> {
    let take = |name: &str| attrs.get(name).cloned();
    record(Known {
        serial_number: take(SERIAL_NUMBER),
        client_id: take(CLIENT_ID),
        client_name: take(CLIENT_NAME),
        status: take(STATUS),
        issued_at: take(ISSUED_AT),
        not_before: take(NOT_BEFORE),
        expiry: take(EXPIRY),
        ttl: take(TTL),
        not_after: take(NOT_AFTER),
        certificate_pem: take(CERTIFICATE_PEM),
        fingerprint: take(FINGERPRINT),
        issuer: take(ISSUER),
        issuer_fingerprint: take(ISSUER_FINGERPRINT),
        key_algorithm: take(KEY_ALGORITHM),
        key_held: take(KEY_HELD),
        revoked_at: take(REVOKED_AT),
        revocation_reason: take(REVOCATION_REASON),
        revoked_by: take(REVOKED_BY),
        revocation_note: take(REVOCATION_NOTE),
        replaces: take(REPLACES),
        replaced_by: take(REPLACED_BY),
        version: take(VERSION),
    })
}

/// The record of an item given as DynamoDB JSON (`{"serialNumber": {"S": "..."}, ...}`),
/// read straight into the known attributes: the fast path for long listings.
pub fn from_json(json: &str) -> Result<CertRecord, StoreError> {
    let known: Known = serde_json::from_str(json).map_err(|e| {
        StoreError::Backend(format!(
            "a roster item is not valid DynamoDB JSON ({e}); restore the database from a backup"
        ))
    })?;
    record(known)
}

/// The attributes a record is made of; unknown ones are dropped when reading.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Known {
    serial_number: Option<AttrValue>,
    #[serde(rename = "client_id")]
    client_id: Option<AttrValue>,
    client_name: Option<AttrValue>,
    status: Option<AttrValue>,
    issued_at: Option<AttrValue>,
    not_before: Option<AttrValue>,
    expiry: Option<AttrValue>,
    ttl: Option<AttrValue>,
    not_after: Option<AttrValue>,
    certificate_pem: Option<AttrValue>,
    fingerprint: Option<AttrValue>,
    issuer: Option<AttrValue>,
    issuer_fingerprint: Option<AttrValue>,
    key_algorithm: Option<AttrValue>,
    key_held: Option<AttrValue>,
    revoked_at: Option<AttrValue>,
    revocation_reason: Option<AttrValue>,
    revoked_by: Option<AttrValue>,
    revocation_note: Option<AttrValue>,
    replaces: Option<AttrValue>,
    replaced_by: Option<AttrValue>,
    version: Option<AttrValue>,
}

fn record(k: Known) -> Result<CertRecord, StoreError> {
    let serial = match k.serial_number {
        Some(AttrValue::S(s)) if !s.is_empty() => s,
        Some(AttrValue::N(n)) => n,
        _ => {
            return Err(StoreError::Backend(
                "roster item without a serialNumber: repair or delete it in the table".into(),
            ));
        }
    };
    let r = Reader { serial: &serial };

    let client_name = r.string(CLIENT_NAME, k.client_name)?;
    let client_id = match (r.string(CLIENT_ID, k.client_id)?, &client_name) {
        (Some(id), _) => id,
        (None, Some(name)) => name.clone(),
        (None, None) => return Err(r.bad("has neither client_id nor clientName")),
    };
    let client_name = client_name.unwrap_or_else(|| client_id.clone());

    let status_text = r
        .string(STATUS, k.status)?
        .ok_or_else(|| r.bad("has no status"))?;
    let status = CertStatus::parse(&status_text).ok_or_else(|| {
        r.bad(&format!(
            "has status '{status_text}' (expected active or revoked)"
        ))
    })?;

    let expiry = r
        .time(EXPIRY, k.expiry.as_ref())?
        .ok_or_else(|| r.bad("has no expiry"))?;
    let not_before = r.time(NOT_BEFORE, k.not_before.as_ref())?;
    let issued_at = match r.time(ISSUED_AT, k.issued_at.as_ref())? {
        Some(t) => t,
        None => not_before.ok_or_else(|| r.bad("has neither issuedAt nor notBefore"))?,
    };
    let not_after = r.time(NOT_AFTER, k.not_after.as_ref())?;
    let ttl = match r.number(TTL, k.ttl.as_ref())? {
        Some(n) => n,
        None => timefmt::epoch(not_after.unwrap_or(expiry)) + TTL_AFTER_EXPIRY_SECS,
    };
    let version = match r.number(VERSION, k.version.as_ref())? {
        Some(v) => u64::try_from(v).map_err(|_| r.bad(&format!("has a negative version {v}")))?,
        None => 0,
    };
    let key_held = match k.key_held {
        None => false,
        Some(AttrValue::Bool(b)) => b,
        Some(_) => return Err(r.bad(&format!("has a {KEY_HELD} that is not a boolean"))),
    };
    let revocation_reason = match r.string(REVOCATION_REASON, k.revocation_reason)? {
        None => None,
        Some(text) => Some(RevocationReason::parse(&text).ok_or_else(|| {
            r.bad(&format!(
                "has {REVOCATION_REASON} '{text}', which is no RFC 5280 reason"
            ))
        })?),
    };

    Ok(CertRecord {
        client_id,
        client_name,
        status,
        issued_at,
        not_before,
        expiry,
        ttl,
        not_after,
        cert_pem: r.string(CERTIFICATE_PEM, k.certificate_pem)?,
        fingerprint: r.string(FINGERPRINT, k.fingerprint)?,
        issuer: r.string(ISSUER, k.issuer)?,
        issuer_fingerprint: r.string(ISSUER_FINGERPRINT, k.issuer_fingerprint)?,
        key_algorithm: r.string(KEY_ALGORITHM, k.key_algorithm)?,
        key_held,
        revoked_at: r.time(REVOKED_AT, k.revoked_at.as_ref())?,
        revocation_reason,
        revoked_by: r.string(REVOKED_BY, k.revoked_by)?,
        revocation_note: r.string(REVOCATION_NOTE, k.revocation_note)?,
        replaces: r.string(REPLACES, k.replaces)?,
        replaced_by: r.string(REPLACED_BY, k.replaced_by)?,
        version,
        serial,
    })
}

/// Checks attribute types and formats, for one serial's error messages.
struct Reader<'a> {
    serial: &'a str,
}

impl Reader<'_> {
    fn bad(&self, what: &str) -> StoreError {
        StoreError::Backend(format!(
            "roster item of certificate {} {what}: repair the item in the table",
            self.serial
        ))
    }

    fn string(&self, name: &str, v: Option<AttrValue>) -> Result<Option<String>, StoreError> {
        match v {
            None => Ok(None),
            Some(AttrValue::S(s)) => Ok(Some(s)),
            Some(_) => Err(self.bad(&format!("has a {name} that is not a string"))),
        }
    }

    fn time(
        &self,
        name: &str,
        v: Option<&AttrValue>,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        match v {
            None => Ok(None),
            Some(AttrValue::S(s)) => timefmt::parse(s).map(Some).ok_or_else(|| {
                self.bad(&format!("has {name} '{s}', which is not an ISO-8601 time"))
            }),
            Some(_) => Err(self.bad(&format!("has a {name} that is not a string"))),
        }
    }

    /// An integer held as N (or, from lax tooling, as a string of digits).
    fn number(&self, name: &str, v: Option<&AttrValue>) -> Result<Option<i64>, StoreError> {
        match v {
            None => Ok(None),
            Some(AttrValue::N(n) | AttrValue::S(n)) => n
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| self.bad(&format!("has {name} '{n}', which is not an integer"))),
            Some(AttrValue::Bool(_)) => Err(self.bad(&format!("has a {name} that is a boolean"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn s(v: &str) -> AttrValue {
        AttrValue::S(v.into())
    }

    fn full_record() -> CertRecord {
        CertRecord {
            serial: "123456789012345678901234567890".into(),
            client_id: "acme".into(),
            client_name: "acme".into(),
            status: CertStatus::Revoked,
            issued_at: datetime!(2025-01-31 12:00:00 UTC),
            not_before: Some(datetime!(2025-01-31 11:55:00 UTC)),
            expiry: datetime!(2026-01-31 12:00:00 UTC),
            ttl: 1_777_550_400,
            not_after: Some(datetime!(2026-03-01 12:00:00 UTC)),
            cert_pem: Some("-----BEGIN CERTIFICATE-----\n...".into()),
            fingerprint: Some("ab".repeat(32)),
            issuer: Some("CN=Intermediate".into()),
            issuer_fingerprint: Some("cd".repeat(32)),
            key_algorithm: Some("ecdsa-p256".into()),
            key_held: true,
            revoked_at: Some(datetime!(2025-06-01 08:00:00 UTC)),
            revocation_reason: Some(RevocationReason::KeyCompromise),
            revoked_by: Some("alice".into()),
            revocation_note: Some("rotated".into()),
            replaces: Some("42".into()),
            replaced_by: Some("43".into()),
            version: 7,
        }
    }

    #[test]
    fn round_trips_every_field_with_the_contract_names() {
        let rec = full_record();
        let attrs = to_attrs(&rec);
        assert_eq!(attrs[SERIAL_NUMBER], s("123456789012345678901234567890"));
        assert_eq!(attrs[STATUS], s("revoked"));
        assert_eq!(attrs[ISSUED_AT], s("2025-01-31T12:00:00Z"));
        assert_eq!(attrs[NOT_BEFORE], s("2025-01-31T11:55:00Z"));
        assert_eq!(attrs[EXPIRY], s("2026-01-31T12:00:00Z"));
        assert_eq!(attrs[TTL], AttrValue::N("1777550400".into()));
        assert_eq!(attrs[VERSION], AttrValue::N("7".into()));
        assert_eq!(attrs[KEY_HELD], AttrValue::Bool(true));
        assert_eq!(attrs[REVOCATION_REASON], s("keyCompromise"));
        assert_eq!(from_attrs(&attrs).unwrap(), rec);
    }

    #[test]
    fn absent_options_are_absent_attributes() {
        let mut rec = full_record();
        rec.not_before = None;
        rec.cert_pem = None;
        rec.revocation_reason = None;
        let attrs = to_attrs(&rec);
        assert!(!attrs.contains_key(NOT_BEFORE));
        assert!(!attrs.contains_key(CERTIFICATE_PEM));
        assert!(!attrs.contains_key(REVOCATION_REASON));
        assert_eq!(from_attrs(&attrs).unwrap(), rec);
    }

    #[test]
    fn serializes_as_dynamodb_json() {
        let mut m = BTreeMap::new();
        m.insert("a".to_string(), s("x"));
        m.insert("b".to_string(), AttrValue::N("1".into()));
        m.insert("c".to_string(), AttrValue::Bool(false));
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"a":{"S":"x"},"b":{"N":"1"},"c":{"BOOL":false}}"#
        );
    }

    #[test]
    fn reads_a_legacy_item() {
        let attrs: BTreeMap<String, AttrValue> = [
            (SERIAL_NUMBER, s("99")),
            (CLIENT_NAME, s("legacy-client")),
            (STATUS, s("active")),
            (ISSUED_AT, s("2024-02-01T10:00:00.123456")),
            (EXPIRY, s("2025-03-02T10:00:00+00:00")),
            (TTL, AttrValue::N("1748685600".into())),
            ("someOtherTool", s("ignored")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let rec = from_attrs(&attrs).unwrap();
        assert_eq!(rec.client_id, "legacy-client");
        assert_eq!(rec.client_name, "legacy-client");
        assert_eq!(rec.status, CertStatus::Active);
        assert_eq!(rec.issued_at, datetime!(2024-02-01 10:00:00.123456 UTC));
        assert_eq!(rec.expiry, datetime!(2025-03-02 10:00:00 UTC));
        assert_eq!(rec.not_before, None);
        assert_eq!(rec.version, 0);
        assert!(!rec.key_held);
        assert_eq!(rec.cert_pem, None);
    }

    #[test]
    fn bad_items_are_errors_naming_the_serial() {
        let base: BTreeMap<String, AttrValue> = [
            (SERIAL_NUMBER, s("77")),
            (CLIENT_ID, s("c")),
            (STATUS, s("active")),
            (ISSUED_AT, s("2024-02-01T10:00:00Z")),
            (EXPIRY, s("2025-02-01T10:00:00Z")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert!(from_attrs(&base).is_ok());
        let cases = [
            (EXPIRY, Some(s("next tuesday")), "expiry 'next tuesday'"),
            (EXPIRY, None, "has no expiry"),
            (STATUS, Some(s("Active")), "status 'Active'"),
            (TTL, Some(AttrValue::N("soon".into())), "ttl 'soon'"),
            (KEY_HELD, Some(s("yes")), "keyHeld"),
        ];
        for (name, value, want) in cases {
            let mut attrs = base.clone();
            match value {
                Some(v) => attrs.insert(name.to_string(), v),
                None => attrs.remove(name),
            };
            let err = from_attrs(&attrs).unwrap_err().to_string();
            assert!(
                err.contains("certificate 77") && err.contains(want),
                "{err}"
            );
        }
    }

    #[test]
    fn dynamodb_json_reads_like_the_map() {
        let mut attrs = to_attrs(&full_record());
        attrs.insert("someOtherTool".into(), AttrValue::N("1".into()));
        let json = serde_json::to_string(&attrs).unwrap();
        assert_eq!(from_json(&json).unwrap(), from_attrs(&attrs).unwrap());
        attrs.insert(EXPIRY.into(), s("never"));
        let json = serde_json::to_string(&attrs).unwrap();
        let err = from_json(&json).unwrap_err().to_string();
        assert!(
            err.contains("certificate 123456789012345678901234567890"),
            "{err}"
        );
        assert!(
            from_json("{")
                .unwrap_err()
                .to_string()
                .contains("not valid DynamoDB JSON")
        );
    }

    #[test]
    fn missing_ttl_is_derived_from_not_after() {
        let mut attrs = to_attrs(&full_record());
        attrs.remove(TTL);
        let rec = from_attrs(&attrs).unwrap();
        assert_eq!(
            rec.ttl,
            datetime!(2026-03-01 12:00:00 UTC).unix_timestamp() + TTL_AFTER_EXPIRY_SECS
        );
    }
}
