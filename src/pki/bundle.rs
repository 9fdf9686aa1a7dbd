//! Truststore bundles: assembling and checking them against API Gateway's rules.

use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;

use super::chain::{MAX_CHAIN, strength_problems};
use super::names::{dn_string, same_name};
use super::pemtext::{parse_cert_der, scan};
use super::{BundleProblem, to_pem};

/// CAs expiring within this many days are reported as warnings.
const EXPIRY_WARNING_DAYS: i64 = 90;

pub(crate) fn build(ca_chain: &[Vec<u8>], pinned: &[Vec<u8>]) -> String {
    let mut seen: Vec<&[u8]> = Vec::new();
    let mut out = String::new();
    for der in ca_chain.iter().chain(pinned) {
        if seen.contains(&der.as_slice()) {
            continue;
        }
        seen.push(der);
        out.push_str(&to_pem("CERTIFICATE", der));
    }
    out
}

/// The certificates of a bundle as DER, in order; None when it holds any other block, a
/// broken block or no certificate at all.
fn certificates(pem: &str) -> Option<Vec<Vec<u8>>> {
    let scanned = scan(pem);
    if scanned.error.is_some() {
        return None;
    }
    let mut ders = Vec::with_capacity(scanned.blocks.len());
    for block in scanned.blocks {
        if !block.is_certificate() {
            return None;
        }
        let der = block.contents.ok()?;
        parse_cert_der(&der).ok()?;
        ders.push(der);
    }
    (!ders.is_empty()).then_some(ders)
}

pub(crate) fn same(a: &str, b: &str) -> bool {
    match (certificates(a), certificates(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn problem(subject: Option<&str>, message: String, fatal: bool) -> BundleProblem {
    BundleProblem {
        subject: subject.map(str::to_string),
        message,
        fatal,
    }
}

/// The longest chain (top first) ending at certificate `i`, following `parents`, never
/// revisiting a certificate and never longer than `limit`.
fn longest_from(
    i: usize,
    parents: &[Vec<usize>],
    stack: &mut Vec<usize>,
    limit: usize,
) -> Vec<usize> {
    stack.push(i);
    let mut best = Vec::new();
    if stack.len() < limit {
        for &p in &parents[i] {
            if stack.contains(&p) {
                continue;
            }
            let path = longest_from(p, parents, stack, limit);
            if path.len() > best.len() {
                best = path;
            }
        }
    }
    stack.pop();
    best.push(i);
    best
}

pub(crate) fn validate(pem: &str, now: OffsetDateTime) -> Vec<BundleProblem> {
    let mut problems = Vec::new();
    let scanned = scan(pem);
    let mut ders: Vec<Vec<u8>> = Vec::new();
    for block in scanned.blocks {
        let n = block.number;
        if block.is_private_key() {
            problems.push(problem(
                None,
                format!(
                    "PEM block {n} is a {}: a truststore must never hold private keys; remove it",
                    block.label
                ),
                true,
            ));
            continue;
        }
        if !block.is_certificate() {
            problems.push(problem(
                None,
                format!(
                    "PEM block {n} is a {}, not a CERTIFICATE; a truststore holds only CA \
                     certificates",
                    block.label
                ),
                true,
            ));
            continue;
        }
        match block.contents {
            Err(e) => problems.push(problem(
                None,
                format!("PEM block {n} is not a valid X.509 certificate: {e}"),
                true,
            )),
            Ok(der) => match parse_cert_der(&der) {
                Err(e) => problems.push(problem(
                    None,
                    format!("PEM block {n} is not a valid X.509 certificate: {e}"),
                    true,
                )),
                Ok(_) => ders.push(der),
            },
        }
    }
    if let Some(error) = scanned.error {
        problems.push(problem(None, error, true));
    }
    if ders.is_empty() {
        problems.push(problem(
            None,
            "no certificate found: the bundle needs at least one CA certificate".to_string(),
            true,
        ));
        return problems;
    }

    let certs: Vec<X509Certificate<'_>> =
        ders.iter().filter_map(|d| parse_cert_der(d).ok()).collect();
    for (i, cert) in certs.iter().enumerate() {
        let subject = dn_string(cert.subject());
        let subject = Some(subject.as_str());
        if ders[..i].contains(&ders[i]) {
            problems.push(problem(
                subject,
                "duplicate certificate: it appears more than once in the bundle".to_string(),
                true,
            ));
            continue;
        }
        if !cert.is_ca() {
            problems.push(problem(
                subject,
                "not a CA certificate (basicConstraints CA:TRUE missing); a truststore holds \
                 only CA certificates"
                    .to_string(),
                true,
            ));
        }
        if let Ok(Some(ku)) = cert.key_usage()
            && !ku.value.key_cert_sign()
        {
            problems.push(problem(
                subject,
                "keyUsage lacks keyCertSign: it cannot vouch for client certificates".to_string(),
                false,
            ));
        }
        for message in strength_problems(cert) {
            problems.push(problem(subject, message, true));
        }
        let start = cert.validity().not_before.to_datetime();
        let end = cert.validity().not_after.to_datetime();
        if now > end {
            problems.push(problem(subject, format!("expired on {end}"), true));
        } else if end - now < Duration::days(EXPIRY_WARNING_DAYS) {
            problems.push(problem(
                subject,
                format!(
                    "expires in {} days (on {}); renew it and publish a new bundle",
                    (end - now).whole_days(),
                    end.date()
                ),
                false,
            ));
        }
        if now < start {
            problems.push(problem(
                subject,
                format!("not yet valid: valid from {start}"),
                false,
            ));
        }
    }

    // Issuer links inside the bundle: by name and verified signature, duplicates skipped.
    let unique: Vec<usize> = (0..certs.len())
        .filter(|&i| !ders[..i].contains(&ders[i]))
        .collect();
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(); certs.len()];
    for &i in &unique {
        let cert = &certs[i];
        if same_name(cert.subject(), cert.issuer()) {
            continue;
        }
        for &j in &unique {
            if i != j
                && same_name(cert.issuer(), certs[j].subject())
                && cert.verify_signature(Some(certs[j].public_key())).is_ok()
            {
                parents[i].push(j);
            }
        }
        if parents[i].is_empty() {
            problems.push(problem(
                Some(&dn_string(cert.subject())),
                format!(
                    "its issuer '{}' is not in the bundle; API Gateway wants the whole chain up \
                     to a root",
                    dn_string(cert.issuer())
                ),
                false,
            ));
        }
    }
    let longest = unique
        .iter()
        .map(|&i| longest_from(i, &parents, &mut Vec::new(), MAX_CHAIN + 1))
        .max_by_key(Vec::len)
        .unwrap_or_default();
    if longest.len() > MAX_CHAIN {
        let path = longest
            .iter()
            .map(|&i| dn_string(certs[i].subject()))
            .collect::<Vec<_>>()
            .join(" -> ");
        problems.push(problem(
            None,
            format!(
                "a chain in the bundle is longer than API Gateway's limit of {MAX_CHAIN} \
                 certificates: {path}"
            ),
            true,
        ));
    }
    problems
}
