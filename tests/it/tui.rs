//! TUI tests without a terminal: key sequences through the keymap and `update`, and snapshots
//! of every screen drawn on a `TestBackend` with fixed data and a fixed clock.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use mtls_console::config::EnvConfig;
use mtls_console::model::{
    AuditOutcome, AuditRecord, CertRecord, CertStatus, ClientState, RevocationReason,
};
use mtls_console::ops::{
    BundleView, CaSummary, ClientDetail, ClientSelection, ExportedFiles, RotationJournal,
    RotationKind, RotationPhase, RotationPlan, RotationStep, StatusFilter,
};
use mtls_console::pki::KeyAlgorithm;
use mtls_console::pki::{BundleProblem, CertInfo, ChainReport, LinkCheck};
use mtls_console::store::TruststoreVersion;
use mtls_console::tui::action::{
    Action, Effect, IssueRequest, KeyRequest, Op, Outcome, Overview, RotationOverview, TaskId,
};
use mtls_console::tui::ctx::{Load, StatusKind};
use mtls_console::tui::dialogs::Dialog;
use mtls_console::tui::dialogs::export::ExportKind;
use mtls_console::tui::draw::draw;
use mtls_console::tui::keymap::action_for;
use mtls_console::tui::roster_table::SortKey;
use mtls_console::tui::state::{App, AppInit};
use mtls_console::tui::update::update;
use mtls_console::tui::views::View;
use mtls_console::tui::views::audit::AuditView;
use mtls_console::tui::views::roster::RosterView;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use time::OffsetDateTime;
use time::macros::datetime;

// ---------------------------------------------------------------- fixtures

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

fn rec(
    client_id: &str,
    serial: &str,
    issued: OffsetDateTime,
    expiry: OffsetDateTime,
) -> CertRecord {
    CertRecord {
        serial: serial.into(),
        client_id: client_id.into(),
        client_name: client_id.into(),
        status: CertStatus::Active,
        issued_at: issued,
        not_before: Some(issued),
        expiry,
        ttl: (expiry + time::Duration::days(90)).unix_timestamp(),
        not_after: Some(expiry),
        cert_pem: None,
        fingerprint: None,
        issuer: Some("CN=apigw-mtls sandbox Intermediate CA,O=apigw-mtls".into()),
        issuer_fingerprint: None,
        key_algorithm: Some("ecdsa-p256".into()),
        key_held: true,
        revoked_at: None,
        revocation_reason: None,
        revoked_by: None,
        revocation_note: None,
        replaces: None,
        replaced_by: None,
        version: 1,
    }
}

fn revoked(mut r: CertRecord, at: OffsetDateTime, reason: RevocationReason) -> CertRecord {
    r.status = CertStatus::Revoked;
    r.revoked_at = Some(at);
    r.revocation_reason = Some(reason);
    r.revoked_by = Some("alice".into());
    r
}

/// Twelve clients in every state, listed out of order.
fn roster() -> Vec<CertRecord> {
    let mut legacy = rec(
        "legacy-batch",
        "90210000000000000000000000000000001",
        datetime!(2024-11-26 08:00 UTC),
        datetime!(2025-12-26 08:00 UTC),
    );
    legacy.client_name = "legacy-batch".into();
    legacy.key_held = false;
    legacy.version = 0;
    vec![
        rec(
            "mobile-app-ios",
            "301182540123498120398123094812309481",
            datetime!(2025-05-01 09:00 UTC),
            datetime!(2026-05-31 09:00 UTC),
        ),
        rec(
            "acme-payments",
            "129873409812734098712340981273409871",
            datetime!(2025-01-10 10:00 UTC),
            datetime!(2026-02-09 10:00 UTC),
        ),
        rec(
            "billing-api",
            "220938409128340912834091283409182340",
            datetime!(2024-05-01 10:00 UTC),
            datetime!(2025-06-04 10:00 UTC),
        ),
        rec(
            "checkout-web",
            "330938409128340912834091283409182341",
            datetime!(2024-05-16 10:00 UTC),
            datetime!(2025-06-20 10:00 UTC),
        ),
        rec(
            "data-export",
            "440938409128340912834091283409182342",
            datetime!(2024-04-15 10:00 UTC),
            datetime!(2025-05-20 10:00 UTC),
        ),
        revoked(
            rec(
                "edge-proxy",
                "550938409128340912834091283409182343",
                datetime!(2025-02-01 10:00 UTC),
                datetime!(2026-03-03 10:00 UTC),
            ),
            datetime!(2025-05-01 14:30 UTC),
            RevocationReason::KeyCompromise,
        ),
        rec(
            "fraud-detector",
            "660938409128340912834091283409182344",
            datetime!(2025-03-27 10:00 UTC),
            datetime!(2026-04-26 10:00 UTC),
        ),
        rec(
            "github-ci",
            "770938409128340912834091283409182345",
            datetime!(2024-05-26 10:00 UTC),
            datetime!(2025-06-30 10:00 UTC),
        ),
        revoked(
            rec(
                "hr-portal",
                "880938409128340912834091283409182346",
                datetime!(2024-12-01 10:00 UTC),
                datetime!(2025-12-31 10:00 UTC),
            ),
            datetime!(2025-04-02 09:15 UTC),
            RevocationReason::CessationOfOperation,
        ),
        rec(
            "inventory-svc",
            "990938409128340912834091283409182347",
            datetime!(2024-12-02 10:00 UTC),
            datetime!(2026-01-01 10:00 UTC),
        ),
        legacy,
        rec(
            "partner-gateway",
            "110938409128340912834091283409182348",
            datetime!(2024-05-03 10:00 UTC),
            datetime!(2025-06-08 10:00 UTC),
        ),
    ]
}

fn cert(
    subject: &str,
    issuer: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    fp: &str,
) -> CertInfo {
    let is_ca = subject != issuer || subject.contains("Root");
    CertInfo {
        subject: subject.into(),
        issuer: issuer.into(),
        cn: subject
            .strip_prefix("CN=")
            .map(|s| s.split(',').next().unwrap_or(s).to_string()),
        serial_decimal: "4242".into(),
        serial_hex: "10:92".into(),
        not_before,
        not_after,
        key_algorithm: "rsa-4096".into(),
        key_bits: 4096,
        signature_algorithm: "sha256WithRSAEncryption".into(),
        fingerprint_sha256: fp.into(),
        is_ca,
        path_len: None,
        key_usage: vec!["keyCertSign".into(), "cRLSign".into()],
        extended_key_usage: vec![],
        subject_alt_names: vec![],
        subject_key_id: None,
        authority_key_id: None,
        self_signed: subject == issuer,
    }
}

const ROOT: &str = "CN=apigw-mtls sandbox Root CA,O=apigw-mtls";
const INTERMEDIATE: &str = "CN=apigw-mtls sandbox Intermediate CA,O=apigw-mtls";

fn root() -> CertInfo {
    cert(
        ROOT,
        ROOT,
        datetime!(2023-01-01 00:00 UTC),
        datetime!(2033-01-01 00:00 UTC),
        "aa11",
    )
}

fn intermediate() -> CertInfo {
    cert(
        INTERMEDIATE,
        ROOT,
        datetime!(2023-01-01 00:00 UTC),
        datetime!(2028-01-01 00:00 UTC),
        "bb22",
    )
}

fn version(id: &str, at: OffsetDateTime, latest: bool) -> TruststoreVersion {
    TruststoreVersion {
        version_id: id.into(),
        etag: format!("\"{id}\""),
        last_modified: at,
        size: 3912,
        is_latest: latest,
    }
}

fn overview() -> Overview {
    let certs = vec![intermediate(), root()];
    Overview {
        ca: Ok(Some(CaSummary {
            root: root(),
            intermediate: Some(intermediate()),
            vault_names: vec![],
        })),
        published: Ok(Some(BundleView {
            pem: String::new(),
            certs: certs.clone(),
            problems: vec![],
            version: Some(version(
                "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
                datetime!(2025-05-02 10:00 UTC),
                true,
            )),
        })),
        built: Ok(BundleView {
            pem: String::new(),
            certs,
            problems: vec![],
            version: None,
        }),
    }
}

fn env() -> EnvConfig {
    EnvConfig {
        name: "sandbox".into(),
        ..EnvConfig::default()
    }
}

fn new_app(read_only: bool) -> App {
    let mut app = App::new(AppInit {
        env: env(),
        env_names: vec!["local".into(), "sandbox".into(), "production".into()],
        backend: "aws 123456789012 eu-west-2".into(),
        operator: "arn:aws:sts::123456789012:assumed-role/SecOps/alice".into(),
        now: NOW,
        read_only,
    });
    update(
        &mut app,
        Action::Resize {
            width: 120,
            height: 30,
        },
    );
    app
}

/// The task id of the first `Run` effect whose op matches.
fn task(fx: &[Effect], want: impl Fn(&Op) -> bool) -> TaskId {
    fx.iter()
        .find_map(|e| match e {
            Effect::Run { task, op } if want(op) => Some(*task),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no matching Run effect in {fx:?}"))
}

fn finish(app: &mut App, task: TaskId, outcome: Outcome) -> Vec<Effect> {
    update(
        app,
        Action::Done {
            task,
            result: Ok(outcome),
        },
    )
}

/// An app with the roster and header loaded.
fn loaded_with(records: Vec<CertRecord>, read_only: bool) -> App {
    let mut app = new_app(read_only);
    let fx = update(&mut app, Action::Start);
    let roster_task = task(&fx, |op| *op == Op::LoadRoster);
    let overview_task = task(&fx, |op| *op == Op::Overview);
    finish(&mut app, roster_task, Outcome::Roster { records, now: NOW });
    finish(
        &mut app,
        overview_task,
        Outcome::Overview(Box::new(overview())),
    );
    assert!(app.ctx.tasks.is_empty());
    app
}

fn loaded() -> App {
    loaded_with(roster(), false)
}

fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
    match action_for(app, KeyEvent::new(code, KeyModifiers::NONE)) {
        Some(a) => update(app, a),
        None => vec![],
    }
}

fn typing(app: &mut App, text: &str) -> Vec<Effect> {
    text.chars()
        .flat_map(|c| press(app, KeyCode::Char(c)))
        .collect()
}

fn visible_ids(app: &App) -> Vec<String> {
    (0..app.roster.data.visible().len())
        .map(|i| app.roster.data.row(i).unwrap().0.client_id.clone())
        .collect()
}

fn selected_id(app: &App) -> String {
    app.selected_record().unwrap().client_id.clone()
}

/// The last 4 digits of the selected client's serial: what the revoke dialog asks for.
fn serial_tail(app: &App) -> String {
    let serial = &app.selected_record().unwrap().serial;
    serial[serial.len() - 4..].to_string()
}

fn select(app: &mut App, client_id: &str) {
    press(app, KeyCode::Char('g'));
    while selected_id(app) != client_id {
        press(app, KeyCode::Char('j'));
    }
}

fn render(app: &App, w: u16, h: u16, colors: bool) -> Buffer {
    let mut app = app.clone();
    update(
        &mut app,
        Action::Resize {
            width: w,
            height: h,
        },
    );
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| draw(f, &app, colors)).unwrap();
    term.backend().buffer().clone()
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    let mut app = app.clone();
    update(
        &mut app,
        Action::Resize {
            width: w,
            height: h,
        },
    );
    term.draw(|f| draw(f, &app, true)).unwrap();
    term.backend().to_string()
}

fn detail_of(app: &App, client_id: &str) -> ClientDetail {
    let record = app
        .roster
        .data
        .records()
        .iter()
        .find(|r| r.client_id == client_id)
        .unwrap()
        .clone();
    let mut info = cert(
        &format!("CN={client_id}"),
        INTERMEDIATE,
        record.not_before.unwrap(),
        record.expiry,
        "3f9a1c0de44b6a7e2b0c9d8e7f6a5b4c3d2e1f00112233445566778899aabbcc",
    );
    info.serial_decimal = record.serial.clone();
    info.serial_hex = "61:C2:13:BB:90:3A:55:1E:07:3C:6D:9F:0A:2E:41:5F".into();
    info.key_algorithm = "ecdsa-p256".into();
    info.key_bits = 256;
    info.signature_algorithm = "sha256WithRSAEncryption".into();
    info.is_ca = false;
    info.key_usage = vec!["digitalSignature".into()];
    info.extended_key_usage = vec!["clientAuth".into()];
    let mut older = rec(
        client_id,
        "77712398471234987123498712349871234",
        datetime!(2024-01-05 10:00 UTC),
        datetime!(2025-02-03 10:00 UTC),
    );
    older = revoked(
        older,
        datetime!(2025-01-10 10:05 UTC),
        RevocationReason::Superseded,
    );
    older.replaced_by = Some(record.serial.clone());
    older.revocation_note = Some("rekeyed, OPS-7".into());
    ClientDetail {
        record: record.clone(),
        info: Some(info),
        chain: Some(ChainReport {
            links: vec![
                LinkCheck {
                    subject: format!("CN={client_id}"),
                    problems: vec![],
                },
                LinkCheck {
                    subject: INTERMEDIATE.into(),
                    problems: vec![],
                },
                LinkCheck {
                    subject: ROOT.into(),
                    problems: vec![],
                },
            ],
            ok: true,
        }),
        issuer_in_truststore: Some(true),
        history: vec![record, older],
    }
}

// ---------------------------------------------------------------- update: roster

#[test]
fn filter_narrows_rows_and_esc_clears_it() {
    let mut app = loaded();
    assert_eq!(app.roster.data.visible().len(), 12);
    press(&mut app, KeyCode::Char('/'));
    assert!(app.ctx.filtering);
    typing(&mut app, "PAY");
    assert_eq!(visible_ids(&app), ["acme-payments"]);
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Backspace);
    typing(&mut app, "-p");
    assert_eq!(
        visible_ids(&app),
        ["acme-payments", "edge-proxy", "hr-portal"]
    );
    press(&mut app, KeyCode::Esc);
    assert!(!app.ctx.filtering);
    assert_eq!(app.roster.filter, "");
    assert_eq!(app.roster.data.visible().len(), 12);
}

#[test]
fn filter_matches_serials_and_is_kept_with_enter_then_cleared_by_esc() {
    let mut app = loaded();
    press(&mut app, KeyCode::Char('/'));
    typing(&mut app, "9021000");
    assert_eq!(visible_ids(&app), ["legacy-batch"]);
    press(&mut app, KeyCode::Enter);
    assert!(!app.ctx.filtering);
    assert_eq!(app.roster.data.visible().len(), 1);
    // Outside typing mode, keys are commands again; Esc clears the kept filter.
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.roster.data.visible().len(), 12);
}

#[test]
fn sort_cycles_through_the_four_orders() {
    let mut app = loaded();
    assert_eq!(app.roster.data.sort_key(), SortKey::ClientId);
    assert_eq!(visible_ids(&app)[0], "acme-payments");
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.roster.data.sort_key(), SortKey::Expiry);
    assert_eq!(
        visible_ids(&app)[..3],
        ["data-export", "billing-api", "partner-gateway"]
    );
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.roster.data.sort_key(), SortKey::Issued);
    assert_eq!(visible_ids(&app)[0], "mobile-app-ios");
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.roster.data.sort_key(), SortKey::Status);
    assert_eq!(visible_ids(&app)[0], "data-export", "expired first");
    assert_eq!(
        visible_ids(&app)[10..],
        ["hr-portal", "edge-proxy"],
        "revoked last"
    );
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.roster.data.sort_key(), SortKey::ClientId);
}

#[test]
fn sorting_keeps_the_selected_client_selected() {
    let mut app = loaded();
    select(&mut app, "github-ci");
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(selected_id(&app), "github-ci");
}

#[test]
fn status_filter_cycles_all_active_expiring_expired_revoked() {
    let mut app = loaded();
    let states = |app: &App| -> Vec<ClientState> {
        (0..app.roster.data.visible().len())
            .map(|i| app.roster.data.row(i).unwrap().1)
            .collect()
    };
    press(&mut app, KeyCode::Char('f'));
    assert_eq!(app.roster.data.status_filter(), StatusFilter::Active);
    assert_eq!(states(&app).len(), 9);
    assert!(
        states(&app)
            .iter()
            .all(|s| matches!(s, ClientState::Active | ClientState::Expiring))
    );
    press(&mut app, KeyCode::Char('f'));
    assert_eq!(app.roster.data.status_filter(), StatusFilter::Expiring);
    assert_eq!(
        visible_ids(&app),
        [
            "billing-api",
            "checkout-web",
            "data-export",
            "github-ci",
            "partner-gateway"
        ]
    );
    press(&mut app, KeyCode::Char('f'));
    assert_eq!(app.roster.data.status_filter(), StatusFilter::Expired);
    assert_eq!(visible_ids(&app), ["data-export"]);
    press(&mut app, KeyCode::Char('f'));
    assert_eq!(visible_ids(&app), ["edge-proxy", "hr-portal"]);
    press(&mut app, KeyCode::Char('f'));
    assert_eq!(app.roster.data.status_filter(), StatusFilter::All);
    assert_eq!(states(&app).len(), 12);
}

#[test]
fn shift_s_reverses_the_sort_and_keeps_the_selection() {
    let mut app = loaded();
    let forward = visible_ids(&app);
    select(&mut app, "github-ci");
    press(&mut app, KeyCode::Char('S'));
    let mut reversed = visible_ids(&app);
    reversed.reverse();
    assert_eq!(reversed, forward);
    assert_eq!(selected_id(&app), "github-ci");
    assert!(screen(&app, 100, 30).contains("CLIENT ID ▼"));
}

#[test]
fn the_summary_shows_the_position_and_counts_one_client_right() {
    let mut app = loaded();
    select(&mut app, "billing-api");
    assert!(screen(&app, 100, 30).contains("│ 2/12"));
    let one = vec![roster().remove(0)];
    let app = loaded_with(one, false);
    let text = screen(&app, 100, 30);
    assert!(text.contains(" 1 client:"), "{text}");
}

#[test]
fn y_copies_the_serial_and_a_message_does_not_follow_to_another_view() {
    let mut app = loaded();
    select(&mut app, "billing-api");
    let serial = app.selected_record().unwrap().serial.clone();
    let fx = press(&mut app, KeyCode::Char('y'));
    assert_eq!(fx, vec![Effect::Copy(serial)]);
    assert!(
        app.ctx
            .status
            .as_ref()
            .unwrap()
            .text
            .contains("copied the serial")
    );
    press(&mut app, KeyCode::Char('t'));
    assert!(
        app.ctx.status.is_none(),
        "the roster's message stays behind"
    );
}

#[test]
fn status_filter_and_text_filter_combine() {
    let mut app = loaded();
    press(&mut app, KeyCode::Char('f'));
    press(&mut app, KeyCode::Char('f'));
    press(&mut app, KeyCode::Char('/'));
    typing(&mut app, "-");
    assert_eq!(
        visible_ids(&app),
        [
            "billing-api",
            "checkout-web",
            "data-export",
            "github-ci",
            "partner-gateway"
        ]
    );
    typing(&mut app, "w");
    assert_eq!(visible_ids(&app), ["checkout-web"]);
}

#[test]
fn scrolling_100k_rows_with_g_and_shift_g() {
    let records: Vec<CertRecord> = (0..100_000)
        .map(|i| {
            rec(
                &format!("client-{i:06}"),
                &format!("{}", 10_u128.pow(30) + i as u128),
                datetime!(2025-01-01 00:00 UTC),
                datetime!(2026-01-01 00:00 UTC) + time::Duration::minutes(i),
            )
        })
        .collect();
    let mut app = loaded_with(records, false);
    let vp = RosterView::viewport(&app.ctx);
    assert_eq!(vp, 24, "30 rows minus 6 rows of chrome");
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(app.roster.selected, 99_999);
    assert_eq!(app.roster.offset, 100_000 - vp);
    assert_eq!(selected_id(&app), "client-099999");
    press(&mut app, KeyCode::PageUp);
    assert_eq!(app.roster.selected, 99_999 - vp);
    press(&mut app, KeyCode::Char('g'));
    assert_eq!((app.roster.selected, app.roster.offset), (0, 0));
    press(&mut app, KeyCode::PageDown);
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.roster.selected, 2 * vp);
    assert_eq!(app.roster.offset, 2 * vp + 1 - vp);
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(app.roster.selected, 2 * vp - 1);
    // Only the visible window is drawn; the last row is on screen after G.
    press(&mut app, KeyCode::Char('G'));
    let text = screen(&app, 120, 30);
    assert!(text.contains("client-099999"), "{text}");
    assert!(!text.contains("client-099975"));
}

#[test]
fn resize_keeps_the_selection_on_screen() {
    let mut app = loaded();
    press(&mut app, KeyCode::Char('G'));
    update(
        &mut app,
        Action::Resize {
            width: 80,
            height: 12,
        },
    );
    let vp = RosterView::viewport(&app.ctx);
    assert!(
        app.roster.selected >= app.roster.offset && app.roster.selected < app.roster.offset + vp
    );
}

// ---------------------------------------------------------------- update: changes

/// Keys from the loaded roster to a revocation of a 15-character client id: find it, open
/// the dialog, pick a reason by its digit, type the serial's last 4 digits, confirm.
#[test]
fn revoking_takes_at_most_12_keys_from_launch() {
    let mut app = loaded();
    let target = "partner-gateway";
    assert_eq!(target.len(), 15);
    let serial = app
        .roster
        .data
        .records()
        .iter()
        .find(|r| r.client_id == target)
        .unwrap()
        .serial
        .clone();
    let mut keys = vec![
        KeyCode::Char('/'),
        KeyCode::Char('g'),
        KeyCode::Char('a'),
        KeyCode::Char('t'),
        KeyCode::Enter,
        KeyCode::Char('x'),
        KeyCode::Char('4'), // superseded
    ];
    keys.extend(serial[serial.len() - 4..].chars().map(KeyCode::Char));
    keys.push(KeyCode::Enter);
    let mut fx = Vec::new();
    for k in &keys {
        fx = press(&mut app, *k);
    }
    assert!(keys.len() <= 12, "{} keys", keys.len());
    task(&fx, |op| {
        *op == Op::Revoke {
            client_id: target.into(),
            reason: RevocationReason::Superseded,
            note: None,
        }
    });
}

#[test]
fn a_reason_digit_picks_that_reason_and_moves_to_the_confirmation() {
    let mut app = loaded();
    select(&mut app, "billing-api");
    press(&mut app, KeyCode::Char('x'));
    for (digit, reason) in [
        ('0', RevocationReason::Unspecified),
        ('8', RevocationReason::AaCompromise),
    ] {
        press(&mut app, KeyCode::BackTab); // back to the note
        press(&mut app, KeyCode::BackTab); // back to the reason
        press(&mut app, KeyCode::Char(digit));
        let Some(Dialog::Revoke(r)) = &app.dialog else {
            panic!("the dialog stays open");
        };
        assert_eq!(r.reason(), reason, "digit {digit}");
        assert_eq!(
            r.focus,
            mtls_console::tui::dialogs::revoke::RevokeFocus::Confirm
        );
        assert!(
            r.typed.is_empty(),
            "the digit is not typed into the confirmation"
        );
    }
}

#[test]
fn revoke_refuses_wrong_serial_digits_and_revokes_with_reason_and_note() {
    let mut app = loaded();
    select(&mut app, "partner-gateway");
    let serial = app.selected_record().unwrap().serial.clone();
    let code = serial[serial.len() - 4..].to_string();
    press(&mut app, KeyCode::Char('x'));
    let Some(Dialog::Revoke(r)) = &app.dialog else {
        panic!("x opens the revoke dialog");
    };
    assert_eq!(
        r.reason(),
        RevocationReason::KeyCompromise,
        "preselected, and said so"
    );
    press(&mut app, KeyCode::Tab); // to the note
    typing(&mut app, "laptop stolen, SEC-9");
    press(&mut app, KeyCode::Enter); // to the confirmation field
    let wrong: String = code
        .chars()
        .map(|c| if c == '9' { '0' } else { '9' })
        .collect();
    assert!(typing(&mut app, &wrong).is_empty());
    let fx = press(&mut app, KeyCode::Enter);
    assert!(fx.is_empty(), "wrong digits revoke nothing: {fx:?}");
    assert!(
        matches!(app.dialog, Some(Dialog::Revoke(_))),
        "the dialog stays open"
    );
    let status = app.ctx.status.clone().unwrap();
    assert_eq!(status.kind, StatusKind::Warn);
    assert!(status.text.contains("last 4 digits"), "{}", status.text);
    for _ in 0..4 {
        press(&mut app, KeyCode::Backspace);
    }
    typing(&mut app, &code);
    let fx = press(&mut app, KeyCode::Enter);
    let t = task(&fx, |op| {
        *op == Op::Revoke {
            client_id: "partner-gateway".into(),
            reason: RevocationReason::KeyCompromise,
            note: Some("laptop stolen, SEC-9".into()),
        }
    });
    assert_eq!(fx.len(), 1);
    // The row shows revoked as soon as ops answers.
    let mut done = app
        .roster
        .data
        .records()
        .iter()
        .find(|r| r.client_id == "partner-gateway")
        .unwrap()
        .clone();
    done = revoked(done, NOW, RevocationReason::KeyCompromise);
    let fx = finish(
        &mut app,
        t,
        Outcome::Revoked {
            record: Box::new(done),
            takes_effect: "within 300 s, by 12:05:00 UTC".into(),
        },
    );
    assert!(app.dialog.is_none());
    assert_eq!(selected_id(&app), "partner-gateway");
    assert_eq!(
        app.roster.data.row(app.roster.selected).unwrap().1,
        ClientState::Revoked
    );
    assert!(
        app.ctx
            .status
            .as_ref()
            .unwrap()
            .text
            .contains("revoked partner-gateway")
    );
    assert!(
        app.ctx
            .status
            .as_ref()
            .unwrap()
            .text
            .ends_with("the gateway denies it within 300 s, by 12:05:00 UTC"),
        "the status says when the revoke bites, from ops"
    );
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Run {
            op: Op::Overview,
            ..
        }
    )));
}

/// The why of a revocation is shown with the cert: reason, when, who and the note.
#[test]
fn details_of_a_revoked_client_give_reason_time_operator_and_note() {
    let mut records = roster();
    let edge = records
        .iter_mut()
        .find(|r| r.client_id == "edge-proxy")
        .unwrap();
    edge.revoked_by = Some("alice".into());
    edge.revocation_note = Some("laptop stolen, SEC-9".into());
    let mut app = loaded_with(records, false);
    select(&mut app, "edge-proxy");
    let fx = press(&mut app, KeyCode::Enter);
    let d = detail_of(&app, "edge-proxy");
    finish(
        &mut app,
        task(&fx, |o| matches!(o, Op::Detail(_))),
        Outcome::Detail(Box::new(d)),
    );
    let text = screen(&app, 120, 36);
    let status = text
        .lines()
        .find(|l| l.contains("Status"))
        .expect("a status line");
    for want in ["revoked", "by alice", "laptop stolen, SEC-9", "20"] {
        assert!(status.contains(want), "{want} missing from {status}");
    }
}

#[test]
fn revoking_an_already_revoked_client_is_refused() {
    let mut app = loaded();
    select(&mut app, "edge-proxy");
    press(&mut app, KeyCode::Char('x'));
    assert!(app.dialog.is_none());
    assert!(app.ctx.status.unwrap().text.contains("already revoked"));
}

#[test]
fn read_only_refuses_every_mutating_key_with_a_message() {
    let mut app = loaded_with(roster(), true);
    for key in ['i', 'r', 'x'] {
        app.ctx.status = None;
        let fx = press(&mut app, KeyCode::Char(key));
        assert!(fx.is_empty());
        assert!(app.dialog.is_none(), "{key} opened a dialog");
        let status = app
            .ctx
            .status
            .clone()
            .unwrap_or_else(|| panic!("{key}: no message"));
        assert!(
            status.text.starts_with("read-only:"),
            "{key}: {}",
            status.text
        );
        assert!(status.text.contains("--read-only"), "{}", status.text);
    }
    // Exporting the public cert and chain changes nothing: offered, without the key.
    press(&mut app, KeyCode::Char('e'));
    let Some(Dialog::Export(x)) = &app.dialog else {
        panic!("e opens the export dialog read-only");
    };
    assert_eq!(x.kind, ExportKind::ReadOnly);
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('t'));
    press(&mut app, KeyCode::Char('p'));
    assert!(app.dialog.is_none());
    assert!(app.ctx.status.unwrap().text.contains("publishing"));
}

#[test]
fn an_environment_marked_read_only_is_read_only_too() {
    let mut app = App::new(AppInit {
        env: EnvConfig {
            read_only: true,
            ..env()
        },
        env_names: vec![],
        backend: "local".into(),
        operator: "alice".into(),
        now: NOW,
        read_only: false,
    });
    assert!(app.ctx.read_only);
    update(&mut app, Action::OpenIssue);
    assert!(
        app.ctx
            .status
            .unwrap()
            .text
            .contains("configured read_only")
    );
}

#[test]
fn q_quits_but_esc_first_closes_a_dialog() {
    let mut app = loaded();
    press(&mut app, KeyCode::Char('i'));
    assert!(matches!(app.dialog, Some(Dialog::Issue(_))));
    press(&mut app, KeyCode::Char('q'));
    assert!(!app.quit, "q is typed into the form");
    press(&mut app, KeyCode::Esc);
    assert!(app.dialog.is_none());
    assert!(!app.quit);
    press(&mut app, KeyCode::Char('?'));
    assert!(app.help);
    press(&mut app, KeyCode::Esc);
    assert!(!app.help && !app.quit);
    press(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

#[test]
fn ctrl_c_quits_from_anywhere() {
    let mut app = loaded();
    press(&mut app, KeyCode::Char('i'));
    let a = action_for(
        &app,
        KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
    )
    .unwrap();
    update(&mut app, a);
    assert!(app.quit);
}

#[test]
fn issue_form_validates_as_you_type_and_issues_after_preview() {
    let mut app = loaded();
    press(&mut app, KeyCode::Char('i'));
    typing(&mut app, "new client");
    let Some(Dialog::Issue(f)) = &app.dialog else {
        panic!()
    };
    assert_eq!(f.cn, "new client", "CN follows the client_id");
    // Enter walks the fields, then refuses the invalid name.
    for _ in 0..4 {
        press(&mut app, KeyCode::Enter);
    }
    let Some(Dialog::Issue(f)) = &app.dialog else {
        panic!()
    };
    assert_eq!(f.focus, mtls_console::tui::dialogs::issue::IssueField::Name);
    assert!(
        app.ctx.status.as_ref().unwrap().text.contains("a space"),
        "{:?}",
        app.ctx.status
    );
    for _ in 0..7 {
        press(&mut app, KeyCode::Backspace);
    }
    typing(&mut app, "-client");
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    for _ in 0..3 {
        press(&mut app, KeyCode::Backspace);
    }
    typing(&mut app, "9x0");
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Right); // ecdsa-p384
    press(&mut app, KeyCode::Enter);
    let Some(Dialog::Issue(f)) = &app.dialog else {
        panic!()
    };
    assert_eq!(f.days, "90", "only digits are taken");
    assert_eq!(
        f.step,
        mtls_console::tui::dialogs::issue::IssueStep::Preview
    );
    let fx = press(&mut app, KeyCode::Enter);
    task(&fx, |op| {
        *op == Op::Issue(IssueRequest {
            name: "new-client".into(),
            cn: None,
            days: 90,
            key: KeyRequest::Generate(KeyAlgorithm::EcdsaP384),
        })
    });
}

#[test]
fn issue_form_refuses_a_cn_that_differs_from_the_client_id() {
    let mut app = loaded();
    press(&mut app, KeyCode::Char('i'));
    typing(&mut app, "abc");
    press(&mut app, KeyCode::Tab);
    typing(&mut app, "d");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    assert!(
        app.ctx
            .status
            .as_ref()
            .unwrap()
            .text
            .contains("CN must equal the client_id")
    );
    let Some(Dialog::Issue(f)) = &app.dialog else {
        panic!()
    };
    assert_eq!(f.step, mtls_console::tui::dialogs::issue::IssueStep::Edit);
}

#[test]
fn a_successful_issue_adds_the_row_and_offers_export() {
    let mut app = loaded();
    press(&mut app, KeyCode::Char('i'));
    typing(&mut app, "zeta");
    for _ in 0..5 {
        press(&mut app, KeyCode::Enter);
    }
    let fx = app.ctx.tasks.clone();
    let t = fx.iter().find(|t| matches!(t.op, Op::Issue(_))).unwrap().id;
    let record = rec("zeta", "12345", NOW, NOW + time::Duration::days(395));
    let info = cert(
        "CN=zeta",
        INTERMEDIATE,
        NOW,
        NOW + time::Duration::days(395),
        "cc",
    );
    finish(
        &mut app,
        t,
        Outcome::Issued {
            record: Box::new(record),
            info: Box::new(info),
        },
    );
    assert_eq!(app.roster.data.len(), 13);
    assert_eq!(selected_id(&app), "zeta");
    let Some(Dialog::Export(x)) = &app.dialog else {
        panic!("no export offer")
    };
    assert_eq!(x.dir, "./zeta");
    // The CLI's passphrase rule holds here too: a short one is refused before any export.
    press(&mut app, KeyCode::Tab);
    for c in "abc".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    assert!(
        !app.ctx
            .tasks
            .iter()
            .any(|t| matches!(t.op, Op::Export { .. })),
        "no export started"
    );
    let warned = app.ctx.status.as_ref().unwrap().text.clone();
    assert!(warned.contains("at least 8 characters"), "{warned}");
    for _ in 0..3 {
        press(&mut app, KeyCode::Backspace);
    }
    press(&mut app, KeyCode::Tab);
    let fx = press(&mut app, KeyCode::Enter);
    let t = task(
        &fx,
        |op| matches!(op, Op::Export { client_id, passphrase: None, .. } if client_id == "zeta"),
    );
    let files = ExportedFiles {
        dir: "./zeta".into(),
        files: vec!["./zeta/client.pem".into(), "./zeta/chain.pem".into()],
        key_withheld: None,
    };
    finish(&mut app, t, Outcome::Exported(files));
    assert!(app.dialog.is_none());
    assert_eq!(
        app.ctx.status.unwrap().text,
        "exported client.pem, chain.pem to ./zeta"
    );
}

#[test]
fn reissue_confirms_before_running() {
    let mut app = loaded();
    select(&mut app, "github-ci");
    press(&mut app, KeyCode::Char('r'));
    press(&mut app, KeyCode::Char('j')); // grace
    press(&mut app, KeyCode::Right); // 24h -> 7d
    assert!(
        press(&mut app, KeyCode::Enter).is_empty(),
        "first Enter shows the summary"
    );
    let fx = press(&mut app, KeyCode::Enter);
    task(&fx, |op| {
        *op == Op::Reissue {
            client_id: "github-ci".into(),
            // The key is kept unless the operator asks for a new one, as `reissue` does.
            rekey: false,
            grace: Some(time::Duration::days(7)),
        }
    });
}

#[test]
fn the_issue_form_warns_as_you_type_about_a_client_that_already_has_a_cert() {
    let mut app = loaded();
    press(&mut app, KeyCode::Char('i'));
    typing(&mut app, "billing-ap");
    assert!(!screen(&app, 120, 30).contains("already has an active cert"));
    typing(&mut app, "i");
    let text = screen(&app, 120, 30);
    assert!(
        text.contains("billing-api already has an active cert"),
        "{text}"
    );
    // A revoked client may be issued again without a warning.
    for _ in 0.."billing-api".len() {
        press(&mut app, KeyCode::Backspace);
    }
    typing(&mut app, "edge-proxy");
    assert!(!screen(&app, 120, 30).contains("already has an active cert"));
}

#[test]
fn a_pkcs12_passphrase_must_be_typed_twice_alike() {
    let mut app = loaded();
    select(&mut app, "github-ci");
    press(&mut app, KeyCode::Char('e'));
    press(&mut app, KeyCode::Tab);
    typing(&mut app, "correct horse");
    press(&mut app, KeyCode::Tab);
    typing(&mut app, "correct hors");
    assert!(press(&mut app, KeyCode::Enter).is_empty());
    let warned = app.ctx.status.as_ref().unwrap().text.clone();
    assert!(warned.contains("differ"), "{warned}");
    typing(&mut app, "e");
    let fx = press(&mut app, KeyCode::Enter);
    task(&fx, |op| {
        matches!(op, Op::Export { client_id, passphrase: Some(p), .. }
            if client_id == "github-ci" && p.as_str() == "correct horse")
    });
}

#[test]
fn a_csr_client_exports_cert_and_chain_without_a_pkcs12_field() {
    let mut app = loaded();
    select(&mut app, "legacy-batch");
    press(&mut app, KeyCode::Char('e'));
    let Some(Dialog::Export(x)) = &app.dialog else {
        panic!("e opens the export dialog");
    };
    assert_eq!(x.kind, ExportKind::NoKeyHeld);
    press(&mut app, KeyCode::Tab);
    typing(&mut app, "x");
    let Some(Dialog::Export(x)) = &app.dialog else {
        panic!("still open");
    };
    assert!(
        x.passphrase.is_empty(),
        "there is no passphrase field to type into"
    );
    assert_eq!(x.dir, "./legacy-batchx");
}

#[test]
fn a_rekey_offers_to_export_the_new_key() {
    let mut app = loaded();
    select(&mut app, "github-ci");
    press(&mut app, KeyCode::Char('r'));
    press(&mut app, KeyCode::Left); // keep the key -> new key pair
    press(&mut app, KeyCode::Enter);
    let fx = press(&mut app, KeyCode::Enter);
    let t = task(
        &fx,
        |op| matches!(op, Op::Reissue { client_id, rekey: true, .. } if client_id == "github-ci"),
    );
    let old = app.selected_record().unwrap().clone();
    let mut new = old.clone();
    new.serial = "4242424242".into();
    finish(
        &mut app,
        t,
        Outcome::Reissued {
            old: Box::new(old),
            new: Box::new(new),
        },
    );
    let Some(Dialog::Export(x)) = &app.dialog else {
        panic!("no export offer after a rekey");
    };
    assert_eq!(x.client_id, "github-ci");
    assert!(
        x.intro.as_deref().unwrap().contains("new key"),
        "{:?}",
        x.intro
    );
}

#[test]
fn errors_are_shown_in_full_and_dismissed_with_esc() {
    let mut app = loaded();
    let fx = press(&mut app, KeyCode::Char('R'));
    let t = task(&fx, |op| *op == Op::LoadRoster);
    let long = "AccessDenied: User arn:aws:sts::123456789012:assumed-role/ReadOnly/bob is not authorized to perform: dynamodb:Scan on resource: arn:aws:dynamodb:eu-west-2:123456789012:table/mtls-clients-metadata";
    update(
        &mut app,
        Action::Done {
            task: t,
            result: Err(long.into()),
        },
    );
    assert_eq!(
        app.ctx.error.as_deref(),
        Some(format!("loading roster failed: {long}").as_str())
    );
    assert_eq!(app.roster.data.len(), 12, "the old rows stay");
    press(&mut app, KeyCode::Char('q'));
    assert!(!app.quit, "the error popup takes the key first");
    assert!(app.ctx.error.is_none());
}

#[test]
fn cancel_aborts_work_in_flight_and_ignores_late_results() {
    let mut app = loaded();
    select(&mut app, "billing-api");
    let code = serial_tail(&app);
    press(&mut app, KeyCode::Char('x'));
    press(&mut app, KeyCode::Enter);
    typing(&mut app, &code);
    let fx = press(&mut app, KeyCode::Enter);
    let t = task(&fx, |op| matches!(op, Op::Revoke { .. }));
    assert!(app.busy());
    let fx = press(&mut app, KeyCode::Char('c'));
    assert_eq!(fx, vec![Effect::Abort(t)]);
    assert!(!app.busy());
    let text = app.ctx.status.clone().unwrap().text;
    assert!(
        text.starts_with("cancelled: revoking billing-api"),
        "{text}"
    );
    assert!(text.contains("may already have been applied"), "{text}");
    let r = revoked(
        rec("billing-api", "1", NOW, NOW),
        NOW,
        RevocationReason::Unspecified,
    );
    finish(
        &mut app,
        t,
        Outcome::Revoked {
            record: Box::new(r),
            takes_effect: "on the next request".into(),
        },
    );
    let row = app
        .roster
        .data
        .records()
        .iter()
        .find(|r| r.client_id == "billing-api")
        .unwrap();
    assert_eq!(
        row.status,
        CertStatus::Active,
        "a cancelled task's result is dropped"
    );
}

#[test]
fn a_new_load_replaces_the_one_in_flight() {
    let mut app = loaded();
    let first = press(&mut app, KeyCode::Char('R'));
    let t1 = task(&first, |op| *op == Op::LoadRoster);
    let second = press(&mut app, KeyCode::Char('R'));
    assert!(second.contains(&Effect::Abort(t1)));
    assert_eq!(
        app.ctx
            .tasks
            .iter()
            .filter(|t| t.op == Op::LoadRoster)
            .count(),
        1
    );
}

#[test]
fn enter_opens_details_and_loads_them() {
    let mut app = loaded();
    select(&mut app, "acme-payments");
    let fx = press(&mut app, KeyCode::Enter);
    let t = task(&fx, |op| *op == Op::Detail("acme-payments".into()));
    assert_eq!(app.view, View::Detail);
    let d = detail_of(&app, "acme-payments");
    finish(&mut app, t, Outcome::Detail(Box::new(d)));
    assert!(matches!(app.detail.as_ref().unwrap().load, Load::Ready(_)));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.view, View::Roster);
}

#[test]
fn switching_environment_opens_the_picked_one() {
    let mut app = loaded();
    press(&mut app, KeyCode::Char('E'));
    press(&mut app, KeyCode::Char('j'));
    let fx = press(&mut app, KeyCode::Enter);
    let t = task(&fx, |op| *op == Op::SwitchEnv("production".into()));
    let sw = mtls_console::tui::action::EnvSwitch {
        env: EnvConfig {
            name: "production".into(),
            ..EnvConfig::default()
        },
        description: "aws 210987654321 eu-west-1".into(),
        operator: "bob".into(),
        now: NOW,
    };
    let fx = finish(&mut app, t, Outcome::EnvSwitched(Box::new(sw)));
    assert_eq!(app.ctx.env.name, "production");
    assert_eq!(app.roster.data.len(), 0);
    task(&fx, |op| *op == Op::LoadRoster);
    task(&fx, |op| *op == Op::Overview);
}

#[test]
fn onboarding_offers_bootstrap_and_demo_data() {
    let mut app = new_app(false);
    let fx = update(&mut app, Action::Start);
    finish(
        &mut app,
        task(&fx, |o| *o == Op::LoadRoster),
        Outcome::Roster {
            records: vec![],
            now: NOW,
        },
    );
    let none = Overview {
        ca: Ok(None),
        published: Ok(None),
        built: Err("no CA".into()),
    };
    finish(
        &mut app,
        task(&fx, |o| *o == Op::Overview),
        Outcome::Overview(Box::new(none)),
    );
    assert!(app.onboarding());
    press(&mut app, KeyCode::Char('d'));
    let fx = press(&mut app, KeyCode::Char('y'));
    task(&fx, |o| *o == Op::Demo);
}

#[test]
fn audit_filter_narrows_records() {
    let mut app = loaded();
    let fx = press(&mut app, KeyCode::Char('a'));
    let t = task(&fx, |o| matches!(o, Op::Audit(_)));
    finish(&mut app, t, Outcome::Audit(audit_records()));
    assert_eq!(app.audit.visible.len(), 6);
    press(&mut app, KeyCode::Char('/'));
    typing(&mut app, "REVOKE");
    assert_eq!(app.audit.visible.len(), 2);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.audit.visible.len(), 6);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.view, View::Roster);
}

#[test]
fn audit_filter_terms_pick_a_field_each() {
    let mut app = loaded();
    let fx = press(&mut app, KeyCode::Char('a'));
    let t = task(&fx, |o| matches!(o, Op::Audit(_)));
    finish(&mut app, t, Outcome::Audit(audit_records()));
    press(&mut app, KeyCode::Char('/'));
    typing(&mut app, "action:revoke operator:bob");
    let targets: Vec<String> = app
        .audit
        .visible
        .iter()
        .map(|&i| app.audit.records()[i as usize].target.clone())
        .collect();
    assert_eq!(targets, ["hr-portal"]);
    for _ in 0.."action:revoke operator:bob".len() {
        press(&mut app, KeyCode::Backspace);
    }
    typing(&mut app, "client:acme");
    assert_eq!(app.audit.visible.len(), 1);
    for _ in 0.."client:acme".len() {
        press(&mut app, KeyCode::Backspace);
    }
    typing(&mut app, "date:2025-05-31");
    assert_eq!(app.audit.visible.len(), 1);
}

#[test]
fn an_audit_record_opens_in_full_with_the_whole_operator_arn() {
    let mut records = audit_records();
    let arn = "arn:aws:sts::123456789012:assumed-role/SecOps-Responders/alice@example.com";
    records[0].operator = arn.into();
    let mut app = loaded();
    let fx = press(&mut app, KeyCode::Char('a'));
    let t = task(&fx, |o| matches!(o, Op::Audit(_)));
    finish(&mut app, t, Outcome::Audit(records));
    let table = screen(&app, 140, 24);
    let row = table.lines().find(|l| l.contains("edge-proxy")).unwrap();
    assert!(
        row.contains("SecOps-Responders/alice@example.com") && !row.contains("arn:aws"),
        "the role and session, not the ARN prefix: {row}"
    );
    press(&mut app, KeyCode::Enter);
    assert!(app.audit.open);
    let full = screen(&app, 140, 24);
    assert!(full.contains(arn), "{full}");
    assert!(full.contains("Record id"), "{full}");
    press(&mut app, KeyCode::Esc);
    assert!(!app.audit.open);
    assert_eq!(app.view, View::Audit, "Esc first closes the record");
}

// ---------------------------------------------------------------- snapshots

fn audit_records() -> Vec<AuditRecord> {
    let r = |min: i64, op: &str, action: &str, target: &str, outcome, detail: &str| AuditRecord {
        id: format!("{min}-ab12"),
        at: NOW - time::Duration::minutes(min),
        operator: op.into(),
        action: action.into(),
        target: target.into(),
        outcome,
        detail: detail.into(),
    };
    vec![
        r(
            5,
            "alice",
            "revoke",
            "edge-proxy",
            AuditOutcome::Ok,
            "reason keyCompromise, serial 5509…",
        ),
        r(
            30,
            "bob",
            "revoke",
            "hr-portal",
            AuditOutcome::Conflict,
            "item changed since it was read (version 3)",
        ),
        r(
            60,
            "alice",
            "issue",
            "mobile-app-ios",
            AuditOutcome::Ok,
            "serial 3011…, ecdsa-p256, 395 days",
        ),
        r(
            120,
            "alice",
            "truststore.publish",
            "truststore.pem",
            AuditOutcome::Ok,
            "version 3HL4kqtJlcpX",
        ),
        r(
            600,
            "carol",
            "export",
            "acme-payments",
            AuditOutcome::Ok,
            "cert, chain, key, p12 to ./acme-payments",
        ),
        r(
            900,
            "bob",
            "issue",
            "bad id",
            AuditOutcome::Failed,
            "' ' is not allowed in a client_id",
        ),
    ]
}

#[test]
fn snapshot_roster() {
    insta::assert_snapshot!(screen(&loaded(), 120, 30));
}

#[test]
fn snapshot_roster_80x24_filtered() {
    let mut app = loaded();
    press(&mut app, KeyCode::Char('/'));
    typing(&mut app, "a");
    press(&mut app, KeyCode::Down);
    insta::assert_snapshot!(screen(&app, 80, 24));
}

#[test]
fn snapshot_roster_80x24() {
    let mut app = loaded();
    press(&mut app, KeyCode::Char('s'));
    insta::assert_snapshot!(screen(&app, 80, 24));
}

#[test]
fn snapshot_read_only_header() {
    insta::assert_snapshot!(screen(&loaded_with(roster(), true), 100, 16));
}

#[test]
fn snapshot_detail_with_chain() {
    let mut app = loaded();
    select(&mut app, "acme-payments");
    let fx = press(&mut app, KeyCode::Enter);
    let d = detail_of(&app, "acme-payments");
    finish(
        &mut app,
        task(&fx, |o| matches!(o, Op::Detail(_))),
        Outcome::Detail(Box::new(d)),
    );
    insta::assert_snapshot!(screen(&app, 100, 36));
}

#[test]
fn snapshot_issue_form() {
    let mut app = loaded();
    press(&mut app, KeyCode::Char('i'));
    typing(&mut app, "orders-api");
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    insta::assert_snapshot!(screen(&app, 100, 30));
}

#[test]
fn snapshot_issue_form_invalid_and_csr() {
    let mut app = loaded();
    press(&mut app, KeyCode::Char('i'));
    typing(&mut app, "orders,api");
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Left);
    press(&mut app, KeyCode::Tab);
    typing(&mut app, "/tmp/orders.csr");
    insta::assert_snapshot!(screen(&app, 100, 30));
}

#[test]
fn snapshot_issue_preview() {
    let mut app = loaded();
    press(&mut app, KeyCode::Char('i'));
    typing(&mut app, "orders-api");
    for _ in 0..4 {
        press(&mut app, KeyCode::Enter);
    }
    insta::assert_snapshot!(screen(&app, 100, 30));
}

#[test]
fn snapshot_revoke_dialog() {
    let mut app = loaded();
    select(&mut app, "partner-gateway");
    press(&mut app, KeyCode::Char('x'));
    press(&mut app, KeyCode::Tab);
    typing(&mut app, "laptop stolen, SEC-9");
    press(&mut app, KeyCode::Enter);
    typing(&mut app, "23");
    insta::assert_snapshot!(screen(&app, 100, 32));
}

#[test]
fn snapshot_reissue_dialog() {
    let mut app = loaded();
    select(&mut app, "github-ci");
    press(&mut app, KeyCode::Char('r'));
    insta::assert_snapshot!(screen(&app, 100, 30));
}

#[test]
fn snapshot_truststore_view() {
    let mut app = loaded();
    let fx = press(&mut app, KeyCode::Char('t'));
    let mut o = overview();
    // The published bundle still holds an older intermediate.
    let mut old = intermediate();
    old.subject = "CN=apigw-mtls sandbox Intermediate CA 2020,O=apigw-mtls".into();
    old.not_after = datetime!(2025-07-15 00:00 UTC);
    old.fingerprint_sha256 = "0ld1".into();
    if let Ok(Some(p)) = &mut o.published {
        p.certs = vec![old.clone(), root()];
        p.problems = vec![BundleProblem {
            subject: Some(old.subject.clone()),
            message: "expires within 90 days".into(),
            fatal: false,
        }];
    }
    finish(
        &mut app,
        task(&fx, |o| *o == Op::Overview),
        Outcome::Overview(Box::new(o)),
    );
    let history = vec![
        version(
            "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
            datetime!(2025-05-02 10:00 UTC),
            true,
        ),
        version(
            "Qm3aT0Ldp2kX9c0HqZ9X5aD6yHk1n4rB",
            datetime!(2024-11-20 16:45 UTC),
            false,
        ),
        version("null", datetime!(2023-01-02 09:00 UTC), false),
    ];
    finish(
        &mut app,
        task(&fx, |o| *o == Op::TruststoreHistory),
        Outcome::TruststoreHistory(history),
    );
    press(&mut app, KeyCode::Char('j'));
    insta::assert_snapshot!(screen(&app, 110, 30));
}

#[test]
fn snapshot_truststore_rollback_confirmation() {
    let mut app = loaded();
    let fx = press(&mut app, KeyCode::Char('t'));
    finish(
        &mut app,
        task(&fx, |o| *o == Op::Overview),
        Outcome::Overview(Box::new(overview())),
    );
    let history = vec![
        version("v2", datetime!(2025-05-02 10:00 UTC), true),
        version("v1", datetime!(2024-11-20 16:45 UTC), false),
    ];
    finish(
        &mut app,
        task(&fx, |o| *o == Op::TruststoreHistory),
        Outcome::TruststoreHistory(history),
    );
    press(&mut app, KeyCode::Char('b'));
    assert!(
        app.dialog.is_none(),
        "the current version cannot be rolled back to"
    );
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('b'));
    let screen = screen(&app, 100, 24);
    let fx = press(&mut app, KeyCode::Char('y'));
    task(&fx, |o| *o == Op::Rollback("v1".into()));
    insta::assert_snapshot!(screen);
}

#[test]
fn snapshot_audit_view() {
    let mut app = loaded();
    let fx = press(&mut app, KeyCode::Char('a'));
    finish(
        &mut app,
        task(&fx, |o| matches!(o, Op::Audit(_))),
        Outcome::Audit(audit_records()),
    );
    press(&mut app, KeyCode::Char('j'));
    insta::assert_snapshot!(screen(&app, 120, 20));
}

#[test]
fn snapshot_onboarding() {
    let mut app = new_app(false);
    let fx = update(&mut app, Action::Start);
    finish(
        &mut app,
        task(&fx, |o| *o == Op::LoadRoster),
        Outcome::Roster {
            records: vec![],
            now: NOW,
        },
    );
    let none = Overview {
        ca: Ok(None),
        published: Ok(None),
        built: Err("no CA".into()),
    };
    finish(
        &mut app,
        task(&fx, |o| *o == Op::Overview),
        Outcome::Overview(Box::new(none)),
    );
    insta::assert_snapshot!(screen(&app, 80, 24));
}

#[test]
fn snapshot_help_overlay() {
    let mut app = loaded();
    press(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!(screen(&app, 100, 30));
}

#[test]
fn snapshot_error_popup_and_progress() {
    let mut app = loaded();
    let fx = press(&mut app, KeyCode::Char('R'));
    let t = task(&fx, |op| *op == Op::LoadRoster);
    update(&mut app, Action::Done {
        task: t,
        result: Err("access denied: dynamodb:Scan on table mtls-clients-metadata; grant it to the role SecOps or use an operator role".into()),
    });
    for _ in 0..25 {
        update(&mut app, Action::Tick);
    }
    insta::assert_snapshot!(screen(&app, 80, 24));
}

#[test]
fn snapshot_too_small() {
    insta::assert_snapshot!(screen(&loaded(), 50, 10));
}

// ---------------------------------------------------------------- NO_COLOR

/// The row of the buffer holding `text`, and the x where it starts.
fn find(buf: &Buffer, text: &str) -> (u16, u16) {
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width)
            .map(|x| buf[(x, y)].symbol().to_string())
            .collect();
        if let Some(byte) = line.find(text) {
            return (line[..byte].chars().count() as u16, y);
        }
    }
    panic!("{text} not on screen");
}

#[test]
fn expired_rows_are_red_with_colours_and_bold_without() {
    let app = loaded();
    let with = render(&app, 100, 24, true);
    let (x, y) = find(&with, "data-export");
    assert_eq!(with[(x, y)].fg, Color::Red);
    let (x, y) = find(&with, "checkout-web");
    assert_eq!(with[(x, y)].fg, Color::Yellow);

    let without = render(&app, 100, 24, false);
    let (x, y) = find(&without, "data-export");
    assert_eq!(without[(x, y)].fg, Color::Reset);
    assert!(without[(x, y)].modifier.contains(Modifier::BOLD));
    let (x, y) = find(&without, "edge-proxy");
    assert!(without[(x, y)].modifier.contains(Modifier::DIM));
    for cell in without.content() {
        assert_eq!(
            (cell.fg, cell.bg),
            (Color::Reset, Color::Reset),
            "a colour without colours"
        );
    }
}

#[test]
fn no_screen_uses_colour_when_colours_are_off() {
    let mut app = loaded_with(roster(), true);
    for key in ['?', 't'] {
        press(&mut app, KeyCode::Char(key));
        let buf = render(&app, 100, 30, false);
        assert!(
            buf.content()
                .iter()
                .all(|c| c.fg == Color::Reset && c.bg == Color::Reset)
        );
        press(&mut app, KeyCode::Esc);
    }
}

#[test]
fn audit_paging_matches_the_rows_drawn() {
    let mut app = loaded();
    let fx = press(&mut app, KeyCode::Char('a'));
    let records: Vec<AuditRecord> = (0..50)
        .map(|i| AuditRecord {
            id: format!("{i}"),
            at: NOW - time::Duration::minutes(i),
            operator: "alice".into(),
            action: "issue".into(),
            target: format!("target-{i:02}"),
            outcome: AuditOutcome::Ok,
            detail: String::new(),
        })
        .collect();
    finish(
        &mut app,
        task(&fx, |o| matches!(o, Op::Audit(_))),
        Outcome::Audit(records),
    );
    update(
        &mut app,
        Action::Resize {
            width: 100,
            height: 20,
        },
    );
    let vp = AuditView::viewport(&app.ctx);
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(app.audit.offset, 50 - vp);
    let text = screen(&app, 100, 20);
    assert!(text.contains(&format!("target-{:02}", 50 - vp)), "{text}");
    assert!(!text.contains(&format!("target-{:02} ", 49 - vp)), "{text}");
    assert!(text.contains("target-49"), "{text}");
}

fn rotation_overview() -> RotationOverview {
    let journal = RotationJournal {
        id: "intermediate-20250601T100000".into(),
        kind: RotationKind::Intermediate,
        phase: RotationPhase::Moved,
        rolling_back: false,
        started_at: datetime!(2025-06-01 10:00 UTC),
        started_by: "alice".into(),
        updated_at: datetime!(2025-06-01 10:05 UTC),
        grace_secs: 7 * 86_400,
        rekey: false,
        client_days: None,
        old_issuer: "aa".repeat(32),
        old_issuer_subject: "CN=apigw-mtls sandbox Intermediate CA,O=apigw-mtls".into(),
        new_issuer: Some("bb".repeat(32)),
        new_issuer_subject: Some(
            "CN=apigw-mtls sandbox Intermediate CA (2025-06-01 10:00),O=apigw-mtls".into(),
        ),
        selection: ClientSelection::All,
        first_move_at: Some(datetime!(2025-06-01 10:01 UTC)),
        grace_until: Some(datetime!(2025-06-08 10:05 UTC)),
        published_version: Some("v3".into()),
        moved: 12,
        stored_version: 0,
    };
    let plan = RotationPlan {
        kind: RotationKind::Intermediate,
        journal: Some(journal.clone()),
        steps: vec![
            RotationStep {
                phase: RotationPhase::Promoted,
                detail: "after the grace period (1w after the last move): revoke the superseded \
                         certs and make the new CA the vault's CA"
                    .into(),
            },
            RotationStep {
                phase: RotationPhase::Done,
                detail: "publish the truststore without the old CA (domain pointed at it) and \
                         remove the next-* slots"
                    .into(),
            },
        ],
        clients_to_move: 0,
        skipped: Vec::new(),
        vault_writes: 0,
    };
    RotationOverview {
        journal: Some(journal),
        plan: Ok(plan),
    }
}

#[test]
fn snapshot_rotation_view_next_phase_confirmation_and_progress() {
    let mut app = loaded();
    let fx = press(&mut app, KeyCode::Char('o'));
    assert_eq!(app.view, View::Rotation);
    finish(
        &mut app,
        task(&fx, |o| *o == Op::RotationOverview),
        Outcome::Rotation(Box::new(rotation_overview())),
    );
    let view = screen(&app, 110, 30);
    // A root rotation cannot start while this one runs.
    press(&mut app, KeyCode::Char('O'));
    assert!(app.dialog.is_none());
    press(&mut app, KeyCode::Char('n'));
    assert!(matches!(app.dialog, Some(Dialog::Confirm(_))));
    let confirm = screen(&app, 110, 30);
    let fx = press(&mut app, KeyCode::Char('y'));
    let id = task(&fx, |o| {
        *o == Op::RotationStep {
            kind: RotationKind::Intermediate,
            start: false,
        }
    });
    update(
        &mut app,
        Action::Progress {
            task: id,
            done: 3,
            total: 12,
        },
    );
    let progress = screen(&app, 110, 30);
    assert!(progress.contains("3/12"), "{progress}");
    insta::assert_snapshot!("rotation_view", view);
    insta::assert_snapshot!("rotation_next_confirmation", confirm);
}

#[test]
fn rotations_are_refused_read_only() {
    let mut app = loaded_with(roster(), true);
    let fx = press(&mut app, KeyCode::Char('o'));
    let mut overview = rotation_overview();
    overview.journal = None;
    finish(
        &mut app,
        task(&fx, |o| *o == Op::RotationOverview),
        Outcome::Rotation(Box::new(overview)),
    );
    for key in ['n', 'O', 'u'] {
        let fx = press(&mut app, KeyCode::Char(key));
        assert!(fx.is_empty() && app.dialog.is_none(), "{key}");
    }
    assert_eq!(app.ctx.status.as_ref().unwrap().kind, StatusKind::Warn);
}
