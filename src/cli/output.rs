//! What the CLI prints: aligned text for people, JSON with --json for scripts.

use std::io::IsTerminal;
use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;

use super::Cli;
use crate::model::{AuditRecord, CertRecord};
use crate::ops::{
    BulkReport, BundleView, CaSummary, CheckStatus, ClientDetail, Ctx, DoctorCheck, ExportedFiles,
    IssueOutcome, MtlsChange, Progress, Published, ReissueOutcome, RepairReport, RevokeByCaReport,
    RevokeOutcome, RotationJournal, RotationPlan, RotationReport, TruststoreCheck, Verdict,
};
use crate::pki::CertInfo;
use crate::store::TruststoreVersion;
use crate::timefmt::format as ts;

/// Prints one line on stdout through [`write_line`].
macro_rules! outln {
    ($($arg:tt)*) => {
        write_line(format_args!($($arg)*))
    };
}

/// Writes one line to stdout. Control characters (in stored notes, subjects, names: anything
/// another tool or person may have written) are shown escaped, never sent to the terminal;
/// only the line breaks of the text itself pass. A closed pipe (`| head`) ends the process
/// quietly with exit 0, as Unix tools do; any other failure to write ends it with exit 8.
fn write_line(args: std::fmt::Arguments<'_>) {
    let text = args.to_string();
    let mut line = escape_controls(&text, true).into_owned();
    line.push('\n');
    raw(line.as_bytes());
}

/// `text` with every control character written as an escape (`\x1b`, `\u{9b}`); line
/// breaks too unless `keep_newlines`.
pub(crate) fn escape_controls(text: &str, keep_newlines: bool) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| c.is_control() && c != '\t' && !(keep_newlines && c == '\n');
    if !text.chars().any(bad) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !bad(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// One stored field on one line: every control character escaped, line breaks included (a
/// note cannot forge a line of its own).
fn field(text: &str) -> std::borrow::Cow<'_, str> {
    escape_controls(text, false)
}

fn json<T: Serialize + ?Sized>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => outln!("{s}"),
        Err(e) => eprintln!("error: cannot encode JSON output: {e}"),
    }
}

/// A progress line on stderr when it is a terminal (and not --json).
pub fn progress_bar(cli: &Cli) -> Option<Progress> {
    if cli.json || !std::io::stderr().is_terminal() {
        return None;
    }
    Some(Arc::new(|done, total| {
        eprint!("\rcertificates {done}/{total}");
        if done == total {
            eprintln!();
        }
    }))
}

pub fn lines(cli: &Cli, lines: &[String]) {
    if cli.json {
        json(lines);
    } else {
        for l in lines {
            outln!("{l}");
        }
    }
}

fn cert_lines(label: &str, info: &CertInfo, now: OffsetDateTime) -> Vec<String> {
    vec![
        format!("{label}: {}", info.subject),
        format!("  issuer      {}", info.issuer),
        format!(
            "  serial      {} ({})",
            info.serial_decimal, info.serial_hex
        ),
        format!(
            "  valid       {} .. {} ({} days left)",
            ts(info.not_before),
            ts(info.not_after),
            info.days_left(now)
        ),
        format!(
            "  key         {}, signed with {}",
            info.key_algorithm, info.signature_algorithm
        ),
        format!("  sha256      {}", info.fingerprint_sha256),
    ]
}

pub fn ca(cli: &Cli, summary: &CaSummary, now: OffsetDateTime) {
    if cli.json {
        return json(summary);
    }
    for l in cert_lines("root", &summary.root, now) {
        outln!("{l}");
    }
    match &summary.intermediate {
        Some(i) => {
            for l in cert_lines("intermediate", i, now) {
                outln!("{l}");
            }
        }
        None => outln!("intermediate: none (root-only hierarchy: the root signs clients)"),
    }
    outln!("stored as:");
    for n in &summary.vault_names {
        outln!("  {n}");
    }
}

pub fn roster(cli: &Cli, ctx: &Ctx, rows: &[CertRecord]) {
    let now = ctx.now();
    let days = i64::from(ctx.env.expiring_days);
    if cli.json {
        /// A roster item with what it means now.
        #[derive(Serialize)]
        struct Row<'a> {
            #[serde(flatten)]
            record: &'a CertRecord,
            /// active, expiring, expired, revoked or superseded-in-grace.
            state: &'static str,
            days_left: i64,
        }
        let rows: Vec<Row<'_>> = rows
            .iter()
            .map(|r| Row {
                record: r,
                state: r.state(now, days).as_str(),
                days_left: r.days_left(now),
            })
            .collect();
        return json(&rows);
    }
    let width = rows
        .iter()
        .map(|r| r.client_id.len())
        .max()
        .unwrap_or(9)
        .max(9);
    outln!(
        "{:<width$}  {:<8}  {:<20}  {:<20}  {:>5}  SERIAL",
        "CLIENT_ID",
        "STATE",
        "ISSUED",
        "EXPIRES",
        "DAYS"
    );
    for r in rows {
        outln!(
            "{:<width$}  {:<8}  {:<20}  {:<20}  {:>5}  {}",
            r.client_id,
            r.state(now, days).as_str(),
            ts(r.issued_at),
            ts(r.expiry),
            r.days_left(now),
            r.serial
        );
    }
    outln!("{} client(s)", rows.len());
}

pub fn detail(cli: &Cli, ctx: &Ctx, d: &ClientDetail) {
    if cli.json {
        return json(d);
    }
    let now = ctx.now();
    let r = &d.record;
    outln!(
        "client {} — {}",
        r.client_id,
        r.state(now, i64::from(ctx.env.expiring_days)).as_str()
    );
    match &d.info {
        Some(info) => {
            for l in cert_lines("certificate", info, now) {
                outln!("{l}");
            }
            outln!("  eku         {}", info.extended_key_usage.join(", "));
            if !info.subject_alt_names.is_empty() {
                outln!("  san         {}", info.subject_alt_names.join(", "));
            }
        }
        None => outln!(
            "  serial      {} (no PEM stored: item written by other tooling)",
            r.serial
        ),
    }
    outln!(
        "  roster      status {}, expiry {}",
        r.status.as_str(),
        ts(r.expiry)
    );
    if let Some(at) = r.revoked_at {
        outln!(
            "  revoked     {} by {} ({})",
            ts(at),
            r.revoked_by.as_deref().unwrap_or("unknown"),
            r.revocation_reason
                .map(|x| x.as_str())
                .unwrap_or("no reason")
        );
        if let Some(note) = &r.revocation_note {
            outln!("  note        {}", field(note));
        }
    }
    if let Some(chain) = &d.chain {
        outln!("chain ({}):", if chain.ok { "ok" } else { "BROKEN" });
        for link in &chain.links {
            if link.problems.is_empty() {
                outln!("  ok   {}", link.subject);
            } else {
                outln!("  FAIL {}: {}", link.subject, link.problems.join("; "));
            }
        }
    }
    match d.issuer_in_truststore {
        Some(true) => outln!("truststore: the published bundle trusts this certificate"),
        Some(false) => outln!("truststore: the published bundle does NOT trust this certificate"),
        None => outln!("truststore: nothing published"),
    }
    if d.history.len() > 1 {
        outln!("history:");
        for h in &d.history {
            let revocation = match (h.revoked_at, h.revocation_reason) {
                (Some(at), reason) => format!(
                    "  revoked {} by {} ({}){}",
                    ts(at),
                    field(h.revoked_by.as_deref().unwrap_or("unknown")),
                    reason.map_or("no reason", |x| x.as_str()),
                    h.revocation_note
                        .as_deref()
                        .map(|n| format!(": {}", field(n)))
                        .unwrap_or_default()
                ),
                (None, _) => String::new(),
            };
            outln!(
                "  {}  {:<8} issued {}  expiry {}{revocation}",
                h.serial,
                h.status.as_str(),
                ts(h.issued_at),
                ts(h.expiry)
            );
        }
    }
}

pub fn issued(cli: &Cli, o: &IssueOutcome, files: Option<&ExportedFiles>) {
    if cli.json {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            outcome: &'a IssueOutcome,
            files: Option<&'a ExportedFiles>,
        }
        return json(&Out { outcome: o, files });
    }
    outln!(
        "issued {} serial {} ({}), valid until {}",
        o.record.client_id,
        o.record.serial,
        o.info.key_algorithm,
        ts(o.record.expiry)
    );
    match files {
        Some(f) => exported(cli, f),
        None if o.key_pem.is_some() => {
            outln!(
                "the private key is held in the vault; `export {}` writes it out",
                o.record.client_id
            )
        }
        None => {}
    }
}

pub fn bulk(cli: &Cli, r: &BulkReport) {
    if cli.json {
        return json(r);
    }
    outln!(
        "issued {}, skipped {} (already active), failed {}",
        r.issued.len(),
        r.skipped.len(),
        r.failed.len()
    );
    for (id, e) in &r.failed {
        outln!("  failed {id}: {e}");
    }
}

pub fn revoked(cli: &Cli, o: &RevokeOutcome) {
    if cli.json {
        return json(o);
    }
    for r in &o.revoked {
        outln!(
            "revoked {} serial {} ({})",
            r.client_id,
            r.serial,
            r.revocation_reason
                .map(|x| x.as_str())
                .unwrap_or("unspecified")
        );
    }
    if o.kept.is_empty() {
        outln!(
            "no certificate of {} is accepted any more: the authorizer denies every one",
            o.client_id
        );
    } else {
        for r in &o.kept {
            outln!(
                "still accepted: serial {} until {} (kept by --keep-grace or not named)",
                r.serial,
                ts(r.expiry)
            );
        }
    }
    outln!("takes effect {}", o.takes_effect.summary);
}

pub fn mtls_off(cli: &Cli, c: &MtlsChange) {
    if cli.json {
        return json(c);
    }
    outln!(
        "mutual TLS is OFF on domain {}: the API now accepts requests without a client certificate",
        c.domain.domain
    );
    outln!("it served {}", c.record.served());
    outln!(
        "`gateway mtls on` restores exactly that; reason recorded: {}",
        c.record.reason
    );
}

pub fn mtls_on(cli: &Cli, c: &MtlsChange) {
    if cli.json {
        return json(c);
    }
    outln!(
        "mutual TLS is on again on domain {}: it serves {}{}",
        c.domain.domain,
        c.record.served(),
        c.domain
            .status
            .as_deref()
            .filter(|s| *s != "AVAILABLE")
            .map(|s| format!(" (domain {s}: the change is being applied)"))
            .unwrap_or_default()
    );
    for w in &c.domain.warnings {
        outln!("API Gateway warned: {w}");
    }
}

pub fn repair(cli: &Cli, r: &RepairReport) {
    if cli.json {
        return json(r);
    }
    for lease in &r.stale_leases {
        let what = if r.dry_run {
            "would release it"
        } else {
            "released"
        };
        outln!("{lease} -> {what}");
    }
    if r.findings.is_empty() {
        outln!(
            "{} client(s) checked: the vault and the client heads follow the roster",
            r.clients
        );
        return;
    }
    for f in &r.findings {
        let what = match (&f.action, f.fixed, r.dry_run) {
            (None, _, _) => "NEEDS AN OPERATOR".to_string(),
            (Some(a), _, true) => format!("would {a}"),
            (Some(a), true, false) => format!("fixed: {a}"),
            (Some(a), false, false) => format!("not fixed (the client is busy; run again): {a}"),
        };
        outln!("{}: {} -> {what}", f.client_id, f.problem);
    }
    outln!(
        "{} client(s) checked, {} finding(s)",
        r.clients,
        r.findings.len()
    );
}

pub fn reissued(cli: &Cli, o: &ReissueOutcome) {
    if cli.json {
        return json(o);
    }
    outln!(
        "re-issued {}: new serial {} valid until {}",
        o.new.record.client_id,
        o.new.record.serial,
        ts(o.new.record.expiry)
    );
    match o.old.status {
        crate::model::CertStatus::Revoked => {
            outln!("old serial {} revoked (superseded)", o.old.serial)
        }
        crate::model::CertStatus::Active => {
            outln!(
                "old serial {} stays valid until {} (grace)",
                o.old.serial,
                ts(o.old.expiry)
            )
        }
    }
}

pub fn exported(cli: &Cli, f: &ExportedFiles) {
    if cli.json {
        return json(f);
    }
    for p in &f.files {
        outln!("wrote {}", p.display());
    }
    if let Some(why) = &f.key_withheld {
        outln!("{why}");
    }
}

pub fn verdict(cli: &Cli, v: &Verdict) {
    if cli.json {
        return json(v);
    }
    if v.allow {
        outln!("ALLOW");
    } else {
        outln!("DENY");
        for r in &v.reasons {
            outln!("  - {r}");
        }
    }
    let revoked = v
        .record
        .as_ref()
        .is_some_and(|r| r.status == crate::model::CertStatus::Revoked);
    if revoked {
        outln!("its revocation takes effect {}", v.revocation.summary);
    } else {
        outln!("a revoke now takes effect {}", v.revocation.summary);
    }
}

/// Bytes as they are on stdout (a completion script, a man page, a checked line); a closed
/// pipe ends the process with exit 0, another failure with exit 8 (see [`write_line`]).
pub fn raw(bytes: &[u8]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(8);
    }
}

/// A whole text (a report) on stdout, its control characters escaped as every line's are.
pub fn text(text: &str) {
    outln!("{}", text.trim_end_matches('\n'));
}

/// What `expiry` found, soonest first.
pub fn expiring(cli: &Cli, days: u32, due: &[crate::ops::Expiring]) {
    if cli.json {
        return json(due);
    }
    if due.is_empty() {
        outln!("nothing expires within {days} days");
        return;
    }
    outln!("{} certificate(s) expire within {days} days:", due.len());
    for e in due {
        let when = if e.days_left < 0 {
            format!("expired {} days ago", -e.days_left)
        } else {
            format!("{} days left", e.days_left)
        };
        outln!(
            "  {:<16} {:<32} {}  {}  ({})",
            e.kind,
            field(&e.name),
            ts(e.expires),
            when,
            e.serial_or_fingerprint
        );
    }
}

/// PEM text as it is (certificates only: nothing to escape beyond what every line gets).
pub fn pem(text: &str) {
    outln!("{}", text.trim_end());
}

pub fn bundle(cli: &Cli, b: &BundleView) {
    if cli.json {
        return json(b);
    }
    if let Some(v) = &b.version {
        outln!(
            "version {} ({} bytes, {})",
            v.version_id,
            v.size,
            ts(v.last_modified)
        );
    }
    for c in &b.certs {
        outln!(
            "  {}  expires {}  sha256 {}",
            c.subject,
            ts(c.not_after),
            &c.fingerprint_sha256[..16.min(c.fingerprint_sha256.len())]
        );
    }
    if b.problems.is_empty() {
        outln!("no problems against API Gateway's rules");
    }
    for p in &b.problems {
        outln!(
            "  {} {}{}",
            if p.fatal { "ERROR" } else { "warn " },
            p.subject
                .as_ref()
                .map(|s| format!("{s}: "))
                .unwrap_or_default(),
            p.message
        );
    }
}

pub fn published(cli: &Cli, what: &str, p: &Published) {
    if cli.json {
        return json(p);
    }
    let v = &p.version;
    if p.changed {
        outln!("{what}: version {} (etag {})", v.version_id, v.etag);
    } else {
        outln!(
            "unchanged: version {} already is the bundle the CA implies",
            v.version_id
        );
    }
    if let Some(d) = &p.domain {
        outln!(
            "domain {} serves version {}{}",
            d.domain,
            d.truststore_version.as_deref().unwrap_or("(none)"),
            d.status
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default()
        );
        for w in &d.warnings {
            outln!("  API Gateway warning: {w}");
        }
    }
}

pub fn truststore_check(cli: &Cli, r: &TruststoreCheck) {
    if cli.json {
        return json(r);
    }
    outln!("truststore {}", r.location);
    doctor(cli, &r.checks);
}

pub fn journal(cli: &Cli, j: &RotationJournal) {
    if cli.json {
        return json(j);
    }
    outln!(
        "{} rotation {}{}: phase {}",
        j.kind.as_str(),
        j.id,
        if j.rolling_back {
            " (rolling back)"
        } else {
            ""
        },
        j.phase.as_str()
    );
    outln!("  started     {} by {}", ts(j.started_at), j.started_by);
    outln!("  from        {}", j.old_issuer_subject);
    if let Some(to) = &j.new_issuer_subject {
        outln!("  to          {to}");
    }
    outln!(
        "  grace       {}; clients moved {}",
        crate::timefmt::duration(j.grace()),
        j.moved
    );
    if let Some(v) = &j.published_version {
        outln!("  truststore  version {v}");
    }
    if let Some(until) = j.grace_until {
        outln!("  grace until {}", ts(until));
    }
    if let Some(next) = j.next_step() {
        outln!("  next        {}", next.as_str());
    }
}

pub fn plan(cli: &Cli, p: &RotationPlan) {
    if cli.json {
        return json(p);
    }
    match &p.journal {
        Some(j) => journal(cli, j),
        None => outln!("{} rotation (not started)", p.kind.as_str()),
    }
    outln!(
        "clients to move: {}; vault writes: {} (SSM is paced at about 3 writes/s: ~{} s)",
        p.clients_to_move,
        p.vault_writes,
        p.vault_writes.div_ceil(3)
    );
    for (id, why) in &p.skipped {
        outln!("  skipped {id}: {why}");
    }
    for st in &p.steps {
        outln!("  -> {:<10} {}", st.phase.as_str(), st.detail);
    }
}

pub fn rotation(cli: &Cli, r: &RotationReport) {
    if cli.json {
        return json(r);
    }
    for st in &r.steps {
        outln!("{:<10} {}", st.phase.as_str(), st.detail);
    }
    for (id, why) in &r.failed {
        outln!("FAILED {id}: {why}");
    }
    let j = &r.journal;
    match (r.waiting_until, j.next_step()) {
        (Some(until), _) => outln!(
            "waiting: the grace period ends {}; then run `{} --resume`",
            ts(until),
            j.kind.command()
        ),
        (None, Some(next)) => outln!(
            "now in phase {}; `{} --resume` runs {} next",
            j.phase.as_str(),
            j.kind.command(),
            next.as_str()
        ),
        (None, None) => outln!("rotation {} {}", j.id, j.phase.as_str()),
    }
}

pub fn revoked_by_ca(cli: &Cli, r: &RevokeByCaReport) {
    if cli.json {
        return json(r);
    }
    outln!("CA {} (sha256 {})", r.ca_subject, r.ca_fingerprint);
    if r.dry_run {
        outln!(
            "dry run: {} active certificate(s) of {} client(s) would be revoked",
            r.matching,
            r.clients.len()
        );
        for id in r.clients.iter().take(50) {
            outln!("  {id}");
        }
        if r.clients.len() > 50 {
            outln!("  ... and {} more", r.clients.len() - 50);
        }
    } else {
        outln!(
            "revoked {} of {} active certificate(s)",
            r.revoked,
            r.matching
        );
        for ca in &r.marked_compromised {
            outln!("marked compromised: {ca} (nothing is issued from it until it is rotated)");
        }
        for (what, why) in &r.failed {
            outln!("FAILED {what}: {why}");
        }
        if let Some(effect) = &r.takes_effect {
            outln!("takes effect {}", effect.summary);
        }
    }
}

pub fn history(cli: &Cli, versions: &[TruststoreVersion]) {
    if cli.json {
        return json(versions);
    }
    for v in versions {
        outln!(
            "{}  {}  {:>6} bytes{}",
            v.version_id,
            ts(v.last_modified),
            v.size,
            if v.is_latest { "  (latest)" } else { "" }
        );
    }
}

pub fn audit(cli: &Cli, records: &[AuditRecord]) {
    if cli.json {
        return json(records);
    }
    for r in records {
        outln!(
            "{}  {:<8} {:<20} {:<40} {} {}",
            ts(r.at),
            r.outcome.as_str(),
            field(&r.action),
            field(&r.target),
            field(&r.operator),
            field(&r.detail)
        );
    }
}

pub fn doctor(cli: &Cli, checks: &[DoctorCheck]) {
    if cli.json {
        return json(checks);
    }
    for c in checks {
        let mark = match c.status {
            CheckStatus::Ok => "ok  ",
            CheckStatus::Warn => "WARN",
            CheckStatus::Fail => "FAIL",
        };
        outln!("{mark} {:<24} {}", c.name, c.detail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        let forged = "x\u{1b}[2J\rFAKE\nline\u{9b}31m\u{7}";
        assert_eq!(field(forged), "x\\x1b[2J\\rFAKE\\nline\\u{9b}31m\\x07");
        assert_eq!(
            escape_controls(forged, true),
            "x\\x1b[2J\\rFAKE\nline\\u{9b}31m\\x07"
        );
        assert!(matches!(
            escape_controls("plain\ttext é", false),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
