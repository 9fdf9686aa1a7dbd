//! The performance table: every figure of the scale targets, its target, pass or fail, and
//! the machine it ran on (a benchmark, not a test: it never judges speed by failing).
//!
//! `cargo bench --bench perf` runs the full sizes; environment variables shrink them for a
//! smoke run (see README, Performance). It fails when something cannot be measured (no
//! `openssl`, no `moto_server`) or when a run loses, duplicates or fails a client.
//!
//! Parts (`PERF_PARTS`, comma-separated, default all):
//! - `issue`: `issue --from` on the embedded backend versus a shell loop around the `openssl`
//!   CLI and versus the raw in-process bound (key generation and signing on every core).
//! - `aws`: bulk issue and client rotation against moto behind a proxy that throttles SSM
//!   PutParameter and DynamoDB writes the way AWS does.
//! - `roster`: the console's launch to first frame, filter and scroll latency and memory with
//!   a large roster (measured in a child process), `report` and `expiry` over it, and the
//!   listing scan on moto.
//! - `item`: the size of a roster item per key type (the authorizer's GetItem).

mod proxy;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use futures::StreamExt;
use mtls_console::config::{BackendKind, EnvConfig};
use mtls_console::model::{CertRecord, CertStatus, RevocationReason, VaultItem};
use mtls_console::ops::{self, CaInitOptions, Ctx, IssueOptions, StatusFilter};
use mtls_console::pki::{self, ClientRequest, KeyAlgorithm, KeySource, Subject};
use mtls_console::store::aws::{
    ApiGatewayDomains, AwsClients, DynamoAudit, DynamoCoordination, DynamoRoster, Pacer,
    RetryPolicy, S3Truststore, SsmVault,
};
use mtls_console::store::item::{self, AttrValue, names};
use mtls_console::store::{Backend, Roster};
use mtls_console::tui::action::{Action, Effect, Op, Outcome};
use mtls_console::tui::draw::draw;
use mtls_console::tui::keymap::action_for;
use mtls_console::tui::state::{App, AppInit};
use mtls_console::tui::update::update;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use time::OffsetDateTime;

use proxy::{Limit, Proxy};

type BenchResult<T> = Result<T, String>;

/// One line of the table.
struct Row {
    part: &'static str,
    figure: String,
    value: String,
    target: String,
    /// None: reported without a target.
    pass: Option<bool>,
}

#[derive(Default)]
struct Table {
    rows: Vec<Row>,
    /// Correctness problems (failed, lost or duplicated clients): they fail the run.
    broken: Vec<String>,
}

impl Table {
    fn add(&mut self, part: &'static str, figure: impl Into<String>, value: String) {
        self.rows.push(Row {
            part,
            figure: figure.into(),
            value,
            target: "-".into(),
            pass: None,
        });
    }

    fn judge(
        &mut self,
        part: &'static str,
        figure: impl Into<String>,
        value: String,
        target: impl Into<String>,
        pass: bool,
    ) {
        self.rows.push(Row {
            part,
            figure: figure.into(),
            value,
            target: target.into(),
            pass: Some(pass),
        });
    }

    /// A correctness figure: reported like the others, and a failure fails the run.
    fn require(&mut self, part: &'static str, figure: impl Into<String>, value: String, ok: bool) {
        let figure = figure.into();
        if !ok {
            self.broken.push(format!("{part}: {figure} = {value}"));
        }
        self.judge(part, figure, value, "0", ok);
    }

    fn print(&self, machine: &str) {
        println!();
        println!("Machine: {machine}");
        println!();
        println!("| part | figure | value | target | result |");
        println!("|---|---|---|---|---|");
        for r in &self.rows {
            let result = match r.pass {
                Some(true) => "pass",
                Some(false) => "FAIL",
                None => "-",
            };
            println!(
                "| {} | {} | {} | {} | {} |",
                r.part, r.figure, r.value, r.target, result
            );
        }
        let judged = self.rows.iter().filter(|r| r.pass.is_some()).count();
        let passed = self.rows.iter().filter(|r| r.pass == Some(true)).count();
        println!();
        println!("{passed} of {judged} targets met");
    }
}

fn env_usize(name: &str, default: usize) -> BenchResult<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{name}={v} is not a whole number")),
        Err(_) => Ok(default),
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    if std::env::var_os(CHILD_VAR).is_some() {
        roster_child();
        return;
    }
    let parts = std::env::var("PERF_PARTS").unwrap_or_else(|_| "issue,aws,roster,item".into());
    let parts: Vec<&str> = parts.split(',').map(str::trim).collect();
    for p in &parts {
        if !["issue", "aws", "roster", "item"].contains(p) {
            eprintln!("PERF_PARTS: unknown part '{p}' (use issue, aws, roster, item)");
            std::process::exit(2);
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut table = Table::default();
    let run = rt.block_on(async {
        if parts.contains(&"issue") {
            bench_issue(&mut table).await?;
        }
        if parts.contains(&"aws") {
            bench_aws(&mut table).await?;
        }
        if parts.contains(&"roster") {
            bench_roster(&mut table).await?;
        }
        if parts.contains(&"item") {
            bench_item(&mut table).await?;
        }
        BenchResult::Ok(())
    });
    let machine = machine();
    table.print(&machine);
    if let Err(e) = run {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
    if !table.broken.is_empty() {
        eprintln!("benchmark found incorrect results:");
        for b in &table.broken {
            eprintln!("  {b}");
        }
        std::process::exit(1);
    }
}

/// CPU, cores, memory, kernel and openssl of this machine.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or("? GiB".into(), |kib| {
            format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let openssl = Command::new("openssl")
        .arg("version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "no openssl".into());
    format!("{cpu}, {cores} cores, {mem} RAM, Linux {kernel}, {openssl}")
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn subject() -> Subject {
    Subject {
        o: Some("Bench Ltd".into()),
        c: Some("GB".into()),
        ..Subject::default()
    }
}

fn ca_options(alg: KeyAlgorithm) -> CaInitOptions {
    CaInitOptions {
        root_only: false,
        key_algorithm: alg,
        subject: subject(),
        root_days: 3650,
        intermediate_days: 1825,
    }
}

fn clients(prefix: &str, n: usize) -> Vec<IssueOptions> {
    (0..n)
        .map(|i| IssueOptions {
            client: format!("{prefix}-{i:06}"),
            cn: None,
            days: None,
            key: None,
        })
        .collect()
}

fn local_env(dir: &Path, client_alg: KeyAlgorithm) -> EnvConfig {
    EnvConfig {
        name: "bench".into(),
        data_dir: Some(dir.to_path_buf()),
        client_key_algorithm: client_alg,
        ..EnvConfig::default()
    }
}

// ------------------------------------------------------------------ 1. bulk issuance

/// (label, CA key, client key, target versus the openssl loop)
const ISSUE_CONFIGS: [(&str, KeyAlgorithm, KeyAlgorithm, f64); 3] = [
    (
        "P-256 CA, ecdsa-p256 clients",
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP256,
        100.0,
    ),
    (
        "RSA-4096 CA, ecdsa-p256 clients",
        KeyAlgorithm::Rsa4096,
        KeyAlgorithm::EcdsaP256,
        20.0,
    ),
    (
        "RSA-4096 CA, rsa-2048 clients",
        KeyAlgorithm::Rsa4096,
        KeyAlgorithm::Rsa2048,
        3.0,
    ),
];

async fn bench_issue(table: &mut Table) -> BenchResult<()> {
    if find_on_path("openssl").is_none() {
        return Err(
            "openssl is not on PATH: the issuance benchmark compares with a shell loop \
                    around the openssl CLI; install openssl (scripts/test does)"
                .into(),
        );
    }
    let n = env_usize("PERF_ISSUE_N", 2000)?;
    let n_openssl = env_usize("PERF_OPENSSL_N", n)?;
    if n == 0 || n_openssl == 0 {
        return Err("PERF_ISSUE_N and PERF_OPENSSL_N must be at least 1".into());
    }
    let only = env_usize("PERF_ISSUE_CONFIG", 0)?;
    for (k, (label, ca_alg, client_alg, versus_openssl)) in ISSUE_CONFIGS.into_iter().enumerate() {
        if only != 0 && only != k + 1 {
            continue;
        }
        eprintln!("== issue: {label}, {n} clients");
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let ctx = Ctx::open(local_env(dir.path(), client_alg))
            .await
            .map_err(|e| e.to_string())?;
        ops::ca_init(&ctx, &ca_options(ca_alg))
            .await
            .map_err(|e| format!("ca init: {e}"))?;

        let list = clients("bench", n);
        let t = Instant::now();
        let report = ops::issue_bulk(&ctx, &list, None)
            .await
            .map_err(|e| format!("issue --from: {e}"))?;
        let ours = n as f64 / t.elapsed().as_secs_f64();
        let stored = ctx
            .backend
            .roster
            .list(false)
            .await
            .map_err(|e| e.to_string())?
            .len();
        let bad = report.failed.len() + n.abs_diff(report.issued.len()) + n.abs_diff(stored);
        table.require(
            "issue",
            format!("{label}: failed, missing or extra clients"),
            bad.to_string(),
            bad == 0,
        );

        let raw = raw_bound(&ctx, client_alg, n).await?;
        let openssl = openssl_loop(&ctx, dir.path(), client_alg, n_openssl).await?;
        table.add(
            "issue",
            format!("{label}: issue --from, {n} clients"),
            format!("{ours:.1} certs/s"),
        );
        table.add(
            "issue",
            format!("{label}: raw bound (keygen + sign, all cores)"),
            format!("{raw:.1} certs/s"),
        );
        table.add(
            "issue",
            format!("{label}: openssl shell loop, {n_openssl} clients"),
            format!("{openssl:.2} certs/s"),
        );
        table.judge(
            "issue",
            format!("{label}: issue --from / raw bound"),
            format!("{:.0}%", ours / raw * 100.0),
            ">= 50%",
            ours >= raw * 0.5,
        );
        table.judge(
            "issue",
            format!("{label}: issue --from / openssl loop"),
            format!("{:.1}x", ours / openssl),
            format!(">= {versus_openssl}x"),
            ours >= openssl * versus_openssl,
        );
    }
    Ok(())
}

/// Key generation and signing alone, in-process, on every core (one loaded CA per thread,
/// as `issue --from` does): no storage.
async fn raw_bound(ctx: &Ctx, client_alg: KeyAlgorithm, n: usize) -> BenchResult<f64> {
    let issuer = ops::load_issuer(ctx).await.map_err(|e| e.to_string())?;
    let material = Arc::new(issuer.material);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let now = OffsetDateTime::now_utc();
    let t = Instant::now();
    let errors: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cores)
            .map(|w| {
                let material = Arc::clone(&material);
                s.spawn(move || {
                    let Ok(signer) = pki::ClientSigner::new(&material, now) else {
                        return n;
                    };
                    (w..n)
                        .step_by(cores)
                        .filter(|i| {
                            let req = ClientRequest {
                                cn: format!("raw-{i:06}"),
                                validity_days: 395,
                                key: KeySource::Generate(client_alg),
                            };
                            signer.issue(&req).is_err()
                        })
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(n)).sum()
    });
    let rate = n as f64 / t.elapsed().as_secs_f64();
    if errors > 0 {
        return Err(format!(
            "the raw bound failed to sign {errors} certificates"
        ));
    }
    Ok(rate)
}

/// The same issuance as a shell loop around the openssl CLI: genpkey, req, x509 -req with the
/// environment's intermediate CA; the files it writes are its persistence.
async fn openssl_loop(
    ctx: &Ctx,
    dir: &Path,
    client_alg: KeyAlgorithm,
    n: usize,
) -> BenchResult<f64> {
    let vault = &ctx.backend.vault;
    let key = vault
        .get(&VaultItem::IntermediateKey)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the CA has no intermediate key")?;
    let cert = vault
        .get(&VaultItem::IntermediateCert)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the CA has no intermediate certificate")?;
    let work = dir.join("openssl");
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(work.join("ca.key"))
            .map_err(|e| e.to_string())?;
        f.write_all(key.as_bytes()).map_err(|e| e.to_string())?;
    }
    std::fs::write(work.join("ca.pem"), cert.as_bytes()).map_err(|e| e.to_string())?;
    std::fs::write(
        work.join("ext.cnf"),
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=clientAuth\n",
    )
    .map_err(|e| e.to_string())?;
    let genpkey = match client_alg {
        KeyAlgorithm::EcdsaP256 => "-algorithm EC -pkeyopt ec_paramgen_curve:P-256",
        KeyAlgorithm::Rsa2048 => "-algorithm RSA -pkeyopt rsa_keygen_bits:2048",
        other => return Err(format!("no openssl loop for {}", other.as_str())),
    };
    let script = format!(
        "set -e\n\
         for i in $(seq 1 {n}); do\n\
           openssl genpkey {genpkey} -out k$i.pem 2>/dev/null\n\
           openssl req -new -key k$i.pem -subj \"/C=GB/O=Bench Ltd/CN=ossl-$i\" -out r$i.csr\n\
           openssl x509 -req -in r$i.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 395 \
             -sha256 -extfile ext.cnf -out c$i.pem 2>/dev/null\n\
         done\n"
    );
    eprintln!("   openssl loop over {n} clients");
    let t = Instant::now();
    let out = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&work)
        .output()
        .await
        .map_err(|e| format!("cannot run bash: {e}"))?;
    let took = t.elapsed();
    if !out.status.success() {
        return Err(format!(
            "the openssl loop failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let made = (1..=n)
        .filter(|i| work.join(format!("c{i}.pem")).is_file())
        .count();
    if made != n {
        return Err(format!("the openssl loop wrote {made} of {n} certificates"));
    }
    Ok(n as f64 / took.as_secs_f64())
}

// ------------------------------------------------------------------ moto

/// A moto server on a free loopback port, stopped on drop (and when this process exits:
/// its wrapper shell kills moto once its stdin closes).
struct Moto {
    child: Child,
    stdin: Option<ChildStdin>,
    endpoint: String,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn free_port() -> BenchResult<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 8];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/")
}

impl Moto {
    fn start() -> BenchResult<Moto> {
        let program = PathBuf::from("python3");
        let has_moto = Command::new(&program)
            .args(["-c", "import moto.moto_server.werkzeug_app"])
            .status()
            .is_ok_and(|s| s.success());
        if !has_moto {
            return Err(
                "python3 cannot import moto: the AWS benchmarks need the moto emulator; \
                 install it with `python3 -m pip install 'moto[server]'` (scripts/test does)"
                    .into(),
            );
        }
        // SAFETY: set before any AWS client of this process exists; static test credentials.
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
            std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        }
        let port = free_port()?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" "$2" -H 127.0.0.1 -p "$1" </dev/null >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid; wait $pid"#)
            .arg(&program)
            .arg(port.to_string())
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/moto-serial.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let stdin = child.stdin.take();
        let moto = Moto {
            child,
            stdin,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut moto = moto;
        while !answers(port) {
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Err(format!("moto_server exited before answering ({status})"));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "moto_server did not answer on 127.0.0.1:{port} within 60 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }
}

fn aws_env(tag: &str, endpoint: &str, client_alg: KeyAlgorithm) -> EnvConfig {
    EnvConfig {
        name: format!("bench-{tag}"),
        backend: BackendKind::Aws,
        project: format!("proj-{tag}"),
        account_name: Some(format!("sandbox{tag}")),
        table: format!("roster-{tag}"),
        audit_table: format!("audit-{tag}"),
        coordination_table: format!("coordination-{tag}"),
        truststore_bucket: Some(format!("truststore-{tag}")),
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.to_string()),
        client_key_algorithm: client_alg,
        ..EnvConfig::default()
    }
}

/// The AWS backend of `env` as `connect` builds it, with the SSM pacer the console uses when
/// `MTLS_CONSOLE_SSM_WRITES_PER_SEC` is `ssm_rate`.
async fn aws_ctx(env: &EnvConfig, ssm_rate: f64) -> BenchResult<Ctx> {
    let clients = AwsClients::load(env).await.map_err(|e| e.to_string())?;
    let id = clients.identity().await.map_err(|e| e.to_string())?;
    let backend = Backend {
        roster: Arc::new(
            DynamoRoster::new(clients.dynamo.clone(), &env.table, &clients.endpoint)
                .with_tables(&env.coordination_table, &env.audit_table),
        ),
        vault: Arc::new(
            SsmVault::new(
                clients.ssm.clone(),
                &env.project,
                env.account_name(),
                &clients.endpoint,
            )
            .with_pacing(
                Pacer::new(ssm_rate, Pacer::DEFAULT_BURST),
                RetryPolicy::default(),
            ),
        ),
        truststore: Arc::new(S3Truststore::new(
            clients.s3.clone(),
            env.truststore_bucket.clone().unwrap_or_default(),
            &env.truststore_key,
            &clients.endpoint,
        )),
        audit: Arc::new(DynamoAudit::new(
            clients.dynamo.clone(),
            &env.audit_table,
            &clients.endpoint,
        )),
        gateway: Arc::new(ApiGatewayDomains::new(
            clients.apigw.clone(),
            &clients.endpoint,
        )),
        coordination: Arc::new(DynamoCoordination::new(
            clients.dynamo.clone(),
            &env.coordination_table,
            &clients.endpoint,
        )),
        description: format!("aws {} {}", id.account, clients.region),
        operator: id.arn,
    };
    Ok(Ctx::new(env.clone(), backend))
}

// ------------------------------------------------------------------ 2. quota-bound AWS path

/// SSM PutParameter at the default quota and with higher throughput; DynamoDB writes.
const SSM_DEFAULT: Limit = Limit {
    rate: 3.0,
    burst: 5.0,
};
const SSM_HIGH: Limit = Limit {
    rate: 40.0,
    burst: 40.0,
};
const DYNAMO_WRITES: Limit = Limit {
    rate: 100.0,
    burst: 100.0,
};

async fn bench_aws(table: &mut Table) -> BenchResult<()> {
    let n = env_usize("PERF_AWS_N", 300)?;
    let moto = Moto::start()?;
    for (label, tag, ssm) in [
        ("default SSM throughput", "q3", SSM_DEFAULT),
        ("higher SSM throughput", "q40", SSM_HIGH),
    ] {
        let proxy = Proxy::start(moto.port, ssm, DYNAMO_WRITES)
            .await
            .map_err(|e| format!("the throttling proxy: {e}"))?;
        let env = aws_env(tag, &proxy.endpoint, KeyAlgorithm::EcdsaP256);
        mtls_console::store::aws::init_infra(&env)
            .await
            .map_err(|e| format!("init-infra on moto: {e}"))?;
        let ctx = aws_ctx(&env, ssm.rate).await?;
        ops::ca_init(&ctx, &ca_options(KeyAlgorithm::EcdsaP256))
            .await
            .map_err(|e| format!("ca init on moto: {e}"))?;

        // Bulk issue.
        eprintln!("== aws ({label}): bulk issue of {n} clients");
        let list = clients("aws", n);
        let quiet = quiet_time(ssm);
        tokio::time::sleep(quiet).await;
        proxy.reset();
        let t = Instant::now();
        let report = ops::issue_bulk(&ctx, &list, None)
            .await
            .map_err(|e| format!("bulk issue on moto: {e}"))?;
        let took = t.elapsed();
        let stats = proxy.stats();
        quota_rows(table, label, "bulk issue", n, took, &stats, ssm);
        table.require(
            "aws",
            format!("{label}: bulk issue failed clients"),
            report.failed.len().to_string(),
            report.failed.is_empty() && report.issued.len() == n,
        );
        let items = roster_items(&ctx).await?;
        let (lost, duplicated) = check_issued(&items, &list, &ctx.env);
        let params = client_parameters(&ctx).await?;
        table.require(
            "aws",
            format!("{label}: bulk issue lost / duplicated items"),
            format!(
                "{lost} / {duplicated} (SSM parameters {params} of {})",
                2 * n
            ),
            lost == 0 && duplicated == 0 && params == 2 * n,
        );

        // Client rotation: every client re-issued with a grace period.
        eprintln!("== aws ({label}): rotation of {n} clients");
        tokio::time::sleep(quiet).await;
        proxy.reset();
        // The console's client rotation (`rotate-clients --all --grace 7d`), up to the moved
        // phase: every client re-issued, old certs valid for the grace period.
        let opts = ops::RotationOptions {
            grace: time::Duration::days(7),
            selection: ops::ClientSelection::All,
            concurrency: 16,
            stop_after: Some(ops::RotationPhase::Moved),
            ..ops::RotationOptions::default()
        };
        let ids: Vec<String> = list.iter().map(|c| c.client.clone()).collect();
        let t = Instant::now();
        let failed = ops::rotation_run(&ctx, ops::RotationKind::Clients, &opts, false)
            .await
            .map_err(|e| format!("client rotation on moto: {e}"))?
            .failed
            .len();
        let took = t.elapsed();
        let stats = proxy.stats();
        quota_rows(table, label, "rotation", n, took, &stats, ssm);
        table.require(
            "aws",
            format!("{label}: rotation failed clients"),
            failed.to_string(),
            failed == 0,
        );
        let items = roster_items(&ctx).await?;
        let (lost, duplicated) = check_rotated(&items, &ids);
        table.require(
            "aws",
            format!("{label}: rotation lost / duplicated items"),
            format!("{lost} / {duplicated}"),
            lost == 0 && duplicated == 0,
        );
        proxy.stop();
    }
    drop(moto);
    Ok(())
}

/// Long enough for the proxy's and the pacer's buckets to fill up again between runs.
fn quiet_time(ssm: Limit) -> Duration {
    Duration::from_secs_f64(
        (ssm.burst / ssm.rate).max(DYNAMO_WRITES.burst / DYNAMO_WRITES.rate) + 0.5,
    )
}

/// The quota-limited ideal: the time the accepted writes need at each quota, after the burst.
fn quota_rows(
    table: &mut Table,
    label: &str,
    what: &str,
    n: usize,
    took: Duration,
    stats: &proxy::Stats,
    ssm: Limit,
) {
    let ssm_ideal = ((stats.ssm_puts as f64 - ssm.burst).max(0.0)) / ssm.rate;
    let dynamo_ideal =
        ((stats.dynamo_units as f64 - DYNAMO_WRITES.burst).max(0.0)) / DYNAMO_WRITES.rate;
    let ideal = ssm_ideal.max(dynamo_ideal);
    let ratio = ideal / took.as_secs_f64();
    table.add(
        "aws",
        format!("{label}: {what} of {n} clients"),
        format!(
            "{} ({:.2} clients/s); SSM puts {} (+{} throttled), DynamoDB write units {} (+{} throttled)",
            secs(took),
            n as f64 / took.as_secs_f64(),
            stats.ssm_puts,
            stats.ssm_throttled,
            stats.dynamo_units,
            stats.dynamo_throttled
        ),
    );
    table.judge(
        "aws",
        format!("{label}: {what} throughput / quota-limited ideal ({ideal:.1} s)"),
        format!("{:.0}%", ratio * 100.0),
        ">= 90%",
        ratio >= 0.9,
    );
}

/// Every roster item of the environment's table, read with a plain full scan.
async fn roster_items(ctx: &Ctx) -> BenchResult<Vec<HashMap<String, AttributeValue>>> {
    let clients = AwsClients::load(&ctx.env)
        .await
        .map_err(|e| e.to_string())?;
    full_scan(&clients.dynamo, &ctx.env.table).await
}

async fn full_scan(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
) -> BenchResult<Vec<HashMap<String, AttributeValue>>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = dynamo
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| format!("scan {table}: {e:?}"))?;
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}

fn attr<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s),
        _ => None,
    }
}

/// (clients without exactly one item, items beyond one per client or of unknown clients).
fn check_issued(
    items: &[HashMap<String, AttributeValue>],
    list: &[IssueOptions],
    env: &EnvConfig,
) -> (usize, usize) {
    let mut per_client: HashMap<&str, usize> = HashMap::new();
    for item in items {
        if let Some(id) = attr(item, names::CLIENT_ID) {
            *per_client.entry(id).or_default() += 1;
        }
    }
    let mut lost = 0;
    let mut duplicated = items
        .len()
        .saturating_sub(per_client.values().sum::<usize>());
    for c in list {
        let id = env.render_client_id(&c.client);
        match per_client.remove(id.as_str()) {
            None | Some(0) => lost += 1,
            Some(k) => duplicated += k - 1,
        }
    }
    duplicated += per_client.values().sum::<usize>();
    (lost, duplicated)
}

/// After a rotation each client has exactly two items: the old one (`replacedBy`, still
/// active for the grace period) and the new one (`replaces`).
fn check_rotated(items: &[HashMap<String, AttributeValue>], ids: &[String]) -> (usize, usize) {
    let mut per_client: HashMap<&str, (usize, usize, usize)> = HashMap::new();
    for item in items {
        if let Some(id) = attr(item, names::CLIENT_ID) {
            let e = per_client.entry(id).or_default();
            e.0 += 1;
            if attr(item, names::REPLACED_BY).is_some() {
                e.1 += 1;
            }
            if attr(item, names::REPLACES).is_some() {
                e.2 += 1;
            }
        }
    }
    let mut lost = 0;
    let mut duplicated = 0;
    for id in ids {
        let (all, old, new) = per_client.get(id.as_str()).copied().unwrap_or_default();
        if old == 0 || new == 0 {
            lost += 1;
        }
        duplicated += all.saturating_sub(2);
    }
    (lost, duplicated)
}

/// How many client parameters (keys and certificates) SSM holds for the environment.
async fn client_parameters(ctx: &Ctx) -> BenchResult<usize> {
    let clients = AwsClients::load(&ctx.env)
        .await
        .map_err(|e| e.to_string())?;
    let path = format!("/{}/{}/clients/", ctx.env.project, ctx.env.account_name());
    let mut count = 0;
    let mut token = None;
    loop {
        let out = clients
            .ssm
            .get_parameters_by_path()
            .path(&path)
            .recursive(true)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| format!("get-parameters-by-path: {e:?}"))?;
        count += out.parameters.map_or(0, |p| p.len());
        token = out.next_token;
        if token.is_none() {
            return Ok(count);
        }
    }
}

// ------------------------------------------------------------------ 3. roster scale

const CHILD_VAR: &str = "PERF_ROSTER_CHILD";
const NOW: OffsetDateTime = time::macros::datetime!(2025-06-01 12:00 UTC);
const WIDTH: u16 = 200;
const HEIGHT: u16 = 50;

fn synthetic(i: usize) -> CertRecord {
    let issued = NOW - time::Duration::days((i % 400) as i64);
    let expiry = issued + time::Duration::days(395);
    let revoked = i.is_multiple_of(13);
    CertRecord {
        serial: format!(
            "{}",
            340_282_366_920_938_463_463_374_607_431_u128 + (i as u128) * 7_919
        ),
        client_id: format!("client-{i:07}"),
        client_name: format!("client-{i:07}"),
        status: if revoked {
            CertStatus::Revoked
        } else {
            CertStatus::Active
        },
        issued_at: issued,
        not_before: Some(issued),
        expiry,
        ttl: (expiry + time::Duration::days(90)).unix_timestamp(),
        not_after: Some(expiry),
        cert_pem: None,
        fingerprint: Some(format!("{i:064x}")),
        issuer: Some("C=GB, O=Bench Ltd, CN=Bench Ltd Intermediate CA".into()),
        issuer_fingerprint: Some(format!("{:064x}", 7u8)),
        key_algorithm: Some("ecdsa-p256".into()),
        key_held: true,
        revoked_at: revoked.then_some(NOW),
        revocation_reason: revoked.then_some(RevocationReason::Superseded),
        revoked_by: revoked.then(|| "bench".to_string()),
        revocation_note: None,
        replaces: None,
        replaced_by: None,
        version: 1,
    }
}

/// Fills an embedded store with `rows` synthetic clients (with their PEMs, as issued ones
/// would have) and returns its directory.
async fn fill_local(rows: usize, pem: &str) -> BenchResult<tempfile::TempDir> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ctx = Ctx::open(local_env(dir.path(), KeyAlgorithm::EcdsaP256))
        .await
        .map_err(|e| e.to_string())?;
    let mut i = 0;
    while i < rows {
        let end = (i + 10_000).min(rows);
        let batch: Vec<CertRecord> = (i..end)
            .map(|k| CertRecord {
                cert_pem: Some(pem.to_string()),
                ..synthetic(k)
            })
            .collect();
        for r in ctx.backend.roster.put_each(batch).await {
            r.map_err(|e| format!("filling the roster: {e}"))?;
        }
        i = end;
    }
    Ok(dir)
}

/// `report` (every format) and `expiry` over the filled store: one roster read each.
async fn bench_report(table: &mut Table, dir: &Path, n: usize) -> BenchResult<()> {
    use mtls_console::cli::report::{ReportFormat, render};
    let ctx = Ctx::open(local_env(dir, KeyAlgorithm::EcdsaP256))
        .await
        .map_err(|e| e.to_string())?;
    let t = Instant::now();
    let report = ops::report(&ctx).await.map_err(|e| e.to_string())?;
    let read = t.elapsed();
    table.require(
        "report",
        format!("{n} clients: certificates missing from the report"),
        n.abs_diff(report.certificates.len()).to_string(),
        report.certificates.len() == n,
    );
    let mut slowest = Duration::ZERO;
    for format in [
        ReportFormat::Table,
        ReportFormat::Csv,
        ReportFormat::Json,
        ReportFormat::Markdown,
        ReportFormat::Html,
    ] {
        let t = Instant::now();
        let text = render(&report, format);
        let took = t.elapsed();
        slowest = slowest.max(took);
        table.add(
            "report",
            format!(
                "{n} clients: render {format:?} ({} MB)",
                text.len() / 1_000_000
            ),
            ms(took),
        );
    }
    table.judge(
        "report",
        format!("{n} clients: read + slowest format"),
        ms(read + slowest),
        "<= 5000 ms",
        read + slowest <= Duration::from_secs(5),
    );
    let t = Instant::now();
    let report = ops::report(&ctx).await.map_err(|e| e.to_string())?;
    let due = ops::expiring_within(&report, 30);
    let took = t.elapsed();
    table.judge(
        "report",
        format!("{n} clients: expiry --within 30 ({} due)", due.len()),
        ms(took),
        "<= 5000 ms",
        took <= Duration::from_secs(5),
    );
    Ok(())
}

/// What the child process measured.
struct ChildReport {
    launch_to_frame: Duration,
    filter_p99: Duration,
    scroll_p99: Duration,
    peak_rss_kib: u64,
    rows_shown: usize,
}

/// Runs the console's launch path in a fresh process over the store in `dir`.
fn run_child(dir: &Path) -> BenchResult<ChildReport> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let spawned = SystemTime::now();
    let mut child = Command::new(exe)
        .env(CHILD_VAR, dir)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the roster child: {e}"))?;
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let mut line = String::new();
    for l in BufReader::new(stdout).lines() {
        let l = l.map_err(|e| e.to_string())?;
        if let Some(rest) = l.strip_prefix("PERF_CHILD ") {
            line = rest.to_string();
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() || line.is_empty() {
        return Err(format!("the roster child failed ({status})"));
    }
    let f: Vec<u128> = line
        .split_whitespace()
        .map(|v| v.parse().map_err(|_| format!("bad child output '{line}'")))
        .collect::<BenchResult<_>>()?;
    let [frame_at, filter_ns, scroll_ns, rss, rows] = f[..] else {
        return Err(format!("bad child output '{line}'"));
    };
    let spawned_ns = spawned
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_nanos();
    Ok(ChildReport {
        launch_to_frame: Duration::from_nanos((frame_at.saturating_sub(spawned_ns)) as u64),
        filter_p99: Duration::from_nanos(filter_ns as u64),
        scroll_p99: Duration::from_nanos(scroll_ns as u64),
        peak_rss_kib: rss as u64,
        rows_shown: rows as usize,
    })
}

fn press(app: &mut App, code: KeyCode) {
    if let Some(a) = action_for(app, KeyEvent::new(code, KeyModifiers::NONE)) {
        update(app, a);
    }
}

fn p99(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() as f64 - 1.0) * 0.99).round() as usize]
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The child: what the console does from launch to its first roster frame (open the
/// environment's store, list the roster, build the view, draw), then filter and scroll.
fn roster_child() {
    let dir = PathBuf::from(std::env::var_os(CHILD_VAR).expect("the store directory"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let env = local_env(&dir, KeyAlgorithm::EcdsaP256);
    let ctx = rt
        .block_on(Ctx::open(env.clone()))
        .expect("the embedded store");
    let mut app = App::new(AppInit {
        env_names: vec![env.name.clone()],
        backend: ctx.backend.description.clone(),
        operator: ctx.backend.operator.clone(),
        now: ctx.now(),
        read_only: false,
        env,
    });
    update(
        &mut app,
        Action::Resize {
            width: WIDTH,
            height: HEIGHT,
        },
    );
    let task = update(&mut app, Action::Start)
        .iter()
        .find_map(|e| match e {
            Effect::Run {
                task,
                op: Op::LoadRoster,
            } => Some(*task),
            _ => None,
        })
        .expect("Start loads the roster");
    let records = rt
        .block_on(ops::list(&ctx, StatusFilter::All))
        .expect("the roster");
    let rows = records.len();
    update(
        &mut app,
        Action::Done {
            task,
            result: Ok(Outcome::Roster {
                records,
                now: ctx.now(),
            }),
        },
    );
    let mut term = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).expect("test backend");
    term.draw(|f| draw(f, &app, true)).expect("draw");
    let frame_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_nanos();

    press(&mut app, KeyCode::Char('/'));
    let mut filter = Vec::new();
    for q in ["client-09", "-12", "99", "7", "client-0000", "3x"] {
        let keys = q
            .chars()
            .map(KeyCode::Char)
            .chain(std::iter::repeat_n(KeyCode::Backspace, q.len()));
        for k in keys {
            let t = Instant::now();
            press(&mut app, k);
            term.draw(|f| draw(f, &app, true)).expect("draw");
            filter.push(t.elapsed());
        }
    }
    press(&mut app, KeyCode::Esc);
    let moves = [
        KeyCode::Char('j'),
        KeyCode::PageDown,
        KeyCode::Char('G'),
        KeyCode::Char('k'),
        KeyCode::PageUp,
        KeyCode::Char('g'),
    ];
    let mut scroll = Vec::new();
    for i in 0..300 {
        let t = Instant::now();
        press(&mut app, moves[(i / 10) % moves.len()]);
        term.draw(|f| draw(f, &app, true)).expect("draw");
        scroll.push(t.elapsed());
    }
    println!(
        "PERF_CHILD {frame_at} {} {} {} {rows}",
        p99(&mut filter).as_nanos(),
        p99(&mut scroll).as_nanos(),
        status_kib("VmHWM:")
    );
}

async fn bench_roster(table: &mut Table) -> BenchResult<()> {
    let rows = env_usize("PERF_ROSTER_ROWS", 100_000)?;
    let big = env_usize("PERF_ROSTER_BIG_ROWS", 1_000_000)?;
    let moto_rows = env_usize("PERF_MOTO_ROWS", rows)?;
    let pem = sample_pem().await?;

    for (n, judged) in [(rows, true), (big, false)] {
        if n == 0 {
            table.add(
                "roster",
                "roster scale",
                "not measured: size 0 given".into(),
            );
            continue;
        }
        eprintln!("== roster: {n} clients in the embedded store");
        let dir = fill_local(n, &pem).await?;
        if judged {
            bench_report(table, dir.path(), n).await?;
        }
        let r = run_child(dir.path())?;
        table.require(
            "roster",
            format!("{n} clients: rows missing from the listing"),
            n.abs_diff(r.rows_shown).to_string(),
            r.rows_shown == n,
        );
        let rss_mb = r.peak_rss_kib as f64 / 1024.0;
        let lines = [
            (
                "launch to first full frame",
                ms(r.launch_to_frame),
                "<= 500 ms",
                r.launch_to_frame <= Duration::from_millis(500),
            ),
            (
                "filter keystroke to frame, p99",
                ms(r.filter_p99),
                "<= 10 ms",
                r.filter_p99 <= Duration::from_millis(10),
            ),
            (
                "scroll key to frame, p99",
                ms(r.scroll_p99),
                "<= 5 ms",
                r.scroll_p99 <= Duration::from_millis(5),
            ),
            (
                "peak resident memory",
                format!("{rss_mb:.0} MiB"),
                "< 250 MB",
                r.peak_rss_kib * 1024 < 250_000_000,
            ),
        ];
        for (figure, value, target, pass) in lines {
            if judged {
                table.judge(
                    "roster",
                    format!("{n} clients: {figure}"),
                    value,
                    target,
                    pass,
                );
            } else {
                table.add("roster", format!("{n} clients: {figure}"), value);
            }
        }
    }

    if moto_rows == 0 {
        table.add("roster", "moto scan", "not measured: size 0 given".into());
        return Ok(());
    }
    eprintln!("== roster: {moto_rows} items in moto");
    let moto = Moto::start()?;
    let env = aws_env("scan", &moto.endpoint, KeyAlgorithm::EcdsaP256);
    mtls_console::store::aws::init_infra(&env)
        .await
        .map_err(|e| format!("init-infra on moto: {e}"))?;
    let clients = AwsClients::load(&env).await.map_err(|e| e.to_string())?;
    fill_moto(&clients.dynamo, &env.table, moto_rows, &pem).await?;
    let roster = DynamoRoster::new(clients.dynamo.clone(), &env.table, &moto.endpoint);
    let t = Instant::now();
    let listed = roster.list(false).await.map_err(|e| e.to_string())?.len();
    let parallel = t.elapsed();
    let t = Instant::now();
    let scanned = full_scan(&clients.dynamo, &env.table).await?.len();
    let sequential = t.elapsed();
    table.require(
        "roster",
        format!("moto, {moto_rows} items: items missing from a scan"),
        (moto_rows.abs_diff(listed) + moto_rows.abs_diff(scanned)).to_string(),
        listed == moto_rows && scanned == moto_rows,
    );
    table.add(
        "roster",
        format!("moto, {moto_rows} items: parallel scan with projection (as listed)"),
        secs(parallel),
    );
    table.add(
        "roster",
        format!("moto, {moto_rows} items: sequential full-item scan"),
        secs(sequential),
    );
    table.add(
        "roster",
        format!("moto, {moto_rows} items: sequential full / parallel projected"),
        format!("{:.2}x", sequential.as_secs_f64() / parallel.as_secs_f64()),
    );
    drop(moto);
    Ok(())
}

/// A real client certificate PEM (ecdsa-p256 on a P-256 CA), for realistic item sizes.
async fn sample_pem() -> BenchResult<String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ctx = Ctx::open(local_env(dir.path(), KeyAlgorithm::EcdsaP256))
        .await
        .map_err(|e| e.to_string())?;
    ops::ca_init(&ctx, &ca_options(KeyAlgorithm::EcdsaP256))
        .await
        .map_err(|e| e.to_string())?;
    let out = ops::issue(&ctx, &clients("sample", 1)[0])
        .await
        .map_err(|e| e.to_string())?;
    Ok(out.cert_pem)
}

fn to_dynamo(rec: &CertRecord) -> HashMap<String, AttributeValue> {
    item::to_attrs(rec)
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                AttrValue::S(s) => AttributeValue::S(s),
                AttrValue::N(n) => AttributeValue::N(n),
                AttrValue::Bool(b) => AttributeValue::Bool(b),
            };
            (k, v)
        })
        .collect()
}

/// Writes `rows` items (with PEMs) into the table with BatchWriteItem, four requests at once.
async fn fill_moto(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    rows: usize,
    pem: &str,
) -> BenchResult<()> {
    let chunks: Vec<(usize, usize)> = (0..rows)
        .step_by(25)
        .map(|i| (i, (i + 25).min(rows)))
        .collect();
    let results: Vec<BenchResult<()>> = futures::stream::iter(chunks)
        .map(|(from, to)| async move {
            let mut pending: Vec<WriteRequest> = (from..to)
                .map(|i| {
                    let rec = CertRecord {
                        cert_pem: Some(pem.to_string()),
                        ..synthetic(i)
                    };
                    let put = PutRequest::builder()
                        .set_item(Some(to_dynamo(&rec)))
                        .build()
                        .map_err(|e| e.to_string())?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<BenchResult<_>>()?;
            while !pending.is_empty() {
                let out = dynamo
                    .batch_write_item()
                    .request_items(table, pending)
                    .send()
                    .await
                    .map_err(|e| format!("batch-write-item: {e:?}"))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(table))
                    .unwrap_or_default();
            }
            Ok(())
        })
        .buffer_unordered(4)
        .collect()
        .await;
    results.into_iter().collect()
}

// ------------------------------------------------------------------ 4. item size

/// DynamoDB's item size: attribute names plus values (strings in UTF-8 bytes, numbers about
/// one byte per two significant digits plus one, booleans one byte).
fn item_size(attrs: &std::collections::BTreeMap<String, AttrValue>) -> usize {
    attrs
        .iter()
        .map(|(name, v)| {
            name.len()
                + match v {
                    AttrValue::S(s) => s.len(),
                    AttrValue::N(n) => {
                        let digits = n
                            .trim_start_matches('-')
                            .replace('.', "")
                            .trim_start_matches('0')
                            .trim_end_matches('0')
                            .len();
                        digits.div_ceil(2) + 1
                    }
                    AttrValue::Bool(_) => 1,
                }
        })
        .sum()
}

async fn bench_item(table: &mut Table) -> BenchResult<()> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ctx = Ctx::open(local_env(dir.path(), KeyAlgorithm::EcdsaP256))
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("== item: the reference RSA-4096 CA");
    ops::ca_init(&ctx, &ca_options(KeyAlgorithm::Rsa4096))
        .await
        .map_err(|e| e.to_string())?;
    for alg in KeyAlgorithm::ALL {
        let opts = IssueOptions {
            client: format!("item-{}", alg.as_str()),
            cn: None,
            days: None,
            key: Some(ops::KeyChoice::Generate(alg)),
        };
        let out = ops::issue(&ctx, &opts).await.map_err(|e| e.to_string())?;
        // The item as the AWS backend writes it, after a revocation (its largest form).
        let mut rec = out.record.clone();
        rec.status = CertStatus::Revoked;
        rec.revoked_at = Some(NOW);
        rec.revocation_reason = Some(RevocationReason::KeyCompromise);
        rec.revoked_by =
            Some("arn:aws:sts::123456789012:assumed-role/SecOps/alice@example.com".into());
        rec.replaced_by = Some(rec.serial.clone());
        let mut attrs = item::to_attrs(&rec);
        let with_pem = item_size(&attrs);
        attrs.remove(names::CERTIFICATE_PEM);
        let without = item_size(&attrs);
        table.judge(
            "item",
            format!("{} client: item size without PEM (with PEM)", alg.as_str()),
            format!("{without} B ({with_pem} B)"),
            "< 4096 B (one read unit)",
            without < 4096,
        );
    }
    Ok(())
}
