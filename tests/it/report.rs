//! `report` in every format (the HTML one opened in headless Chromium) and `expiry`, the
//! alarm cron and CI run, on the demo environment's clients in varied states.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::common::{Home, code, stderr};

fn demo() -> Home {
    let home = Home::new();
    home.ok(&["demo"]);
    home.ok(&["--yes", "truststore", "publish"]);
    home
}

/// A CSV document's rows (RFC 4180 quoting).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cell.is_empty() => quoted = true,
            (',', false) => row.push(std::mem::take(&mut cell)),
            ('\n', false) => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => cell.push(c),
        }
    }
    assert!(
        !quoted && cell.is_empty() && row.is_empty(),
        "CSV ends with a line break"
    );
    rows
}

#[test]
fn report_formats_agree_and_csv_parses_back() {
    let home = demo();
    let report: serde_json::Value = home.json(&["report"]);
    let certs = report["certificates"].as_array().unwrap();
    let counts = &report["counts"];
    assert_eq!(
        counts["certificates"].as_u64().unwrap() as usize,
        certs.len()
    );
    for state in ["active", "expiring", "expired", "revoked"] {
        assert!(
            counts[state].as_u64().unwrap() > 0,
            "the demo has {state} certs: {counts}"
        );
    }
    let summed: u64 = [
        "active",
        "expiring",
        "expired",
        "revoked",
        "superseded_in_grace",
    ]
    .iter()
    .map(|s| counts[s].as_u64().unwrap())
    .sum();
    assert_eq!(summed as usize, certs.len());
    let roles: Vec<&str> = report["authorities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["role"].as_str().unwrap())
        .collect();
    assert!(
        roles.contains(&"root CA") && roles.contains(&"truststore"),
        "{roles:?}"
    );
    let revoked = certs.iter().find(|c| c["state"] == "revoked").unwrap();
    assert!(revoked["revocation_reason"].is_string() && revoked["revoked_by"].is_string());

    let csv = parse_csv(&home.ok(&["report", "--format", "csv"]));
    assert_eq!(csv[0][0], "client_id");
    assert_eq!(csv.len() - 1, certs.len());
    let days = csv[0].iter().position(|h| h == "days_left").unwrap();
    for (row, cert) in csv[1..].iter().zip(certs) {
        assert_eq!(row.len(), csv[0].len());
        assert_eq!(row[0], cert["client_id"].as_str().unwrap());
        assert_eq!(row[days], cert["days_left"].to_string());
    }

    let md = home.ok(&["report", "--format", "markdown"]);
    let md_rows = md
        .lines()
        .skip_while(|l| !l.starts_with("## Certificates"))
        .take_while(|l| !l.starts_with("## Authorities"))
        .filter(|l| l.starts_with("| ") && !l.starts_with("| client_id"))
        .count();
    assert_eq!(md_rows, certs.len());
    let table = home.ok(&["report"]);
    assert!(
        table.contains(&format!("{} certificates", certs.len())),
        "{table}"
    );
}

fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        if let Some(path) = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        }) {
            return path;
        }
    }
    panic!(
        "chromium is not on PATH: scripts/test installs it from Debian (a missing tool is a failure)"
    );
}

/// The DOM of `file` after its scripts ran, from headless Chromium kept off the network
/// (every request would go to a closed loopback port; the page's CSP allows none anyway).
fn dump_dom(home: &Home, url: &str) -> String {
    let profile = home.path().join("chromium-profile");
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-domain-reliability",
            "--metrics-recording-only",
            "--proxy-server=127.0.0.1:9",
            "--proxy-bypass-list=<-loopback>",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .env("HOME", home.path())
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("no {start}")) + start.len();
    let to = text[from..].find(end).unwrap() + from;
    &text[from..to]
}

#[test]
fn the_html_report_opens_in_a_real_browser() {
    let home = demo();
    let report: serde_json::Value = home.json(&["report"]);
    let certs = report["certificates"].as_array().unwrap().len();
    let file = home.path().join("report.html");
    home.ok(&[
        "report",
        "--format",
        "html",
        "--out",
        file.to_str().unwrap(),
    ]);
    let mode = std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    let dom = dump_dom(&home, &format!("file://{}#sort=days_left", file.display()));
    assert_eq!(
        between(&dom, "<span id=\"shown\">", "<"),
        certs.to_string(),
        "the page's script ran and counted the rows"
    );
    for (name, value) in report["counts"].as_object().unwrap() {
        let shown = between(&dom, &format!("data-count=\"{name}\">"), "<");
        assert_eq!(shown, value.to_string(), "summary count {name}");
    }
    let body = between(&dom, "<table id=\"certificates\">", "</table>");
    let body = between(body, "<tbody>", "</tbody>");
    let rows: Vec<&str> = body.split("<tr").skip(1).collect();
    assert_eq!(rows.len(), certs);
    let days: Vec<i64> = rows
        .iter()
        .map(|r| between(r, "data-sort=\"", "\"").parse().unwrap())
        .collect();
    let mut sorted = days.clone();
    sorted.sort();
    assert_eq!(days, sorted, "sorted by days left in the browser");
    assert!(
        rows.iter().any(|r| r.contains("class=\"past\"")),
        "expired rows coloured"
    );
    assert!(dom.contains("aria-sort=\"ascending\""));
}

#[test]
fn expiry_alarms_on_what_expires_and_is_quiet_otherwise() {
    let home = demo();
    let report: serde_json::Value = home.json(&["report"]);
    let expected = report["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["current"] == true
                && c["state"] != "revoked"
                && c["days_left"].as_i64().unwrap() <= 30
        })
        .count();
    assert!(expected > 0);
    let out = home.run(&["expiry", "--within", "30"]);
    assert_eq!(code(&out), 9, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("expired") && text.contains("days left"),
        "{text}"
    );
    let listed = home.run(&["--json", "expiry", "--within", "30"]);
    assert_eq!(code(&listed), 9);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let clients = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "client")
        .count();
    assert_eq!(clients, expected);
    let fail = home.run(&["report", "--fail-within", "30", "--format", "csv"]);
    assert_eq!(code(&fail), 9);

    let fresh = Home::new();
    fresh.ok(&["--yes", "ca", "init", "--key-algorithm", "ecdsa-p256"]);
    fresh.ok(&["issue", "acme"]);
    let quiet = fresh.ok(&["expiry", "--within", "30"]);
    assert!(quiet.contains("nothing expires within 30 days"), "{quiet}");
    let soon = fresh.run(&["expiry", "--within", "400"]);
    assert_eq!(code(&soon), 9, "the 395-day client cert is within 400 days");
}
