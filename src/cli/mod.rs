//! The command-line interface (clap): parse, build the context, dispatch to `ops`, print.

mod output;
pub mod report;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{BackendKind, Config, EnvConfig};
use crate::error::{Error, Result};
use crate::model::RevocationReason;
use crate::ops::{self, CaInitOptions, Ctx, IssueOptions, KeyChoice, ReissueOptions, StatusFilter};
use crate::pki::{KeyAlgorithm, Subject};

/// The `--help` section of the flags every command takes.
const GLOBAL: &str = "Global options";

/// Exit code of `verify` when the cert would be denied.
pub const EXIT_DENY: i32 = 10;
/// Exit code of `doctor` when a check failed.
pub const EXIT_DOCTOR_FAIL: i32 = 9;

#[derive(Parser, Debug)]
#[command(
    name = "mtls-console",
    version,
    about = "Console for the private PKI behind an API Gateway that enforces mutual TLS",
    long_about = "Runs the client-certificate PKI of an API Gateway mTLS deployment: issue, revoke, \
re-issue and export client certificates, publish the truststore, verify what the gateway and the \
authorizer will do. With no subcommand it opens the interactive console."
)]
pub struct Cli {
    /// Environment to operate (a name under [environments] in the config; `local` always exists).
    #[arg(long, global = true, env = "MTLS_CONSOLE_ENV", help_heading = GLOBAL)]
    pub env: Option<String>,
    /// Config file (default: $XDG_CONFIG_HOME/mtls-console/config.toml).
    #[arg(long, global = true, env = "MTLS_CONSOLE_CONFIG", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// Answer yes to every confirmation (needed when not on a terminal).
    #[arg(long, short = 'y', global = true, help_heading = GLOBAL)]
    pub yes: bool,
    /// Refuse every change.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub read_only: bool,
    /// AWS profile (overrides the environment's).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub profile: Option<String>,
    /// AWS region (overrides the environment's).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub region: Option<String>,
    /// AWS endpoint URL, e.g. an emulator (overrides the environment's).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub endpoint_url: Option<String>,
    /// Issue from a CA marked compromised (by `revoke --issued-by`) all the same.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub allow_compromised_ca: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The certificate authority: create it, show it.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Issue a client certificate (or many with --from).
    Issue(IssueArgs),
    /// List clients (one row per client: its current cert).
    List {
        /// Which clients: by the state of their current cert.
        #[arg(long, value_enum, default_value_t = StatusArg::All)]
        status: StatusArg,
        /// Only active clients whose cert expires within this many days, soonest first
        /// (the "due for renewal" view).
        #[arg(long, conflicts_with = "status")]
        due_within: Option<u32>,
    },
    /// Show one client or certificate: details, chain, history.
    Show {
        /// client_id, decimal serial or colon-hex serial.
        target: String,
    },
    /// Revoke a client's active certificate, or a certificate by serial, or (--issued-by)
    /// every active certificate of a compromised CA.
    Revoke {
        /// client_id or decimal serial.
        #[arg(required_unless_present = "issued_by", conflicts_with = "issued_by")]
        target: Option<String>,
        /// Emergency: every active cert issued by this CA (`intermediate`, `root`, `next`,
        /// a SHA-256 fingerprint or a subject DN). Try --dry-run first.
        #[arg(long)]
        issued_by: Option<String>,
        /// With --issued-by: count and list, change nothing.
        #[arg(long, requires = "issued_by")]
        dry_run: bool,
        /// RFC 5280 reason: keyCompromise, cACompromise, affiliationChanged, superseded,
        /// cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise, unspecified.
        /// Not needed with --dry-run.
        #[arg(long, required_unless_present = "dry_run")]
        reason: Option<String>,
        /// Free-text note, kept with the revocation and in the audit log.
        #[arg(long)]
        note: Option<String>,
        /// Revoke only the client's current cert: certs it replaced stay accepted until their
        /// grace period ends (default: every cert of the client is revoked).
        #[arg(long, conflicts_with = "issued_by")]
        keep_grace: bool,
    },
    /// Re-issue a client's certificate with a new serial.
    Reissue {
        /// The client whose active cert is replaced.
        client_id: String,
        /// Generate a new key (default: keep the current public key).
        #[arg(long)]
        rekey: bool,
        /// Keep the old cert valid this long (e.g. 24h, 7d); default: revoke it at once.
        #[arg(long)]
        grace: Option<String>,
        /// Validity of the new cert in days, 1-3650 (default: the environment's
        /// client_validity_days).
        #[arg(long)]
        days: Option<u32>,
        /// Key algorithm with --rekey.
        #[arg(long)]
        key_algorithm: Option<String>,
    },
    /// Write a client's cert, chain, key (when held) and optionally PKCS#12 to a directory.
    Export {
        /// The client whose current cert is written.
        client_id: String,
        /// Directory to write the files to (created mode 0700 if missing).
        #[arg(long)]
        out: PathBuf,
        /// Also write client.p12 (passphrase from MTLS_CONSOLE_P12_PASSPHRASE or a prompt).
        #[arg(long)]
        p12: bool,
        /// Replace an existing client.key or client.p12 in the directory (and remove one this
        /// export does not write, so no file of another cert is left beside this one).
        #[arg(long)]
        force: bool,
    },
    /// Would API Gateway and the authorizer accept this cert? Exit 0 = ALLOW, 10 = DENY.
    Verify {
        /// PEM file of the client certificate, or a client_id (its current cert) or decimal
        /// serial (that cert) from the roster.
        cert: String,
    },
    /// The truststore bundle in S3 (or the local store).
    #[command(subcommand)]
    Truststore(TruststoreCommand),
    /// The gateway's custom domain: the emergency mutual-TLS switch.
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// Recent audit records.
    Audit {
        /// How many records, newest first.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Renew client certs from the same CA, old ones kept valid for a grace period.
    RotateClients {
        /// Every active client.
        #[arg(long, conflicts_with_all = ["client", "due_within"])]
        all: bool,
        /// These clients (repeatable).
        #[arg(long)]
        client: Vec<String>,
        /// Clients whose cert expires within this many days.
        #[arg(long, conflicts_with = "client")]
        due_within: Option<u32>,
        #[command(flatten)]
        rotate: RotateArgs,
    },
    /// Check the environment's health. Exit 9 when a check fails.
    Doctor,
    /// Make the vault and the client heads follow the roster again (what a crash or another
    /// tool left): every client's vault certificate and key are checked against its current
    /// cert. Exit 9 when something is left that needs an operator.
    Repair {
        /// Report what differs; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Fill an empty environment with a demo CA and 50 clients in varied states.
    Demo,
    /// Create the table, audit table and bucket of an AWS environment (sandbox or emulator).
    InitInfra,
    /// The roster for auditors: every certificate with its state, days left, issuer, key and
    /// revocation, and the CA and truststore certificates with their expiry.
    Report {
        /// Output format (--json is the same as --format json).
        #[arg(long, value_enum, default_value_t = report::ReportFormat::Table)]
        format: report::ReportFormat,
        /// Write the report to this file (mode 0600) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also exit 9 when a client, CA or truststore certificate expires within this many
        /// days (as `expiry --within`).
        #[arg(long)]
        fail_within: Option<u32>,
    },
    /// The expiry alarm for cron and CI: lists every client (current cert, not revoked), CA
    /// and truststore certificate that expires within the days given, and exits 9 if any
    /// does; exit 0 when none does.
    Expiry {
        /// Days ahead to look.
        #[arg(long, default_value_t = 30)]
        within: u32,
    },
    /// Print the shell completion script (e.g. `mtls-console completions bash >
    /// ~/.local/share/bash-completion/completions/mtls-console`).
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or with --out write one page per command to a directory.
    Man {
        /// Directory for mtls-console.1 and one mtls-console-COMMAND.1 per command.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum CaCommand {
    /// Create the root (and intermediate) CA in the vault.
    Init {
        /// The root signs clients directly (no intermediate).
        #[arg(long)]
        root_only: bool,
        /// Key algorithm of the CA keys: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096.
        #[arg(long, default_value = CaInitOptions::DEFAULT_KEY_ALGORITHM.as_str())]
        key_algorithm: String,
        /// Subject fields, e.g. "C=GB,O=Example Ltd,OU=Platform,CN=Example Root CA".
        #[arg(long)]
        subject: Option<String>,
        /// Validity of the root in days, 1-10950.
        #[arg(long, default_value_t = CaInitOptions::DEFAULT_ROOT_DAYS)]
        root_days: u32,
        /// Validity of the intermediate in days, 1-10950 (ignored with --root-only).
        #[arg(long, default_value_t = CaInitOptions::DEFAULT_INTERMEDIATE_DAYS)]
        intermediate_days: u32,
    },
    /// Show the CA certificates and where they are stored.
    Show,
    /// Replace the intermediate without a refused request: new intermediate, dual bundle,
    /// clients moved with a grace period, old intermediate retired. Resumable.
    RotateIntermediate(RotateArgs),
    /// Replace the root (and the intermediate under it): new root, dual-root bundle, clients
    /// moved, old root retired after the validation period. Resumable.
    RotateRoot(RotateArgs),
    /// The rotation in progress (or the last one) from the journal.
    Rotation,
}

/// Options shared by the rotations.
#[derive(Args, Debug)]
pub struct RotateArgs {
    /// Show what the next run would do; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Continue the rotation in progress from its journal.
    #[arg(long, conflicts_with = "abort")]
    pub resume: bool,
    /// End the rotation in progress (moves clients back when some already moved).
    #[arg(long)]
    pub abort: bool,
    /// How long each superseded cert stays valid after its client got the new one.
    #[arg(long, default_value = "7d")]
    pub grace: String,
    /// New keys for the clients (default: keep each client's public key).
    #[arg(long)]
    pub rekey: bool,
    /// Validity of the new client certs in days (default: the environment's).
    #[arg(long)]
    pub days: Option<u32>,
    /// Key algorithm of the new CA (default: the current CA's).
    #[arg(long)]
    pub ca_key_algorithm: Option<String>,
    /// Validity of the new CA in days (default: the current CA's lifetime).
    #[arg(long)]
    pub ca_days: Option<u32>,
    /// Clients re-issued at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Stop once this phase is reached: prepared, published, moved, promoted.
    #[arg(long)]
    pub stop_after: Option<String>,
    /// Finish before the grace period is over (clients still on their old cert are refused).
    #[arg(long)]
    pub force: bool,
}

#[derive(Subcommand, Debug)]
pub enum TruststoreCommand {
    /// The bundle the CA implies (intermediate, root, pinned CAs) and its problems.
    Build(BundleArgs),
    /// The published bundle.
    Show(BundleArgs),
    /// Publish the bundle the CA implies as a new version.
    Publish {
        /// Publish even with rule violations or clients losing trust.
        #[arg(long)]
        force: bool,
    },
    /// Published versions, newest first.
    History,
    /// Make an earlier version the newest again (and point the gateway domain at it).
    Rollback {
        /// The S3 version id to restore (see `truststore history`).
        version: String,
        /// Roll back even when the old bundle breaks the gateway's rules or stops trusting
        /// active clients.
        #[arg(long)]
        force: bool,
    },
    /// Compare the S3 object, the domain's version and the vault's CA; explain any drift.
    /// Exit 9 when a check fails.
    Check,
}

#[derive(Subcommand, Debug)]
pub enum GatewayCommand {
    /// Mutual TLS on the environment's gateway_domain: the documented rollback for an mTLS
    /// outage.
    #[command(subcommand)]
    Mtls(MtlsCommand),
}

#[derive(Subcommand, Debug)]
pub enum MtlsCommand {
    /// Emergency: turn mutual TLS off. The API then accepts requests without a client
    /// certificate (the authorizer still runs). Records what the domain served, so `on`
    /// restores it; asks for the domain name to be typed.
    Off {
        /// Why (kept in the audit log), e.g. "INC-42 truststore rejects every client".
        #[arg(long)]
        reason: String,
    },
    /// Turn mutual TLS back on with the truststore uri and version served before `off`.
    On,
}

/// Where the bundle itself goes (besides the summary).
#[derive(Args, Debug)]
pub struct BundleArgs {
    /// Write the bundle (PEM) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the bundle (PEM) on stdout instead of the summary.
    #[arg(long, conflicts_with = "json")]
    pub pem: bool,
}

#[derive(Args, Debug)]
pub struct IssueArgs {
    /// The client (its client_id, or the name the environment's cn_template expands).
    #[arg(required_unless_present = "from", conflicts_with = "from")]
    pub client_id: Option<String>,
    /// Bulk issue from a JSON file {"clients":[{"client_id":"..."}]}; idempotent.
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// The CN; must equal the client_id.
    #[arg(long)]
    pub cn: Option<String>,
    /// Validity in days, 1-3650 (default: the environment's client_validity_days).
    #[arg(long)]
    pub days: Option<u32>,
    /// ecdsa-p256 (default), ecdsa-p384, rsa-2048, rsa-3072, rsa-4096.
    #[arg(long, conflicts_with = "csr")]
    pub key_algorithm: Option<String>,
    /// Sign this PKCS#10 CSR instead of generating a key.
    #[arg(long)]
    pub csr: Option<PathBuf>,
    /// Write client.pem, client.key, chain.pem (and client.p12) here.
    #[arg(long, conflicts_with = "from")]
    pub out: Option<PathBuf>,
    /// With --out, also write client.p12.
    #[arg(long, requires = "out")]
    pub p12: bool,
    /// With --out, replace an existing client.key or client.p12 there (and remove one this
    /// issue does not write).
    #[arg(long, requires = "out")]
    pub force: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum StatusArg {
    /// Accepted by the authorizer now.
    Active,
    /// Revoked.
    Revoked,
    /// Active and expiring within the environment's expiring_days.
    Expiring,
    /// Past its expiry and not revoked (refused by the authorizer).
    Expired,
    /// Every client.
    All,
}

/// Parses args, runs, and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let _log_guard = init_logging();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 8;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = %e, "command failed");
            if json {
                json_error(e.kind(), &e.to_string(), e.exit_code(), e.contended());
            } else {
                eprintln!("error: {e}");
            }
            e.exit_code()
        }
    }
}

/// A command line clap refused (or `--help`, `--version`): clap's text, or with `--json`
/// anywhere on the line the JSON error every other failure gives.
fn usage_error(e: &clap::Error) -> i32 {
    use clap::error::ErrorKind;
    let code = e.exit_code();
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !informational && std::env::args_os().any(|a| a == "--json") {
        let text = e.to_string();
        let message = text.lines().next().unwrap_or_default();
        json_error("usage", message.trim_start_matches("error: "), code, None);
        return code;
    }
    // Printing fails only when stdout or stderr is closed: nothing is left to tell.
    let _ = e.print();
    code
}

/// `{"error": {"kind", "message", "exit_code"[, "resource"]}}` on stderr, for scripts.
fn json_error(
    kind: &str,
    message: &str,
    exit_code: i32,
    resource: Option<&crate::store::Contended>,
) {
    let mut error = serde_json::json!({
        "kind": kind,
        "message": message,
        "exit_code": exit_code,
    });
    if let Some(resource) = resource {
        error["resource"] = serde_json::json!(resource);
    }
    eprintln!("{}", serde_json::json!({ "error": error }));
}

/// Logs go to a file under the state dir, never to the terminal.
fn init_logging() -> Option<()> {
    let dir = crate::config::state_dir().ok()?;
    std::fs::create_dir_all(&dir).ok()?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("mtls-console.log"))
        .ok()?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("MTLS_CONSOLE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .ok()
}

/// The environment with command-line overrides applied.
pub fn resolve_env(cli: &Cli) -> Result<(Config, EnvConfig)> {
    let config = Config::load(cli.config.as_deref())?;
    let demo = matches!(cli.command, Some(Command::Demo));
    let mut env = config.env_or_embedded(cli.env.as_deref(), demo)?;
    if cli.profile.is_some() {
        env.profile = cli.profile.clone();
    }
    if cli.region.is_some() {
        env.region = cli.region.clone();
    }
    if cli.endpoint_url.is_some() {
        env.endpoint_url = cli.endpoint_url.clone();
    }
    if cli.read_only {
        env.read_only = true;
    }
    if env.backend == BackendKind::Local {
        let aws_flags: Vec<&str> = [
            ("--profile", cli.profile.is_some()),
            ("--region", cli.region.is_some()),
            ("--endpoint-url", cli.endpoint_url.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect();
        if !aws_flags.is_empty() {
            return Err(Error::Config(format!(
                "{} only apply to AWS environments; '{}' uses the embedded backend, where they \
                 would be ignored. Drop them, or choose an AWS environment with --env",
                aws_flags.join(", "),
                env.name
            )));
        }
    }
    Ok((config, env))
}

fn parse_key_algorithm(s: &str) -> Result<KeyAlgorithm> {
    KeyAlgorithm::parse(s).ok_or_else(|| {
        Error::Invalid(format!(
            "unknown key algorithm '{s}'; use one of ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096"
        ))
    })
}

/// Parses `C=GB,ST=..,L=..,O=..,OU=..,CN=..` (any order, any subset).
pub fn parse_subject(s: &str) -> Result<Subject> {
    let mut subject = Subject::default();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            Error::Invalid(format!(
                "subject part '{part}' is not KEY=VALUE; write e.g. \"C=GB,O=Example Ltd,CN=Example Root CA\""
            ))
        })?;
        let v = v.trim();
        if v.is_empty() {
            return Err(Error::Invalid(format!("subject field {k} is empty")));
        }
        let slot = match k.trim().to_ascii_uppercase().as_str() {
            "C" => &mut subject.c,
            "ST" => &mut subject.st,
            "L" => &mut subject.l,
            "O" => &mut subject.o,
            "OU" => &mut subject.ou,
            "CN" => &mut subject.cn,
            other => {
                return Err(Error::Invalid(format!(
                    "subject field '{other}' is not supported; use C, ST, L, O, OU, CN"
                )));
            }
        };
        *slot = Some(v.to_string());
    }
    if let Some(c) = &subject.c
        && (c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()))
    {
        return Err(Error::Invalid(format!(
            "country C='{c}' must be a two-letter ISO 3166 code such as GB"
        )));
    }
    Ok(subject)
}

fn read_file(path: &std::path::Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::Io(format!("cannot read {what} {}: {e}", path.display())))
}

/// Asks for confirmation unless --yes; refuses when there is no terminal to ask on.
fn confirm(cli: &Cli, question: &str) -> Result<()> {
    if cli.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Invalid(format!(
            "{question} needs confirmation; pass --yes when running without a terminal"
        )));
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Error::Io(e.to_string()))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Error::Invalid("cancelled; nothing changed".into()))
    }
}

/// Asks for `expected` to be typed (a domain name) unless --yes; refuses when there is no
/// terminal to ask on. For changes that open the API to requests without a client cert.
fn confirm_typed(cli: &Cli, warning: &str, expected: &str) -> Result<()> {
    if cli.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Invalid(format!(
            "{warning} It needs confirmation; pass --yes when running without a terminal"
        )));
    }
    eprintln!("{warning}");
    eprint!("Type the domain name ({expected}) to confirm: ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Error::Io(e.to_string()))?;
    if answer.trim() == expected {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "'{}' is not {expected}: cancelled; nothing changed",
            answer.trim()
        )))
    }
}

/// The PKCS#12 passphrase: MTLS_CONSOLE_P12_PASSPHRASE, else a prompt on the terminal.
fn p12_passphrase() -> Result<zeroize::Zeroizing<String>> {
    if let Ok(p) = std::env::var("MTLS_CONSOLE_P12_PASSPHRASE")
        && !p.is_empty()
    {
        ops::limits::p12_passphrase(&p)?;
        return Ok(zeroize::Zeroizing::new(p));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Invalid(
            "--p12 needs a passphrase: set MTLS_CONSOLE_P12_PASSPHRASE or run on a terminal".into(),
        ));
    }
    let pass =
        rpassword::prompt_password("PKCS#12 passphrase: ").map_err(|e| Error::Io(e.to_string()))?;
    let again = rpassword::prompt_password("again: ").map_err(|e| Error::Io(e.to_string()))?;
    if pass != again {
        return Err(Error::Invalid(
            "the passphrases differ; nothing written".into(),
        ));
    }
    ops::limits::p12_passphrase(&pass)?;
    Ok(zeroize::Zeroizing::new(pass))
}

/// `completions` and `man`: generated from the command definition, no environment needed.
fn generate(command: &Command) -> Option<Result<i32>> {
    use clap::CommandFactory;
    let mut definition = Cli::command();
    match command {
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut definition, "mtls-console", &mut script);
            output::raw(&script);
            Some(Ok(0))
        }
        Command::Man { out: Some(dir) } => Some(
            std::fs::create_dir_all(dir)
                .and_then(|()| clap_mangen::generate_to(definition, dir))
                .map(|()| 0)
                .map_err(|e| {
                    Error::Io(format!("cannot write man pages to {}: {e}", dir.display()))
                }),
        ),
        Command::Man { out: None } => {
            let mut page = Vec::new();
            Some(
                clap_mangen::Man::new(definition)
                    .render(&mut page)
                    .map(|()| {
                        output::raw(&page);
                        0
                    })
                    .map_err(|e| Error::Io(format!("cannot render the man page: {e}"))),
            )
        }
        _ => None,
    }
}

async fn run(cli: Cli) -> Result<i32> {
    if let Some(done) = cli.command.as_ref().and_then(generate) {
        return done;
    }
    let (config, env) = resolve_env(&cli)?;
    if let Some(Command::InitInfra) = cli.command {
        if env.backend != BackendKind::Aws {
            return Err(Error::Invalid(format!(
                "init-infra is for AWS environments; '{}' uses the embedded backend, which needs no infrastructure",
                env.name
            )));
        }
        if env.read_only {
            return Err(Error::Invalid(format!(
                "environment '{}' is read-only: init-infra refused (it creates tables and a \
                 bucket; drop --read-only or set read_only = false)",
                env.name
            )));
        }
        let lines = crate::store::aws::init_infra(&env).await?;
        output::lines(&cli, &lines);
        return Ok(0);
    }
    let opened = Ctx::open(env.clone()).await.map(|mut ctx| {
        ctx.allow_compromised_ca = cli.allow_compromised_ca;
        ctx
    });
    let Some(command) = &cli.command else {
        // The console opens even when the environment cannot be reached, and says why.
        crate::tui::run(config, env, opened, cli.read_only).await?;
        return Ok(0);
    };
    let ctx = opened?;
    let result = dispatch(&cli, &ctx, command).await;
    for warning in ctx.take_warnings() {
        eprintln!("warning: {warning}");
    }
    result
}

async fn dispatch(cli: &Cli, ctx: &Ctx, command: &Command) -> Result<i32> {
    match command {
        Command::Ca(CaCommand::Init {
            root_only,
            key_algorithm,
            subject,
            root_days,
            intermediate_days,
        }) => {
            let opts = CaInitOptions {
                root_only: *root_only,
                key_algorithm: parse_key_algorithm(key_algorithm)?,
                subject: subject
                    .as_deref()
                    .map(parse_subject)
                    .transpose()?
                    .unwrap_or_default(),
                root_days: *root_days,
                intermediate_days: *intermediate_days,
            };
            confirm(
                cli,
                &format!("Create a new CA in environment '{}'?", ctx.env.name),
            )?;
            let summary = ops::ca_init(ctx, &opts).await?;
            output::ca(cli, &summary, ctx.now());
        }
        Command::Ca(CaCommand::Show) => output::ca(cli, &ops::ca_show(ctx).await?, ctx.now()),
        Command::Ca(CaCommand::RotateIntermediate(args)) => {
            let kind = ops::RotationKind::Intermediate;
            return rotation(cli, ctx, kind, args, ops::ClientSelection::All).await;
        }
        Command::Ca(CaCommand::RotateRoot(args)) => {
            let kind = ops::RotationKind::Root;
            return rotation(cli, ctx, kind, args, ops::ClientSelection::All).await;
        }
        Command::Ca(CaCommand::Rotation) => match ops::rotation_status(ctx).await? {
            Some(j) => output::journal(cli, &j),
            None => output::lines(
                cli,
                &[format!(
                    "no rotation has run in environment '{}'",
                    ctx.env.name
                )],
            ),
        },
        Command::Issue(args) => issue(cli, ctx, args).await?,
        Command::List {
            due_within: Some(days),
            ..
        } => output::roster(cli, ctx, &ops::due_for_renewal(ctx, *days).await?),
        Command::List { status, .. } => {
            let filter = match status {
                StatusArg::All => StatusFilter::All,
                StatusArg::Active => StatusFilter::Active,
                StatusArg::Expiring => StatusFilter::Expiring,
                StatusArg::Expired => StatusFilter::Expired,
                StatusArg::Revoked => StatusFilter::Revoked,
            };
            output::roster(cli, ctx, &ops::list(ctx, filter).await?);
        }
        Command::Show { target } => output::detail(cli, ctx, &ops::show(ctx, target).await?),
        Command::Revoke {
            target,
            issued_by,
            dry_run,
            reason,
            note,
            keep_grace,
        } => {
            // A dry run changes nothing, so it records no reason.
            let reason = match reason {
                Some(reason) => RevocationReason::parse(reason).ok_or_else(|| {
                    Error::Invalid(format!(
                        "unknown revocation reason '{reason}'; use one of {}",
                        RevocationReason::ALL.map(|r| r.as_str()).join(", ")
                    ))
                })?,
                None => RevocationReason::Unspecified,
            };
            if let Some(ca) = issued_by {
                // The count for the question is one more roster scan: only when asking.
                if !*dry_run && !cli.yes {
                    let count =
                        ops::revoke_issued_by(ctx, ca, reason, note.as_deref(), true, 1).await?;
                    confirm(
                        cli,
                        &format!(
                            "Revoke all {} active certificate(s) issued by {} ({})?",
                            count.matching,
                            count.ca_subject,
                            reason.as_str()
                        ),
                    )?;
                }
                let report =
                    ops::revoke_issued_by(ctx, ca, reason, note.as_deref(), *dry_run, 8).await?;
                output::revoked_by_ca(cli, &report);
                if !report.failed.is_empty() {
                    return Err(Error::Invalid(format!(
                        "{} certificate(s) could not be revoked (listed above); run the same command again",
                        report.failed.len()
                    )));
                }
                return Ok(0);
            }
            let target = target.as_deref().unwrap_or_default();
            if !cli.yes {
                // The target is checked before the question: nobody confirms a typo.
                let (client_id, serial) = ops::revoke_target(ctx, target).await?;
                let what = match serial {
                    Some(serial) => format!("certificate {serial} of client {client_id}"),
                    None => format!("client {client_id}"),
                };
                confirm(cli, &format!("Revoke {what} ({})?", reason.as_str()))?;
            }
            let scope = if *keep_grace {
                ops::RevokeScope::KeepGrace
            } else {
                ops::RevokeScope::All
            };
            let out = ops::revoke(ctx, target, reason, note.as_deref(), scope).await?;
            output::revoked(cli, &out);
        }
        Command::Reissue {
            client_id,
            rekey,
            grace,
            days,
            key_algorithm,
        } => {
            let opts = ReissueOptions {
                rekey: *rekey,
                grace: grace
                    .as_deref()
                    .map(|g| ops::limits::parse_grace("--grace", g))
                    .transpose()?,
                days: *days,
                key_algorithm: key_algorithm
                    .as_deref()
                    .map(parse_key_algorithm)
                    .transpose()?,
            };
            confirm(cli, &format!("Re-issue the certificate of {client_id}?"))?;
            let out = ops::reissue(ctx, client_id, &opts).await?;
            output::reissued(cli, &out);
        }
        Command::Export {
            client_id,
            out,
            p12,
            force,
        } => {
            let pass = if *p12 { Some(p12_passphrase()?) } else { None };
            let pass = pass.as_deref().map(String::as_str);
            let files = ops::export(ctx, client_id, out, pass, *force).await?;
            output::exported(cli, &files);
        }
        Command::Verify { cert } => {
            let path = std::path::Path::new(cert);
            // A client_id never holds a `/`: such an argument is a path, even a missing one.
            let pem = if path.exists() || cert.contains('/') {
                read_file(path, "certificate")?
            } else {
                let detail = ops::show(ctx, cert).await.map_err(|e| match e {
                    Error::NotFound(_) => Error::NotFound(format!(
                        "'{cert}' is neither a file nor a client_id or serial in environment \
                         '{}'; give a PEM file, or see `list`",
                        ctx.env.name
                    )),
                    e => e,
                })?;
                let pem = detail.record.cert_pem.clone().ok_or_else(|| {
                    Error::NotFound(format!(
                        "the certificate of serial {} is neither in the roster nor in the vault",
                        detail.record.serial
                    ))
                })?;
                if !cli.json {
                    output::lines(
                        cli,
                        &[format!(
                            "client {}, serial {}",
                            detail.record.client_id, detail.record.serial
                        )],
                    );
                }
                pem
            };
            let verdict = ops::verify(ctx, &pem).await?;
            output::verdict(cli, &verdict);
            return Ok(if verdict.allow { 0 } else { EXIT_DENY });
        }
        Command::Truststore(cmd) => return truststore(cli, ctx, cmd).await,
        Command::Gateway(GatewayCommand::Mtls(MtlsCommand::Off { reason })) => {
            // Nobody confirms a change that is refused anyway.
            ctx.require_writable("gateway mtls off")?;
            if !cli.yes {
                let state = ops::gateway_mtls_state(ctx).await?;
                let domain = &state.domain.domain;
                let served = match &state.domain.truststore_uri {
                    Some(uri) => format!(
                        "it serves {uri}{}",
                        state
                            .domain
                            .truststore_version
                            .as_deref()
                            .map(|v| format!(" version {v}"))
                            .unwrap_or_default()
                    ),
                    None => "it reads no truststore now".into(),
                };
                confirm_typed(
                    cli,
                    &format!(
                        "This turns mutual TLS OFF on domain {domain} ({served}): the API then \
                         accepts requests WITHOUT a client certificate until `gateway mtls on`."
                    ),
                    domain,
                )?;
            }
            let change = ops::gateway_mtls_off(ctx, reason).await?;
            output::mtls_off(cli, &change);
        }
        Command::Gateway(GatewayCommand::Mtls(MtlsCommand::On)) => {
            ctx.require_writable("gateway mtls on")?;
            if !cli.yes {
                let state = ops::gateway_mtls_state(ctx).await?;
                let restores = state
                    .off
                    .as_ref()
                    .filter(|r| r.restored_at.is_none())
                    .map(|r| format!(" with {}", r.served()))
                    .unwrap_or_default();
                confirm(
                    cli,
                    &format!(
                        "Turn mutual TLS back on for domain {}{restores}?",
                        state.domain.domain
                    ),
                )?;
            }
            let change = ops::gateway_mtls_on(ctx).await?;
            output::mtls_on(cli, &change);
        }
        Command::Audit { limit } => output::audit(cli, &ops::audit(ctx, *limit).await?),
        Command::RotateClients {
            all,
            client,
            due_within,
            rotate,
        } => {
            let selection = match (all, client.is_empty(), due_within) {
                (_, false, _) => ops::ClientSelection::Ids(client.clone()),
                (_, true, Some(days)) => ops::ClientSelection::DueWithinDays(*days),
                (true, true, None) => ops::ClientSelection::All,
                (false, true, None) if rotate.resume || rotate.abort => ops::ClientSelection::All,
                (false, true, None) => {
                    return Err(Error::Invalid(
                        "say which clients: --all, --client ID (repeatable) or --due-within DAYS"
                            .into(),
                    ));
                }
            };
            return rotation(cli, ctx, ops::RotationKind::Clients, rotate, selection).await;
        }
        Command::Repair { dry_run } => {
            if !*dry_run {
                confirm(
                    cli,
                    &format!(
                        "Repair the vault and client heads of environment '{}' from the roster?",
                        ctx.env.name
                    ),
                )?;
            }
            let report = ops::repair(ctx, !*dry_run).await?;
            output::repair(cli, &report);
            if report
                .findings
                .iter()
                .any(|f| f.action.is_none() || (!report.dry_run && !f.fixed))
            {
                return Ok(EXIT_DOCTOR_FAIL);
            }
        }
        Command::Doctor => {
            let checks = ops::doctor(ctx).await?;
            output::doctor(cli, &checks);
            if checks.iter().any(|c| c.status == ops::CheckStatus::Fail) {
                return Ok(EXIT_DOCTOR_FAIL);
            }
        }
        Command::Report {
            format,
            out,
            fail_within,
        } => {
            let report = ops::report(ctx).await?;
            let format = if cli.json {
                report::ReportFormat::Json
            } else {
                *format
            };
            let text = report::render(&report, format);
            match out {
                Some(path) => {
                    ops::write_private_file(path, text.as_bytes())?;
                    output::lines(cli, &[format!("wrote {}", path.display())]);
                }
                None => output::text(&text),
            }
            if let Some(days) = fail_within {
                let due = ops::expiring_within(&report, *days);
                if !due.is_empty() {
                    eprintln!(
                        "{} certificate(s) expire within {days} days (`expiry --within {days}` lists them)",
                        due.len()
                    );
                    return Ok(EXIT_DOCTOR_FAIL);
                }
            }
        }
        Command::Expiry { within } => {
            let report = ops::report(ctx).await?;
            let due = ops::expiring_within(&report, *within);
            output::expiring(cli, *within, &due);
            if !due.is_empty() {
                return Ok(EXIT_DOCTOR_FAIL);
            }
        }
        Command::Demo => {
            let n = ops::demo(ctx).await?;
            output::lines(
                cli,
                &[format!(
                    "demo environment '{}' ready: a CA and {n} clients in varied states; run `mtls-console --env {}` to look around",
                    ctx.env.name, ctx.env.name
                )],
            );
        }
        Command::InitInfra | Command::Completions { .. } | Command::Man { .. } => {
            unreachable!("handled before the backend is opened")
        }
    }
    Ok(0)
}

async fn issue(cli: &Cli, ctx: &Ctx, args: &IssueArgs) -> Result<()> {
    if let Some(from) = &args.from {
        let text = read_file(from, "bulk file")?;
        let clients = ops::parse_bulk_file(ctx, &text)?;
        let progress = output::progress_bar(cli);
        let report = ops::issue_bulk(ctx, &clients, progress).await?;
        output::bulk(cli, &report);
        if !report.failed.is_empty() {
            return Err(Error::Invalid(format!(
                "{} of {} clients failed (listed above); run the same command again to retry them",
                report.failed.len(),
                clients.len()
            )));
        }
        return Ok(());
    }
    let client = args.client_id.clone().unwrap_or_default();
    let key = match (&args.csr, &args.key_algorithm) {
        (Some(csr), _) => Some(KeyChoice::Csr(read_file(csr, "CSR")?)),
        (None, Some(alg)) => Some(KeyChoice::Generate(parse_key_algorithm(alg)?)),
        (None, None) => None,
    };
    let opts = IssueOptions {
        client,
        cn: args.cn.clone(),
        days: args.days,
        key,
    };
    let pass = if args.p12 {
        Some(p12_passphrase()?)
    } else {
        None
    };
    if let Some(dir) = &args.out {
        ops::check_out_dir(dir, args.csr.is_none(), args.p12, args.force)?;
    }
    let outcome = ops::issue(ctx, &opts).await?;
    let files = match &args.out {
        Some(dir) => Some(ops::export_issued(
            &outcome,
            dir,
            pass.as_deref().map(String::as_str),
            args.force,
            ctx.env.gateway_domain.as_deref(),
        )?),
        None => None,
    };
    output::issued(cli, &outcome, files.as_ref());
    Ok(())
}

async fn truststore(cli: &Cli, ctx: &Ctx, cmd: &TruststoreCommand) -> Result<i32> {
    match cmd {
        TruststoreCommand::Build(args) => {
            bundle_out(cli, args, &ops::truststore_build(ctx).await?)?;
        }
        TruststoreCommand::Show(args) => match ops::truststore_show(ctx).await? {
            Some(view) => bundle_out(cli, args, &view)?,
            None => {
                return Err(Error::NotFound(format!(
                    "nothing is published at {}; `truststore publish` publishes the bundle the CA implies",
                    ctx.backend.truststore.location()
                )));
            }
        },
        TruststoreCommand::Publish { force } => {
            confirm(
                cli,
                &format!(
                    "Publish a new truststore to {}?",
                    ctx.backend.truststore.location()
                ),
            )?;
            let v = ops::truststore_publish(ctx, *force).await?;
            output::published(cli, "published", &v);
        }
        TruststoreCommand::History => {
            let versions = ops::truststore_history(ctx).await?;
            if versions.is_empty() && !cli.json {
                output::lines(
                    cli,
                    &[format!(
                        "no truststore version is published at {}; `truststore publish` \
                         publishes the bundle the CA implies",
                        ctx.backend.truststore.location()
                    )],
                );
            } else {
                output::history(cli, &versions);
            }
        }
        TruststoreCommand::Rollback { version, force } => {
            confirm(
                cli,
                &format!("Restore truststore version {version} as the newest?"),
            )?;
            let v = ops::truststore_rollback(ctx, version, *force).await?;
            output::published(cli, "rolled back", &v);
        }
        TruststoreCommand::Check => {
            let report = ops::truststore_check(ctx).await?;
            output::truststore_check(cli, &report);
            if report
                .checks
                .iter()
                .any(|c| c.status == ops::CheckStatus::Fail)
            {
                return Ok(EXIT_DOCTOR_FAIL);
            }
        }
    }
    Ok(0)
}

/// A bundle as asked: its PEM on stdout (`--pem`) or the summary, and the PEM in a file
/// (`--out`).
fn bundle_out(cli: &Cli, args: &BundleArgs, view: &ops::BundleView) -> Result<()> {
    if let Some(path) = &args.out {
        ops::write_public_file(path, view.pem.as_bytes())?;
    }
    if args.pem {
        output::pem(&view.pem);
    } else {
        output::bundle(cli, view);
        if let Some(path) = &args.out {
            output::lines(cli, &[format!("wrote {}", path.display())]);
        }
    }
    Ok(())
}

/// `ca rotate-intermediate`, `ca rotate-root`, `rotate-clients`: plan, run, resume or abort.
async fn rotation(
    cli: &Cli,
    ctx: &Ctx,
    kind: ops::RotationKind,
    args: &RotateArgs,
    selection: ops::ClientSelection,
) -> Result<i32> {
    let opts = ops::RotationOptions {
        grace: ops::limits::parse_grace("--grace", &args.grace)?,
        rekey: args.rekey,
        client_days: args.days,
        ca_key_algorithm: args
            .ca_key_algorithm
            .as_deref()
            .map(parse_key_algorithm)
            .transpose()?,
        ca_days: args.ca_days,
        selection,
        concurrency: args.concurrency.clamp(1, 64),
        stop_after: args
            .stop_after
            .as_deref()
            .map(|s| {
                ops::RotationPhase::parse(s).ok_or_else(|| {
                    Error::Invalid(format!(
                        "unknown phase '{s}'; use prepared, published, moved or promoted"
                    ))
                })
            })
            .transpose()?,
        force: args.force,
        progress: output::progress_bar(cli),
    };
    if args.abort {
        if args.dry_run {
            return Err(Error::Invalid(
                "--abort has no dry run; `ca rotation` shows the rotation in progress".into(),
            ));
        }
        confirm(cli, "Abort the rotation in progress?")?;
        let report = ops::rotation_abort(ctx).await?;
        output::rotation(cli, &report);
        return Ok(0);
    }
    let plan = ops::rotation_plan(ctx, kind, &opts, args.resume).await?;
    if args.dry_run {
        output::plan(cli, &plan);
        return Ok(0);
    }
    if !cli.json {
        output::plan(cli, &plan);
    }
    confirm(
        cli,
        &format!(
            "{} the {} rotation with these steps?",
            if args.resume { "Continue" } else { "Start" },
            kind.as_str()
        ),
    )?;
    let report = ops::rotation_run(ctx, kind, &opts, args.resume).await?;
    output::rotation(cli, &report);
    if !report.failed.is_empty() {
        return Err(Error::Invalid(format!(
            "{} client(s) were not moved (listed above); `--resume` retries them",
            report.failed.len()
        )));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_parse() {
        let s = parse_subject("C=GB, O=Example Ltd,OU=Platform,CN=Example Root").unwrap();
        assert_eq!(s.c.as_deref(), Some("GB"));
        assert_eq!(s.o.as_deref(), Some("Example Ltd"));
        assert_eq!(s.cn.as_deref(), Some("Example Root"));
        assert!(parse_subject("C=Britain").is_err());
        assert!(parse_subject("X=1").is_err());
        assert!(parse_subject("CN").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    /// Every flag and argument of every command says what it is for, and the global ones are
    /// shown apart from the command's own.
    #[test]
    fn every_argument_has_help_and_globals_have_their_own_section() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
                if arg.is_global_set() && arg.get_help_heading() != Some(GLOBAL) {
                    missing.push(format!("{path} {id}: global, not under '{GLOBAL}'"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {}: no about", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "mtls-console", &mut missing);
        assert!(missing.is_empty(), "without help: {missing:#?}");
    }
}
