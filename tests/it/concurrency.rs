//! Several operators at once, and crashes: real OS processes of the release binary racing on
//! one deployment (embedded backend and moto), `kill -9` of the binary by its PID, and the
//! fault-injecting store driving every multi-step operation through each failure point.
//!
//! After every race or kill [`check`] proves the invariants: every client has exactly one
//! current cert, its vault cert and key match it, the reference authorizer (the Python
//! fixture) and the published bundle accept it and refuse every revoked one, every change
//! has its audit record, no lease is left behind and `repair` finds nothing to do. Each
//! scenario appends its tally to `$CARGO_TARGET_TMPDIR/concurrency.tsv` (the README table).

mod faults;
mod findings;
mod races;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use mtls_console::config::{EnvConfig, VaultKind};
use mtls_console::model::{AuditOutcome, CertRecord, CertStatus, VaultItem};
use mtls_console::ops::{self, Ctx};
use mtls_console::pki;
use mtls_console::store::item::Item;
use time::OffsetDateTime;

use crate::common::{Home, code};

/// One deployment the binary and the test both reach: an embedded store in a home of its
/// own, or a set of moto resources.
pub struct Site {
    pub home: Home,
    pub env: EnvConfig,
    pub aws: bool,
}

impl Site {
    /// An embedded-backend environment `t` in a fresh home.
    pub fn local() -> Site {
        let home = Home::new();
        let data_dir = home.path().join("store");
        let dir = home.path().join("config/mtls-console");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.toml"),
            format!(
                "[environments.t]\nbackend = \"local\"\ndata_dir = \"{}\"\n",
                data_dir.display()
            ),
        )
        .unwrap();
        let env = EnvConfig {
            name: "t".into(),
            data_dir: Some(data_dir),
            ..EnvConfig::default()
        };
        Site {
            home,
            env,
            aws: false,
        }
    }

    /// Fresh moto resources named after `tag`, reached as environment `t`.
    pub async fn moto(tag: &str, vault: VaultKind) -> Site {
        let mut env = crate::aws::env(tag);
        env.vault = vault;
        let extra = match vault {
            VaultKind::Ssm => "",
            VaultKind::SecretsManager => "vault = \"secrets-manager\"\n",
        };
        let home = crate::aws::home_for(&env, extra);
        let config = home.path().join("config/mtls-console/config.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(
            &config,
            text.replace("[environments.moto]", "[environments.t]"),
        )
        .unwrap();
        mtls_console::store::aws::init_infra(&env).await.unwrap();
        Site {
            home,
            env,
            aws: true,
        }
    }

    /// The binary on this site, stdout and stderr captured.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut all = vec!["--env", "t"];
        all.extend_from_slice(args);
        let mut cmd = self.home.cmd(&all);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            code(&out),
            0,
            "`{}` failed:\n{}",
            args.join(" "),
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args).spawn().unwrap()
    }

    pub async fn ctx(&self) -> Ctx {
        Ctx::open(self.env.clone()).await.unwrap()
    }

    pub fn backend(&self) -> &'static str {
        if self.aws { "moto" } else { "embedded" }
    }

    /// A CA (ECDSA, so tests stay quick), `clients` issued and the bundle published.
    pub fn bootstrap(&self, clients: &[String]) {
        self.ok(&["ca", "init", "--key-algorithm", "ecdsa-p256", "--yes"]);
        if !clients.is_empty() {
            let file = self.bulk_file("bootstrap", clients);
            self.ok(&["issue", "--from", file.to_str().unwrap()]);
        }
        self.ok(&["truststore", "publish", "--yes"]);
    }

    /// A bulk-issue file for `clients`.
    pub fn bulk_file(&self, name: &str, clients: &[String]) -> PathBuf {
        let path = self.home.path().join(format!("{name}.json"));
        let entries: Vec<serde_json::Value> = clients
            .iter()
            .map(|c| serde_json::json!({ "client_id": c }))
            .collect();
        std::fs::write(&path, serde_json::json!({ "clients": entries }).to_string()).unwrap();
        path
    }
}

/// `prefix-1` .. `prefix-n`.
pub fn ids(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Exit code and both streams, for failure messages.
pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Starts every command at once and waits for all of them.
pub fn race(site: &Site, runs: &[Vec<&str>]) -> Vec<Output> {
    let children: Vec<Child> = runs.iter().map(|args| site.spawn(args)).collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

/// A raced run either did its work (exit 0) or was refused as a conflict (exit 5) whose
/// message says who holds what; anything else fails the test. Returns the refusals.
pub fn settled(outs: &[Output]) -> usize {
    let mut refused = 0;
    for out in outs {
        match code(out) {
            0 => {}
            5 => {
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(
                    (err.contains("another run") && err.contains("nothing was changed"))
                        || err.contains("already has an active certificate"),
                    "a conflict must say who holds what and that nothing changed:\n{err}"
                );
                refused += 1;
            }
            _ => panic!("a raced run failed:\n{}", text(out)),
        }
    }
    refused
}

/// What the invariants found.
#[derive(Debug, Default)]
pub struct Tally {
    pub clients: usize,
    /// Clients with more than one current cert, or active certs without a current one.
    pub lost: usize,
    /// Clients whose vault cert or key is not their current cert's (plus `repair` findings).
    pub stale_vault: usize,
    /// Roster changes without their `ok` audit record.
    pub missing_audit: usize,
    pub problems: Vec<String>,
}

/// The reference authorizer's answers for (item, subject DN) pairs.
pub fn python_authorizer(cases: &[(Option<Item>, String)]) -> Vec<(bool, Option<String>)> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/authorizer.py");
    let input: Vec<serde_json::Value> = cases
        .iter()
        .map(|(item, dn)| serde_json::json!({ "item": item, "subjectDN": dn }))
        .collect();
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the reference authorizer");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::Value::Array(input).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the authorizer fixture failed");
    let answers: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    answers
        .iter()
        .map(|a| {
            (
                a["allow"].as_bool().unwrap(),
                a["error"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// Proves the invariants on `site` (see the module doc).
pub async fn check(site: &Site) -> Tally {
    let ctx = site.ctx().await;
    let now = OffsetDateTime::now_utc();
    let mut t = Tally::default();
    let listing = ctx.backend.roster.scan(true).await.unwrap();
    for s in &listing.skipped {
        t.problems.push(format!("unreadable roster item {s:?}"));
    }
    let mut by_client: BTreeMap<String, Vec<CertRecord>> = BTreeMap::new();
    for r in listing.records {
        by_client.entry(r.client_id.clone()).or_default().push(r);
    }
    let audit = ctx.backend.audit.recent(1_000_000).await.unwrap();
    let audited = |serial: &str, change: bool| {
        audit.iter().any(|r| {
            r.outcome == AuditOutcome::Ok
                && (!change || r.action != "issue")
                && (r.target.contains(serial) || r.detail.contains(serial))
        })
    };
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for (client, certs) in &by_client {
        t.clients += 1;
        let live = |c: &&CertRecord| c.status == CertStatus::Active && c.expiry > now;
        let current: Vec<&CertRecord> = certs
            .iter()
            .filter(live)
            .filter(|c| c.replaced_by.is_none())
            .collect();
        if current.len() > 1 {
            t.lost += 1;
            t.problems.push(format!(
                "{client}: {} current certs ({})",
                current.len(),
                certs
                    .iter()
                    .map(|c| format!("{} {:?}", c.serial, c.status))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for c in certs {
            let changed = c.status == CertStatus::Revoked || c.replaced_by.is_some();
            if !audited(&c.serial, false) || (changed && !audited(&c.serial, true)) {
                t.missing_audit += 1;
                t.problems.push(format!(
                    "{client}: serial {} has no ok audit record",
                    c.serial
                ));
            }
            let pem = c.cert_pem.clone().expect("scan(true) returns PEMs");
            let verdict = ops::verify(&ctx, &pem).await.unwrap();
            let should = current.first().is_some_and(|cur| cur.serial == c.serial)
                || (live(&c) && c.replaced_by.is_some());
            if verdict.allow != should {
                t.problems.push(format!(
                    "{client}: verify says {} for serial {} ({:?})",
                    if verdict.allow { "ALLOW" } else { "DENY" },
                    c.serial,
                    verdict.reasons
                ));
            }
            let item = ctx.backend.roster.get_item(&c.serial).await.unwrap();
            let dn = verdict.info.map(|i| i.subject).unwrap_or_default();
            cases.push((item, dn));
            expected.push((client.clone(), c.serial.clone(), should));
        }
        if let Some(cur) = current.first() {
            let cert = ctx
                .backend
                .vault
                .get(&VaultItem::ClientCert(client.clone()))
                .await
                .unwrap();
            let key = ctx
                .backend
                .vault
                .get(&VaultItem::ClientKey(client.clone()))
                .await
                .unwrap();
            let pem = cur.cert_pem.as_deref().unwrap();
            let cert_ok = cert.as_deref().map(|c| c.trim()) == Some(pem.trim());
            let key_ok = key
                .as_deref()
                .is_some_and(|k| pki::key_matches_cert(k, pem).unwrap_or(false));
            if !cert_ok || !key_ok {
                t.stale_vault += 1;
                t.problems.push(format!(
                    "{client}: vault cert {} / key {} for current serial {}",
                    if cert_ok { "ok" } else { "STALE" },
                    if key_ok { "ok" } else { "STALE" },
                    cur.serial
                ));
            }
        }
    }
    if !cases.is_empty() {
        for ((allow, error), (client, serial, should)) in
            python_authorizer(&cases).into_iter().zip(expected)
        {
            if allow != should {
                t.problems.push(format!(
                    "{client}: the reference authorizer says {} for serial {serial} ({error:?})",
                    if allow { "ALLOW" } else { "DENY" }
                ));
            }
        }
    }
    if let Some(lease) = ctx.backend.coordination.lease("ca").await.unwrap() {
        t.problems
            .push(format!("the ca lease is still held: {lease:?}"));
    }
    let repair = ops::repair(&ctx, false).await.unwrap();
    for f in &repair.findings {
        t.stale_vault += 1;
        t.problems
            .push(format!("repair finds {}: {}", f.client_id, f.problem));
    }
    t
}

/// Appends one scenario's tally to the README table's source.
pub fn record(scenario: &str, backend: &str, runs: usize, contended: usize, t: &Tally) {
    let line = format!(
        "{scenario}\t{backend}\t{runs}\t{contended}\t{}\t{}\t{}\t{}\n",
        t.clients, t.lost, t.stale_vault, t.missing_audit
    );
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("concurrency.tsv");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(line.as_bytes())
        .unwrap();
}

/// Asserts a clean tally and records it for the README table.
pub fn report(site: &Site, scenario: &str, runs: usize, contended: usize, t: &Tally) {
    record(scenario, site.backend(), runs, contended, t);
    assert!(
        t.problems.is_empty(),
        "{scenario} on {}: {} problems:\n{}",
        site.backend(),
        t.problems.len(),
        t.problems.join("\n")
    );
    assert_eq!((t.lost, t.stale_vault, t.missing_audit), (0, 0, 0));
}
