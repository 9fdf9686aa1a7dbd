//! Feeds arbitrary bytes to the PEM, certificate and CSR parsers of the PKI engine.
//! Every input must end in `Ok` or a `PkiError`, never in a panic.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mtls_console::pki::{self, CaMaterial, CaParams, ClientRequest, KeyAlgorithm, KeySource, Subject};
use time::OffsetDateTime;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_750_000_000).expect("fixed time")
}

/// A fixed ECDSA P-256 test CA, made once per fuzzing process.
fn test_ca() -> &'static CaMaterial {
    static CA: OnceLock<CaMaterial> = OnceLock::new();
    CA.get_or_init(|| {
        let params = CaParams {
            subject: Subject {
                cn: Some("Fuzz Test CA".into()),
                ..Subject::default()
            },
            key_algorithm: KeyAlgorithm::EcdsaP256,
            validity_days: 3650,
        };
        pki::create_root(&params, now()).expect("test CA")
    })
}

fn sign_csr(csr_pem: String) {
    let req = ClientRequest {
        cn: "fuzz-client".into(),
        validity_days: 30,
        key: KeySource::Csr(csr_pem),
    };
    let _ = pki::issue_client(test_ca(), &req, now());
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let allow_keys = data.first().is_some_and(|b| b & 1 == 1);

    // Raw input as PEM text, as PEM/DER for inspect, and as a CSR text.
    let _ = pki::parse_pem_certs(&text, allow_keys);
    let _ = pki::inspect(data);
    sign_csr(text.into_owned());

    // The same bytes as the body of a certificate and of a CSR, to reach the DER parsers.
    let cert_pem = pki::to_pem("CERTIFICATE", data);
    let _ = pki::parse_pem_certs(&cert_pem, allow_keys);
    let _ = pki::inspect(cert_pem.as_bytes());
    sign_csr(pki::to_pem("CERTIFICATE REQUEST", data));
});
