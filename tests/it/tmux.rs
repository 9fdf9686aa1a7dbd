//! The real binary in a real terminal: tmux runs it on a demo environment, keys go in with
//! send-keys and the screen comes back with capture-pane. Filter, open details, revoke one
//! client, quit — then the roster is checked through the CLI.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Home, bin};

/// A tmux server of its own (private socket), killed when the test ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux must be installed (Debian package tmux); scripts/test installs it")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "console"]).stdout)
            .into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let out = self.cmd(&["send-keys", "-t", "console", k]);
            assert!(
                out.status.success(),
                "send-keys {k}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    fn text(&self, text: &str) {
        let out = self.cmd(&["send-keys", "-t", "console", "-l", text]);
        assert!(out.status.success());
    }

    /// Waits until the screen satisfies `cond`; fails with the last screen after 30 s.
    fn wait(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if cond(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn alive(&self) -> bool {
        self.cmd(&["has-session", "-t", "console"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// Starts the binary in a new tmux session on `home`, with extra environment assignments
/// (`VAR='value' ...`) and arguments.
fn start(home: &Home, env: &[(&str, &str)], args: &str) -> Tmux {
    let p = home.path();
    let extra: String = env.iter().map(|(k, v)| format!(" {k}='{v}'")).collect();
    let shell = format!(
        "env HOME='{h}' XDG_CONFIG_HOME='{h}/config' XDG_DATA_HOME='{h}/data' XDG_STATE_HOME='{h}/state' NO_COLOR=1 TERM=xterm-256color{extra} '{bin}' {args}; sleep 30",
        h = p.display(),
        bin = bin().display()
    );
    let tmux = Tmux {
        socket: format!("mtls-console-test-{}-{}", std::process::id(), rand_suffix()),
    };
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "console",
        "-x",
        "120",
        "-y",
        "40",
        &shell,
    ]);
    assert!(
        out.status.success(),
        "tmux new-session: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    tmux
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Filters to `client`, opens and closes its details (reading its serial there), revokes it
/// (after refused mistyped digits) and quits.
fn revoke_through_the_console(tmux: &Tmux, client: &str, other: &str) {
    tmux.keys(&["/"]);
    tmux.text(client);
    let filtered = tmux.wait("the filter to narrow the roster", |s| {
        row(s, client).is_some() && row(s, other).is_none()
    });
    assert!(
        row(&filtered, client).unwrap().contains("active"),
        "{filtered}"
    );
    tmux.keys(&["Enter", "Enter"]);
    let detail = tmux.wait("the detail pane", |s| s.contains("SHA-256"));
    let serial = detail
        .lines()
        .find(|l| l.contains("(decimal)"))
        .and_then(|l| {
            l.split_whitespace()
                .find(|w| w.chars().all(|c| c.is_ascii_digit()))
        })
        .unwrap_or_else(|| panic!("no decimal serial in the detail pane:\n{detail}"))
        .to_string();
    tmux.keys(&["Escape"]);

    let title = format!("Revoke {client}");
    tmux.keys(&["x"]);
    tmux.wait("the revoke dialog", |s| s.contains(&title));
    // Enter keeps the preselected reason; the confirmation is the serial's last 4 digits.
    tmux.keys(&["Enter"]);
    tmux.text(&format!("{}9", &serial[serial.len() - 4..]));
    tmux.keys(&["Enter"]);
    let refused = tmux.wait("the mismatch to be refused", |s| {
        s.contains("nothing was revoked")
    });
    assert!(
        refused.contains(&title),
        "mistyped digits keep the dialog open:\n{refused}"
    );
    tmux.keys(&["BSpace", "Enter"]);
    tmux.wait("the row to show revoked", |s| {
        !s.contains(&title) && row(s, client).is_some_and(|r| r.contains("revoked"))
    });

    tmux.keys(&["Escape", "Escape", "q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.screen().contains("mtls-console │") {
        assert!(
            Instant::now() < deadline,
            "q did not quit:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        tmux.alive(),
        "the shell keeps the pane alive after the console exits"
    );
}

/// The roster rows on screen (lines that start with a demo client id).
fn row<'a>(screen: &'a str, client: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.starts_with(client))
}

#[test]
fn filter_detail_revoke_and_quit_in_a_real_terminal() {
    let home = Home::new();
    home.ok(&["demo"]);
    let tmux = start(&home, &[], "");
    let first = tmux.wait("the roster", |s| row(s, "acme-payments").is_some());
    assert!(first.contains("50 clients"), "summary line:\n{first}");

    revoke_through_the_console(&tmux, "globex-api", "acme-payments");

    let shown = home.json(&["show", "globex-api"]);
    assert_eq!(shown["record"]["status"], "revoked", "{shown:#}");
    let others = home.json(&["list", "--status", "revoked"]);
    assert_eq!(
        others.as_array().unwrap().len(),
        7,
        "exactly one more revoked than the demo's six"
    );
}

#[test]
fn revoke_on_aws_in_a_real_terminal() {
    let env = crate::aws::env("tmux");
    let home = crate::aws::home_for(&env, "");
    let creds = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let cli = |args: &[&str]| {
        let mut all = vec!["--env", "moto", "--yes"];
        all.extend_from_slice(args);
        let out = home.cmd(&all).envs(creds).output().unwrap();
        assert!(
            out.status.success(),
            "{all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    cli(&["init-infra"]);
    cli(&["ca", "init", "--key-algorithm", "ecdsa-p256"]);
    cli(&["issue", "partner-one"]);
    cli(&["issue", "partner-two"]);
    cli(&["truststore", "publish"]);

    let tmux = start(&home, &creds, "--env moto");
    let first = tmux.wait("the roster from DynamoDB", |s| {
        row(s, "partner-two").is_some()
    });
    assert!(
        first.contains("aws "),
        "the header names the AWS backend:\n{first}"
    );
    revoke_through_the_console(&tmux, "partner-two", "partner-one");

    let shown = cli(&["--json", "show", "partner-two"]);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["record"]["status"], "revoked", "{shown:#}");
    let by = shown["record"]["revoked_by"].as_str().unwrap();
    assert!(
        by.starts_with("arn:aws:"),
        "the operator is the STS caller ARN: {by}"
    );
}

/// An environment whose endpoint refuses connections (a closed loopback port): the console
/// opens anyway, says why in plain words, retries on R, and E switches to one that works.
#[test]
fn the_console_opens_when_the_backend_is_unreachable() {
    let home = Home::new();
    home.ok(&["--yes", "ca", "init", "--key-algorithm", "ecdsa-p256"]);
    home.ok(&["issue", "reachable-client"]);
    let dir = home.path().join("config/mtls-console");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        "[environments.down]\nbackend = \"aws\"\nregion = \"us-east-1\"\n\
         endpoint_url = \"http://127.0.0.1:9\"\ntruststore_bucket = \"b\"\n",
    )
    .unwrap();
    let creds = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let tmux = start(&home, &creds, "--env down");
    let flat = |screen: &str| {
        screen
            .replace('│', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let refused = |s: &str| {
        let s = flat(s);
        s.contains("is not connected (R: try again, E: switch environment)")
            && s.contains("connection refused")
    };
    let offline = tmux.wait("the reason it is not connected", refused);
    assert!(!offline.contains("DispatchFailure"), "{offline}");
    let dismiss = |tmux: &Tmux| {
        for _ in 0..5 {
            if !tmux.screen().contains("┌ Error") {
                return;
            }
            tmux.keys(&["Escape"]);
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!("the error stays up:\n{}", tmux.screen());
    };
    dismiss(&tmux);
    tmux.keys(&["R"]);
    tmux.wait("the retry, refused again", |s| {
        s.contains("┌ Error") && refused(s)
    });
    dismiss(&tmux);
    tmux.keys(&["E"]);
    tmux.wait("the environment picker", |s| s.contains("local"));
    tmux.keys(&["Up", "Enter"]);
    tmux.wait("the reachable environment's roster", |s| {
        row(s, "reachable-client").is_some()
    });
    tmux.keys(&["q"]);
}

/// The security officer's round: the expired clients, the revoked ones, and why one was
/// revoked (reason, who, when and the note), with the status filter and the detail pane.
#[test]
fn officer_finds_expired_and_revoked_clients_and_reads_why() {
    let home = Home::new();
    home.ok(&["demo"]);
    let ids = |status: &str| -> Vec<String> {
        let mut ids: Vec<String> = home
            .json(&["list", "--status", status])
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["client_id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let (expired, revoked) = (ids("expired"), ids("revoked"));
    assert!(!expired.is_empty() && !revoked.is_empty());
    let tmux = start(&home, &[], "");
    tmux.wait("the roster", |s| row(s, "acme-payments").is_some());

    tmux.keys(&["f", "f", "f"]); // all -> active -> expiring -> expired
    let shown = tmux.wait("the expired clients", |s| {
        s.contains("showing expired") && row(s, &expired[0]).is_some()
    });
    for id in &expired {
        let r = row(&shown, id).unwrap_or_else(|| panic!("{id} not shown:\n{shown}"));
        assert!(r.contains("expired"), "{r}");
    }
    assert!(
        shown.contains(&format!("{} shown", expired.len())),
        "{shown}"
    );

    tmux.keys(&["f"]);
    let shown = tmux.wait("the revoked clients", |s| {
        s.contains("showing revoked") && row(s, &revoked[0]).is_some()
    });
    assert!(
        shown.contains(&format!("{} shown", revoked.len())),
        "{shown}"
    );
    tmux.keys(&["g", "Enter"]);
    let detail = tmux.wait("the revocation's reason", |s| {
        s.contains(&format!("{} — details", revoked[0])) && s.contains("demo data")
    });
    let status = detail
        .lines()
        .find(|l| l.contains("Status"))
        .unwrap_or_else(|| panic!("no status line:\n{detail}"));
    assert!(
        status.contains("revoked: ") && status.contains(" by ") && status.contains(": demo data"),
        "reason, time, operator and note: {status}"
    );
    tmux.keys(&["Escape", "q"]);
}
