//! Chain verification with a reason for every failing link.

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;

use super::inspect::is_self_signed;
use super::keys::describe;
use super::names::{dn_string, same_name, signature_algorithm_name, signature_algorithm_strong};
use super::pemtext::parse_cert_der;
use super::{ChainReport, LinkCheck};

/// API Gateway accepts chains of at most this many certificates.
pub(crate) const MAX_CHAIN: usize = 4;

/// Validity problems of one certificate at `now`.
pub(crate) fn validity_problems(cert: &X509Certificate<'_>, now: OffsetDateTime) -> Vec<String> {
    let start = cert.validity().not_before.to_datetime();
    let end = cert.validity().not_after.to_datetime();
    let mut problems = Vec::new();
    if now < start {
        problems.push(format!("not yet valid: valid from {start}"));
    }
    if now > end {
        problems.push(format!("expired on {end}"));
    }
    problems
}

/// Key and signature strength problems under API Gateway's rules.
pub(crate) fn strength_problems(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    let key = describe(cert.public_key());
    if !key.gateway_accepts() {
        problems.push(format!(
            "weak or unsupported key {}: API Gateway needs RSA >= 2048 or ECDSA P-256/P-384",
            key.name
        ));
    }
    let sig = &cert.signature_algorithm.algorithm;
    if !signature_algorithm_strong(sig) {
        problems.push(format!(
            "weak signature {}: API Gateway needs SHA-256 or stronger",
            signature_algorithm_name(sig)
        ));
    }
    problems
}

/// When the certificate has an AKI key id and `issuer` an SKI, they must agree.
fn key_ids_agree(cert: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    let aki = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0)
            }
            _ => None,
        });
    let ski = issuer
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0),
            _ => None,
        });
    match (aki, ski) {
        (Some(a), Some(s)) => a == s,
        _ => true,
    }
}

struct Candidate<'a> {
    der: &'a [u8],
    cert: X509Certificate<'a>,
    anchor: bool,
}

/// Picks the issuer of `cert`: among name matches, one whose key verifies the signature,
/// preferring anchors. Returns the index and whether the signature verified.
fn find_issuer(
    cert: &X509Certificate<'_>,
    candidates: &[Candidate<'_>],
    used: &[&[u8]],
) -> Option<(usize, bool)> {
    let mut fallback: Option<usize> = None;
    let mut verified: Option<usize> = None;
    for (i, c) in candidates.iter().enumerate() {
        if used.contains(&c.der)
            || !same_name(cert.issuer(), c.cert.subject())
            || !key_ids_agree(cert, &c.cert)
        {
            continue;
        }
        if cert.verify_signature(Some(c.cert.public_key())).is_ok() {
            match verified {
                Some(v) if candidates[v].anchor || !c.anchor => {}
                _ => verified = Some(i),
            }
        } else if fallback.is_none() {
            fallback = Some(i);
        }
    }
    verified.map(|i| (i, true)).or(fallback.map(|i| (i, false)))
}

pub(crate) fn verify_chain(
    leaf: &[u8],
    issuers: &[Vec<u8>],
    anchors: &[Vec<u8>],
    now: OffsetDateTime,
) -> ChainReport {
    let leaf_cert = match parse_cert_der(leaf) {
        Ok(c) => c,
        Err(e) => {
            return ChainReport {
                links: vec![LinkCheck {
                    subject: "(unreadable certificate)".to_string(),
                    problems: vec![format!("not a valid X.509 certificate: {e}")],
                }],
                ok: false,
            };
        }
    };
    let candidates: Vec<Candidate<'_>> = anchors
        .iter()
        .map(|d| (d, true))
        .chain(issuers.iter().map(|d| (d, false)))
        .filter_map(|(der, anchor)| {
            parse_cert_der(der).ok().map(|cert| Candidate {
                der: der.as_slice(),
                cert,
                anchor,
            })
        })
        .collect();
    let is_anchor = |der: &[u8]| anchors.iter().any(|a| a.as_slice() == der);

    let mut links: Vec<LinkCheck> = Vec::new();
    let mut used: Vec<&[u8]> = vec![leaf];
    let mut current = leaf_cert;
    let mut current_der = leaf;
    let mut anchored = false;
    loop {
        let mut problems = validity_problems(&current, now);
        problems.extend(strength_problems(&current));
        if links.is_empty() {
            if let Ok(Some(eku)) = current.extended_key_usage()
                && !eku.value.client_auth
            {
                problems.push(
                    "extendedKeyUsage is present without clientAuth: not usable as a TLS \
                     client certificate"
                        .to_string(),
                );
            }
        } else {
            issuer_problems(&current, links.len() - 1, &mut problems);
        }
        if is_anchor(current_der) {
            anchored = true;
            links.push(LinkCheck {
                subject: dn_string(current.subject()),
                problems,
            });
            break;
        }
        let next = if is_self_signed(&current) {
            problems.push(
                "self-signed certificate that is not a trusted anchor: the chain does not \
                 reach a trusted anchor"
                    .to_string(),
            );
            None
        } else {
            match find_issuer(&current, &candidates, &used) {
                None => {
                    problems.push(format!(
                        "issuer '{}' not found among the issuers and trusted anchors: the \
                         chain does not reach a trusted anchor",
                        dn_string(current.issuer())
                    ));
                    None
                }
                Some((i, verified)) => {
                    if !verified {
                        problems.push(format!(
                            "bad signature: it does not verify with the key of '{}'",
                            dn_string(candidates[i].cert.subject())
                        ));
                    }
                    Some(i)
                }
            }
        };
        links.push(LinkCheck {
            subject: dn_string(current.subject()),
            problems,
        });
        let Some(i) = next else { break };
        current = candidates[i].cert.clone();
        current_der = candidates[i].der;
        used.push(current_der);
    }
    let length = links.len();
    if length > MAX_CHAIN
        && let Some(last) = links.last_mut()
    {
        last.problems.push(format!(
            "the chain has {length} certificates, more than API Gateway's limit of {MAX_CHAIN}"
        ));
    }
    let ok = anchored && links.iter().all(|l| l.problems.is_empty());
    ChainReport { links, ok }
}

/// Problems of a certificate used as an issuer with `below` CA certificates between it and
/// the leaf.
fn issuer_problems(cert: &X509Certificate<'_>, below: usize, problems: &mut Vec<String>) {
    match cert.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => {
            if let Some(limit) = bc.value.path_len_constraint
                && usize::try_from(limit).is_ok_and(|limit| below > limit)
            {
                problems.push(format!(
                    "pathLen {limit} exceeded: {below} CA certificate(s) below it in the chain"
                ));
            }
        }
        Err(e) => problems.push(format!("broken basicConstraints extension: {e}")),
        _ => problems.push(
            "issuer is not a CA (basicConstraints CA:TRUE missing) but signs the certificate \
             below it"
                .to_string(),
        ),
    }
    if let Ok(Some(ku)) = cert.key_usage()
        && !ku.value.key_cert_sign()
    {
        problems.push("issuer lacks keyUsage keyCertSign".to_string());
    }
}
