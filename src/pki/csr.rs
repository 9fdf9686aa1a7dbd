//! PKCS#10 requests: parsed and checked here, never trusted for anything but the public key.

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

use super::keys::describe;
use super::names::{oid_str, signature_algorithm_name, signature_algorithm_strong};
use super::pemtext;
use super::{KeyAlgorithm, PkiError, PkiResult};

const NAME_CONSTRAINTS: &str = "2.5.29.30";

/// The DER of the first CERTIFICATE REQUEST block of `pem_text`.
fn csr_der(pem_text: &str) -> PkiResult<Vec<u8>> {
    let scan = pemtext::scan(pem_text);
    if let Some(error) = scan.error {
        return Err(PkiError::Malformed(format!("CSR: {error}")));
    }
    let mut has_cert = false;
    for block in scan.blocks {
        if block.label == "CERTIFICATE REQUEST" || block.label == "NEW CERTIFICATE REQUEST" {
            return block.contents.map_err(|e| {
                PkiError::Malformed(format!("CSR: PEM block {} is broken: {e}", block.number))
            });
        }
        has_cert |= block.is_certificate();
    }
    let hint = if has_cert {
        " (this is a certificate; to renew it without a new key, re-issue from the certificate)"
    } else {
        ""
    };
    Err(PkiError::Malformed(format!(
        "CSR: no '-----BEGIN CERTIFICATE REQUEST-----' block found{hint}"
    )))
}

/// Parses and checks a CSR, and returns its public key for signing and whether it is RSA.
/// Refused: keys other than RSA 2048/3072/4096 and ECDSA P-256/P-384, signatures weaker than
/// SHA-256, a signature that does not verify, and requested CA powers (basicConstraints
/// CA:TRUE, keyUsage keyCertSign or cRLSign, nameConstraints). Other requested extensions
/// are ignored: the certificate carries the console's own extensions.
pub(crate) fn public_key_of(pem_text: &str) -> PkiResult<(rcgen::SubjectPublicKeyInfo, bool)> {
    let der = csr_der(pem_text)?;
    let csr = match X509CertificationRequest::from_der(&der) {
        Ok(([], csr)) => csr,
        Ok((rest, _)) => {
            return Err(PkiError::Malformed(format!(
                "CSR: {} unexpected bytes follow the request",
                rest.len()
            )));
        }
        Err(e) => {
            return Err(PkiError::Malformed(format!(
                "CSR is not a valid PKCS#10 request: {e}"
            )));
        }
    };
    let info = &csr.certification_request_info;
    let desc = describe(&info.subject_pki);
    let Some(alg) = desc.issuable() else {
        return Err(PkiError::Refused(format!(
            "CSR key is {}, which is refused: only rsa-2048, rsa-3072, rsa-4096, ecdsa-p256 \
             and ecdsa-p384 keys are accepted; create a new key and CSR",
            desc.name
        )));
    };
    let sig_oid = &csr.signature_algorithm.algorithm;
    if !signature_algorithm_strong(sig_oid) {
        return Err(PkiError::Refused(format!(
            "CSR is signed with {}; SHA-1 and other signatures weaker than SHA-256 are \
             refused: re-create the CSR with SHA-256 (openssl req -sha256)",
            signature_algorithm_name(sig_oid)
        )));
    }
    csr.verify_signature().map_err(|e| {
        PkiError::Refused(format!(
            "CSR signature does not verify ({e}): the request was altered or corrupted; \
             ask the client for a fresh CSR"
        ))
    })?;
    for attr in info.iter_attributes() {
        let ParsedCriAttribute::ExtensionRequest(request) = attr.parsed_attribute() else {
            continue;
        };
        for ext in &request.extensions {
            let oid = oid_str(&ext.oid);
            match ext.parsed_extension() {
                ParsedExtension::BasicConstraints(bc) if bc.ca => {
                    return Err(PkiError::Refused(
                        "CSR requests basicConstraints CA:TRUE; a client certificate cannot be \
                         a CA"
                            .to_string(),
                    ));
                }
                ParsedExtension::KeyUsage(ku) if ku.key_cert_sign() || ku.crl_sign() => {
                    return Err(PkiError::Refused(
                        "CSR requests keyUsage keyCertSign or cRLSign, which only CAs may hold"
                            .to_string(),
                    ));
                }
                ParsedExtension::ParseError { error } => {
                    return Err(PkiError::Malformed(format!(
                        "CSR: requested extension {oid} is malformed: {error}"
                    )));
                }
                _ if oid == NAME_CONSTRAINTS => {
                    return Err(PkiError::Refused(
                        "CSR requests nameConstraints, which only CAs may hold".to_string(),
                    ));
                }
                _ => {}
            }
        }
    }
    let public = rcgen::SubjectPublicKeyInfo::from_der(info.subject_pki.raw)
        .map_err(|e| PkiError::Malformed(format!("CSR public key cannot be used: {e}")))?;
    Ok((public, KeyAlgorithm::is_rsa(alg)))
}
