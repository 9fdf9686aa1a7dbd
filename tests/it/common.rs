//! Shared test plumbing: an isolated home (XDG dirs in a temp dir) and a way to run the
//! release/debug binary that cargo built for these tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mtls-console"))
}

/// A throw-away home: config, data and state dirs of its own.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        Home {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.path().join("data")
    }

    /// A command for the binary with this home's XDG dirs and no inherited environment choice.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("XDG_DATA_HOME", self.data_dir())
            .env("XDG_STATE_HOME", self.path().join("state"))
            .env_remove("MTLS_CONSOLE_ENV")
            .env_remove("MTLS_CONSOLE_CONFIG")
            .env_remove("MTLS_CONSOLE_P12_PASSPHRASE")
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null());
        cmd
    }

    /// Runs the binary and returns its output (never panics on a non-zero exit).
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run mtls-console")
    }

    /// Runs and asserts exit 0, returning stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "`mtls-console {}` failed with {:?}\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs with --json and parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{out}"))
    }
}

/// Exit code of a finished command.
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `openssl` with arguments and returns (success, stdout+stderr). Fails the test when
/// openssl is not installed: a missing tool is a failure, not a skip.
pub fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl must be installed (Debian package openssl); scripts/test installs it");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Splits a PEM file of several certificates into separate PEM strings.
pub fn split_pem(text: &str) -> Vec<String> {
    text.split_inclusive("-----END CERTIFICATE-----")
        .filter(|b| b.contains("-----BEGIN CERTIFICATE-----"))
        .map(|b| format!("{}\n", b.trim()))
        .collect()
}
