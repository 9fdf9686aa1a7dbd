//! Certificates made by the PKI engine, checked with the `openssl` CLI as an independent
//! tool: chain verification, extension text, PKCS#12 and a real mutual-TLS handshake
//! against `openssl s_server -Verify` using a truststore built by `build_bundle`.
//!
//! These tests need OpenSSL 3 on PATH; without it they fail (never skip).

use std::fs::File;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration as StdDuration, Instant};

use mtls_console::pki::{
    self, CaMaterial, CaParams, ClientRequest, IssuedCert, KeyAlgorithm, KeySource, Subject,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// Runs openssl with `args` in `dir`; panics with a clear message when openssl is missing.
fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run the `openssl` CLI ({e}): these tests need OpenSSL 3 on PATH \
                 (e.g. `apt-get install openssl`)"
            )
        })
}

fn openssl_ok(dir: &Path, args: &[&str]) -> String {
    let out = openssl(dir, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "openssl {} failed: {}\nstdout: {stdout}\nstderr: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write temp file");
    path
}

fn subject(cn: &str) -> Subject {
    Subject {
        c: Some("US".into()),
        o: Some("Example Corp".into()),
        cn: Some(cn.into()),
        ..Subject::default()
    }
}

/// The reference CA of the contract (RSA-4096 root, RSA-4096 intermediate), made once.
/// Backdated 60 days so that an already expired client can be issued from it.
struct Reference {
    created: OffsetDateTime,
    root: CaMaterial,
    intermediate: CaMaterial,
}

fn reference() -> &'static Reference {
    static REF: OnceLock<Reference> = OnceLock::new();
    REF.get_or_init(|| {
        let created = OffsetDateTime::now_utc() - Duration::days(60);
        let root = pki::create_root(
            &CaParams {
                subject: subject("Reference Root CA"),
                key_algorithm: KeyAlgorithm::Rsa4096,
                validity_days: 3650,
            },
            created,
        )
        .expect("root CA");
        let intermediate = pki::create_intermediate(
            &root,
            &CaParams {
                subject: subject("Reference Issuing CA"),
                key_algorithm: KeyAlgorithm::Rsa4096,
                validity_days: 1825,
            },
            created,
        )
        .expect("intermediate CA");
        Reference {
            created,
            root,
            intermediate,
        }
    })
}

fn issue(ca: &CaMaterial, cn: &str, key: KeySource, now: OffsetDateTime, days: u32) -> IssuedCert {
    pki::issue_client(
        ca,
        &ClientRequest {
            cn: cn.into(),
            validity_days: days,
            key,
        },
        now,
    )
    .unwrap_or_else(|e| panic!("issuing {cn}: {e}"))
}

fn der(pem_text: &str) -> Vec<u8> {
    pki::parse_pem_certs(pem_text, false)
        .expect("certificate PEM")
        .remove(0)
}

#[test]
fn issued_chains_pass_openssl_verify() {
    let r = reference();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "root.pem", &r.root.cert_pem);
    write(d, "intermediate.pem", &r.intermediate.cert_pem);
    let now = OffsetDateTime::now_utc();
    for alg in KeyAlgorithm::ALL {
        let via_intermediate = issue(&r.intermediate, "acme", KeySource::Generate(alg), now, 395);
        write(d, "client.pem", &via_intermediate.cert_pem);
        let out = openssl_ok(
            d,
            &[
                "verify",
                "-purpose",
                "sslclient",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "intermediate.pem",
                "client.pem",
            ],
        );
        assert!(out.contains("client.pem: OK"), "{alg:?}: {out}");

        let root_only = issue(
            &r.root,
            "Prod-NextJs-Client",
            KeySource::Generate(alg),
            now,
            365,
        );
        write(d, "root-only.pem", &root_only.cert_pem);
        let out = openssl_ok(
            d,
            &[
                "verify",
                "-purpose",
                "sslclient",
                "-CAfile",
                "root.pem",
                "root-only.pem",
            ],
        );
        assert!(out.contains("root-only.pem: OK"), "{alg:?}: {out}");
        // A root-only truststore rejects clients of the intermediate.
        let out = openssl(d, &["verify", "-CAfile", "root.pem", "client.pem"]);
        assert!(
            !out.status.success(),
            "{alg:?}: root alone must not verify an intermediate's client"
        );
    }

    // A CSR made by openssl itself, signed by the engine, verifies too.
    openssl_ok(
        d,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-nodes",
            "-keyout",
            "csr.key",
            "-subj",
            "/CN=ignored",
            "-out",
            "client.csr",
        ],
    );
    let csr = std::fs::read_to_string(d.join("client.csr")).unwrap();
    let from_csr = issue(&r.intermediate, "csr-client", KeySource::Csr(csr), now, 90);
    write(d, "from-csr.pem", &from_csr.cert_pem);
    let out = openssl_ok(
        d,
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "intermediate.pem",
            "from-csr.pem",
        ],
    );
    assert!(out.contains("from-csr.pem: OK"), "{out}");
    let pub_from_key = openssl_ok(d, &["pkey", "-in", "csr.key", "-pubout"]);
    let pub_from_cert = openssl_ok(d, &["x509", "-in", "from-csr.pem", "-noout", "-pubkey"]);
    assert_eq!(pub_from_key, pub_from_cert);
}

fn x509_text(dir: &Path, pem_text: &str) -> String {
    write(dir, "show.pem", pem_text);
    openssl_ok(dir, &["x509", "-in", "show.pem", "-noout", "-text"])
}

/// The line after the one containing `header`, trimmed.
fn line_after(text: &str, header: &str) -> String {
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.contains(header) {
            return lines.next().unwrap_or_default().trim().to_string();
        }
    }
    panic!("`{header}` not in openssl output:\n{text}")
}

#[test]
fn openssl_text_shows_the_contract_extensions() {
    let r = reference();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let root = x509_text(d, &r.root.cert_pem);
    assert!(
        root.contains("X509v3 Basic Constraints: critical"),
        "{root}"
    );
    assert_eq!(line_after(&root, "X509v3 Basic Constraints"), "CA:TRUE");
    assert!(root.contains("X509v3 Key Usage: critical"), "{root}");
    assert_eq!(
        line_after(&root, "X509v3 Key Usage"),
        "Certificate Sign, CRL Sign"
    );
    assert!(root.contains("X509v3 Subject Key Identifier"), "{root}");
    assert!(root.contains("Public-Key: (4096 bit)"), "{root}");
    assert!(root.contains("sha256WithRSAEncryption"), "{root}");
    assert!(
        root.contains("Subject: C = US, O = Example Corp, CN = Reference Root CA"),
        "{root}"
    );

    let inter = x509_text(d, &r.intermediate.cert_pem);
    assert!(
        inter.contains("X509v3 Basic Constraints: critical"),
        "{inter}"
    );
    assert_eq!(
        line_after(&inter, "X509v3 Basic Constraints"),
        "CA:TRUE, pathlen:0"
    );
    assert_eq!(
        line_after(&inter, "X509v3 Key Usage: critical"),
        "Certificate Sign, CRL Sign"
    );
    assert!(inter.contains("X509v3 Authority Key Identifier"), "{inter}");
    assert!(inter.contains("X509v3 Subject Key Identifier"), "{inter}");

    let now = OffsetDateTime::now_utc();
    for (alg, usage) in [
        (KeyAlgorithm::EcdsaP256, "Digital Signature"),
        (KeyAlgorithm::Rsa2048, "Digital Signature, Key Encipherment"),
    ] {
        let client = issue(
            &r.intermediate,
            "acme-text",
            KeySource::Generate(alg),
            now,
            395,
        );
        let text = x509_text(d, &client.cert_pem);
        assert_eq!(
            line_after(&text, "X509v3 Basic Constraints"),
            "CA:FALSE",
            "{text}"
        );
        assert_eq!(
            line_after(&text, "X509v3 Key Usage: critical"),
            usage,
            "{text}"
        );
        assert_eq!(
            line_after(&text, "X509v3 Extended Key Usage"),
            "TLS Web Client Authentication",
            "{text}"
        );
        assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
        assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
        assert!(text.contains("Subject: CN = acme-text"), "{text}");
        let serial = openssl_ok(d, &["x509", "-in", "show.pem", "-noout", "-serial"]);
        assert_eq!(
            serial.trim().trim_start_matches("serial="),
            client.info.serial_hex.replace(':', ""),
        );
    }
}

#[test]
fn pkcs12_is_readable_by_openssl() {
    let r = reference();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let client = issue(
        &r.intermediate,
        "p12-client",
        KeySource::Generate(KeyAlgorithm::EcdsaP256),
        OffsetDateTime::now_utc(),
        395,
    );
    let p12 = pki::pkcs12(
        &client.cert_pem,
        client.key_pem.as_ref().unwrap(),
        &[r.intermediate.cert_pem.clone(), r.root.cert_pem.clone()],
        "correct horse",
    )
    .expect("pkcs12");
    write(d, "client.p12", p12);
    let out = openssl(
        d,
        &[
            "pkcs12",
            "-info",
            "-nokeys",
            "-in",
            "client.p12",
            "-passin",
            "pass:correct horse",
        ],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("PBES2, PBKDF2, AES-256-CBC"), "{text}");
    assert!(text.contains("MAC: sha256"), "{text}");
    assert_eq!(
        text.matches("-----BEGIN CERTIFICATE-----").count(),
        3,
        "{text}"
    );

    let key = openssl_ok(
        d,
        &[
            "pkcs12",
            "-in",
            "client.p12",
            "-nocerts",
            "-nodes",
            "-passin",
            "pass:correct horse",
        ],
    );
    write(d, "extracted.key", key);
    write(d, "client.pem", &client.cert_pem);
    assert_eq!(
        openssl_ok(d, &["pkey", "-in", "extracted.key", "-pubout"]),
        openssl_ok(d, &["x509", "-in", "client.pem", "-noout", "-pubkey"])
    );
    let wrong = openssl(
        d,
        &[
            "pkcs12",
            "-info",
            "-nokeys",
            "-in",
            "client.p12",
            "-passin",
            "pass:wrong",
        ],
    );
    assert!(!wrong.status.success());
}

// ---------------------------------------------------------------- TLS handshake

/// An `openssl s_server` killed when dropped.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

/// Starts `s_server -Verify 2` trusting `bundle.pem` in `dir` and waits until it listens.
/// `-verify_return_error` makes it abort the handshake on a failed client verification
/// (without it s_server only logs the error), as API Gateway does.
fn start_server(dir: &Path) -> (Server, u16) {
    let port = free_port();
    let log = dir.join("server.log");
    let log_file = File::create(&log).unwrap();
    let child = Command::new("openssl")
        .args(["s_server", "-accept", &format!("127.0.0.1:{port}")])
        .args(["-cert", "server.pem", "-key", "server.key"])
        .args([
            "-CAfile",
            "bundle.pem",
            "-Verify",
            "2",
            "-verify_return_error",
            "-www",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log_file.try_clone().unwrap()))
        .stderr(Stdio::from(log_file))
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start `openssl s_server` ({e}): these tests need OpenSSL 3 on PATH")
        });
    let mut server = Server { child, log };
    let deadline = Instant::now() + StdDuration::from_secs(15);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("s_server exited early ({status}):\n{}", server.log());
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (server, port);
        }
        assert!(
            Instant::now() < deadline,
            "s_server did not listen on port {port} within 15 s:\n{}",
            server.log()
        );
        std::thread::sleep(StdDuration::from_millis(100));
    }
}

/// Connects with `s_client -cert -key`, sends a GET and returns (accepted, transcript).
fn connect(dir: &Path, port: u16, name: &str, cert_pem: &str, key_pem: &str) -> (bool, String) {
    write(dir, &format!("{name}.pem"), cert_pem);
    write(dir, &format!("{name}.key"), key_pem);
    let out_path = dir.join(format!("{name}.out"));
    let out_file = File::create(&out_path).unwrap();
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args([
            "-cert",
            &format!("{name}.pem"),
            "-key",
            &format!("{name}.key"),
        ])
        .args([
            "-CAfile",
            "server-ca.pem",
            "-servername",
            "localhost",
            "-ign_eof",
        ])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::from(out_file.try_clone().unwrap()))
        .stderr(Stdio::from(out_file))
        .spawn()
        .expect("start openssl s_client");
    if let Some(mut stdin) = child.stdin.take() {
        // The server may already have closed the connection: ignore a broken pipe.
        let _ = stdin.write_all(b"GET / HTTP/1.0\r\n\r\n");
    }
    let deadline = Instant::now() + StdDuration::from_secs(20);
    loop {
        if child.try_wait().expect("wait for s_client").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "s_client ({name}) did not finish within 20 s:\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default()
            );
        }
        std::thread::sleep(StdDuration::from_millis(50));
    }
    let transcript = std::fs::read_to_string(&out_path).unwrap_or_default();
    (transcript.contains("HTTP/1.0 200 ok"), transcript)
}

/// A server certificate for localhost from a separate test CA, made with rcgen directly.
fn server_identity(dir: &Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Test Server CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params
        .signed_by(&key, &Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    write(dir, "server-ca.pem", ca_cert.pem());
    write(dir, "server.pem", cert.pem());
    write(dir, "server.key", key.serialize_pem());
}

#[test]
fn mtls_handshake_accepts_issued_and_refuses_others() {
    let r = reference();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    server_identity(d);
    let bundle = pki::build_bundle(&[der(&r.intermediate.cert_pem), der(&r.root.cert_pem)], &[]);
    let now = OffsetDateTime::now_utc();
    assert!(
        pki::validate_bundle(&bundle, now).iter().all(|p| !p.fatal),
        "the reference bundle must be valid"
    );
    write(d, "bundle.pem", &bundle);
    let (server, port) = start_server(d);

    let good = issue(
        &r.intermediate,
        "good-client",
        KeySource::Generate(KeyAlgorithm::EcdsaP256),
        now,
        395,
    );
    let (accepted, transcript) = connect(
        d,
        port,
        "good",
        &good.cert_pem,
        good.key_pem.as_ref().unwrap(),
    );
    assert!(
        accepted,
        "issued client refused:\n{transcript}\nserver:\n{}",
        server.log()
    );

    let good_rsa = issue(
        &r.intermediate,
        "good-rsa",
        KeySource::Generate(KeyAlgorithm::Rsa2048),
        now,
        395,
    );
    let (accepted, transcript) = connect(
        d,
        port,
        "good-rsa",
        &good_rsa.cert_pem,
        good_rsa.key_pem.as_ref().unwrap(),
    );
    assert!(
        accepted,
        "issued RSA client refused:\n{transcript}\nserver:\n{}",
        server.log()
    );

    // Self-signed client certificate with clientAuth.
    let self_key = KeyPair::generate().unwrap();
    let mut self_params = CertificateParams::default();
    self_params
        .distinguished_name
        .push(DnType::CommonName, "good-client");
    self_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let self_cert = self_params.self_signed(&self_key).unwrap();

    // Expired: issued 40 days ago for one day by the real intermediate.
    let expired = issue(
        &r.intermediate,
        "expired-client",
        KeySource::Generate(KeyAlgorithm::EcdsaP256),
        r.created + Duration::days(20),
        1,
    );
    assert!(expired.info.not_after < now);

    // From a foreign CA with the same names as the reference one.
    let foreign_root = pki::create_root(
        &CaParams {
            subject: subject("Reference Issuing CA"),
            key_algorithm: KeyAlgorithm::EcdsaP256,
            validity_days: 365,
        },
        now,
    )
    .unwrap();
    let foreign = issue(
        &foreign_root,
        "good-client",
        KeySource::Generate(KeyAlgorithm::EcdsaP256),
        now,
        30,
    );

    let refused = [
        ("self-signed", self_cert.pem(), self_key.serialize_pem()),
        (
            "expired",
            expired.cert_pem.clone(),
            expired.key_pem.as_ref().unwrap().to_string(),
        ),
        (
            "foreign",
            foreign.cert_pem.clone(),
            foreign.key_pem.as_ref().unwrap().to_string(),
        ),
    ];
    for (name, cert, key) in refused {
        let (accepted, transcript) = connect(d, port, name, &cert, &key);
        assert!(
            !accepted,
            "{name} client was accepted:\n{transcript}\nserver:\n{}",
            server.log()
        );
        assert!(
            transcript.contains("alert") || transcript.contains("error"),
            "{name}: no TLS alert in the transcript:\n{transcript}"
        );
    }
    let log = server.log();
    for reason in [
        "self-signed certificate",
        "certificate has expired",
        "unable to get local issuer certificate",
    ] {
        assert!(log.contains(reason), "`{reason}` not in server log:\n{log}");
    }
    drop(server);
}

/// The client configuration `issue --out` writes beside the files: its curl line makes a
/// real mutual-TLS call to `s_server -Verify` on 127.0.0.1 (the gateway domain resolved there
/// by `--resolve`), the same line without the client certificate is refused, and the Bruno
/// fragment names the files written.
#[test]
fn the_exported_curl_line_and_bruno_fragment_work() {
    let home = crate::common::Home::new();
    let config = home.path().join("config/mtls-console");
    std::fs::create_dir_all(&config).unwrap();
    write(
        &config,
        "config.toml",
        "[environments.local]\nbackend = \"local\"\ngateway_domain = \"localhost\"\n",
    );
    home.ok(&["--yes", "ca", "init", "--key-algorithm", "ecdsa-p256"]);
    let out = home.path().join("partner");
    let out_s = out.to_str().unwrap();
    home.ok(&["issue", "partner-one", "--out", out_s]);

    let script = std::fs::read_to_string(out.join("curl-example.sh")).unwrap();
    let line = script
        .lines()
        .find(|l| l.starts_with("curl "))
        .expect("a curl line");
    assert_eq!(
        line,
        "curl --cert client.pem --key client.key https://localhost/"
    );
    std::fs::copy(out.join("chain.pem"), out.join("bundle.pem")).unwrap();
    server_identity(&out);
    let (server, port) = start_server(&out);
    let call = |line: &str| {
        let mut words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        let url = words
            .pop()
            .unwrap()
            .replace("localhost/", &format!("localhost:{port}/"));
        Command::new(words.remove(0))
            .args(&words)
            .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
            .args([
                "--cacert",
                "server-ca.pem",
                "--silent",
                "--show-error",
                "--fail",
            ])
            .args(["--max-time", "20", "--noproxy", "*"])
            .arg(url)
            .current_dir(&out)
            .output()
            .expect("run curl")
    };
    let accepted = call(line);
    assert!(
        accepted.status.success(),
        "curl: {}\nserver: {}",
        String::from_utf8_lossy(&accepted.stderr),
        server.log()
    );
    assert!(String::from_utf8_lossy(&accepted.stdout).contains("s_server"));
    let refused = call("curl https://localhost/");
    assert!(!refused.status.success(), "no client cert, no API");

    let bruno: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("bruno-client-certificates.json")).unwrap(),
    )
    .unwrap();
    let certs = &bruno["clientCertificates"];
    assert_eq!(certs["enabled"], true);
    let cert = &certs["certs"][0];
    assert_eq!(cert["domain"], "localhost");
    assert_eq!(cert["type"], "cert");
    assert_eq!(cert["passphrase"], "", "no secret in the fragment");
    for file in ["certFilePath", "keyFilePath"] {
        assert!(out.join(cert[file].as_str().unwrap()).is_file(), "{file}");
    }
    drop(server);
}
