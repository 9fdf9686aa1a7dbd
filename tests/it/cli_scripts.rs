//! The CLI as scripts and auditors use it: files written safely, control characters kept off
//! the terminal, closed pipes, bounded durations, JSON errors, bundles on stdout, verify by
//! id, flags that would be ignored, bulk-file messages.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::process::Stdio;

use mtls_console::config::EnvConfig;
use mtls_console::model::{AuditOutcome, AuditRecord};
use mtls_console::ops::Ctx;

use crate::common::{Home, code, openssl, stderr};

fn home_with_ca() -> Home {
    let home = Home::new();
    home.ok(&["--yes", "ca", "init", "--key-algorithm", "ecdsa-p256"]);
    home
}

/// What an export without a private key writes.
const PUBLIC_FILES: [&str; 4] = [
    "bruno-client-certificates.json",
    "chain.pem",
    "client.pem",
    "curl-example.sh",
];

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn dir_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn export_never_writes_through_a_link_nor_over_a_key() {
    let home = home_with_ca();
    home.ok(&["issue", "alice"]);
    let out = home.path().join("out");
    fs::create_dir(&out).unwrap();
    let victim = home.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();
    symlink(&victim, out.join("client.key")).unwrap();
    let dir = out.to_str().unwrap();

    let refused = home.run(&["export", "alice", "--out", dir]);
    assert_eq!(code(&refused), 3, "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("symbolic link"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    let mode = fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "the link's target is not chmodded");
    // Even with --force a link is never written through.
    let forced = home.run(&["export", "alice", "--out", dir, "--force"]);
    assert_eq!(code(&forced), 3);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(dir_names(&out), ["client.key"], "nothing else was written");

    fs::remove_file(out.join("client.key")).unwrap();
    home.ok(&["export", "alice", "--out", dir]);
    assert_eq!(
        dir_names(&out),
        [
            "bruno-client-certificates.json",
            "chain.pem",
            "client.key",
            "client.pem",
            "curl-example.sh"
        ],
        "no temp file left"
    );
    let key_mode = fs::metadata(out.join("client.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(key_mode, 0o600);
    let key = fs::read_to_string(out.join("client.key")).unwrap();

    let again = home.run(&["export", "alice", "--out", dir]);
    assert_eq!(code(&again), 3);
    assert!(
        stderr(&again).contains("client.key exists") && stderr(&again).contains("--force"),
        "{}",
        stderr(&again)
    );
    home.ok(&["--yes", "reissue", "alice", "--rekey"]);
    home.ok(&["export", "alice", "--out", dir, "--force"]);
    assert_ne!(
        fs::read_to_string(out.join("client.key")).unwrap(),
        key,
        "replaced"
    );
}

#[test]
fn issue_out_never_leaves_another_clients_key_beside_the_cert() {
    let home = home_with_ca();
    let dir = home.path().join("partner");
    let dir_s = dir.to_str().unwrap();
    home.ok(&["issue", "alice", "--out", dir_s]);
    let key = home.path().join("bob.key");
    let csr = home.path().join("bob.csr");
    let (made, said) = openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-subj",
        "/CN=bob",
        "-out",
        csr.to_str().unwrap(),
    ]);
    assert!(made, "{said}");
    let csr_s = csr.to_str().unwrap();
    let refused = home.run(&["issue", "bob", "--csr", csr_s, "--out", dir_s]);
    assert_eq!(code(&refused), 3, "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("does not belong to this cert"),
        "{}",
        stderr(&refused)
    );
    let listed = home.json(&["list"]);
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "bob was not issued: {listed}"
    );

    let issued = home.ok(&["issue", "bob", "--csr", csr_s, "--out", dir_s, "--force"]);
    assert!(issued.contains("client.key not written"), "{issued}");
    assert_eq!(dir_names(&dir), PUBLIC_FILES, "alice's key is gone");
    let curl = fs::read_to_string(dir.join("curl-example.sh")).unwrap();
    assert!(
        curl.contains("--key YOUR-PRIVATE-KEY.pem"),
        "bob's key is his own: {curl}"
    );
}

#[test]
fn read_only_exports_public_files_only_and_refuses_init_infra() {
    let home = home_with_ca();
    home.ok(&["issue", "alice"]);
    let dir = home.path().join("ro");
    let out = home.ok(&[
        "--read-only",
        "export",
        "alice",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(out.contains("read-only"), "{out}");
    assert_eq!(dir_names(&dir), PUBLIC_FILES);
    let p12 = home
        .cmd(&[
            "--read-only",
            "export",
            "alice",
            "--out",
            "elsewhere",
            "--p12",
        ])
        .env("MTLS_CONSOLE_P12_PASSPHRASE", "long enough passphrase")
        .output()
        .unwrap();
    assert_eq!(code(&p12), 3);
    assert!(stderr(&p12).contains("read-only"), "{}", stderr(&p12));
    assert!(!home.path().join("elsewhere").exists());

    // An AWS environment marked read-only: init-infra is refused before any AWS call (the
    // endpoint is a closed loopback port).
    let config = home.path().join("ro.toml");
    fs::write(
        &config,
        "[environments.ro]\nbackend = \"aws\"\nregion = \"us-east-1\"\n\
         endpoint_url = \"http://127.0.0.1:9\"\ntruststore_bucket = \"b\"\nread_only = true\n",
    )
    .unwrap();
    let infra = home.run(&[
        "--config",
        config.to_str().unwrap(),
        "--env",
        "ro",
        "init-infra",
    ]);
    assert_eq!(code(&infra), 3, "{}", stderr(&infra));
    assert!(stderr(&infra).contains("read-only"), "{}", stderr(&infra));
}

#[test]
fn control_characters_never_reach_the_terminal() {
    let home = home_with_ca();
    home.ok(&["issue", "alice"]);
    let forged = "x\u{1b}[2J\rFAKE\nline\u{1b}]52;c;ZXZpbA==\u{7}";
    let refused = home.run(&[
        "--yes",
        "revoke",
        "alice",
        "--reason",
        "superseded",
        "--note",
        forged,
    ]);
    assert_eq!(code(&refused), 3);
    assert!(
        stderr(&refused).contains("control character"),
        "{}",
        stderr(&refused)
    );

    // Another writer of the audit log is not held to that: its record is shown escaped.
    let env = EnvConfig {
        name: "local".into(),
        data_dir: Some(home.data_dir().join("mtls-console")),
        ..EnvConfig::default()
    };
    assert!(home.data_dir().join("mtls-console/local.sqlite3").is_file());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let ctx = Ctx::open(env).await.unwrap();
        ctx.backend
            .audit
            .append(&AuditRecord {
                id: "9999999999999-forged".into(),
                at: time::OffsetDateTime::now_utc(),
                operator: "someone\u{1b}[31m".into(),
                action: "revoke".into(),
                target: "alice".into(),
                outcome: AuditOutcome::Ok,
                detail: forged.into(),
            })
            .await
            .unwrap();
    });
    let audit = home.run(&["audit"]);
    let text = stdout(&audit);
    assert!(!text.contains('\u{1b}') && !text.contains('\r') && !text.contains('\u{7}'));
    assert!(
        text.contains("x\\x1b[2J\\rFAKE\\nline\\x1b]52;c;ZXZpbA==\\x07"),
        "{text}"
    );
    assert!(
        !text.lines().any(|l| l.starts_with("line")),
        "no forged line: {text}"
    );
    let json: serde_json::Value = serde_json::from_str(&home.ok(&["--json", "audit"])).unwrap();
    assert!(
        json.to_string().contains("\\u001b[2J"),
        "JSON escapes it too"
    );
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let home = Home::new();
    home.ok(&["demo"]);
    for args in [
        &["list"][..],
        &["--json", "list"],
        &["audit", "--limit", "500"],
    ] {
        let mut child = home
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?} says nothing: {err}");
    }
}

#[test]
fn durations_and_days_out_of_range_are_refused_without_a_panic() {
    let home = home_with_ca();
    home.ok(&["issue", "c1"]);
    for args in [
        &["--yes", "reissue", "c1", "--grace", "3000000d"][..],
        &["--yes", "reissue", "c1", "--grace", "999999999999999d"],
        &[
            "--yes",
            "reissue",
            "c1",
            "--grace",
            "99999999999999999999999w",
        ],
        &["--yes", "reissue", "c1", "--days", "0"],
        &["--yes", "reissue", "c1", "--days", "4000000000"],
        &["--yes", "rotate-clients", "--all", "--grace", "3000000d"],
        &["--yes", "rotate-clients", "--all", "--days", "99999"],
        &[
            "--yes",
            "ca",
            "rotate-intermediate",
            "--ca-days",
            "4000000000",
        ],
        &["issue", "c2", "--days", "4000000000"],
    ] {
        let out = home.run(args);
        assert_eq!(code(&out), 3, "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            err.contains("out of range") || err.contains("too long"),
            "{args:?}: {err}"
        );
    }
    let none = home.ok(&["ca", "rotation"]);
    assert!(none.contains("no rotation"), "nothing was started: {none}");
    assert_eq!(home.json(&["list"]).as_array().unwrap().len(), 1);
    let fresh = Home::new();
    let ca = fresh.run(&["--yes", "ca", "init", "--root-days", "4000000"]);
    assert_eq!(code(&ca), 3, "{}", stderr(&ca));
}

#[test]
fn json_errors_are_json() {
    let home = home_with_ca();
    let missing = home.run(&["--json", "show", "nosuch"]);
    assert_eq!(code(&missing), 4);
    let err: serde_json::Value = serde_json::from_str(stderr(&missing).trim()).unwrap();
    assert_eq!(err["error"]["kind"], "not-found");
    assert_eq!(err["error"]["exit_code"], 4);
    assert!(err["error"]["message"].as_str().unwrap().contains("nosuch"));

    let usage = home.run(&["--json", "list", "--bogus"]);
    assert_eq!(code(&usage), 2);
    let err: serde_json::Value = serde_json::from_str(stderr(&usage).trim()).unwrap();
    assert_eq!(err["error"]["kind"], "usage");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--bogus"),
        "{err}"
    );

    let plain = home.run(&["show", "nosuch"]);
    assert!(stderr(&plain).starts_with("error: "), "{}", stderr(&plain));
}

#[test]
fn truststore_bundles_go_to_stdout_and_files() {
    let home = home_with_ca();
    let pem = home.ok(&["truststore", "build", "--pem"]);
    let built: serde_json::Value = home.json(&["truststore", "build"]);
    let certs = built["certs"].as_array().unwrap().len();
    assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), certs);
    assert!(
        pem.starts_with("-----BEGIN CERTIFICATE-----"),
        "PEM only: {pem}"
    );
    let file = home.path().join("bundle.pem");
    home.ok(&["truststore", "build", "--out", file.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(&file).unwrap().trim(), pem.trim());

    let empty = home.ok(&["truststore", "history"]);
    assert!(
        empty.contains("no truststore version is published"),
        "{empty}"
    );
    home.ok(&["--yes", "truststore", "publish"]);
    let shown = home.ok(&["truststore", "show", "--pem"]);
    assert_eq!(shown.trim(), pem.trim());
}

#[test]
fn verify_takes_a_client_or_serial_and_revoke_checks_first() {
    let home = home_with_ca();
    home.ok(&["issue", "acme"]);
    home.ok(&["--yes", "truststore", "publish"]);
    let by_id = home.run(&["verify", "acme"]);
    assert_eq!(code(&by_id), 0, "{}", stderr(&by_id));
    assert!(stdout(&by_id).contains("ALLOW"));
    let serial = home.json(&["list"])[0]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(stdout(&by_id).contains(&serial), "{}", stdout(&by_id));
    let nosuch = home.run(&["verify", "nosuch"]);
    assert_eq!(code(&nosuch), 4);
    assert!(
        stderr(&nosuch).contains("neither a file"),
        "{}",
        stderr(&nosuch)
    );

    let dry = home.ok(&["revoke", "--issued-by", "intermediate", "--dry-run"]);
    assert!(dry.contains('1'), "{dry}");
    let unknown = home.run(&["revoke", "nosuch", "--reason", "superseded"]);
    assert_eq!(
        code(&unknown),
        4,
        "the target is checked before the question"
    );
    assert!(!stderr(&unknown).contains("--yes"), "{}", stderr(&unknown));
    home.ok(&["--yes", "revoke", &serial, "--reason", "superseded"]);
    let denied = home.run(&["verify", &serial]);
    assert_eq!(code(&denied), 10);
}

#[test]
fn flags_that_would_be_ignored_are_refused() {
    let home = home_with_ca();
    for flag in [
        &["--endpoint-url", "http://127.0.0.1:9"][..],
        &["--profile", "x"],
        &["--region", "eu-west-1"],
    ] {
        let mut args = flag.to_vec();
        args.push("list");
        let out = home.run(&args);
        assert_eq!(code(&out), 7, "{args:?}");
        assert!(
            stderr(&out).contains(flag[0]) && stderr(&out).contains("embedded"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn bulk_files_say_what_they_must_look_like_and_case_twins_are_warned() {
    let home = home_with_ca();
    let array = home.path().join("array.json");
    fs::write(&array, r#"[{"client_id":"a"}]"#).unwrap();
    let out = home.run(&["issue", "--from", array.to_str().unwrap()]);
    assert_eq!(code(&out), 3);
    assert!(
        stderr(&out).contains("JSON array")
            && stderr(&out).contains(r#"{"clients": [{"client_id""#),
        "{}",
        stderr(&out)
    );
    let twins = home.path().join("twins.json");
    fs::write(
        &twins,
        r#"{"clients":[{"client_id":"Bulk-0005"},{"client_id":"bulk-0005"}]}"#,
    )
    .unwrap();
    let out = home.run(&["issue", "--from", twins.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("differ only in case"),
        "{}",
        stderr(&out)
    );
    home.ok(&["issue", "acme"]);
    let later = home.path().join("later.json");
    fs::write(&later, r#"{"clients":[{"client_id":"ACME"}]}"#).unwrap();
    let out = home.run(&["issue", "--from", later.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("active client 'acme'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_named_profile_wins_over_aws_variables_as_with_the_aws_cli() {
    let env = crate::aws::env("profile");
    let home = crate::aws::home_for(&env, "");
    let aws = home.path().join(".aws");
    fs::create_dir_all(&aws).unwrap();
    fs::write(
        aws.join("credentials"),
        "[good]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    )
    .unwrap();
    let creds = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let run = |args: &[&str]| home.cmd(args).envs(creds).output().unwrap();
    let made = run(&["--env", "moto", "--yes", "--profile", "good", "init-infra"]);
    assert_eq!(code(&made), 0, "{}", stderr(&made));
    let missing = run(&["--env", "moto", "--profile", "nosuch", "list"]);
    assert_eq!(
        code(&missing),
        7,
        "the variables do not stand in for a missing profile: {}",
        stderr(&missing)
    );
    assert!(stderr(&missing).contains("nosuch"), "{}", stderr(&missing));
    let good = run(&["--env", "moto", "--profile", "good", "list"]);
    assert_eq!(code(&good), 0, "{}", stderr(&good));
}

#[test]
fn completions_and_man_pages_are_generated() {
    let home = Home::new();
    let bash = home.ok(&["completions", "bash"]);
    let script = home.path().join("complete.bash");
    fs::write(&script, &bash).unwrap();
    let loaded = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p mtls-console",
            script.display()
        ))
        .output()
        .unwrap();
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    assert!(String::from_utf8_lossy(&loaded.stdout).contains("mtls-console"));
    assert!(bash.contains("truststore") && bash.contains("--issued-by"));
    assert!(
        home.ok(&["completions", "zsh"])
            .starts_with("#compdef mtls-console")
    );
    assert!(
        home.ok(&["completions", "fish"])
            .contains("complete -c mtls-console")
    );

    let page = home.ok(&["man"]);
    assert!(page.contains(".TH mtls-console"), "{page}");
    assert!(
        page.contains("mtls\\-console\\-truststore(1)") && page.contains(".SH \"GLOBAL OPTIONS\""),
        "{page}"
    );
    let dir = home.path().join("man");
    home.ok(&["man", "--out", dir.to_str().unwrap()]);
    let pages = dir_names(&dir);
    for name in [
        "mtls-console.1",
        "mtls-console-issue.1",
        "mtls-console-truststore-publish.1",
    ] {
        assert!(pages.iter().any(|p| p == name), "{name} in {pages:?}");
    }
    let issue = fs::read_to_string(dir.join("mtls-console-issue.1")).unwrap();
    assert!(
        issue.contains("client_validity_days"),
        "the flags' help is in the page"
    );
    // Generated without any configuration: a broken config does not stop them.
    let broken = home.path().join("broken.toml");
    fs::write(&broken, "not toml [").unwrap();
    home.ok(&["--config", broken.to_str().unwrap(), "completions", "bash"]);
}

/// The finding as reported: links planted at the temporary names the export used to write
/// through (`.client.key.tmp<PID>`, for the next few hundred PIDs the kernel hands out).
#[test]
fn links_planted_at_predictable_temp_names_are_never_followed() {
    let home = home_with_ca();
    home.ok(&["issue", "alice"]);
    let out = home.path().join("planted");
    fs::create_dir(&out).unwrap();
    let victim = home.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    let last: u32 = fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for pid in last + 1..last + 400 {
        for name in ["client.key", "client.pem", "chain.pem"] {
            symlink(&victim, out.join(format!(".{name}.tmp{pid}"))).unwrap();
        }
    }
    home.ok(&["export", "alice", "--out", out.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    let mode = fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
    assert_ne!(mode, 0o600, "the victim was not chmodded");
    let key = fs::symlink_metadata(out.join("client.key")).unwrap();
    assert!(key.is_file() && key.permissions().mode() & 0o777 == 0o600);
}

/// An AWS endpoint that refuses connections (a closed loopback port): one plain line that
/// says what failed and what to check, no SDK debug dump cut mid-word.
#[test]
fn an_unreachable_backend_is_said_in_plain_words() {
    let home = Home::new();
    let config = home.path().join("down.toml");
    fs::write(
        &config,
        "[environments.down]\nbackend = \"aws\"\nregion = \"us-east-1\"\n\
         endpoint_url = \"http://127.0.0.1:9\"\ntruststore_bucket = \"b\"\n",
    )
    .unwrap();
    let out = home
        .cmd(&[
            "--config",
            config.to_str().unwrap(),
            "--env",
            "down",
            "list",
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(code(&out), 6);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot reach http://127.0.0.1:9")
            && err.contains("connection refused")
            && err.contains("doctor"),
        "{err}"
    );
    assert!(
        !err.contains("DispatchFailure") && !err.contains("Os {"),
        "{err}"
    );
}

/// A client cert cannot outlive its CA: asking for more says so instead of silently
/// shortening it.
#[test]
fn a_validity_cut_short_by_the_ca_is_said() {
    let home = Home::new();
    home.ok(&[
        "--yes",
        "ca",
        "init",
        "--key-algorithm",
        "ecdsa-p256",
        "--intermediate-days",
        "100",
    ]);
    let out = home.run(&["issue", "long", "--days", "3650"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning:")
            && err.contains("not the 3650 asked")
            && err.contains("ends with its issuing CA"),
        "{err}"
    );
    let out = home.run(&["issue", "short", "--days", "30"]);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}
