//! PEM scanning that tolerates text between blocks and says precisely what is broken.

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::{PkiError, PkiResult};

/// One `-----BEGIN X-----` ... `-----END X-----` block, numbered from 1 in text order.
pub(crate) struct Block {
    pub number: usize,
    pub label: String,
    /// The decoded bytes, or why the body is not valid base64.
    pub contents: Result<Vec<u8>, String>,
}

impl Block {
    pub fn is_private_key(&self) -> bool {
        self.label.contains("PRIVATE KEY")
    }

    pub fn is_certificate(&self) -> bool {
        self.label == "CERTIFICATE" || self.label == "X509 CERTIFICATE"
    }
}

/// Every complete block of `text`, and the structural error that stopped the scan, if any
/// (a BEGIN without END, an END without BEGIN, mismatched labels).
pub(crate) struct Scan {
    pub blocks: Vec<Block>,
    pub error: Option<String>,
}

fn marker<'a>(line: &'a str, kind: &str) -> Option<&'a str> {
    line.strip_prefix("-----")?
        .strip_prefix(kind)?
        .strip_prefix(' ')?
        .strip_suffix("-----")
        .map(str::trim)
}

pub(crate) fn scan(text: &str) -> Scan {
    let mut blocks = Vec::new();
    let mut open: Option<(String, usize, Vec<&str>)> = None;
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw.trim();
        if let Some(label) = marker(line, "BEGIN") {
            if let Some((prev, start, _)) = open {
                let error = format!(
                    "truncated PEM block {}: '-----BEGIN {prev}-----' on line {start} has no \
                     matching END line before the next BEGIN on line {line_no}",
                    blocks.len() + 1
                );
                return Scan {
                    blocks,
                    error: Some(error),
                };
            }
            open = Some((label.to_string(), line_no, Vec::new()));
        } else if let Some(label) = marker(line, "END") {
            let Some((begin, _, body)) = open.take() else {
                return Scan {
                    blocks,
                    error: Some(format!(
                        "broken PEM: '-----END {label}-----' on line {line_no} has no matching \
                         BEGIN line"
                    )),
                };
            };
            if begin != label {
                let error = format!(
                    "broken PEM block {}: BEGIN {begin} ends with END {label} on line {line_no}",
                    blocks.len() + 1
                );
                return Scan {
                    blocks,
                    error: Some(error),
                };
            }
            let rebuilt = format!(
                "-----BEGIN {begin}-----\n{}\n-----END {begin}-----\n",
                body.join("\n")
            );
            let contents = match pem::parse(rebuilt) {
                Ok(p) if p.contents().is_empty() => Err("the block is empty".to_string()),
                Ok(p) => Ok(p.into_contents()),
                Err(e) => Err(format!("the base64 body is invalid ({e})")),
            };
            blocks.push(Block {
                number: blocks.len() + 1,
                label: begin,
                contents,
            });
        } else if let Some((_, _, body)) = open.as_mut() {
            body.push(line);
        }
    }
    let error = open.map(|(label, start, _)| {
        format!(
            "truncated PEM block {}: '-----BEGIN {label}-----' on line {start} has no \
             '-----END {label}-----' line (the text was cut off?)",
            blocks.len() + 1
        )
    });
    Scan { blocks, error }
}

/// Parses one DER certificate, refusing trailing bytes.
pub(crate) fn parse_cert_der(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok((rest, _)) => Err(format!(
            "{} unexpected bytes follow the certificate",
            rest.len()
        )),
        Err(e) => Err(e.to_string()),
    }
}

pub(crate) fn parse_certs(text: &str, allow_keys: bool) -> PkiResult<Vec<Vec<u8>>> {
    let scan = scan(text);
    if let Some(error) = scan.error {
        return Err(PkiError::Malformed(format!(
            "{error}; paste the complete PEM text including the END line"
        )));
    }
    let mut certs = Vec::new();
    for block in scan.blocks {
        if block.is_private_key() {
            if allow_keys {
                continue;
            }
            return Err(PkiError::Malformed(format!(
                "the text contains a PRIVATE KEY block; a truststore/cert file must not hold \
                 keys: remove PEM block {} ({}) and keep the key separately",
                block.number, block.label
            )));
        }
        if !block.is_certificate() {
            continue;
        }
        let der = block.contents.map_err(|e| {
            PkiError::Malformed(format!(
                "PEM block {} is not a valid X.509 certificate: {e}",
                block.number
            ))
        })?;
        parse_cert_der(&der).map_err(|e| {
            PkiError::Malformed(format!(
                "PEM block {} is not a valid X.509 certificate: {e}",
                block.number
            ))
        })?;
        certs.push(der);
    }
    if certs.is_empty() {
        return Err(PkiError::Malformed(
            "no certificate found: expected at least one '-----BEGIN CERTIFICATE-----' block"
                .to_string(),
        ));
    }
    Ok(certs)
}

/// The first certificate of a PEM text (keys allowed or not); `what` names the input.
pub(crate) fn first_cert(text: &str, what: &str, allow_keys: bool) -> PkiResult<Vec<u8>> {
    let mut certs = parse_certs(text, allow_keys).map_err(|e| prefix(what, e))?;
    Ok(certs.swap_remove(0))
}

/// Puts `what: ` in front of the message of a PkiError.
pub(crate) fn prefix(what: &str, e: PkiError) -> PkiError {
    match e {
        PkiError::Malformed(m) => PkiError::Malformed(format!("{what}: {m}")),
        PkiError::Refused(m) => PkiError::Refused(format!("{what}: {m}")),
        PkiError::KeyMismatch(m) => PkiError::KeyMismatch(format!("{what}: {m}")),
        PkiError::UnusableCa(m) => PkiError::UnusableCa(format!("{what}: {m}")),
        PkiError::Crypto(m) => PkiError::Crypto(format!("{what}: {m}")),
    }
}
