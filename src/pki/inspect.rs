//! What an operator needs to know about one certificate.

use num_bigint::BigUint;
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;

use super::keys::describe;
use super::names::{
    dn_string, eku_names, general_name, key_usage_names, last_cn, same_name,
    signature_algorithm_name,
};
use super::pemtext::{first_cert, parse_cert_der};
use super::{CertInfo, PkiError, PkiResult};

/// True when the input looks like PEM text rather than DER.
fn looks_like_pem(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes[start..].starts_with(b"-----") || bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

pub(crate) fn inspect(pem_or_der: &[u8]) -> PkiResult<CertInfo> {
    if pem_or_der.iter().all(u8::is_ascii_whitespace) {
        return Err(PkiError::Malformed(
            "the certificate input is empty; give a PEM or DER certificate".to_string(),
        ));
    }
    let der = if looks_like_pem(pem_or_der) {
        let text = std::str::from_utf8(pem_or_der)
            .map_err(|e| PkiError::Malformed(format!("the PEM text is not valid UTF-8: {e}")))?;
        first_cert(text, "certificate", true)?
    } else {
        pem_or_der.to_vec()
    };
    let cert = parse_cert_der(&der).map_err(|e| {
        PkiError::Malformed(format!(
            "not a valid X.509 certificate (neither PEM nor DER): {e}"
        ))
    })?;
    Ok(info_of(&cert, &der))
}

/// Serial bytes without leading zeros (at least one byte).
fn serial_magnitude(raw: &[u8]) -> &[u8] {
    let start = raw
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    &raw[start..]
}

pub(crate) fn is_self_signed(cert: &X509Certificate<'_>) -> bool {
    same_name(cert.subject(), cert.issuer()) && cert.verify_signature(None).is_ok()
}

pub(crate) fn info_of(cert: &X509Certificate<'_>, der: &[u8]) -> CertInfo {
    let magnitude = serial_magnitude(cert.raw_serial());
    let serial_hex = if magnitude.is_empty() {
        "00".to_string()
    } else {
        magnitude
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    let key = describe(cert.public_key());
    let (is_ca, path_len) = match cert.basic_constraints() {
        Ok(Some(bc)) => (bc.value.ca, bc.value.path_len_constraint),
        _ => (false, None),
    };
    let mut info = CertInfo {
        subject: dn_string(cert.subject()),
        issuer: dn_string(cert.issuer()),
        cn: last_cn(cert.subject()),
        serial_decimal: BigUint::from_bytes_be(magnitude).to_string(),
        serial_hex,
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        key_algorithm: key.name,
        key_bits: key.bits,
        signature_algorithm: signature_algorithm_name(&cert.signature_algorithm.algorithm),
        fingerprint_sha256: hex::encode(Sha256::digest(der)),
        is_ca,
        path_len,
        key_usage: Vec::new(),
        extended_key_usage: Vec::new(),
        subject_alt_names: Vec::new(),
        subject_key_id: None,
        authority_key_id: None,
        self_signed: is_self_signed(cert),
    };
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::KeyUsage(ku) => info.key_usage = key_usage_names(ku),
            ParsedExtension::ExtendedKeyUsage(eku) => info.extended_key_usage = eku_names(eku),
            ParsedExtension::SubjectAlternativeName(san) => {
                info.subject_alt_names = san.general_names.iter().map(general_name).collect();
            }
            ParsedExtension::SubjectKeyIdentifier(id) => {
                info.subject_key_id = Some(hex::encode(id.0));
            }
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                info.authority_key_id = aki.key_identifier.as_ref().map(|id| hex::encode(id.0));
            }
            _ => {}
        }
    }
    info
}
