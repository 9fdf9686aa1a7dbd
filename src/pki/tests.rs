//! Unit tests of the PKI engine: properties of issued certificates and every refused input.

use std::sync::OnceLock;

use proptest::prelude::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime, macros::datetime};
use x509_parser::prelude::FromDer;

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pki");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}"))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn now() -> OffsetDateTime {
    datetime!(2025-06-01 12:00 UTC)
}

fn subject(cn: &str) -> Subject {
    Subject {
        c: Some("DE".into()),
        st: Some("Berlin".into()),
        l: Some("Berlin".into()),
        o: Some("Example GmbH".into()),
        ou: Some("Platform".into()),
        cn: Some(cn.into()),
    }
}

fn ca_params(cn: &str, alg: KeyAlgorithm, days: u32) -> CaParams {
    CaParams {
        subject: subject(cn),
        key_algorithm: alg,
        validity_days: days,
    }
}

struct Hierarchy {
    root: CaMaterial,
    intermediate: CaMaterial,
}

/// An ECDSA P-256 root and intermediate, shared by the tests (fast to make).
fn ec() -> &'static Hierarchy {
    static H: OnceLock<Hierarchy> = OnceLock::new();
    H.get_or_init(|| {
        let root = create_root(
            &ca_params("Test Root", KeyAlgorithm::EcdsaP256, 3650),
            now(),
        )
        .expect("root");
        let intermediate = create_intermediate(
            &root,
            &ca_params("Test Issuing CA", KeyAlgorithm::EcdsaP256, 1825),
            now(),
        )
        .expect("intermediate");
        Hierarchy { root, intermediate }
    })
}

/// An RSA-2048 root, shared.
fn rsa_root() -> &'static CaMaterial {
    static R: OnceLock<CaMaterial> = OnceLock::new();
    R.get_or_init(|| {
        create_root(&ca_params("RSA Root", KeyAlgorithm::Rsa2048, 3650), now()).expect("root")
    })
}

fn der(pem_text: &str) -> Vec<u8> {
    parse_pem_certs(pem_text, false).expect("pem").remove(0)
}

fn client(cn: &str, key: KeySource) -> ClientRequest {
    ClientRequest {
        cn: cn.into(),
        validity_days: 395,
        key,
    }
}

fn issue_ec(cn: &str) -> IssuedCert {
    issue_client(
        &ec().intermediate,
        &client(cn, KeySource::Generate(KeyAlgorithm::EcdsaP256)),
        now(),
    )
    .expect("issue")
}

fn with_cert<R>(
    der: &[u8],
    f: impl FnOnce(&x509_parser::certificate::X509Certificate<'_>) -> R,
) -> R {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).expect("x509");
    f(&cert)
}

fn ext_critical(der: &[u8], oid: &str) -> Option<bool> {
    with_cert(der, |c| {
        c.extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == oid)
            .map(|e| e.critical)
    })
}

const BASIC_CONSTRAINTS: &str = "2.5.29.19";
const KEY_USAGE: &str = "2.5.29.15";

// ---------------------------------------------------------------- CAs

#[test]
fn root_has_ca_extensions() {
    let root = &ec().root;
    let info = inspect(root.cert_pem.as_bytes()).unwrap();
    assert_eq!(
        info.subject,
        "C=DE,ST=Berlin,L=Berlin,O=Example GmbH,OU=Platform,CN=Test Root"
    );
    assert_eq!(info.subject, info.issuer);
    assert!(info.is_ca);
    assert_eq!(info.path_len, None);
    assert_eq!(info.key_usage, vec!["keyCertSign", "cRLSign"]);
    assert!(info.subject_key_id.is_some());
    assert!(info.self_signed);
    assert_eq!(info.not_before, now());
    assert_eq!(info.not_after, now() + Duration::days(3650));
    let d = der(&root.cert_pem);
    assert_eq!(ext_critical(&d, BASIC_CONSTRAINTS), Some(true));
    assert_eq!(ext_critical(&d, KEY_USAGE), Some(true));
    assert!(key_matches_cert(&root.key_pem, &root.cert_pem).unwrap());
    assert!(root.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
}

#[test]
fn intermediate_is_pathlen_zero_and_clamped_to_root() {
    let h = ec();
    let info = inspect(h.intermediate.cert_pem.as_bytes()).unwrap();
    let root = inspect(h.root.cert_pem.as_bytes()).unwrap();
    assert!(info.is_ca);
    assert_eq!(info.path_len, Some(0));
    assert_eq!(info.issuer, root.subject);
    assert_eq!(info.authority_key_id, root.subject_key_id);
    assert!(info.subject_key_id.is_some());
    assert!(!info.self_signed);

    let long = create_intermediate(
        &h.root,
        &ca_params("Long", KeyAlgorithm::EcdsaP384, 20_000),
        now(),
    )
    .unwrap();
    assert_eq!(
        inspect(long.cert_pem.as_bytes()).unwrap().not_after,
        root.not_after
    );
}

#[test]
fn rsa_and_p384_cas_sign_with_their_hash() {
    let rsa = inspect(rsa_root().cert_pem.as_bytes()).unwrap();
    assert_eq!(rsa.key_algorithm, "rsa-2048");
    assert_eq!(rsa.signature_algorithm, "sha256WithRSAEncryption");
    let p384 = create_root(&ca_params("P384", KeyAlgorithm::EcdsaP384, 365), now()).unwrap();
    let info = inspect(p384.cert_pem.as_bytes()).unwrap();
    assert_eq!(info.key_algorithm, "ecdsa-p384");
    assert_eq!(info.key_bits, 384);
    assert_eq!(info.signature_algorithm, "ecdsa-with-SHA384");
    let leaf = issue_client(
        &p384,
        &client("p384-leaf", KeySource::Generate(KeyAlgorithm::EcdsaP256)),
        now(),
    )
    .unwrap();
    assert_eq!(leaf.info.signature_algorithm, "ecdsa-with-SHA384");
}

#[test]
fn bad_ca_params_are_refused() {
    let cases = [
        ca_params("x", KeyAlgorithm::EcdsaP256, 0),
        ca_params("x", KeyAlgorithm::EcdsaP256, u32::MAX),
        CaParams {
            subject: Subject {
                c: Some("Germany".into()),
                ..subject("x")
            },
            ..ca_params("x", KeyAlgorithm::EcdsaP256, 10)
        },
        CaParams {
            subject: Subject {
                cn: None,
                ..subject("x")
            },
            ..ca_params("x", KeyAlgorithm::EcdsaP256, 10)
        },
        CaParams {
            subject: Subject {
                o: Some("  ".into()),
                ..subject("x")
            },
            ..ca_params("x", KeyAlgorithm::EcdsaP256, 10)
        },
    ];
    for params in cases {
        let err = create_root(&params, now()).unwrap_err();
        assert!(matches!(err, PkiError::Refused(_)), "{params:?}: {err:?}");
    }
    let ancient = create_root(
        &ca_params("x", KeyAlgorithm::EcdsaP256, 10),
        datetime!(1900-01-01 0:00 UTC),
    )
    .unwrap_err();
    assert!(matches!(ancient, PkiError::Refused(_)), "{ancient:?}");
}

// ---------------------------------------------------------------- clients

#[test]
fn client_certs_for_every_algorithm() {
    let h = ec();
    let inter = inspect(h.intermediate.cert_pem.as_bytes()).unwrap();
    for alg in KeyAlgorithm::ALL {
        let issued = issue_client(
            &h.intermediate,
            &client("acme-prod", KeySource::Generate(alg)),
            now(),
        )
        .unwrap();
        let info = &issued.info;
        assert_eq!(info, &inspect(issued.cert_pem.as_bytes()).unwrap());
        assert_eq!(info.subject, "CN=acme-prod");
        assert_eq!(info.cn.as_deref(), Some("acme-prod"));
        assert_eq!(info.issuer, inter.subject);
        assert_eq!(info.key_algorithm, alg.as_str());
        assert!(!info.is_ca);
        assert_eq!(info.extended_key_usage, vec!["clientAuth"]);
        let expected_ku = if alg.is_rsa() {
            vec!["digitalSignature", "keyEncipherment"]
        } else {
            vec!["digitalSignature"]
        };
        assert_eq!(info.key_usage, expected_ku);
        assert!(info.subject_key_id.is_some());
        assert_eq!(info.authority_key_id, inter.subject_key_id);
        assert_eq!(info.signature_algorithm, "ecdsa-with-SHA256");
        assert_eq!(info.not_after, now() + Duration::days(395));
        let key = issued.key_pem.as_ref().expect("generated key");
        assert!(key_matches_cert(key, &issued.cert_pem).unwrap());
        let d = der(&issued.cert_pem);
        // basicConstraints is present and says CA:FALSE.
        assert_eq!(ext_critical(&d, BASIC_CONSTRAINTS), Some(true));
        with_cert(&d, |c| {
            let bc = c
                .basic_constraints()
                .unwrap()
                .expect("basicConstraints present");
            assert!(!bc.value.ca);
            // A 16-byte positive serial.
            let serial = c.raw_serial();
            assert_eq!(serial.len(), 16);
            assert_eq!(serial[0] & 0x80, 0);
            assert_ne!(serial[0], 0);
        });
        let report = verify_chain(
            &d,
            &[der(&h.intermediate.cert_pem)],
            &[der(&h.root.cert_pem)],
            now(),
        );
        assert!(report.ok, "{report:?}");
        assert_eq!(report.links.len(), 3);
    }
}

#[test]
fn serials_are_random_and_formatted() {
    let a = issue_ec("a");
    let b = issue_ec("a");
    assert_ne!(a.info.serial_decimal, b.info.serial_decimal);
    assert_eq!(a.info.serial_hex.len(), 16 * 3 - 1);
    assert!(
        a.info
            .serial_hex
            .chars()
            .all(|c| c == ':' || c.is_ascii_digit() || c.is_ascii_uppercase())
    );
    let hex_digits: String = a.info.serial_hex.split(':').collect();
    let from_hex = num_bigint::BigUint::parse_bytes(hex_digits.as_bytes(), 16).unwrap();
    assert_eq!(from_hex.to_string(), a.info.serial_decimal);
}

#[test]
fn rsa_issuer_signs_with_sha256_and_root_only_works() {
    let leaf = issue_client(
        rsa_root(),
        &client(
            "Prod-NextJs-Client",
            KeySource::Generate(KeyAlgorithm::EcdsaP384),
        ),
        now(),
    )
    .unwrap();
    assert_eq!(leaf.info.signature_algorithm, "sha256WithRSAEncryption");
    assert_eq!(leaf.info.key_algorithm, "ecdsa-p384");
    let report = verify_chain(
        &der(&leaf.cert_pem),
        &[],
        &[der(&rsa_root().cert_pem)],
        now(),
    );
    assert!(report.ok, "{report:?}");
}

#[test]
fn client_never_outlives_issuer() {
    let h = ec();
    let issued = issue_client(
        &h.intermediate,
        &ClientRequest {
            validity_days: 30_000,
            ..client("long", KeySource::Generate(KeyAlgorithm::EcdsaP256))
        },
        now(),
    )
    .unwrap();
    let inter = inspect(h.intermediate.cert_pem.as_bytes()).unwrap();
    assert_eq!(issued.info.not_after, inter.not_after);
}

#[test]
fn bad_issue_requests_are_refused() {
    let h = ec();
    let leaf = issue_ec("not-a-ca");
    let leaf_as_ca = CaMaterial {
        cert_pem: leaf.cert_pem.clone(),
        key_pem: leaf.key_pem.clone().unwrap(),
    };
    let mismatched = CaMaterial {
        cert_pem: h.intermediate.cert_pem.clone(),
        key_pem: h.root.key_pem.clone(),
    };
    let keygen = || KeySource::Generate(KeyAlgorithm::EcdsaP256);
    let far_future = now() + Duration::days(4000);
    let far_past = now() - Duration::days(1);
    type Check = fn(&PkiError) -> bool;
    let cases: Vec<(
        &str,
        &CaMaterial,
        ClientRequest,
        OffsetDateTime,
        Check,
        &str,
    )> = vec![
        (
            "empty CN",
            &h.intermediate,
            client("", keygen()),
            now(),
            |e| matches!(e, PkiError::Refused(_)),
            "empty",
        ),
        (
            "blank CN",
            &h.intermediate,
            client("   ", keygen()),
            now(),
            |e| matches!(e, PkiError::Refused(_)),
            "empty",
        ),
        (
            "comma CN",
            &h.intermediate,
            client("acme,O=evil", keygen()),
            now(),
            |e| matches!(e, PkiError::Refused(_)),
            "comma",
        ),
        (
            "long CN",
            &h.intermediate,
            client(&"x".repeat(65), keygen()),
            now(),
            |e| matches!(e, PkiError::Refused(_)),
            "longer",
        ),
        (
            "zero days",
            &h.intermediate,
            ClientRequest {
                validity_days: 0,
                ..client("a", keygen())
            },
            now(),
            |e| matches!(e, PkiError::Refused(_)),
            "validity",
        ),
        (
            "expired issuer",
            &h.intermediate,
            client("a", keygen()),
            far_future,
            |e| matches!(e, PkiError::UnusableCa(_)),
            "expired",
        ),
        (
            "issuer not yet valid",
            &h.intermediate,
            client("a", keygen()),
            far_past,
            |e| matches!(e, PkiError::UnusableCa(_)),
            "not valid before",
        ),
        (
            "issuer not a CA",
            &leaf_as_ca,
            client("a", keygen()),
            now(),
            |e| matches!(e, PkiError::UnusableCa(_)),
            "not a CA",
        ),
        (
            "mismatched key",
            &mismatched,
            client("a", keygen()),
            now(),
            |e| matches!(e, PkiError::KeyMismatch(_)),
            "does not belong",
        ),
    ];
    for (name, ca, req, at, check, text) in cases {
        let err = issue_client(ca, &req, at).unwrap_err();
        assert!(check(&err), "{name}: {err:?}");
        assert!(err.to_string().contains(text), "{name}: {err}");
    }
}

#[test]
fn broken_ca_material_is_malformed() {
    let h = ec();
    let cases = [
        CaMaterial {
            cert_pem: "garbage".into(),
            key_pem: h.intermediate.key_pem.clone(),
        },
        CaMaterial {
            cert_pem: h.intermediate.cert_pem.clone(),
            key_pem: Zeroizing::new("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into()),
        },
        CaMaterial {
            cert_pem: h.intermediate.cert_pem.clone(),
            key_pem: Zeroizing::new("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n".into()),
        },
        CaMaterial {
            cert_pem: h.intermediate.cert_pem.clone(),
            key_pem: Zeroizing::new(String::new()),
        },
    ];
    for ca in cases {
        let err = issue_client(
            &ca,
            &client("a", KeySource::Generate(KeyAlgorithm::EcdsaP256)),
            now(),
        )
        .unwrap_err();
        assert!(matches!(err, PkiError::Malformed(_)), "{err:?}");
    }
}

// ---------------------------------------------------------------- CSRs

fn rcgen_csr(params: &CertificateParams, key: &KeyPair) -> String {
    params.serialize_request(key).unwrap().pem().unwrap()
}

fn issue_csr(pem: &str) -> PkiResult<IssuedCert> {
    issue_client(
        &ec().intermediate,
        &client("csr-client", KeySource::Csr(pem.into())),
        now(),
    )
}

#[test]
fn csr_is_signed_with_our_extensions_and_cn() {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["evil.example".to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "someone-else");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let issued = issue_csr(&rcgen_csr(&params, &key)).unwrap();
    assert!(issued.key_pem.is_none());
    assert_eq!(issued.info.subject, "CN=csr-client");
    assert_eq!(issued.info.extended_key_usage, vec!["clientAuth"]);
    assert!(issued.info.subject_alt_names.is_empty());
    assert_eq!(issued.info.key_algorithm, "ecdsa-p256");
    let public = with_cert(&der(&issued.cert_pem), |c| {
        c.public_key().subject_public_key.data.to_vec()
    });
    assert_eq!(public, key.public_key_raw());

    let openssl_made = issue_csr(&fixture("csr-rsa2048-extras.pem")).unwrap();
    assert_eq!(openssl_made.info.subject, "CN=csr-client");
    assert_eq!(openssl_made.info.key_algorithm, "rsa-2048");
    assert_eq!(
        openssl_made.info.key_usage,
        vec!["digitalSignature", "keyEncipherment"]
    );
    assert!(openssl_made.info.subject_alt_names.is_empty());
}

#[test]
fn p384_csr_signed_with_sha256_keeps_its_curve() {
    let issued = issue_csr(&fixture("csr-p384-sha256.pem")).unwrap();
    assert_eq!(issued.info.key_algorithm, "ecdsa-p384");
}

#[test]
fn bad_csrs_are_refused() {
    let key = KeyPair::generate().unwrap();
    let good = rcgen_csr(&CertificateParams::default(), &key);
    let good_der = pem::parse(&good).unwrap().into_contents();
    let mut flipped = good_der.clone();
    let last = flipped.len() - 5;
    flipped[last] ^= 0x01;
    let flipped = to_pem("CERTIFICATE REQUEST", &flipped);
    let truncated: String = good.lines().take(3).collect::<Vec<_>>().join("\n");
    let garbage = to_pem("CERTIFICATE REQUEST", b"\x30\x03\x02\x01\x00not a csr");
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_csr = rcgen_csr(&ca_params, &key);
    let mut ku_params = CertificateParams::default();
    ku_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ku_csr = rcgen_csr(&ku_params, &key);
    let cert_instead = ec().root.cert_pem.clone();

    let cases: Vec<(&str, String, bool, &str)> = vec![
        // (name, input, refused (else malformed), text in message)
        (
            "flipped signature byte",
            flipped,
            true,
            "signature does not verify",
        ),
        ("truncated PEM", truncated, false, "truncated PEM block"),
        ("garbage DER", garbage, false, "not a valid PKCS#10"),
        (
            "empty",
            String::new(),
            false,
            "no '-----BEGIN CERTIFICATE REQUEST-----'",
        ),
        (
            "a certificate",
            cert_instead,
            false,
            "this is a certificate",
        ),
        ("RSA-1024", fixture("csr-rsa1024.pem"), true, "rsa-1024"),
        (
            "SHA-1",
            fixture("csr-sha1.pem"),
            true,
            "sha1WithRSAEncryption",
        ),
        ("Ed25519", fixture("csr-ed25519.pem"), true, "ed25519"),
        (
            "CA:TRUE (openssl)",
            fixture("csr-ca-true.pem"),
            true,
            "CA:TRUE",
        ),
        ("CA:TRUE (rcgen)", ca_csr, true, "CA:TRUE"),
        (
            "keyCertSign (openssl)",
            fixture("csr-keycertsign.pem"),
            true,
            "keyCertSign",
        ),
        ("keyCertSign (rcgen)", ku_csr, true, "keyCertSign"),
        (
            "nameConstraints",
            fixture("csr-name-constraints.pem"),
            true,
            "nameConstraints",
        ),
    ];
    for (name, input, refused, text) in cases {
        let err = issue_csr(&input).unwrap_err();
        let kind_ok = if refused {
            matches!(err, PkiError::Refused(_))
        } else {
            matches!(err, PkiError::Malformed(_))
        };
        assert!(kind_ok, "{name}: {err:?}");
        assert!(err.to_string().contains(text), "{name}: {err}");
    }
}

// ---------------------------------------------------------------- renew without rekey

#[test]
fn existing_cert_is_resigned_with_new_serial() {
    let old = issue_ec("renew-me");
    let renewed = issue_client(
        &ec().intermediate,
        &client("renew-me", KeySource::ExistingCert(old.cert_pem.clone())),
        now() + Duration::days(300),
    )
    .unwrap();
    assert!(renewed.key_pem.is_none());
    assert_ne!(renewed.info.serial_decimal, old.info.serial_decimal);
    assert!(key_matches_cert(old.key_pem.as_ref().unwrap(), &renewed.cert_pem).unwrap());
    assert_eq!(renewed.info.not_before, now() + Duration::days(300));

    let weak = issue_client(
        &ec().intermediate,
        &client("x", KeySource::ExistingCert(fixture("ca-rsa1024-sha1.pem"))),
        now(),
    )
    .unwrap_err();
    assert!(matches!(weak, PkiError::Refused(_)), "{weak:?}");
    let garbage = issue_client(
        &ec().intermediate,
        &client("x", KeySource::ExistingCert("nope".into())),
        now(),
    )
    .unwrap_err();
    assert!(matches!(garbage, PkiError::Malformed(_)), "{garbage:?}");
}

// ---------------------------------------------------------------- PEM parsing

#[test]
fn pem_parsing_tolerates_text_and_reports_problems() {
    let root = &ec().root.cert_pem;
    let inter = &ec().intermediate.cert_pem;
    let mixed = format!(
        "subject=foo\n\n  {}\r\nissuer=bar\n{inter}\ntrailing words",
        root.replace('\n', "\r\n")
    );
    assert_eq!(parse_pem_certs(&mixed, false).unwrap().len(), 2);

    let key_and_cert = format!("{}{}", *ec().root.key_pem, root);
    assert_eq!(parse_pem_certs(&key_and_cert, true).unwrap().len(), 1);

    let bad_second = format!(
        "{root}{}",
        to_pem("CERTIFICATE", b"\x30\x82\x01\x00garbage")
    );
    let truncated: String = root.lines().take(4).map(|l| format!("{l}\n")).collect();
    let bad_base64 = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".to_string();
    let mismatched = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----\n".to_string();
    let stray_end = "-----END CERTIFICATE-----\n".to_string();
    let cases: Vec<(&str, String, &str)> = vec![
        ("truncated", truncated, "truncated PEM block"),
        (
            "second block garbage",
            bad_second,
            "PEM block 2 is not a valid X.509 certificate",
        ),
        (
            "bad base64",
            bad_base64,
            "PEM block 1 is not a valid X.509 certificate",
        ),
        ("empty", String::new(), "no certificate found"),
        ("only text", "hello world".into(), "no certificate found"),
        (
            "key",
            key_and_cert,
            "contains a PRIVATE KEY block; a truststore/cert file must not hold keys",
        ),
        ("mismatched labels", mismatched, "ends with END PRIVATE KEY"),
        ("stray END", stray_end, "no matching BEGIN"),
    ];
    for (name, input, text) in cases {
        let err = parse_pem_certs(&input, false).unwrap_err();
        assert!(matches!(err, PkiError::Malformed(_)), "{name}: {err:?}");
        assert!(err.to_string().contains(text), "{name}: {err}");
    }
}

// ---------------------------------------------------------------- inspect

#[test]
fn inspect_reads_pem_and_der_alike() {
    let pem_text = &ec().root.cert_pem;
    let d = der(pem_text);
    let from_pem = inspect(pem_text.as_bytes()).unwrap();
    let from_der = inspect(&d).unwrap();
    assert_eq!(from_pem, from_der);
    use sha2::Digest;
    assert_eq!(
        from_der.fingerprint_sha256,
        hex::encode(sha2::Sha256::digest(&d))
    );
    assert_eq!(from_der.fingerprint_sha256.len(), 64);
}

#[test]
fn inspect_describes_weak_legacy_certs() {
    let info = inspect(fixture("ca-rsa1024-sha1.pem").as_bytes()).unwrap();
    assert_eq!(info.key_algorithm, "rsa-1024");
    assert_eq!(info.key_bits, 1024);
    assert_eq!(info.signature_algorithm, "sha1WithRSAEncryption");
    assert_eq!(info.subject, "CN=Weak SHA1 Root");
    assert!(info.is_ca);
}

#[test]
fn inspect_shows_sans_and_escapes_names() {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["api.example.com".into(), "10.0.0.1".into()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Acme, Inc.");
    params
        .distinguished_name
        .push(DnType::CommonName, " padded+plus ");
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::Other(vec![1, 2, 3, 4]),
    ];
    let cert = params.self_signed(&key).unwrap();
    let info = inspect(cert.der()).unwrap();
    assert_eq!(info.subject, "O=Acme\\, Inc.,CN=\\ padded\\+plus\\ ");
    assert_eq!(info.cn.as_deref(), Some(" padded+plus "));
    assert_eq!(
        info.subject_alt_names,
        vec!["DNS:api.example.com", "IP:10.0.0.1"]
    );
    assert_eq!(info.extended_key_usage, vec!["serverAuth", "1.2.3.4"]);
    assert!(info.self_signed);
}

#[test]
fn inspect_refuses_garbage() {
    for input in [
        &b""[..],
        b"   ",
        b"\x30\x03\x02\x01\x00",
        b"not a cert",
        b"-----BEGIN CERTIFICATE-----\nAAAA",
    ] {
        let err = inspect(input).unwrap_err();
        assert!(matches!(err, PkiError::Malformed(_)), "{err:?}");
    }
    let mut trailing = der(&ec().root.cert_pem);
    trailing.extend_from_slice(b"junk");
    assert!(
        inspect(&trailing)
            .unwrap_err()
            .to_string()
            .contains("unexpected bytes")
    );
}

// ---------------------------------------------------------------- chains

/// A CA made directly with rcgen, for shapes the engine refuses to create.
struct RawCa {
    params: CertificateParams,
    key: KeyPair,
    der: Vec<u8>,
}

fn raw_cert(
    cn: &str,
    is_ca: IsCa,
    key_usages: Vec<KeyUsagePurpose>,
    ekus: Vec<ExtendedKeyUsagePurpose>,
    issuer: Option<&RawCa>,
) -> RawCa {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.not_before = now() - Duration::days(1);
    params.not_after = now() + Duration::days(365);
    params.is_ca = is_ca;
    params.key_usages = key_usages;
    params.extended_key_usages = ekus;
    params.use_authority_key_identifier_extension = issuer.is_some();
    let cert = match issuer {
        None => params.self_signed(&key).unwrap(),
        Some(i) => params
            .signed_by(&key, &Issuer::from_params(&i.params, &i.key))
            .unwrap(),
    };
    RawCa {
        der: cert.der().to_vec(),
        params,
        key,
    }
}

fn ca_ku() -> Vec<KeyUsagePurpose> {
    vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign]
}

fn problems(report: &ChainReport) -> String {
    report
        .links
        .iter()
        .flat_map(|l| {
            l.problems
                .iter()
                .map(move |p| format!("{}: {p}", l.subject))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn chain_failures_have_reasons() {
    let h = ec();
    let leaf = der(&issue_ec("leaf").cert_pem);
    let inter = der(&h.intermediate.cert_pem);
    let root = der(&h.root.cert_pem);
    let foreign = der(
        &create_root(&ca_params("Foreign", KeyAlgorithm::EcdsaP256, 10), now())
            .unwrap()
            .cert_pem,
    );

    // Missing intermediate.
    let r = verify_chain(&leaf, &[], std::slice::from_ref(&root), now());
    assert!(!r.ok);
    assert!(problems(&r).contains("not found"), "{}", problems(&r));
    // Foreign anchor.
    let r = verify_chain(
        &leaf,
        std::slice::from_ref(&inter),
        std::slice::from_ref(&foreign),
        now(),
    );
    assert!(!r.ok);
    assert!(
        problems(&r).contains("does not reach a trusted anchor"),
        "{}",
        problems(&r)
    );
    // Expired at now.
    let r = verify_chain(
        &leaf,
        std::slice::from_ref(&inter),
        std::slice::from_ref(&root),
        now() + Duration::days(400),
    );
    assert!(!r.ok);
    assert!(problems(&r).contains("expired"), "{}", problems(&r));
    // Not yet valid.
    let r = verify_chain(
        &leaf,
        std::slice::from_ref(&inter),
        std::slice::from_ref(&root),
        now() - Duration::days(1),
    );
    assert!(problems(&r).contains("not yet valid"), "{}", problems(&r));
    // Self-signed leaf.
    let selfsigned = raw_cert("self", IsCa::ExplicitNoCa, vec![], vec![], None);
    let r = verify_chain(&selfsigned.der, &[], std::slice::from_ref(&root), now());
    assert!(problems(&r).contains("self-signed"), "{}", problems(&r));
    // Garbage leaf.
    let r = verify_chain(b"garbage", &[], std::slice::from_ref(&root), now());
    assert!(!r.ok);
    assert!(problems(&r).contains("not a valid X.509"));
    // Issuers in any order, unrelated extras ignored.
    let r = verify_chain(
        &leaf,
        &[foreign.clone(), root.clone(), inter.clone()],
        std::slice::from_ref(&root),
        now(),
    );
    assert!(r.ok, "{}", problems(&r));
}

#[test]
fn chain_checks_ca_flags_pathlen_and_eku() {
    let root = raw_cert(
        "R",
        IsCa::Ca(BasicConstraints::Unconstrained),
        ca_ku(),
        vec![],
        None,
    );
    let anchors = [root.der.clone()];

    // Bad signature: same name as the root, different key.
    let impostor = raw_cert(
        "R",
        IsCa::Ca(BasicConstraints::Unconstrained),
        ca_ku(),
        vec![],
        None,
    );
    let mut victim_params = CertificateParams::default();
    victim_params.distinguished_name = rcgen::DistinguishedName::new();
    victim_params
        .distinguished_name
        .push(DnType::CommonName, "victim");
    victim_params.not_before = now() - Duration::days(1);
    victim_params.not_after = now() + Duration::days(1);
    let victim_key = KeyPair::generate().unwrap();
    let victim = victim_params
        .signed_by(
            &victim_key,
            &Issuer::from_params(&impostor.params, &impostor.key),
        )
        .unwrap();
    let r = verify_chain(victim.der(), &[], &anchors, now());
    assert!(problems(&r).contains("bad signature"), "{}", problems(&r));

    // Issuer is not a CA.
    let not_ca = raw_cert("NotCA", IsCa::ExplicitNoCa, vec![], vec![], Some(&root));
    let below = raw_cert("below", IsCa::ExplicitNoCa, vec![], vec![], Some(&not_ca));
    let r = verify_chain(
        &below.der,
        std::slice::from_ref(&not_ca.der),
        &anchors,
        now(),
    );
    assert!(problems(&r).contains("not a CA"), "{}", problems(&r));

    // Issuer lacks keyCertSign.
    let no_sign = raw_cert(
        "NoSign",
        IsCa::Ca(BasicConstraints::Unconstrained),
        vec![KeyUsagePurpose::DigitalSignature],
        vec![],
        Some(&root),
    );
    let below = raw_cert("below", IsCa::ExplicitNoCa, vec![], vec![], Some(&no_sign));
    let r = verify_chain(
        &below.der,
        std::slice::from_ref(&no_sign.der),
        &anchors,
        now(),
    );
    assert!(problems(&r).contains("keyCertSign"), "{}", problems(&r));

    // pathLen 0 intermediate above another CA.
    let p0 = raw_cert(
        "P0",
        IsCa::Ca(BasicConstraints::Constrained(0)),
        ca_ku(),
        vec![],
        Some(&root),
    );
    let sub = raw_cert(
        "Sub",
        IsCa::Ca(BasicConstraints::Unconstrained),
        ca_ku(),
        vec![],
        Some(&p0),
    );
    let below = raw_cert("below", IsCa::ExplicitNoCa, vec![], vec![], Some(&sub));
    let r = verify_chain(
        &below.der,
        &[sub.der.clone(), p0.der.clone()],
        &anchors,
        now(),
    );
    assert!(
        problems(&r).contains("pathLen 0 exceeded"),
        "{}",
        problems(&r)
    );
    assert_eq!(r.links.len(), 4);

    // EKU without clientAuth.
    let server = raw_cert(
        "server",
        IsCa::ExplicitNoCa,
        vec![],
        vec![ExtendedKeyUsagePurpose::ServerAuth],
        Some(&root),
    );
    let r = verify_chain(&server.der, &[], &anchors, now());
    assert!(
        problems(&r).contains("without clientAuth"),
        "{}",
        problems(&r)
    );
    // No EKU at all is fine (the reference deployment's old client certs).
    let plain = raw_cert("plain", IsCa::ExplicitNoCa, vec![], vec![], Some(&root));
    let r = verify_chain(&plain.der, &[], &anchors, now());
    assert!(r.ok, "{}", problems(&r));

    // Weak legacy anchor: its weakness is reported.
    let weak = der(&fixture("ca-rsa1024-sha1.pem"));
    let r = verify_chain(&weak, &[], std::slice::from_ref(&weak), now());
    assert!(!r.ok);
    assert!(problems(&r).contains("rsa-1024"));
    assert!(problems(&r).contains("sha1WithRSAEncryption"));
}

// ---------------------------------------------------------------- bundles

fn messages(problems: &[BundleProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("{:?} fatal={} {}", p.subject, p.fatal, p.message))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn bundle_is_built_in_order_without_duplicates() {
    let h = ec();
    let inter = der(&h.intermediate.cert_pem);
    let root = der(&h.root.cert_pem);
    let extra = der(&rsa_root().cert_pem);
    let bundle = build_bundle(
        &[inter.clone(), root.clone()],
        &[root.clone(), extra.clone()],
    );
    assert_eq!(
        parse_pem_certs(&bundle, false).unwrap(),
        vec![inter, root, extra]
    );
    assert!(!bundle.contains('\r'));
    let found = validate_bundle(&bundle, now());
    assert!(found.is_empty(), "{}", messages(&found));
}

/// Bundles are compared as certificates: the reference tooling's "intermediate, blank line,
/// root" (with CRLF, indentation and a comment line) is the same bundle; another order, a
/// missing or extra CA and a key beside the same CAs are not.
#[test]
fn bundles_are_compared_as_ordered_certificates() {
    let h = ec();
    let inter = der(&h.intermediate.cert_pem);
    let root = der(&h.root.cert_pem);
    let built = build_bundle(&[inter.clone(), root.clone()], &[]);
    let reference = format!(
        "{}\n\n{}",
        h.intermediate.cert_pem.trim_end(),
        h.root.cert_pem
    );
    assert_ne!(reference, built);
    assert!(same_bundle(&built, &reference));
    let crlf = format!("# truststore\r\n{}", reference.replace('\n', "\r\n  "));
    assert!(same_bundle(&built, &crlf));
    assert!(!same_bundle(
        &built,
        &build_bundle(&[root.clone(), inter.clone()], &[])
    ));
    assert!(!same_bundle(
        &built,
        &build_bundle(std::slice::from_ref(&inter), &[])
    ));
    let extra = der(&rsa_root().cert_pem);
    assert!(!same_bundle(
        &built,
        &build_bundle(&[inter, root], &[extra])
    ));
    let with_key = format!("{built}{}", h.root.key_pem.as_str());
    assert!(!same_bundle(&built, &with_key));
    assert!(same_bundle(&with_key, &with_key.to_string()));
    let cut = &built[..built.len() - 30];
    assert!(!same_bundle(&built, cut));
}

#[test]
fn bundle_problems_are_reported() {
    let h = ec();
    let inter = der(&h.intermediate.cert_pem);
    let root = der(&h.root.cert_pem);
    let leaf = issue_ec("leaf");

    let with_leaf = build_bundle(&[inter.clone(), root.clone()], &[der(&leaf.cert_pem)]);
    let p = validate_bundle(&with_leaf, now());
    assert!(
        p.iter().any(|p| p.fatal
            && p.subject.as_deref() == Some("CN=leaf")
            && p.message.contains("not a CA")),
        "{}",
        messages(&p)
    );

    let with_key = format!(
        "{}{}",
        build_bundle(std::slice::from_ref(&root), &[]),
        *h.root.key_pem
    );
    let p = validate_bundle(&with_key, now());
    assert!(
        p.iter()
            .any(|p| p.fatal && p.message.contains("private key")),
        "{}",
        messages(&p)
    );

    let dup = format!("{0}{0}", build_bundle(std::slice::from_ref(&root), &[]));
    let p = validate_bundle(&dup, now());
    assert!(
        p.iter().any(|p| p.fatal && p.message.contains("duplicate")),
        "{}",
        messages(&p)
    );

    let good = build_bundle(&[inter.clone(), root.clone()], &[]);
    let p = validate_bundle(&good, now() + Duration::days(1800));
    assert!(
        p.iter()
            .any(|p| !p.fatal && p.message.contains("expires in")),
        "{}",
        messages(&p)
    );
    assert!(p.iter().all(|p| !p.fatal), "{}", messages(&p));
    let p = validate_bundle(&good, now() + Duration::days(1900));
    assert!(
        p.iter().any(|p| p.fatal && p.message.contains("expired")),
        "{}",
        messages(&p)
    );

    let p = validate_bundle(&fixture("ca-rsa1024-sha1.pem"), now());
    assert!(
        p.iter().any(|p| p.fatal && p.message.contains("rsa-1024")),
        "{}",
        messages(&p)
    );
    assert!(
        p.iter()
            .any(|p| p.fatal && p.message.contains("sha1WithRSAEncryption")),
        "{}",
        messages(&p)
    );

    let broken = format!("{good}{}", to_pem("CERTIFICATE", b"nonsense"));
    let p = validate_bundle(&broken, now());
    assert!(
        p.iter()
            .any(|p| p.fatal && p.message.contains("PEM block 3 is not a valid X.509")),
        "{}",
        messages(&p)
    );

    let truncated: String = good.lines().take(5).map(|l| format!("{l}\n")).collect();
    let p = validate_bundle(&truncated, now());
    assert!(
        p.iter().any(|p| p.fatal && p.message.contains("truncated")),
        "{}",
        messages(&p)
    );

    let p = validate_bundle("", now());
    assert!(
        p.iter()
            .any(|p| p.fatal && p.message.contains("no certificate found")),
        "{}",
        messages(&p)
    );

    let orphan = build_bundle(std::slice::from_ref(&inter), &[]);
    let p = validate_bundle(&orphan, now());
    assert!(
        p.iter()
            .any(|p| !p.fatal && p.message.contains("not in the bundle")),
        "{}",
        messages(&p)
    );
}

#[test]
fn bundle_chain_longer_than_four_is_fatal() {
    let mut cas = vec![raw_cert(
        "L0",
        IsCa::Ca(BasicConstraints::Unconstrained),
        ca_ku(),
        vec![],
        None,
    )];
    for i in 1..5 {
        let next = raw_cert(
            &format!("L{i}"),
            IsCa::Ca(BasicConstraints::Unconstrained),
            ca_ku(),
            vec![],
            cas.last(),
        );
        cas.push(next);
    }
    let ders: Vec<Vec<u8>> = cas.iter().map(|c| c.der.clone()).collect();
    let p = validate_bundle(&build_bundle(&ders, &[]), now());
    assert!(
        p.iter()
            .any(|p| p.fatal && p.message.contains("L0 -> CN=L1")),
        "{}",
        messages(&p)
    );
    let p = validate_bundle(&build_bundle(&ders[..4], &[]), now());
    assert!(p.iter().all(|p| !p.fatal), "{}", messages(&p));
}

// ---------------------------------------------------------------- PKCS#12

#[test]
fn pkcs12_holds_key_and_chain() {
    let h = ec();
    let leaf = issue_ec("p12-client");
    let key = leaf.key_pem.as_ref().unwrap();
    let chain = vec![h.intermediate.cert_pem.clone(), h.root.cert_pem.clone()];
    let bytes = pkcs12(&leaf.cert_pem, key, &chain, "s3cret").unwrap();
    let store = p12_keystore::KeyStore::from_pkcs12(
        &bytes,
        "s3cret",
        p12_keystore::Pkcs12ImportPolicy::Relaxed,
    )
    .unwrap();
    let (alias, entry) = store.private_key_chain().expect("key chain");
    assert_eq!(alias, "p12-client");
    assert_eq!(entry.certs().len(), 3);
    assert_eq!(entry.certs()[0].as_der(), der(&leaf.cert_pem).as_slice());
    assert!(
        p12_keystore::KeyStore::from_pkcs12(
            &bytes,
            "wrong",
            p12_keystore::Pkcs12ImportPolicy::Relaxed
        )
        .is_err()
    );

    assert!(matches!(
        pkcs12(&leaf.cert_pem, key, &chain, ""),
        Err(PkiError::Refused(_))
    ));
    let other = issue_ec("other");
    assert!(matches!(
        pkcs12(&leaf.cert_pem, other.key_pem.as_ref().unwrap(), &chain, "x"),
        Err(PkiError::KeyMismatch(_))
    ));
    assert!(matches!(
        pkcs12("junk", key, &chain, "x"),
        Err(PkiError::Malformed(_))
    ));
    assert!(matches!(
        pkcs12(&leaf.cert_pem, key, &["junk".into()], "x"),
        Err(PkiError::Malformed(_))
    ));
}

#[test]
fn key_matching() {
    let h = ec();
    assert!(key_matches_cert(&h.root.key_pem, &h.root.cert_pem).unwrap());
    assert!(!key_matches_cert(&h.intermediate.key_pem, &h.root.cert_pem).unwrap());
    assert!(matches!(
        key_matches_cert("nope", &h.root.cert_pem),
        Err(PkiError::Malformed(_))
    ));
    assert!(matches!(
        key_matches_cert(&h.root.key_pem, "nope"),
        Err(PkiError::Malformed(_))
    ));
}

// ---------------------------------------------------------------- never panic

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    for (pos, val) in edits {
        if !bytes.is_empty() {
            let i = pos % bytes.len();
            bytes[i] ^= val;
        }
    }
    let keep = bytes.len().saturating_sub(cut % 8);
    bytes.truncate(keep);
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parsers_never_panic_on_arbitrary_input(text in ".{0,400}", bytes in proptest::collection::vec(any::<u8>(), 0..600), keys in any::<bool>()) {
        let _ = parse_pem_certs(&text, keys);
        let _ = inspect(text.as_bytes());
        let _ = inspect(&bytes);
        let _ = validate_bundle(&text, now());
        let wrapped = format!("-----BEGIN CERTIFICATE-----\n{text}\n-----END CERTIFICATE-----\n");
        let _ = parse_pem_certs(&wrapped, keys);
        let _ = inspect(wrapped.as_bytes());
    }

    #[test]
    fn mutated_certificates_and_csrs_never_panic(edits in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..6), cut in any::<usize>()) {
        let h = ec();
        let cert = mutate(der(&h.intermediate.cert_pem), &edits, cut);
        let _ = inspect(&cert);
        let _ = verify_chain(&cert, std::slice::from_ref(&cert), &[der(&h.root.cert_pem)], now());
        let _ = validate_bundle(&to_pem("CERTIFICATE", &cert), now());
        let _ = issue_client(&h.intermediate, &client("x", KeySource::ExistingCert(to_pem("CERTIFICATE", &cert))), now());
        let csr = mutate(pem::parse(fixture("csr-p384-sha256.pem")).unwrap().into_contents(), &edits, cut);
        let _ = issue_client(&h.intermediate, &client("x", KeySource::Csr(to_pem("CERTIFICATE REQUEST", &csr))), now());
    }
}
