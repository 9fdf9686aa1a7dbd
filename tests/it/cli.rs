//! The CLI on the embedded backend, end to end, with artefacts checked by openssl.

use std::fs;

use crate::common::{Home, code, openssl, split_pem, stderr};

/// A home with a fast (ECDSA P-256) three-tier CA.
fn home_with_ca() -> Home {
    let home = Home::new();
    home.ok(&[
        "--yes",
        "ca",
        "init",
        "--key-algorithm",
        "ecdsa-p256",
        "--subject",
        "C=GB,O=Test Ltd",
    ]);
    home
}

fn write(home: &Home, name: &str, text: &str) -> String {
    let path = home.path().join(name);
    fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// A self-signed P-256 certificate made by openssl (extra `-addext` arguments allowed).
fn openssl_self_signed(home: &Home, name: &str, cn: &str, days: &str, extra: &[&str]) -> String {
    let key = home.path().join(format!("{name}.key"));
    let cert = home.path().join(format!("{name}.pem"));
    let subject = format!("/CN={cn}");
    let mut args = vec![
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        days,
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
        "-subj",
        &subject,
    ];
    args.extend_from_slice(extra);
    let (ok, text) = openssl(&args);
    assert!(ok, "{text}");
    cert.to_string_lossy().into_owned()
}

#[test]
fn reference_ca_issues_chains_that_openssl_verifies() {
    let home = Home::new();
    home.ok(&["--yes", "ca", "init"]);
    let ca = home.json(&["ca", "show"]);
    assert_eq!(ca["root"]["key_algorithm"], "rsa-4096");
    assert_eq!(ca["intermediate"]["key_algorithm"], "rsa-4096");
    assert_eq!(ca["intermediate"]["path_len"], 0);
    let names: Vec<&str> = ca["vault_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"/apigw-mtls/local/ca/intermediate/private-key"),
        "{names:?}"
    );

    for alg in ["ecdsa-p256", "ecdsa-p384", "rsa-2048"] {
        let id = format!("client-{alg}");
        let out = home.path().join(&id);
        home.ok(&[
            "issue",
            &id,
            "--key-algorithm",
            alg,
            "--out",
            out.to_str().unwrap(),
        ]);
        let chain = split_pem(&fs::read_to_string(out.join("chain.pem")).unwrap());
        assert_eq!(chain.len(), 2, "chain.pem holds intermediate then root");
        let inter = write(&home, "inter.pem", &chain[0]);
        let root = write(&home, "root.pem", &chain[1]);
        let client = out.join("client.pem");
        let (ok, text) = openssl(&[
            "verify",
            "-CAfile",
            &root,
            "-untrusted",
            &inter,
            client.to_str().unwrap(),
        ]);
        assert!(ok, "{alg}: {text}");
        let (_, text) = openssl(&["x509", "-in", client.to_str().unwrap(), "-noout", "-text"]);
        for want in [
            "CA:FALSE",
            "Digital Signature",
            "TLS Web Client Authentication",
            "Subject Key Identifier",
            "Authority Key Identifier",
        ] {
            assert!(text.contains(want), "{alg}: no {want} in\n{text}");
        }
        assert_eq!(
            text.contains("Key Encipherment"),
            alg.starts_with("rsa"),
            "{alg}:\n{text}"
        );
        assert!(
            text.contains(&format!("CN={id}")) || text.contains(&format!("CN = {id}")),
            "{text}"
        );
        let key = out.join("client.key");
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&key).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600, "client.key must be 0600");
        let (ok, text) = openssl(&["pkey", "-in", key.to_str().unwrap(), "-noout"]);
        assert!(ok, "{text}");
    }
}

#[test]
fn root_only_hierarchy_signs_clients_with_the_root() {
    let home = Home::new();
    home.ok(&[
        "--yes",
        "ca",
        "init",
        "--root-only",
        "--key-algorithm",
        "ecdsa-p384",
    ]);
    let out = home.path().join("c");
    home.ok(&["issue", "partner", "--out", out.to_str().unwrap()]);
    let chain = split_pem(&fs::read_to_string(out.join("chain.pem")).unwrap());
    assert_eq!(chain.len(), 1, "root-only chain is the root alone");
    let root = write(&home, "root.pem", &chain[0]);
    let (ok, text) = openssl(&[
        "verify",
        "-CAfile",
        &root,
        out.join("client.pem").to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
}

#[test]
fn csr_issuance_and_export_with_pkcs12() {
    let home = home_with_ca();
    let key = home.path().join("csr.key");
    let csr = home.path().join("req.csr");
    let (ok, text) = openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        csr.to_str().unwrap(),
        "-subj",
        "/CN=ignored",
    ]);
    assert!(ok, "{text}");
    let issued = home.json(&["issue", "from-csr", "--csr", csr.to_str().unwrap()]);
    assert_eq!(issued["record"]["key_held"], false);
    assert_eq!(
        issued["info"]["cn"], "from-csr",
        "CN is the client_id, not the CSR's subject"
    );

    // The key stays with the requester, so a PKCS#12 export is refused and nothing is written.
    let dir = home.path().join("export-csr");
    let out = home
        .cmd(&[
            "export",
            "from-csr",
            "--out",
            dir.to_str().unwrap(),
            "--p12",
        ])
        .env("MTLS_CONSOLE_P12_PASSPHRASE", "correct horse")
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("PKCS#12"), "{}", stderr(&out));
    assert!(!dir.join("client.pem").exists());

    home.ok(&["issue", "with-key"]);
    let dir = home.path().join("export");
    let out = home
        .cmd(&[
            "export",
            "with-key",
            "--out",
            dir.to_str().unwrap(),
            "--p12",
        ])
        .env("MTLS_CONSOLE_P12_PASSPHRASE", "correct horse")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let p12 = dir.join("client.p12");
    let (ok, text) = openssl(&[
        "pkcs12",
        "-in",
        p12.to_str().unwrap(),
        "-passin",
        "pass:correct horse",
        "-nokeys",
        "-info",
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("with-key"), "{text}");
    let (ok, _) = openssl(&[
        "pkcs12",
        "-in",
        p12.to_str().unwrap(),
        "-passin",
        "pass:wrong",
        "-nokeys",
    ]);
    assert!(!ok, "a wrong passphrase must not open the PKCS#12 file");
}

#[test]
fn bulk_issue_is_idempotent_and_all_or_nothing_on_bad_input() {
    let home = home_with_ca();
    let bad = write(
        &home,
        "bad.json",
        r#"{"clients":[{"client_id":"good-one"},{"client_id":"bad one"},{"client_id":"x/y"}]}"#,
    );
    let out = home.run(&["issue", "--from", &bad]);
    assert_eq!(code(&out), 3);
    let err = stderr(&out);
    assert!(
        err.contains("clients[1]")
            && err.contains("clients[2]")
            && err.contains("nothing was issued"),
        "{err}"
    );
    assert_eq!(
        home.json(&["list"]).as_array().unwrap().len(),
        0,
        "a refused file issues nothing"
    );

    let file = write(
        &home,
        "clients.json",
        r#"{"clients":[{"client_id":"a-1"},{"client_id":"b-2"},{"client_id":"c-3","key_algorithm":"rsa-2048"}]}"#,
    );
    let first = home.json(&["issue", "--from", &file]);
    assert_eq!(first["issued"].as_array().unwrap().len(), 3);
    let again = home.json(&["issue", "--from", &file]);
    assert_eq!(again["issued"].as_array().unwrap().len(), 0);
    assert_eq!(again["skipped"].as_array().unwrap().len(), 3);
    assert_eq!(home.json(&["list"]).as_array().unwrap().len(), 3);

    // A client that already has a history is issued through its claim, beside new ones.
    home.ok(&["--yes", "revoke", "b-2", "--reason", "superseded"]);
    let more = write(
        &home,
        "more.json",
        r#"{"clients":[{"client_id":"a-1"},{"client_id":"b-2"},{"client_id":"d-4"}]}"#,
    );
    let third = home.json(&["issue", "--from", &more]);
    assert_eq!(
        third["issued"],
        serde_json::json!(["b-2", "d-4"]),
        "{third}"
    );
    assert_eq!(third["skipped"], serde_json::json!(["a-1"]), "{third}");
    let listed = home.json(&["list"]);
    assert_eq!(
        listed.as_array().unwrap().len(),
        4,
        "one row per client: {listed}"
    );
    for id in ["b-2", "d-4"] {
        let dir = home.path().join(format!("export-{id}"));
        home.ok(&["export", id, "--out", dir.to_str().unwrap()]);
        assert!(
            dir.join("client.key").is_file(),
            "{id}: the key of its cert"
        );
    }
}

#[test]
fn revoke_then_verify_denies_and_names_the_reason() {
    let home = home_with_ca();
    let dir = home.path().join("c");
    home.ok(&["issue", "victim", "--out", dir.to_str().unwrap()]);
    home.ok(&["--yes", "truststore", "publish"]);
    let cert = dir.join("client.pem");
    let out = home.run(&["verify", cert.to_str().unwrap()]);
    assert_eq!(
        code(&out),
        0,
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ALLOW"));

    home.ok(&[
        "--yes",
        "revoke",
        "victim",
        "--reason",
        "key-compromise",
        "--note",
        "INC-1",
    ]);
    let out = home.run(&["verify", cert.to_str().unwrap()]);
    assert_eq!(code(&out), 10);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("DENY") && text.contains("revoked") && text.contains("keyCompromise"),
        "{text}"
    );

    // Revoking again is a clear conflict; an unknown client is not found.
    let out = home.run(&["--yes", "revoke", "victim", "--reason", "superseded"]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    let out = home.run(&["--yes", "revoke", "nobody", "--reason", "superseded"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let out = home.run(&["--yes", "revoke", "victim", "--reason", "bored"]);
    assert_eq!(code(&out), 3);
    assert!(
        stderr(&out).contains("keyCompromise"),
        "lists the valid reasons: {}",
        stderr(&out)
    );
}

#[test]
fn verify_denies_a_foreign_and_a_self_signed_cert() {
    let home = home_with_ca();
    home.ok(&["--yes", "truststore", "publish"]);
    let cert = openssl_self_signed(&home, "self", "intruder", "30", &[]);
    let out = home.run(&["verify", &cert]);
    assert_eq!(code(&out), 10);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("self-signed") && text.contains("no roster item"),
        "{text}"
    );

    // A cert from another CA with a client_id this environment knows is still refused.
    home.ok(&["issue", "known-client"]);
    let foreign = home_with_ca();
    let dir = foreign.path().join("f");
    foreign.ok(&["issue", "known-client", "--out", dir.to_str().unwrap()]);
    let out = home.run(&["verify", dir.join("client.pem").to_str().unwrap()]);
    assert_eq!(code(&out), 10);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("gateway:") && text.contains("no roster item"),
        "{text}"
    );
}

#[test]
fn concurrent_revokes_from_two_processes_leave_one_success_and_one_conflict() {
    let home = home_with_ca();
    let issued = home.json(&["issue", "contested"]);
    let serial = issued["record"]["serial"].as_str().unwrap().to_string();
    let spawn = || {
        home.cmd(&["--yes", "revoke", &serial, "--reason", "keyCompromise"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let mut codes: Vec<i32> = outs.iter().map(code).collect();
    codes.sort();
    assert_eq!(
        codes,
        vec![0, 5],
        "one revoke wins, one conflicts: {}",
        outs.iter().map(stderr).collect::<String>()
    );
    let loser = outs.iter().find(|o| code(o) == 5).unwrap();
    assert!(
        stderr(loser).contains("revoked") || stderr(loser).contains("changed"),
        "{}",
        stderr(loser)
    );

    let audit = home.json(&["audit"]);
    let revokes: Vec<&serde_json::Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "revoke")
        .collect();
    assert_eq!(
        revokes.iter().filter(|r| r["outcome"] == "ok").count(),
        1,
        "{audit:#}"
    );
    assert_eq!(
        revokes
            .iter()
            .filter(|r| r["outcome"] == "conflict")
            .count(),
        1,
        "{audit:#}"
    );
}

#[test]
fn reissue_keeps_the_key_and_honours_the_grace_period() {
    let home = home_with_ca();
    let first = home.json(&["issue", "renewer"]);
    let old_serial = first["record"]["serial"].as_str().unwrap().to_string();
    let old_pem = first["cert_pem"].as_str().unwrap().to_string();
    let out = home.json(&["--yes", "reissue", "renewer", "--grace", "24h"]);
    let new_pem = out["new"]["cert_pem"].as_str().unwrap().to_string();
    assert_ne!(out["new"]["record"]["serial"], old_serial);
    assert_eq!(out["new"]["record"]["replaces"], old_serial.as_str());
    assert_eq!(
        out["old"]["status"], "active",
        "grace keeps the old cert active"
    );
    assert_eq!(out["old"]["replaced_by"], out["new"]["record"]["serial"]);

    let pubkey = |pem: &str, name: &str| {
        let path = write(&home, name, pem);
        openssl(&["x509", "-in", &path, "-noout", "-pubkey"]).1
    };
    assert_eq!(
        pubkey(&old_pem, "old.pem"),
        pubkey(&new_pem, "new.pem"),
        "same key without --rekey"
    );

    // The grace period ends the old cert through `expiry`, the field the authorizer reads.
    let old = home.json(&["show", &old_serial]);
    let expiry = time::OffsetDateTime::parse(
        old["record"]["expiry"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let left = expiry - time::OffsetDateTime::now_utc();
    assert!(
        left <= time::Duration::hours(24) && left > time::Duration::hours(23),
        "{left}"
    );

    let rekeyed = home.json(&["--yes", "reissue", "renewer", "--rekey"]);
    let rekeyed_pem = rekeyed["new"]["cert_pem"].as_str().unwrap();
    assert_ne!(
        pubkey(&new_pem, "a.pem"),
        pubkey(rekeyed_pem, "b.pem"),
        "--rekey makes a new key"
    );
    assert_eq!(rekeyed["old"]["status"], "revoked");
    assert_eq!(rekeyed["old"]["revocation_reason"], "superseded");
    let shown = home.json(&["show", "renewer"]);
    assert_eq!(shown["history"].as_array().unwrap().len(), 3);
}

#[test]
fn bad_client_ids_are_refused_and_change_nothing() {
    let home = home_with_ca();
    let long = "a".repeat(65);
    for (id, words) in [
        ("", "empty"),
        ("has space", "space"),
        ("a,b", "comma"),
        ("a/b", "slash"),
        ("-dash", "starts"),
        (long.as_str(), "characters long"),
        ("tab\there", "control"),
    ] {
        let out = home.run(&["issue", "--", id]);
        assert_eq!(code(&out), 3, "{id:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(words), "{id:?}: {}", stderr(&out));
    }
    let out = home.run(&["issue", "ok-id", "--cn", "other"]);
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("authorizer"), "{}", stderr(&out));
    assert_eq!(home.json(&["list"]).as_array().unwrap().len(), 0);
    assert!(
        home.json(&["audit"])
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["action"] != "issue")
    );
}

#[test]
fn issuing_twice_points_to_reissue_and_missing_ca_points_to_ca_init() {
    let home = Home::new();
    let out = home.run(&["issue", "early"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("ca init"), "{}", stderr(&out));

    let home = home_with_ca();
    home.ok(&["issue", "twice"]);
    let out = home.run(&["issue", "twice"]);
    assert_eq!(code(&out), 5);
    assert!(stderr(&out).contains("reissue twice"), "{}", stderr(&out));
    let out = home.run(&["--yes", "ca", "init"]);
    assert_eq!(
        code(&out),
        5,
        "an existing CA is never overwritten: {}",
        stderr(&out)
    );
}

#[test]
fn malformed_csr_and_cert_files_get_one_clear_error() {
    let home = home_with_ca();
    let truncated = write(
        &home,
        "t.csr",
        "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n",
    );
    let out = home.run(&["issue", "csr-client", "--csr", &truncated]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert_eq!(
        stderr(&out).lines().count(),
        1,
        "one message: {}",
        stderr(&out)
    );
    let garbage = write(&home, "g.pem", "hello");
    let out = home.run(&["verify", &garbage]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let out = home.run(&["verify", "/nonexistent/cert.pem"]);
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert_eq!(home.json(&["list"]).as_array().unwrap().len(), 0);
}

#[test]
fn truststore_publish_history_and_rollback() {
    let home = home_with_ca();
    let out = home.run(&["truststore", "show"]);
    assert_eq!(code(&out), 4, "nothing published yet: {}", stderr(&out));
    let built = home.json(&["truststore", "build"]);
    assert_eq!(built["certs"].as_array().unwrap().len(), 2);
    assert!(
        built["problems"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["fatal"] == false),
        "{built:#}"
    );
    let v1 = home.json(&["--yes", "truststore", "publish"]);
    let shown = home.json(&["truststore", "show"]);
    assert_eq!(shown["version"]["version_id"], v1["version_id"]);
    // Publishing the same bundle again is a no-op, not a new version.
    let again = home.json(&["--yes", "truststore", "publish"]);
    assert_eq!(again["version_id"], v1["version_id"]);

    // A pinned external CA makes a second version; rolling back restores the first content.
    let cdn = openssl_self_signed(
        &home,
        "cdn",
        "CDN Origin Pull CA",
        "3650",
        &[
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    let config_dir = home.path().join("config/mtls-console");
    fs::create_dir_all(&config_dir).unwrap();
    fs::write(
        config_dir.join("config.toml"),
        format!("[environments.local]\npinned_cas = [\"{}\"]\n", cdn),
    )
    .unwrap();
    let v2 = home.json(&["--yes", "truststore", "publish"]);
    assert_ne!(v2["version_id"], v1["version_id"]);
    let shown = home.json(&["truststore", "show"]);
    assert_eq!(shown["certs"].as_array().unwrap().len(), 3);
    let history = home.json(&["truststore", "history"]);
    assert_eq!(history.as_array().unwrap().len(), 2);
    assert_eq!(history[0]["version_id"], v2["version_id"], "newest first");

    let v3 = home.json(&[
        "--yes",
        "truststore",
        "rollback",
        v1["version_id"].as_str().unwrap(),
    ]);
    let shown = home.json(&["truststore", "show"]);
    assert_eq!(shown["version"]["version_id"], v3["version_id"]);
    assert_eq!(shown["certs"].as_array().unwrap().len(), 2);
    let out = home.run(&["--yes", "truststore", "rollback", "no-such-version"]);
    assert_eq!(code(&out), 4);
}

/// The README's `mtls-console --env demo demo`, then `--env demo` as demo's own output says:
/// an environment the config does not name is made on the embedded backend by `demo` and
/// opens afterwards; any other unknown name is still an error, with the way out.
#[test]
fn demo_creates_the_environment_it_names() {
    let home = Home::new();
    let made = home.ok(&["--env", "demo", "demo"]);
    assert!(made.contains("--env demo"), "{made}");
    assert_eq!(
        home.json(&["--env", "demo", "list"])
            .as_array()
            .unwrap()
            .len(),
        50
    );
    assert_eq!(
        home.json(&["list"]).as_array().unwrap().len(),
        0,
        "local is untouched"
    );
    // Every row says what it means now; expired clients can be listed on their own.
    let expired = home.json(&["--env", "demo", "list", "--status", "expired"]);
    let expired = expired.as_array().unwrap();
    assert!(!expired.is_empty(), "the demo has expired clients");
    for row in expired {
        assert_eq!(row["state"], "expired", "{row}");
        assert_eq!(row["status"], "active", "not revoked: {row}");
        assert!(row["days_left"].as_i64().unwrap() <= 0, "{row}");
    }
    let all = home.json(&["--env", "demo", "list"]);
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"].is_string())
    );
    // The why of a revocation is shown with it.
    home.ok(&["--env", "demo", "issue", "noted"]);
    home.ok(&[
        "--env", "demo", "--yes", "reissue", "noted", "--grace", "7d",
    ]);
    home.ok(&[
        "--env",
        "demo",
        "--yes",
        "revoke",
        "noted",
        "--reason",
        "keyCompromise",
        "--note",
        "INC-7 key in a public repo",
    ]);
    let shown = home.ok(&["--env", "demo", "show", "noted"]);
    assert!(
        shown.contains("note        INC-7 key in a public repo"),
        "{shown}"
    );
    let history: Vec<&str> = shown
        .lines()
        .filter(|l| l.contains(" issued ") && l.contains(" revoked "))
        .collect();
    assert_eq!(
        history.len(),
        2,
        "both certs, with reason and note: {shown}"
    );
    assert!(
        history
            .iter()
            .all(|l| l.contains("keyCompromise") && l.contains("INC-7"))
    );
    let out = home.run(&["--env", "prod", "list"]);
    assert_eq!(code(&out), 7);
    assert!(
        stderr(&out).contains("no environment named 'prod'")
            && stderr(&out).contains("--env prod demo"),
        "{}",
        stderr(&out)
    );
    let bad = home.run(&["--env", "../etc", "demo"]);
    assert_eq!(code(&bad), 7, "{}", stderr(&bad));
}

#[test]
fn demo_fills_an_environment_with_varied_states_and_doctor_is_happy() {
    let home = Home::new();
    home.ok(&["--env", "local", "demo"]);
    let rows = home.json(&["list"]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 50);
    let count = |status: &str| {
        home.json(&["list", "--status", status])
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count("revoked"), 6);
    assert!(count("expiring") >= 10, "expiring: {}", count("expiring"));
    let now = time::OffsetDateTime::now_utc();
    let expired = rows
        .iter()
        .filter(|r| r["status"] == "active")
        .filter(|r| {
            time::OffsetDateTime::parse(
                r["expiry"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
                < now
        })
        .count();
    assert_eq!(expired, 4);
    let out = home.run(&["doctor"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    let out = home.run(&["demo"]);
    assert_eq!(
        code(&out),
        5,
        "demo refuses an environment with a CA: {}",
        stderr(&out)
    );
}

#[test]
fn read_only_refuses_changes() {
    let home = home_with_ca();
    let out = home.run(&["--read-only", "issue", "x"]);
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    assert_eq!(home.json(&["list"]).as_array().unwrap().len(), 0);
}

#[test]
fn unknown_environment_and_confirmation_without_terminal_are_clear_errors() {
    let home = home_with_ca();
    let out = home.run(&["--env", "prod", "list"]);
    assert_eq!(code(&out), 7);
    assert!(
        stderr(&out).contains("no environment named 'prod'"),
        "{}",
        stderr(&out)
    );
    home.ok(&["issue", "needs-yes"]);
    let out = home.run(&["revoke", "needs-yes", "--reason", "superseded"]);
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
}

/// Shell words of one README line (double quotes group; no other shell syntax is used there).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for ch in line.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
}

/// Every `mtls-console ...` line in the README's shell blocks is a valid command line
/// (`a | b | c` lists alternatives of the last word).
#[test]
fn every_command_the_readme_shows_parses() {
    use clap::Parser;
    let readme = include_str!("../../README.md");
    let mut in_block = false;
    let mut checked = 0;
    for line in readme.lines() {
        if let Some(lang) = line.strip_prefix("```") {
            // Shell blocks only: others draw screens.
            in_block = !in_block && lang == "sh";
            continue;
        }
        let line = line.trim();
        if !in_block || !line.starts_with("mtls-console ") {
            continue;
        }
        let command = line.split(" # ").next().unwrap().trim();
        let mut alternatives = command.split(" | ");
        let first = alternatives.next().unwrap();
        let prefix = first.rsplit_once(' ').unwrap().0;
        let mut lines = vec![first.to_string()];
        lines.extend(alternatives.map(|alt| format!("{prefix} {alt}")));
        for l in lines {
            let words = shell_words(&l);
            if let Err(e) = mtls_console::cli::Cli::try_parse_from(&words) {
                assert!(
                    matches!(e.kind(), clap::error::ErrorKind::DisplayHelp),
                    "README command `{l}` does not parse:\n{e}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 25, "only {checked} README commands found");
}
