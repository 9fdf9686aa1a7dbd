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

/// The roster rows on screen (lines that start with a demo client id).
fn row<'a>(screen: &'a str, client: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.starts_with(client))
}

#[test]
fn filter_detail_revoke_and_quit_in_a_real_terminal() {
    let home = Home::new();
    home.ok(&["demo"]);
    let p = home.path();
    let shell = format!(
        "env HOME='{h}' XDG_CONFIG_HOME='{h}/config' XDG_DATA_HOME='{h}/data' XDG_STATE_HOME='{h}/state' NO_COLOR=1 TERM=xterm-256color '{bin}'; sleep 30",
        h = p.display(),
        bin = bin().display()
    );
    let tmux = Tmux {
        socket: format!("mtls-console-test-{}", std::process::id()),
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

    let first = tmux.wait("the roster", |s| row(s, "acme-payments").is_some());
    assert!(first.contains("50 clients"), "summary line:\n{first}");

    tmux.keys(&["/"]);
    tmux.text("globex-api");
    let filtered = tmux.wait("the filter to narrow the roster", |s| {
        row(s, "globex-api").is_some() && row(s, "acme-payments").is_none()
    });
    assert!(
        row(&filtered, "globex-api").unwrap().contains("active"),
        "{filtered}"
    );
    tmux.keys(&["Enter", "Enter"]);
    tmux.wait("the detail pane", |s| {
        s.contains("SHA-256") || s.contains("sha256") || s.contains("Fingerprint")
    });
    tmux.keys(&["Escape"]);

    tmux.keys(&["x"]);
    tmux.wait("the revoke dialog", |s| s.contains("Revoke globex-api"));
    tmux.keys(&["Enter"]);
    tmux.text("globex-apl");
    tmux.keys(&["Enter"]);
    let refused = tmux.wait("the mismatch to be refused", |s| {
        s.contains("does not match")
    });
    assert!(
        refused.contains("Revoke globex-api"),
        "a mistyped client_id keeps the dialog open:\n{refused}"
    );
    tmux.keys(&["BSpace"]);
    tmux.text("i");
    tmux.keys(&["Enter"]);
    tmux.wait("the row to show revoked", |s| {
        !s.contains("Revoke globex-api")
            && row(s, "globex-api").is_some_and(|r| r.contains("revoked"))
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

    let shown = home.json(&["show", "globex-api"]);
    assert_eq!(shown["record"]["status"], "revoked", "{shown:#}");
    let others = home.json(&["list", "--status", "revoked"]);
    assert_eq!(
        others.as_array().unwrap().len(),
        7,
        "exactly one more revoked than the demo's six"
    );
}
