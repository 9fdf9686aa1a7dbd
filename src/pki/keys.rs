//! Key generation, private key loading, key descriptions and strength rules.

use rcgen::{KeyPair, RsaKeySize, SignatureAlgorithm};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::names::oid_str;
use super::pemtext::{self, first_cert, parse_cert_der};
use super::{KeyAlgorithm, PkiError, PkiResult};

const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const DSA: &str = "1.2.840.10040.4.1";
const ED25519: &str = "1.3.101.112";
const ED448: &str = "1.3.101.113";

/// What a public key is: `rsa-2048`, `ecdsa-p256`, `ed25519`, ... and its size in bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyDesc {
    pub name: String,
    pub bits: u32,
}

impl KeyDesc {
    /// API Gateway's rule for certificates: RSA of 2048 bits or more, ECDSA P-256 or P-384.
    pub fn gateway_accepts(&self) -> bool {
        let rsa = (self.name.starts_with("rsa-") && !self.name.starts_with("rsa-pss"))
            && self.bits >= 2048;
        rsa || self.name == "ecdsa-p256" || self.name == "ecdsa-p384"
    }

    /// The algorithms this console issues for: exactly the [`KeyAlgorithm`] set.
    pub fn issuable(&self) -> Option<KeyAlgorithm> {
        KeyAlgorithm::parse(&self.name)
    }
}

fn rsa_bits(modulus: &[u8]) -> u32 {
    let trimmed: &[u8] = {
        let start = modulus
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(modulus.len());
        &modulus[start..]
    };
    match trimmed.first() {
        None => 0,
        Some(first) => {
            let len = u32::try_from(trimmed.len()).unwrap_or(u32::MAX / 16);
            (len - 1).saturating_mul(8) + (8 - first.leading_zeros())
        }
    }
}

pub(crate) fn describe(spki: &SubjectPublicKeyInfo<'_>) -> KeyDesc {
    let alg = oid_str(&spki.algorithm.algorithm);
    let parsed = spki.parsed().ok();
    let rsa_size = || match &parsed {
        Some(PublicKey::RSA(rsa)) => rsa_bits(rsa.modulus),
        _ => 0,
    };
    let (name, bits) = match alg.as_str() {
        RSA_ENCRYPTION => {
            let bits = rsa_size();
            (format!("rsa-{bits}"), bits)
        }
        RSASSA_PSS => {
            let bits = rsa_size();
            (format!("rsa-pss-{bits}"), bits)
        }
        EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| oid_str(&o));
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => ("ecdsa-p256".to_string(), 256),
                Some("1.3.132.0.34") => ("ecdsa-p384".to_string(), 384),
                Some("1.3.132.0.35") => ("ecdsa-p521".to_string(), 521),
                Some("1.3.132.0.10") => ("ecdsa-secp256k1".to_string(), 256),
                other => {
                    let bits = match &parsed {
                        Some(PublicKey::EC(point)) => u32::try_from(point.key_size()).unwrap_or(0),
                        _ => 0,
                    };
                    (format!("ecdsa-{}", other.unwrap_or("unknown-curve")), bits)
                }
            }
        }
        ED25519 => ("ed25519".to_string(), 256),
        ED448 => ("ed448".to_string(), 456),
        DSA => {
            let bits = match &parsed {
                Some(PublicKey::DSA(y)) => rsa_bits(y),
                _ => 0,
            };
            (format!("dsa-{bits}"), bits)
        }
        other => (format!("unknown-{other}"), 0),
    };
    KeyDesc { name, bits }
}

pub(crate) fn signature_algorithm_for(alg: KeyAlgorithm) -> &'static SignatureAlgorithm {
    match alg {
        KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyAlgorithm::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
            &rcgen::PKCS_RSA_SHA256
        }
    }
}

pub(crate) fn generate(alg: KeyAlgorithm) -> PkiResult<KeyPair> {
    let sig = signature_algorithm_for(alg);
    let size = match alg {
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => None,
        KeyAlgorithm::Rsa2048 => Some(RsaKeySize::_2048),
        KeyAlgorithm::Rsa3072 => Some(RsaKeySize::_3072),
        KeyAlgorithm::Rsa4096 => Some(RsaKeySize::_4096),
    };
    let generated = match size {
        None => KeyPair::generate_for(sig),
        Some(size) => KeyPair::generate_rsa_for(sig, size),
    };
    generated.map_err(|e| {
        PkiError::Crypto(format!(
            "generating a {} key failed in the crypto library: {e}",
            alg.as_str()
        ))
    })
}

/// Loads an unencrypted private key (PKCS#8, or PKCS#1 / SEC1) from PEM. `what` names the
/// input in error messages.
pub(crate) fn load_private_key(key_pem: &str, what: &str) -> PkiResult<KeyPair> {
    let scan = pemtext::scan(key_pem);
    if let Some(error) = scan.error {
        return Err(PkiError::Malformed(format!("{what}: {error}")));
    }
    let Some(block) = scan.blocks.into_iter().find(|b| b.is_private_key()) else {
        return Err(PkiError::Malformed(format!(
            "{what}: no '-----BEGIN PRIVATE KEY-----' block found; give the PKCS#8 PEM key"
        )));
    };
    if block.label.contains("ENCRYPTED") {
        return Err(PkiError::Malformed(format!(
            "{what} is encrypted ({}); decrypt it first, e.g. \
             `openssl pkcs8 -topk8 -nocrypt -in key.pem`",
            block.label
        )));
    }
    let der = zeroize::Zeroizing::new(block.contents.map_err(|e| {
        PkiError::Malformed(format!("{what}: the {} block is broken: {e}", block.label))
    })?);
    KeyPair::try_from(der.as_slice()).map_err(|e| {
        PkiError::Malformed(format!(
            "{what} is not a usable private key ({e}); expected an unencrypted RSA, ECDSA \
             P-256/P-384 or Ed25519 key in PKCS#8 PEM"
        ))
    })
}

/// True when the key pair's public key is the one in the certificate's SPKI.
pub(crate) fn pair_matches(key: &KeyPair, spki: &SubjectPublicKeyInfo<'_>) -> bool {
    key.public_key_raw() == spki.subject_public_key.data.as_ref()
}

pub(crate) fn key_matches_cert(key_pem: &str, cert_pem: &str) -> PkiResult<bool> {
    let key = load_private_key(key_pem, "private key")?;
    let der = first_cert(cert_pem, "certificate", true)?;
    let cert = parse_cert_der(&der)
        .map_err(|e| PkiError::Malformed(format!("certificate is not valid X.509: {e}")))?;
    Ok(pair_matches(&key, cert.public_key()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_bits_counts_significant_bits() {
        assert_eq!(rsa_bits(&[]), 0);
        assert_eq!(rsa_bits(&[0, 0]), 0);
        assert_eq!(rsa_bits(&[0x00, 0x80, 0, 0]), 24);
        assert_eq!(rsa_bits(&[0x01, 0xff]), 9);
        let mut m = vec![0u8; 257];
        m[1] = 0xc0;
        assert_eq!(rsa_bits(&m), 2048);
    }

    #[test]
    fn gateway_rules() {
        let d = |name: &str, bits| KeyDesc {
            name: name.to_string(),
            bits,
        };
        assert!(d("rsa-2048", 2048).gateway_accepts());
        assert!(d("rsa-8192", 8192).gateway_accepts());
        assert!(!d("rsa-1024", 1024).gateway_accepts());
        assert!(!d("rsa-pss-2048", 2048).gateway_accepts());
        assert!(d("ecdsa-p384", 384).gateway_accepts());
        assert!(!d("ecdsa-p521", 521).gateway_accepts());
        assert!(!d("ed25519", 256).gateway_accepts());
        assert_eq!(d("rsa-8192", 8192).issuable(), None);
        assert_eq!(d("rsa-3072", 3072).issuable(), Some(KeyAlgorithm::Rsa3072));
    }
}
