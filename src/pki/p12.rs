//! PKCS#12 export: PBES2 (AES-256-CBC, PBKDF2-HMAC-SHA256) and an HMAC-SHA256 MAC, as
//! OpenSSL 3 writes by default.

use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
    PrivateKeyChain,
};
use sha2::{Digest, Sha256};

use super::keys::{load_private_key, pair_matches};
use super::names::last_cn;
use super::pemtext::{first_cert, parse_cert_der, parse_certs};
use super::{PkiError, PkiResult};

const ITERATIONS: u32 = 10_000;

fn p12_cert(der: &[u8], what: &str) -> PkiResult<Certificate> {
    Certificate::from_der(der)
        .map_err(|e| PkiError::Malformed(format!("{what} cannot go into a PKCS#12 file: {e}")))
}

pub(crate) fn build(
    cert_pem: &str,
    key_pem: &str,
    chain_pem: &[String],
    passphrase: &str,
) -> PkiResult<Vec<u8>> {
    if passphrase.is_empty() {
        return Err(PkiError::Refused(
            "a PKCS#12 file needs a non-empty passphrase".to_string(),
        ));
    }
    let leaf_der = first_cert(cert_pem, "client certificate", false)?;
    let leaf = parse_cert_der(&leaf_der)
        .map_err(|e| PkiError::Malformed(format!("client certificate is not valid X.509: {e}")))?;
    let key = load_private_key(key_pem, "client private key")?;
    if !pair_matches(&key, leaf.public_key()) {
        return Err(PkiError::KeyMismatch(
            "the client private key does not belong to the client certificate".to_string(),
        ));
    }
    let private = PrivateKey::from_der(key.serialized_der()).map_err(|e| {
        PkiError::Malformed(format!(
            "client private key must be PKCS#8 ('-----BEGIN PRIVATE KEY-----'): {e}; convert \
             it with `openssl pkcs8 -topk8 -nocrypt`"
        ))
    })?;
    let mut certs = vec![p12_cert(&leaf_der, "client certificate")?];
    for (i, pem) in chain_pem.iter().enumerate() {
        let what = format!("chain entry {}", i + 1);
        for der in parse_certs(pem, false).map_err(|e| super::pemtext::prefix(&what, e))? {
            if der != leaf_der {
                certs.push(p12_cert(&der, &what)?);
            }
        }
    }
    let alias = last_cn(leaf.subject()).unwrap_or_else(|| "client".to_string());
    let local_key_id = Sha256::digest(&leaf_der)[..20].to_vec();
    let mut store = KeyStore::new();
    store.add_entry(
        &alias,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id, private, certs)),
    );
    store
        .writer(passphrase)
        .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
        .encryption_iterations(ITERATIONS)
        .mac_algorithm(MacAlgorithm::HmacSha256)
        .mac_iterations(ITERATIONS)
        .write()
        .map_err(|e| PkiError::Crypto(format!("writing the PKCS#12 file failed: {e}")))
}
