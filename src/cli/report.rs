//! `report` in its five formats: table, CSV, JSON, Markdown and one self-contained HTML file.

use std::fmt::Write as _;

use clap::ValueEnum;
use time::OffsetDateTime;

use crate::ops::{Report, ReportRow};
use crate::timefmt::format as ts;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    /// Aligned text for a terminal.
    Table,
    /// RFC 4180 quoting, one row per certificate and line, a header row first.
    Csv,
    /// The report as one JSON document.
    Json,
    /// A Markdown document (summary, certificates, authorities).
    Markdown,
    /// One self-contained HTML file: summary counts, a table that sorts, expiry colours.
    Html,
}

const COLUMNS: [&str; 13] = [
    "client_id",
    "serial",
    "state",
    "current",
    "days_left",
    "expiry",
    "issued_at",
    "issuer",
    "key_algorithm",
    "revoked_at",
    "revocation_reason",
    "revocation_note",
    "revoked_by",
];

fn opt_ts(t: Option<OffsetDateTime>) -> String {
    t.map(ts).unwrap_or_default()
}

fn cells(r: &ReportRow) -> [String; 13] {
    [
        r.client_id.clone(),
        r.serial.clone(),
        r.state.to_string(),
        r.current.to_string(),
        r.days_left.to_string(),
        ts(r.expiry),
        ts(r.issued_at),
        r.issuer.clone().unwrap_or_default(),
        r.key_algorithm.clone().unwrap_or_default(),
        opt_ts(r.revoked_at),
        r.revocation_reason.clone().unwrap_or_default(),
        r.revocation_note.clone().unwrap_or_default(),
        r.revoked_by.clone().unwrap_or_default(),
    ]
}

/// The report in `format`.
pub fn render(report: &Report, format: ReportFormat) -> String {
    match format {
        ReportFormat::Table => table(report),
        ReportFormat::Csv => csv(report),
        ReportFormat::Json => serde_json::to_string_pretty(report)
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")),
        ReportFormat::Markdown => markdown(report),
        ReportFormat::Html => html(report),
    }
}

fn summary_line(report: &Report) -> String {
    let c = &report.counts;
    format!(
        "{} clients, {} certificates: {} active, {} expiring (within {} days), {} expired, {} revoked, {} superseded in grace",
        c.clients,
        c.certificates,
        c.active,
        c.expiring,
        report.expiring_days,
        c.expired,
        c.revoked,
        c.superseded_in_grace
    )
}

fn table(report: &Report) -> String {
    let mut out = format!(
        "environment {} at {}\n{}\n\n",
        report.environment,
        ts(report.generated_at),
        summary_line(report)
    );
    let _ = writeln!(
        out,
        "{:<24} {:<22} {:<20} {:>6}  {:<20} {:<10} REVOCATION",
        "CLIENT_ID", "SERIAL", "STATE", "DAYS", "EXPIRY", "KEY"
    );
    for r in &report.certificates {
        let revocation = match (&r.revocation_reason, &r.revoked_by) {
            (Some(reason), by) => format!(
                "{reason}{}{}",
                by.as_deref()
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default(),
                r.revocation_note
                    .as_deref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            ),
            (None, _) => String::new(),
        };
        let state = if r.current {
            r.state.to_string()
        } else {
            format!("{} (old)", r.state)
        };
        let serial: String = r.serial.chars().take(22).collect();
        let _ = writeln!(
            out,
            "{:<24} {:<22} {:<20} {:>6}  {:<20} {:<10} {}",
            r.client_id,
            serial,
            state,
            r.days_left,
            ts(r.expiry),
            r.key_algorithm.as_deref().unwrap_or("-"),
            revocation
        );
    }
    out.push_str("\nAUTHORITIES\n");
    for a in &report.authorities {
        let _ = writeln!(
            out,
            "{:<16} {:>6}  {:<20} {}",
            a.role,
            a.days_left,
            ts(a.not_after),
            a.subject
        );
    }
    out
}

/// A CSV cell: quoted when it must be; text that a spreadsheet would run as a formula
/// (`=`, `+`, `-`, `@` first) gets a leading `'`.
fn csv_cell(text: &str, numeric: bool) -> String {
    let guarded = if !numeric && text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn csv(report: &Report) -> String {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    for r in &report.certificates {
        let line: Vec<String> = cells(r)
            .iter()
            .zip(COLUMNS)
            .map(|(cell, column)| csv_cell(cell, column == "days_left"))
            .collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

fn md_cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

fn markdown(report: &Report) -> String {
    let mut out = format!(
        "# mtls-console report: {}\n\nGenerated {}. {}.\n\n## Certificates\n\n| {} |\n|{}|\n",
        md_cell(&report.environment),
        ts(report.generated_at),
        summary_line(report),
        COLUMNS.join(" | "),
        COLUMNS.map(|_| "---").join("|")
    );
    for r in &report.certificates {
        let line: Vec<String> = cells(r).iter().map(|c| md_cell(c)).collect();
        let _ = writeln!(out, "| {} |", line.join(" | "));
    }
    out.push_str(
        "\n## Authorities\n\n| role | subject | not after | days left |\n|---|---|---|---|\n",
    );
    for a in &report.authorities {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            md_cell(&a.role),
            md_cell(&a.subject),
            ts(a.not_after),
            a.days_left
        );
    }
    out
}

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => {
                let _ = write!(out, "&#x{:x};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Colour class of a days-left figure: past, within 7, within 30, within 90 days.
fn urgency(days_left: i64) -> &'static str {
    match days_left {
        d if d < 0 => "past",
        0..=7 => "d7",
        8..=30 => "d30",
        31..=90 => "d90",
        _ => "ok",
    }
}

const HTML_STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 6px;text-align:left}\
th{background:#eee;cursor:pointer;user-select:none}th[aria-sort=ascending]::after{content:' \\25B2'}\
th[aria-sort=descending]::after{content:' \\25BC'}.past{background:#f4b6b6}.d7{background:#f8d0a0}\
.d30{background:#fbe9a6}.d90{background:#fdf6d8}.revoked{color:#777}.counts span{display:inline-block;\
margin-right:1.5em}.counts b{font-size:1.4em}";

const HTML_SCRIPT: &str = r#"(function(){
var table=document.getElementById('certificates');
var body=table.tBodies[0];
function key(row,i,numeric){var t=row.cells[i].getAttribute('data-sort')||row.cells[i].textContent;return numeric?Number(t):t;}
function sortBy(i,descending){
  var head=table.tHead.rows[0].cells,numeric=head[i].getAttribute('data-type')==='number';
  var rows=Array.prototype.slice.call(body.rows);
  rows.sort(function(a,b){var x=key(a,i,numeric),y=key(b,i,numeric);var c=x<y?-1:x>y?1:0;return descending?-c:c;});
  rows.forEach(function(r){body.appendChild(r);});
  for(var j=0;j<head.length;j++){head[j].removeAttribute('aria-sort');}
  head[i].setAttribute('aria-sort',descending?'descending':'ascending');
}
var head=table.tHead.rows[0].cells;
for(var i=0;i<head.length;i++){(function(i){head[i].addEventListener('click',function(){
  sortBy(i,head[i].getAttribute('aria-sort')==='ascending');});})(i);}
var m=/^#sort=([a-z_]+)(-desc)?$/.exec(location.hash);
if(m){for(var k=0;k<head.length;k++){if(head[k].getAttribute('data-column')===m[1]){sortBy(k,!!m[2]);}}}
document.getElementById('shown').textContent=String(body.rows.length);
})();"#;

fn html(report: &Report) -> String {
    let c = &report.counts;
    let mut out = String::with_capacity(512 + report.certificates.len() * 400);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\
<title>mtls-console report: {env}</title><style>{HTML_STYLE}</style></head><body>\
<h1>mtls-console report: {env}</h1><p>Generated {at}; a cert expiring within {days} days is <em>expiring</em>.</p>\
<p class=\"counts\" id=\"counts\">",
        env = esc(&report.environment),
        at = ts(report.generated_at),
        days = report.expiring_days,
    );
    for (id, label, n) in [
        ("clients", "clients", c.clients),
        ("certificates", "certificates", c.certificates),
        ("active", "active", c.active),
        ("expiring", "expiring", c.expiring),
        ("expired", "expired", c.expired),
        ("revoked", "revoked", c.revoked),
        (
            "superseded_in_grace",
            "superseded in grace",
            c.superseded_in_grace,
        ),
    ] {
        let _ = write!(out, "<span><b data-count=\"{id}\">{n}</b> {label}</span>");
    }
    out.push_str("</p><h2>Certificates (<span id=\"shown\">0</span> shown)</h2><table id=\"certificates\"><thead><tr>");
    for column in COLUMNS {
        let kind = if column == "days_left" {
            "number"
        } else {
            "text"
        };
        let _ = write!(
            out,
            "<th data-column=\"{column}\" data-type=\"{kind}\">{}</th>",
            column.replace('_', " ")
        );
    }
    out.push_str("</tr></thead><tbody>");
    for r in &report.certificates {
        let class = if r.state == "revoked" {
            "revoked".to_string()
        } else {
            urgency(r.days_left).to_string()
        };
        let _ = write!(out, "<tr class=\"{class}\">");
        for (cell, column) in cells(r).iter().zip(COLUMNS) {
            if column == "days_left" {
                let _ = write!(out, "<td data-sort=\"{}\">{}</td>", r.days_left, esc(cell));
            } else {
                let _ = write!(out, "<td>{}</td>", esc(cell));
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table><h2>Authorities</h2><table id=\"authorities\"><thead><tr><th>role</th><th>subject</th><th>not after</th><th>days left</th></tr></thead><tbody>");
    for a in &report.authorities {
        let _ = write!(
            out,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            urgency(a.days_left),
            esc(&a.role),
            esc(&a.subject),
            ts(a.not_after),
            a.days_left
        );
    }
    let _ = writeln!(
        out,
        "</tbody></table><script>{HTML_SCRIPT}</script></body></html>"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_escaped_for_each_format() {
        assert_eq!(
            csv_cell("=HYPERLINK(\"x\")", false),
            "\"'=HYPERLINK(\"\"x\"\")\""
        );
        assert_eq!(csv_cell("-3", true), "-3");
        assert_eq!(csv_cell("a,b", false), "\"a,b\"");
        assert_eq!(md_cell("a|b\nc"), "a\\|b c");
        assert_eq!(esc("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
        assert_eq!(urgency(-1), "past");
        assert_eq!(urgency(7), "d7");
        assert_eq!(urgency(30), "d30");
        assert_eq!(urgency(91), "ok");
    }
}
