//! Creating CAs and issuing client certificates.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SerialNumber,
};
use time::{Duration, OffsetDateTime, UtcOffset};
use zeroize::Zeroizing;

use super::csr;
use super::inspect::info_of;
use super::keys::{self, describe, load_private_key, pair_matches};
use super::names::dn_string;
use super::pemtext::{first_cert, parse_cert_der};
use super::{
    CaMaterial, CaParams, ClientRequest, IssuedCert, KeyAlgorithm, KeySource, PkiError, PkiResult,
    Subject, to_pem,
};

/// Longest validity accepted for any certificate (100 years).
const MAX_VALIDITY_DAYS: u32 = 36_500;
/// Upper bound of a CN (RFC 5280 ub-common-name).
const MAX_CN_LEN: usize = 64;
/// Upper bound of the other subject fields (RFC 5280 ub-organization-name and friends).
const MAX_FIELD_LEN: usize = 128;

/// A random positive serial of exactly 16 bytes: the top bit is cleared so the INTEGER is
/// positive without a padding byte, and the next bit is set so it is never zero and always
/// 16 bytes long (126 random bits; RFC 5280 and CA/B ask for at least 64).
fn random_serial() -> PkiResult<SerialNumber> {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PkiError::Crypto("the system random generator failed".to_string()))?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

/// `now` in UTC, refused when it cannot be written as a certificate time.
fn check_now(now: OffsetDateTime) -> PkiResult<OffsetDateTime> {
    let now = now.to_offset(UtcOffset::UTC);
    if !(1950..=9999).contains(&now.year()) {
        return Err(PkiError::Refused(format!(
            "the issuing time {now} is outside 1950..9999; check the system clock"
        )));
    }
    Ok(now)
}

fn not_after(
    now: OffsetDateTime,
    days: u32,
    cap: Option<OffsetDateTime>,
) -> PkiResult<OffsetDateTime> {
    if days == 0 || days > MAX_VALIDITY_DAYS {
        return Err(PkiError::Refused(format!(
            "validity of {days} days is out of range: give 1 to {MAX_VALIDITY_DAYS} days"
        )));
    }
    let end = now
        .checked_add(Duration::days(i64::from(days)))
        .filter(|t| t.year() <= 9999)
        .ok_or_else(|| {
            PkiError::Refused(format!(
                "{now} plus {days} days is beyond the year 9999; give a shorter validity"
            ))
        })?;
    Ok(match cap {
        Some(cap) if cap < end => cap,
        _ => end,
    })
}

fn text_value(field: &str, value: &str) -> PkiResult<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(PkiError::Refused(format!(
            "subject {field} is empty: leave it out or give a value"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(PkiError::Refused(format!(
            "subject {field} contains control characters"
        )));
    }
    if trimmed.chars().count() > MAX_FIELD_LEN {
        return Err(PkiError::Refused(format!(
            "subject {field} is longer than 128 characters"
        )));
    }
    Ok(trimmed.to_string())
}

fn subject_dn(subject: &Subject) -> PkiResult<DistinguishedName> {
    let mut dn = DistinguishedName::new();
    if let Some(c) = &subject.c {
        let c = c.trim();
        if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) {
            return Err(PkiError::Refused(format!(
                "subject C must be a two-letter country code (e.g. DE), got '{c}'"
            )));
        }
        let printable = c
            .to_ascii_uppercase()
            .try_into()
            .map_err(|_| PkiError::Refused(format!("subject C '{c}' is not a printable string")))?;
        dn.push(DnType::CountryName, DnValue::PrintableString(printable));
    }
    let fields = [
        ("ST", DnType::StateOrProvinceName, &subject.st),
        ("L", DnType::LocalityName, &subject.l),
        ("O", DnType::OrganizationName, &subject.o),
        ("OU", DnType::OrganizationalUnitName, &subject.ou),
    ];
    for (field, ty, value) in fields {
        if let Some(value) = value {
            dn.push(ty, DnValue::Utf8String(text_value(field, value)?));
        }
    }
    match &subject.cn {
        Some(cn) => dn.push(
            DnType::CommonName,
            DnValue::Utf8String(text_value("CN", cn)?),
        ),
        None => {
            return Err(PkiError::Refused(
                "a CA subject needs a CN (e.g. CN=Example Root CA)".to_string(),
            ));
        }
    }
    Ok(dn)
}

fn ca_params(
    subject: &Subject,
    now: OffsetDateTime,
    end: OffsetDateTime,
    constraint: BasicConstraints,
) -> PkiResult<CertificateParams> {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject_dn(subject)?;
    params.not_before = now;
    params.not_after = end;
    params.serial_number = Some(random_serial()?);
    params.is_ca = IsCa::Ca(constraint);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

fn signing_failed(e: rcgen::Error) -> PkiError {
    PkiError::Crypto(format!("signing the certificate failed: {e}"))
}

pub(crate) fn create_root(params: &CaParams, now: OffsetDateTime) -> PkiResult<CaMaterial> {
    let now = check_now(now)?;
    let end = not_after(now, params.validity_days, None)?;
    let cert_params = ca_params(&params.subject, now, end, BasicConstraints::Unconstrained)?;
    let key = keys::generate(params.key_algorithm)?;
    let cert = cert_params.self_signed(&key).map_err(signing_failed)?;
    Ok(CaMaterial {
        cert_pem: to_pem("CERTIFICATE", cert.der()),
        key_pem: Zeroizing::new(key.serialize_pem()),
    })
}

/// A CA whose certificate and key were checked and can sign.
struct LoadedCa {
    der: Vec<u8>,
    key: KeyPair,
    not_after: OffsetDateTime,
    path_len: Option<u32>,
    subject: String,
}

impl LoadedCa {
    fn issuer(&self) -> PkiResult<Issuer<'static, &KeyPair>> {
        Issuer::from_ca_cert_pem(&to_pem("CERTIFICATE", &self.der), &self.key).map_err(|e| {
            PkiError::UnusableCa(format!(
                "CA certificate '{}' cannot be used as issuer: {e}",
                self.subject
            ))
        })
    }

    /// Checks what rcgen produced: issued by this CA's name and verifiable with its key.
    fn check_issued(&self, der: &[u8]) -> PkiResult<()> {
        let ca = parse_cert_der(&self.der).map_err(PkiError::Crypto)?;
        let cert = parse_cert_der(der)
            .map_err(|e| PkiError::Crypto(format!("the issued certificate does not parse: {e}")))?;
        if cert.issuer().as_raw() != ca.subject().as_raw() {
            return Err(PkiError::UnusableCa(format!(
                "the CA subject '{}' cannot be reproduced exactly in issued certificates \
                 (unusual string types or repeated attributes); re-create the CA",
                self.subject
            )));
        }
        cert.verify_signature(Some(ca.public_key())).map_err(|e| {
            PkiError::Crypto(format!(
                "the issued certificate does not verify with the CA key: {e}"
            ))
        })
    }
}

fn load_ca(ca: &CaMaterial, role: &str, now: OffsetDateTime) -> PkiResult<LoadedCa> {
    let der = first_cert(&ca.cert_pem, &format!("{role} certificate"), false)?;
    let key = load_private_key(&ca.key_pem, &format!("{role} private key"))?;
    let cert = parse_cert_der(&der)
        .map_err(|e| PkiError::Malformed(format!("{role} certificate is not valid X.509: {e}")))?;
    let subject = dn_string(cert.subject());
    if !pair_matches(&key, cert.public_key()) {
        return Err(PkiError::KeyMismatch(format!(
            "the {role} private key does not belong to the {role} certificate '{subject}'; \
             load the key that was created with this certificate"
        )));
    }
    let supported = [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &rcgen::PKCS_RSA_SHA256,
    ];
    let desc = describe(cert.public_key());
    if !supported.contains(&key.algorithm()) || !desc.gateway_accepts() {
        return Err(PkiError::UnusableCa(format!(
            "{role} '{subject}' has a {} key; API Gateway accepts only RSA >= 2048 and ECDSA \
             P-256/P-384 CAs",
            desc.name
        )));
    }
    let bc = cert.basic_constraints().map_err(|e| {
        PkiError::Malformed(format!(
            "{role} '{subject}' has a broken basicConstraints: {e}"
        ))
    })?;
    let Some(bc) = bc.filter(|bc| bc.value.ca) else {
        return Err(PkiError::UnusableCa(format!(
            "{role} certificate '{subject}' is not a CA (basicConstraints CA:TRUE missing); \
             it cannot issue certificates"
        )));
    };
    let path_len = bc.value.path_len_constraint;
    if let Ok(Some(ku)) = cert.key_usage()
        && !ku.value.key_cert_sign()
    {
        return Err(PkiError::UnusableCa(format!(
            "{role} certificate '{subject}' lacks keyUsage keyCertSign; it cannot issue \
             certificates"
        )));
    }
    let validity = cert.validity();
    let (start, end) = (
        validity.not_before.to_datetime(),
        validity.not_after.to_datetime(),
    );
    if now > end {
        return Err(PkiError::UnusableCa(format!(
            "{role} certificate '{subject}' expired on {}; renew the CA before issuing",
            end.date()
        )));
    }
    if now < start {
        return Err(PkiError::UnusableCa(format!(
            "{role} certificate '{subject}' is not valid before {start}; check the clock"
        )));
    }
    for rdn in cert.subject().iter() {
        if rdn.iter().count() != 1 {
            return Err(PkiError::UnusableCa(format!(
                "{role} subject '{subject}' has a multi-valued RDN, which cannot be used as \
                 an issuer name here"
            )));
        }
    }
    Ok(LoadedCa {
        der,
        key,
        not_after: end,
        path_len,
        subject,
    })
}

pub(crate) fn create_intermediate(
    root: &CaMaterial,
    params: &CaParams,
    now: OffsetDateTime,
) -> PkiResult<CaMaterial> {
    let now = check_now(now)?;
    let root = load_ca(root, "root CA", now)?;
    if root.path_len == Some(0) {
        return Err(PkiError::UnusableCa(format!(
            "root CA '{}' has pathLen 0 and cannot sign an intermediate CA",
            root.subject
        )));
    }
    let end = not_after(now, params.validity_days, Some(root.not_after))?;
    let mut cert_params = ca_params(&params.subject, now, end, BasicConstraints::Constrained(0))?;
    cert_params.use_authority_key_identifier_extension = true;
    let key = keys::generate(params.key_algorithm)?;
    let issuer = root.issuer()?;
    let cert = cert_params
        .signed_by(&key, &issuer)
        .map_err(signing_failed)?;
    root.check_issued(cert.der())?;
    Ok(CaMaterial {
        cert_pem: to_pem("CERTIFICATE", cert.der()),
        key_pem: Zeroizing::new(key.serialize_pem()),
    })
}

/// Why a client CN is unusable, if it is: the authorizer cuts the CN out of the subject DN
/// at the next comma, so commas are refused outright.
fn check_cn(cn: &str) -> PkiResult<()> {
    if cn.trim().is_empty() {
        return Err(PkiError::Refused(
            "the client CN is empty: give the client_id as CN".to_string(),
        ));
    }
    if cn.contains(',') {
        return Err(PkiError::Refused(format!(
            "the client CN '{cn}' contains a comma; the authorizer reads the CN up to the \
             first comma, so such a certificate would always be denied"
        )));
    }
    if cn.trim() != cn {
        return Err(PkiError::Refused(format!(
            "the client CN '{cn}' has leading or trailing spaces"
        )));
    }
    if cn.chars().any(char::is_control) {
        return Err(PkiError::Refused(
            "the client CN contains control characters".to_string(),
        ));
    }
    if cn.chars().count() > MAX_CN_LEN {
        return Err(PkiError::Refused(format!(
            "the client CN is longer than {MAX_CN_LEN} characters (X.509 upper bound)"
        )));
    }
    Ok(())
}

/// The public key of an existing certificate, for renewal without rekey, and whether it is
/// an RSA key.
fn existing_cert_key(cert_pem: &str) -> PkiResult<(rcgen::SubjectPublicKeyInfo, bool)> {
    let der = first_cert(cert_pem, "existing certificate", true)?;
    let cert = parse_cert_der(&der).map_err(|e| {
        PkiError::Malformed(format!("existing certificate is not valid X.509: {e}"))
    })?;
    let desc = describe(cert.public_key());
    if desc.issuable().is_none() {
        return Err(PkiError::Refused(format!(
            "the existing certificate has a {} key, which is not accepted \
             (rsa-2048/3072/4096, ecdsa-p256/p384); re-issue with a new key instead",
            desc.name
        )));
    }
    let alg = desc.issuable();
    let public = rcgen::SubjectPublicKeyInfo::from_der(cert.public_key().raw).map_err(|e| {
        PkiError::Malformed(format!(
            "the public key of the existing certificate cannot be re-signed: {e}"
        ))
    })?;
    Ok((public, alg.is_some_and(KeyAlgorithm::is_rsa)))
}

pub(crate) fn issue_client(
    issuer: &CaMaterial,
    req: &ClientRequest,
    now: OffsetDateTime,
) -> PkiResult<IssuedCert> {
    check_cn(&req.cn)?;
    ClientSigner::new(issuer, now)?.issue(req)
}

/// An issuing CA loaded once (certificate checked, key parsed) to sign many client
/// certificates at one time, as [`issue_client`] signs one. Parsing an RSA key is a good part
/// of the cost of a signature, so bulk issuance keeps one signer per thread.
pub struct ClientSigner {
    ca: LoadedCa,
    now: OffsetDateTime,
}

impl ClientSigner {
    pub fn new(issuer: &CaMaterial, now: OffsetDateTime) -> PkiResult<ClientSigner> {
        let now = check_now(now)?;
        Ok(ClientSigner {
            ca: load_ca(issuer, "issuing CA", now)?,
            now,
        })
    }

    /// Issues one client certificate (key generated, CSR or existing certificate re-signed).
    pub fn issue(&self, req: &ClientRequest) -> PkiResult<IssuedCert> {
        check_cn(&req.cn)?;
        let (ca, now) = (&self.ca, self.now);
        let end = not_after(now, req.validity_days, Some(ca.not_after))?;

        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, DnValue::Utf8String(req.cn.clone()));
        params.distinguished_name = dn;
        params.not_before = now;
        params.not_after = end;
        params.serial_number = Some(random_serial()?);
        params.is_ca = IsCa::ExplicitNoCa;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;

        let issuer_ref = ca.issuer()?;
        let (der, key_pem) = match &req.key {
            KeySource::Generate(alg) => {
                let key = keys::generate(*alg)?;
                let cert = sign_client(&mut params, &key, &issuer_ref, alg.is_rsa())?;
                (cert, Some(Zeroizing::new(key.serialize_pem())))
            }
            KeySource::Csr(pem) => {
                let (public, rsa) = csr::public_key_of(pem)?;
                (sign_client(&mut params, &public, &issuer_ref, rsa)?, None)
            }
            KeySource::ExistingCert(pem) => {
                let (public, rsa) = existing_cert_key(pem)?;
                (sign_client(&mut params, &public, &issuer_ref, rsa)?, None)
            }
        };
        ca.check_issued(&der)?;
        let cert = parse_cert_der(&der)
            .map_err(|e| PkiError::Crypto(format!("the issued certificate does not parse: {e}")))?;
        let info = info_of(&cert, &der);
        Ok(IssuedCert {
            cert_pem: to_pem("CERTIFICATE", &der),
            key_pem,
            info,
        })
    }
}

fn sign_client(
    params: &mut CertificateParams,
    public: &impl PublicKeyData,
    issuer: &Issuer<'_, &KeyPair>,
    rsa: bool,
) -> PkiResult<Vec<u8>> {
    params.key_usages = if rsa {
        vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ]
    } else {
        vec![KeyUsagePurpose::DigitalSignature]
    };
    params
        .signed_by(public, issuer)
        .map(|c| c.der().to_vec())
        .map_err(signing_failed)
}
