//! What the CLI prints: aligned text for people, JSON with --json for scripts.

use std::io::IsTerminal;
use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;

use super::Cli;
use crate::model::{AuditRecord, CertRecord};
use crate::ops::{
    BulkReport, BundleView, CaSummary, CheckStatus, ClientDetail, Ctx, DoctorCheck, ExportedFiles,
    IssueOutcome, Progress, Published, ReissueOutcome, RepairReport, RevokeByCaReport,
    RevokeOutcome, RotationJournal, RotationPlan, RotationReport, TruststoreCheck, Verdict,
};
use crate::pki::CertInfo;
use crate::store::TruststoreVersion;
use crate::timefmt::format as ts;

fn json<T: Serialize + ?Sized>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => println!("{s}"),
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
            println!("{l}");
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
        println!("{l}");
    }
    match &summary.intermediate {
        Some(i) => {
            for l in cert_lines("intermediate", i, now) {
                println!("{l}");
            }
        }
        None => println!("intermediate: none (root-only hierarchy: the root signs clients)"),
    }
    println!("stored as:");
    for n in &summary.vault_names {
        println!("  {n}");
    }
}

pub fn roster(cli: &Cli, ctx: &Ctx, rows: &[CertRecord]) {
    if cli.json {
        return json(rows);
    }
    let now = ctx.now();
    let days = i64::from(ctx.env.expiring_days);
    let width = rows
        .iter()
        .map(|r| r.client_id.len())
        .max()
        .unwrap_or(9)
        .max(9);
    println!(
        "{:<width$}  {:<8}  {:<20}  {:<20}  {:>5}  SERIAL",
        "CLIENT_ID", "STATE", "ISSUED", "EXPIRES", "DAYS"
    );
    for r in rows {
        println!(
            "{:<width$}  {:<8}  {:<20}  {:<20}  {:>5}  {}",
            r.client_id,
            r.state(now, days).as_str(),
            ts(r.issued_at),
            ts(r.expiry),
            r.days_left(now),
            r.serial
        );
    }
    println!("{} client(s)", rows.len());
}

pub fn detail(cli: &Cli, ctx: &Ctx, d: &ClientDetail) {
    if cli.json {
        return json(d);
    }
    let now = ctx.now();
    let r = &d.record;
    println!(
        "client {} — {}",
        r.client_id,
        r.state(now, i64::from(ctx.env.expiring_days)).as_str()
    );
    match &d.info {
        Some(info) => {
            for l in cert_lines("certificate", info, now) {
                println!("{l}");
            }
            println!("  eku         {}", info.extended_key_usage.join(", "));
            if !info.subject_alt_names.is_empty() {
                println!("  san         {}", info.subject_alt_names.join(", "));
            }
        }
        None => println!(
            "  serial      {} (no PEM stored: item written by other tooling)",
            r.serial
        ),
    }
    println!(
        "  roster      status {}, expiry {}",
        r.status.as_str(),
        ts(r.expiry)
    );
    if let Some(at) = r.revoked_at {
        println!(
            "  revoked     {} by {} ({})",
            ts(at),
            r.revoked_by.as_deref().unwrap_or("unknown"),
            r.revocation_reason
                .map(|x| x.as_str())
                .unwrap_or("no reason")
        );
    }
    if let Some(chain) = &d.chain {
        println!("chain ({}):", if chain.ok { "ok" } else { "BROKEN" });
        for link in &chain.links {
            if link.problems.is_empty() {
                println!("  ok   {}", link.subject);
            } else {
                println!("  FAIL {}: {}", link.subject, link.problems.join("; "));
            }
        }
    }
    match d.issuer_in_truststore {
        Some(true) => println!("truststore: the published bundle trusts this certificate"),
        Some(false) => println!("truststore: the published bundle does NOT trust this certificate"),
        None => println!("truststore: nothing published"),
    }
    if d.history.len() > 1 {
        println!("history:");
        for h in &d.history {
            println!(
                "  {}  {:<8} issued {}  expiry {}",
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
    println!(
        "issued {} serial {} ({}), valid until {}",
        o.record.client_id,
        o.record.serial,
        o.info.key_algorithm,
        ts(o.record.expiry)
    );
    match files {
        Some(f) => exported(cli, f),
        None if o.key_pem.is_some() => {
            println!(
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
    println!(
        "issued {}, skipped {} (already active), failed {}",
        r.issued.len(),
        r.skipped.len(),
        r.failed.len()
    );
    for (id, e) in &r.failed {
        println!("  failed {id}: {e}");
    }
}

pub fn revoked(cli: &Cli, o: &RevokeOutcome) {
    if cli.json {
        return json(o);
    }
    for r in &o.revoked {
        println!(
            "revoked {} serial {} ({})",
            r.client_id,
            r.serial,
            r.revocation_reason
                .map(|x| x.as_str())
                .unwrap_or("unspecified")
        );
    }
    if o.kept.is_empty() {
        println!(
            "no certificate of {} is accepted any more: the authorizer denies every one from the next request",
            o.client_id
        );
    } else {
        for r in &o.kept {
            println!(
                "still accepted: serial {} until {} (kept by --keep-grace or not named)",
                r.serial,
                ts(r.expiry)
            );
        }
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
        println!("{lease} -> {what}");
    }
    if r.findings.is_empty() {
        println!(
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
        println!("{}: {} -> {what}", f.client_id, f.problem);
    }
    println!(
        "{} client(s) checked, {} finding(s)",
        r.clients,
        r.findings.len()
    );
}

pub fn reissued(cli: &Cli, o: &ReissueOutcome) {
    if cli.json {
        return json(o);
    }
    println!(
        "re-issued {}: new serial {} valid until {}",
        o.new.record.client_id,
        o.new.record.serial,
        ts(o.new.record.expiry)
    );
    match o.old.status {
        crate::model::CertStatus::Revoked => {
            println!("old serial {} revoked (superseded)", o.old.serial)
        }
        crate::model::CertStatus::Active => {
            println!(
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
        println!("wrote {}", p.display());
    }
}

pub fn verdict(cli: &Cli, v: &Verdict) {
    if cli.json {
        return json(v);
    }
    if v.allow {
        println!("ALLOW");
    } else {
        println!("DENY");
        for r in &v.reasons {
            println!("  - {r}");
        }
    }
}

pub fn bundle(cli: &Cli, b: &BundleView) {
    if cli.json {
        return json(b);
    }
    if let Some(v) = &b.version {
        println!(
            "version {} ({} bytes, {})",
            v.version_id,
            v.size,
            ts(v.last_modified)
        );
    }
    for c in &b.certs {
        println!(
            "  {}  expires {}  sha256 {}",
            c.subject,
            ts(c.not_after),
            &c.fingerprint_sha256[..16.min(c.fingerprint_sha256.len())]
        );
    }
    if b.problems.is_empty() {
        println!("no problems against API Gateway's rules");
    }
    for p in &b.problems {
        println!(
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
        println!("{what}: version {} (etag {})", v.version_id, v.etag);
    } else {
        println!(
            "unchanged: version {} already is the bundle the CA implies",
            v.version_id
        );
    }
    if let Some(d) = &p.domain {
        println!(
            "domain {} serves version {}{}",
            d.domain,
            d.truststore_version.as_deref().unwrap_or("(none)"),
            d.status
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default()
        );
        for w in &d.warnings {
            println!("  API Gateway warning: {w}");
        }
    }
}

pub fn truststore_check(cli: &Cli, r: &TruststoreCheck) {
    if cli.json {
        return json(r);
    }
    println!("truststore {}", r.location);
    doctor(cli, &r.checks);
}

pub fn journal(cli: &Cli, j: &RotationJournal) {
    if cli.json {
        return json(j);
    }
    println!(
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
    println!("  started     {} by {}", ts(j.started_at), j.started_by);
    println!("  from        {}", j.old_issuer_subject);
    if let Some(to) = &j.new_issuer_subject {
        println!("  to          {to}");
    }
    println!(
        "  grace       {}; clients moved {}",
        crate::timefmt::duration(j.grace()),
        j.moved
    );
    if let Some(v) = &j.published_version {
        println!("  truststore  version {v}");
    }
    if let Some(until) = j.grace_until {
        println!("  grace until {}", ts(until));
    }
    if let Some(next) = j.next_step() {
        println!("  next        {}", next.as_str());
    }
}

pub fn plan(cli: &Cli, p: &RotationPlan) {
    if cli.json {
        return json(p);
    }
    match &p.journal {
        Some(j) => journal(cli, j),
        None => println!("{} rotation (not started)", p.kind.as_str()),
    }
    println!(
        "clients to move: {}; vault writes: {} (SSM is paced at about 3 writes/s: ~{} s)",
        p.clients_to_move,
        p.vault_writes,
        p.vault_writes.div_ceil(3)
    );
    for (id, why) in &p.skipped {
        println!("  skipped {id}: {why}");
    }
    for st in &p.steps {
        println!("  -> {:<10} {}", st.phase.as_str(), st.detail);
    }
}

pub fn rotation(cli: &Cli, r: &RotationReport) {
    if cli.json {
        return json(r);
    }
    for st in &r.steps {
        println!("{:<10} {}", st.phase.as_str(), st.detail);
    }
    for (id, why) in &r.failed {
        println!("FAILED {id}: {why}");
    }
    let j = &r.journal;
    match (r.waiting_until, j.next_step()) {
        (Some(until), _) => println!(
            "waiting: the grace period ends {}; then run `{} --resume`",
            ts(until),
            j.kind.command()
        ),
        (None, Some(next)) => println!(
            "now in phase {}; `{} --resume` runs {} next",
            j.phase.as_str(),
            j.kind.command(),
            next.as_str()
        ),
        (None, None) => println!("rotation {} {}", j.id, j.phase.as_str()),
    }
}

pub fn revoked_by_ca(cli: &Cli, r: &RevokeByCaReport) {
    if cli.json {
        return json(r);
    }
    println!("CA {} (sha256 {})", r.ca_subject, r.ca_fingerprint);
    if r.dry_run {
        println!(
            "dry run: {} active certificate(s) of {} client(s) would be revoked",
            r.matching,
            r.clients.len()
        );
        for id in r.clients.iter().take(50) {
            println!("  {id}");
        }
        if r.clients.len() > 50 {
            println!("  ... and {} more", r.clients.len() - 50);
        }
    } else {
        println!(
            "revoked {} of {} active certificate(s)",
            r.revoked, r.matching
        );
        for ca in &r.marked_compromised {
            println!("marked compromised: {ca} (nothing is issued from it until it is rotated)");
        }
        for (what, why) in &r.failed {
            println!("FAILED {what}: {why}");
        }
    }
}

pub fn history(cli: &Cli, versions: &[TruststoreVersion]) {
    if cli.json {
        return json(versions);
    }
    for v in versions {
        println!(
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
        println!(
            "{}  {:<8} {:<20} {:<40} {} {}",
            ts(r.at),
            r.outcome.as_str(),
            r.action,
            r.target,
            r.operator,
            r.detail
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
        println!("{mark} {:<24} {}", c.name, c.detail);
    }
}
