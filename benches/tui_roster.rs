//! Roster load, filter and render at 100,000 clients (a benchmark, not a test).
//!
//! `cargo bench --bench tui_roster` measures 100,000 rows; `TUI_BENCH_ROWS=2000` (or a number
//! as the first argument) gives a quick smoke run.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use mtls_console::config::EnvConfig;
use mtls_console::model::{CertRecord, CertStatus, RevocationReason};
use mtls_console::tui::action::{Action, Effect, Op, Outcome};
use mtls_console::tui::draw::draw;
use mtls_console::tui::keymap::action_for;
use mtls_console::tui::state::{App, AppInit};
use mtls_console::tui::update::update;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use time::OffsetDateTime;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);
const WIDTH: u16 = 200;
const HEIGHT: u16 = 50;

fn records(n: usize) -> Vec<CertRecord> {
    (0..n)
        .map(|i| {
            let issued = NOW - time::Duration::days((i % 400) as i64);
            let expiry = issued + time::Duration::days(395);
            let revoked = i % 13 == 0;
            CertRecord {
                serial: format!(
                    "{}",
                    3_402_823_669_209_384_634_633_746_074_317_u128 + (i as u128) * 7_919
                ),
                client_id: format!("client-{i:06}"),
                client_name: format!("client-{i:06}"),
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
                issuer: Some("CN=bench Intermediate CA".into()),
                issuer_fingerprint: None,
                key_algorithm: Some("ecdsa-p256".into()),
                key_held: true,
                revoked_at: revoked.then_some(NOW),
                revocation_reason: revoked.then_some(RevocationReason::Superseded),
                revoked_by: None,
                revocation_note: None,
                replaces: None,
                replaced_by: None,
                version: 1,
            }
        })
        .collect()
}

fn press(app: &mut App, code: KeyCode) {
    if let Some(a) = action_for(app, KeyEvent::new(code, KeyModifiers::NONE)) {
        update(app, a);
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i]
}

fn report(name: &str, samples: &mut [Duration]) {
    println!(
        "{name:<34} p50 {:>8.3} ms   p99 {:>8.3} ms   ({} samples)",
        percentile(samples, 0.50).as_secs_f64() * 1e3,
        percentile(samples, 0.99).as_secs_f64() * 1e3,
        samples.len()
    );
}

fn rss_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .or_else(|| std::env::var("TUI_BENCH_ROWS").ok()?.parse().ok())
        .unwrap_or(100_000);
    let data = records(n);
    let rss_before = rss_kib();

    let mut app = App::new(AppInit {
        env: EnvConfig::default(),
        env_names: vec!["local".into()],
        backend: "bench".into(),
        operator: "bench".into(),
        now: NOW,
        read_only: false,
    });
    update(
        &mut app,
        Action::Resize {
            width: WIDTH,
            height: HEIGHT,
        },
    );
    let fx = update(&mut app, Action::Start);
    let task = fx
        .iter()
        .find_map(|e| match e {
            Effect::Run {
                task,
                op: Op::LoadRoster,
            } => Some(*task),
            _ => None,
        })
        .expect("Start loads the roster");
    let start = Instant::now();
    update(
        &mut app,
        Action::Done {
            task,
            result: Ok(Outcome::Roster {
                records: data,
                now: NOW,
            }),
        },
    );
    let build = start.elapsed();

    let mut term = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).expect("test backend");
    let start = Instant::now();
    term.draw(|f| draw(f, &app, true)).expect("draw");
    let first_frame = start.elapsed();

    // Filter: type queries, then erase them, one frame per keystroke.
    press(&mut app, KeyCode::Char('/'));
    let queries = ["client-09", "-12", "99", "7", "client-0000", "3x"];
    let mut keys: Vec<KeyCode> = Vec::new();
    'fill: loop {
        for q in queries {
            for c in q.chars() {
                keys.push(KeyCode::Char(c));
            }
            keys.extend(std::iter::repeat_n(KeyCode::Backspace, q.len()));
            if keys.len() >= 200 {
                break 'fill;
            }
        }
    }
    keys.truncate(200);
    let mut filter = Vec::with_capacity(keys.len());
    for k in keys {
        let t = Instant::now();
        press(&mut app, k);
        term.draw(|f| draw(f, &app, true)).expect("draw");
        filter.push(t.elapsed());
    }
    press(&mut app, KeyCode::Esc);

    // Sort changes (rare, O(n log n)).
    let mut sort = Vec::new();
    for _ in 0..8 {
        let t = Instant::now();
        press(&mut app, KeyCode::Char('s'));
        term.draw(|f| draw(f, &app, true)).expect("draw");
        sort.push(t.elapsed());
    }

    // Scrolling: rows, pages, both ends.
    let mut scroll = Vec::new();
    let moves = [
        KeyCode::Char('j'),
        KeyCode::PageDown,
        KeyCode::Char('G'),
        KeyCode::Char('k'),
        KeyCode::PageUp,
        KeyCode::Char('g'),
    ];
    for i in 0..300 {
        let t = Instant::now();
        press(&mut app, moves[(i / 10) % moves.len()]);
        term.draw(|f| draw(f, &app, true)).expect("draw");
        scroll.push(t.elapsed());
    }

    println!("tui roster benchmark: {n} clients, frame {WIDTH}x{HEIGHT} (TestBackend)");
    println!(
        "{:<34} {:>8.3} ms",
        "build state from records",
        build.as_secs_f64() * 1e3
    );
    println!(
        "{:<34} {:>8.3} ms",
        "first frame",
        first_frame.as_secs_f64() * 1e3
    );
    report("filter keystroke -> frame", &mut filter);
    report("sort change -> frame", &mut sort);
    report("scroll key -> frame", &mut scroll);
    match (rss_before, rss_kib()) {
        (Some(b), Some(a)) => println!(
            "{:<34} {:>8.1} MiB (records alone before state: {:.1} MiB)",
            "resident memory (VmRSS)",
            a as f64 / 1024.0,
            b as f64 / 1024.0
        ),
        _ => println!("resident memory: /proc/self/status not readable"),
    }
}
