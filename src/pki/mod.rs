//! Pure X.509: CA creation, client issuance (server keygen, CSR, re-signing a known public
//! key), inspection, chain checks and truststore bundles. No I/O, no async.
//!
//! The public API below is what `ops` relies on; internals are split into submodules:
//! `pemtext` (PEM scanning), `keys` (key generation, loading, strength), `names` (DN text
//! and OID names), `issue` (CAs and client certificates), `csr`, `inspect`, `chain`,
//! `bundle` and `p12`.
//!
//! Distinguished names are rendered as RFC 4514 escaped `type=value` pairs joined by `,`
//! in the order the certificate encodes them (most significant first, as written in the
//! DER, e.g. `C=DE,O=Example,CN=acme`), which is the reverse of RFC 4514's own order but
//! stable and matching what operators see in the certificate.

mod bundle;
mod chain;
mod csr;
mod inspect;
mod issue;
mod keys;
mod names;
mod p12;
mod pemtext;

pub use issue::ClientSigner;

use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PkiError {
    /// Unparseable PEM/DER, CSR, key; the message says which input and what is wrong.
    #[error("{0}")]
    Malformed(String),
    /// Parseable but refused (weak key, SHA-1, CA extension requested, bad CN ...).
    #[error("{0}")]
    Refused(String),
    /// The CA key does not belong to the CA certificate.
    #[error("{0}")]
    KeyMismatch(String),
    /// The CA cannot issue (expired, not a CA, pathLen exhausted).
    #[error("{0}")]
    UnusableCa(String),
    /// Key generation or signing failed in the crypto library.
    #[error("{0}")]
    Crypto(String),
}

pub type PkiResult<T> = Result<T, PkiError>;

/// Key algorithms for CAs and clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum KeyAlgorithm {
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}

impl KeyAlgorithm {
    pub const ALL: [KeyAlgorithm; 5] = [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
    ];

    /// `ecdsa-p256`, `rsa-4096`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::EcdsaP384 => "ecdsa-p384",
            KeyAlgorithm::Rsa2048 => "rsa-2048",
            KeyAlgorithm::Rsa3072 => "rsa-3072",
            KeyAlgorithm::Rsa4096 => "rsa-4096",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s.trim()))
    }

    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096
        )
    }
}

/// Subject fields an operator may set (C, ST, L, O, OU, CN).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Subject {
    pub c: Option<String>,
    pub st: Option<String>,
    pub l: Option<String>,
    pub o: Option<String>,
    pub ou: Option<String>,
    pub cn: Option<String>,
}

/// Parameters of a CA certificate to create.
#[derive(Debug, Clone)]
pub struct CaParams {
    pub subject: Subject,
    pub key_algorithm: KeyAlgorithm,
    pub validity_days: u32,
}

/// A CA certificate with its private key (PKCS#8 PEM).
#[derive(Clone)]
pub struct CaMaterial {
    pub cert_pem: String,
    pub key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for CaMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaMaterial")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// Where a client certificate's public key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Generate a key pair server-side.
    Generate(KeyAlgorithm),
    /// Sign an operator-supplied PKCS#10 CSR (PEM); signature verified, dangerous
    /// extensions (basicConstraints CA, keyCertSign ...) refused, weak keys refused.
    Csr(String),
    /// Re-sign the public key of an existing certificate (PEM): renew without rekey.
    ExistingCert(String),
}

/// A client certificate to issue.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    /// The subject CN; must equal the client_id for the authorizer (checked by ops).
    pub cn: String,
    pub validity_days: u32,
    pub key: KeySource,
}

/// A freshly issued client certificate.
#[derive(Clone)]
pub struct IssuedCert {
    pub cert_pem: String,
    /// Present only with [`KeySource::Generate`].
    pub key_pem: Option<Zeroizing<String>>,
    pub info: CertInfo,
}

impl std::fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCert")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &self.key_pem.as_ref().map(|_| "<redacted>"))
            .field("info", &self.info)
            .finish()
    }
}

/// What an operator needs to know about one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// RFC 4514-escaped text in certificate order, e.g. `C=DE,O=Example,CN=acme`.
    pub subject: String,
    pub issuer: String,
    /// The subject CN (last CN attribute), if any.
    pub cn: Option<String>,
    pub serial_decimal: String,
    /// Colon-separated upper-case hex, e.g. `0A:1B:...`.
    pub serial_hex: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// `ecdsa-p256`, `rsa-4096`, `ed25519`, `rsa-1024` ...
    pub key_algorithm: String,
    pub key_bits: u32,
    /// `ecdsa-with-SHA256`, `sha256WithRSAEncryption`, ...
    pub signature_algorithm: String,
    /// SHA-256 of the DER, lower-case hex without separators.
    pub fingerprint_sha256: String,
    pub is_ca: bool,
    pub path_len: Option<u32>,
    /// `digitalSignature`, `keyEncipherment`, `keyCertSign`, `cRLSign` ...
    pub key_usage: Vec<String>,
    /// `clientAuth`, `serverAuth`, or dotted OIDs.
    pub extended_key_usage: Vec<String>,
    pub subject_alt_names: Vec<String>,
    /// Hex, lower-case.
    pub subject_key_id: Option<String>,
    pub authority_key_id: Option<String>,
    pub self_signed: bool,
}

impl CertInfo {
    /// Whole days from `now` until notAfter (negative once expired).
    pub fn days_left(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_days()
    }
}

/// The check of one link of a chain (one certificate, leaf first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkCheck {
    pub subject: String,
    /// Empty when the link is fine; otherwise each reason it fails.
    pub problems: Vec<String>,
}

/// Result of verifying a leaf against its issuers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Leaf first, then each issuer up to the anchor that was found.
    pub links: Vec<LinkCheck>,
    /// True when every link is fine and the chain ends at a trusted anchor.
    pub ok: bool,
}

/// One problem found in a truststore bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleProblem {
    /// Subject of the certificate concerned, or None for the bundle as a whole.
    pub subject: Option<String>,
    pub message: String,
    /// False for warnings (e.g. a CA expiring within 90 days) that do not stop a publish.
    pub fatal: bool,
}

/// Every certificate in a PEM text, as DER, in order. Malformed when a block is broken,
/// when there is no certificate at all, or when the text holds a private key
/// (`allow_keys` false).
pub fn parse_pem_certs(text: &str, allow_keys: bool) -> PkiResult<Vec<Vec<u8>>> {
    pemtext::parse_certs(text, allow_keys)
}

/// Creates a self-signed root CA (basicConstraints CA:TRUE critical, keyUsage
/// keyCertSign+cRLSign critical, SKI), valid from `now` for `validity_days`.
pub fn create_root(params: &CaParams, now: OffsetDateTime) -> PkiResult<CaMaterial> {
    issue::create_root(params, now)
}

/// Creates an intermediate signed by `root`: pathLen 0, same extensions plus AKI.
/// Never outlives the root (notAfter clamped to the root's).
pub fn create_intermediate(
    root: &CaMaterial,
    params: &CaParams,
    now: OffsetDateTime,
) -> PkiResult<CaMaterial> {
    issue::create_intermediate(root, params, now)
}

/// Issues a client certificate signed by `issuer`: random positive 128-bit serial,
/// CA:FALSE, keyUsage digitalSignature (+keyEncipherment for RSA keys), EKU clientAuth,
/// SKI/AKI, subject CN = `req.cn`. notAfter is clamped to the issuer's notAfter.
/// Refuses an expired issuer, an issuer that is not a CA, and a key that does not match it.
pub fn issue_client(
    issuer: &CaMaterial,
    req: &ClientRequest,
    now: OffsetDateTime,
) -> PkiResult<IssuedCert> {
    issue::issue_client(issuer, req, now)
}

/// Inspects one certificate given as PEM or DER.
pub fn inspect(pem_or_der: &[u8]) -> PkiResult<CertInfo> {
    inspect::inspect(pem_or_der)
}

/// True when the PKCS#8 PEM private key belongs to the certificate.
pub fn key_matches_cert(key_pem: &str, cert_pem: &str) -> PkiResult<bool> {
    keys::key_matches_cert(key_pem, cert_pem)
}

/// Verifies `leaf` (DER) up through `issuers` (DER, any order) to one of `anchors` (DER):
/// signatures, validity at `now`, CA flags and keyCertSign on issuers, pathLen limits,
/// clientAuth EKU when the leaf has an EKU. Each failing link gets its reasons. API
/// Gateway's rules are applied too: keys and signatures weaker than RSA-2048 / P-256 /
/// SHA-256 and chains longer than 4 certificates are reported as problems.
pub fn verify_chain(
    leaf: &[u8],
    issuers: &[Vec<u8>],
    anchors: &[Vec<u8>],
    now: OffsetDateTime,
) -> ChainReport {
    chain::verify_chain(leaf, issuers, anchors, now)
}

/// Assembles a truststore bundle: `ca_chain` (DER, intermediates first, then the root),
/// then `pinned` extra CAs (DER), duplicates dropped, as concatenated PEM blocks.
pub fn build_bundle(ca_chain: &[Vec<u8>], pinned: &[Vec<u8>]) -> String {
    bundle::build(ca_chain, pinned)
}

/// Checks a bundle against API Gateway's rules: only CA certificates, no private keys,
/// SHA-256 or stronger signatures, RSA >= 2048 or ECDSA P-256/P-384, chains at most 4
/// long, not expired at `now`, no duplicates. Warns (not fatal) for CAs expiring within
/// 90 days.
pub fn validate_bundle(pem: &str, now: OffsetDateTime) -> Vec<BundleProblem> {
    bundle::validate(pem, now)
}

/// Do two truststore bundles hold the same certificates in the same order? Certificates are
/// compared as DER, so line breaks, blank lines and text between the PEM blocks (the
/// reference tooling writes intermediate, a blank line, then root) make no difference. A
/// bundle holding anything but certificates (a key, a CRL, a broken block) is the same as
/// another only when the two texts are byte for byte equal. The one comparison of bundles:
/// publish, `truststore check` and doctor all go through it.
pub fn same_bundle(a: &str, b: &str) -> bool {
    bundle::same(a, b)
}

/// A PKCS#12 file holding the client cert, its key and the chain, protected by `passphrase`.
pub fn pkcs12(
    cert_pem: &str,
    key_pem: &str,
    chain_pem: &[String],
    passphrase: &str,
) -> PkiResult<Vec<u8>> {
    p12::build(cert_pem, key_pem, chain_pem, passphrase)
}

/// Converts DER to one PEM block of the given label (`CERTIFICATE`), with `\n` line ends.
pub fn to_pem(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

#[cfg(test)]
mod tests;
