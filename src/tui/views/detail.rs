//! The detail view of one client: its current cert, the chain check, whether the gateway
//! trusts its issuer, and its earlier certs.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use time::OffsetDateTime;

use crate::model::{CertRecord, CertStatus, ClientState};
use crate::ops::ClientDetail;
use crate::pki::CertInfo;
use crate::tui::action::Action;
use crate::tui::ctx::{Ctx, Load};
use crate::tui::widgets::{Theme, date, dialog_block, kv, kv_styled, serial_hex, serial_short};

#[derive(Debug, Clone)]
pub struct DetailView {
    pub client_id: String,
    pub load: Load<Box<ClientDetail>>,
    pub scroll: u16,
}

fn status_line(t: Theme, r: &CertRecord, now: OffsetDateTime, warn_within: i64) -> Line<'static> {
    let state = r.state(now, warn_within);
    let days = r.days_left(now);
    match state {
        ClientState::Revoked => kv_styled(
            "Status",
            format!("revoked: {}", r.revocation_summary().unwrap_or_default()),
            t.danger(),
        ),
        ClientState::Expired => {
            kv_styled("Status", format!("expired {} days ago", -days), t.danger())
        }
        s => kv_styled(
            "Status",
            format!("{} ({days} days left)", s.as_str()),
            t.days(days, warn_within),
        ),
    }
}

impl DetailView {
    /// Loading the details of `client_id`.
    pub fn new(client_id: String) -> DetailView {
        DetailView {
            client_id,
            load: Load::Loading,
            scroll: 0,
        }
    }

    /// Scrolling; true when the view should close (Enter again).
    pub fn key(&mut self, action: Action) -> bool {
        match action {
            Action::Down => self.scroll = self.scroll.saturating_add(1),
            Action::Up => self.scroll = self.scroll.saturating_sub(1),
            Action::PageDown => self.scroll = self.scroll.saturating_add(10),
            Action::PageUp => self.scroll = self.scroll.saturating_sub(10),
            Action::Top => self.scroll = 0,
            Action::OpenDetail => return true,
            _ => {}
        }
        false
    }

    /// Draws the client; `row` is its roster row when the roster holds it.
    pub fn draw(
        &self,
        frame: &mut Frame,
        ctx: &Ctx,
        t: Theme,
        area: Rect,
        row: Option<&CertRecord>,
    ) {
        let record = row.or_else(|| self.load.ready().map(|x| &x.record));
        let lines = match record {
            Some(r) => self.lines(ctx, t, r),
            None => vec![Line::raw(format!(
                " {} is not in the roster",
                self.client_id
            ))],
        };
        frame.render_widget(
            Paragraph::new(lines)
                .block(dialog_block(format!("{} — details", self.client_id), t))
                .wrap(Wrap { trim: false })
                .scroll((self.scroll, 0)),
            area,
        );
    }

    fn lines(&self, ctx: &Ctx, t: Theme, r: &CertRecord) -> Vec<Line<'static>> {
        let warn_within = i64::from(ctx.env.expiring_days);
        let now = ctx.now;
        let detail = self.load.ready();
        let info: Option<&CertInfo> = detail.and_then(|d| d.info.as_ref());
        let mut lines = vec![
            kv_styled("Client", r.client_id.clone(), t.bold()),
            kv("CN", r.client_name.clone()),
            status_line(t, r, now, warn_within),
            kv("Serial", format!("{} (decimal)", r.serial)),
        ];
        if let Some(hex) = info
            .map(|i| i.serial_hex.clone())
            .or_else(|| serial_hex(&r.serial))
        {
            lines.push(kv("", format!("{hex} (hex)")));
        }
        match info {
            Some(i) => {
                lines.push(kv("Subject", i.subject.clone()));
                lines.push(kv("Issuer", i.issuer.clone()));
                lines.push(Line::from(vec![
                    Span::raw(format!(" {:<12}", "Validity")),
                    Span::raw(format!(
                        "{} → {} ",
                        crate::timefmt::format(i.not_before),
                        crate::timefmt::format(i.not_after)
                    )),
                ]));
                if r.expiry != i.not_after {
                    lines.push(kv_styled(
                        "",
                        format!(
                            "the authorizer accepts it until {} (grace period)",
                            crate::timefmt::format(r.expiry)
                        ),
                        t.warn(),
                    ));
                }
                lines.push(kv(
                    "Key",
                    format!(
                        "{} ({} bits), signature {}",
                        i.key_algorithm, i.key_bits, i.signature_algorithm
                    ),
                ));
                lines.push(kv("SHA-256", i.fingerprint_sha256.clone()));
                let eku = if i.extended_key_usage.is_empty() {
                    "none (legacy cert; new ones carry clientAuth)".to_string()
                } else {
                    i.extended_key_usage.join(", ")
                };
                lines.push(kv("EKU", eku));
                lines.push(kv("Key usage", i.key_usage.join(", ")));
            }
            None => {
                lines.push(kv("Issuer", r.issuer.clone().unwrap_or_else(|| "-".into())));
                lines.push(kv(
                    "Validity",
                    format!(
                        "{} → {}",
                        r.not_before
                            .map(crate::timefmt::format)
                            .unwrap_or_else(|| "?".into()),
                        crate::timefmt::format(r.expiry)
                    ),
                ));
                lines.push(kv(
                    "Key",
                    r.key_algorithm.clone().unwrap_or_else(|| "-".into()),
                ));
                if let Some(fp) = &r.fingerprint {
                    lines.push(kv("SHA-256", fp.clone()));
                }
            }
        }
        lines.push(kv(
            "Private key",
            if r.key_held {
                "held in the vault (generated here)"
            } else {
                "not held here (CSR or legacy)"
            },
        ));
        if let Some(s) = &r.replaces {
            lines.push(kv("Replaces", s.clone()));
        }
        if let Some(s) = &r.replaced_by {
            lines.push(kv("Replaced by", s.clone()));
        }
        lines.push(Line::raw(""));
        let detail = match &self.load {
            Load::Ready(d) => d,
            Load::Failed(e) => {
                lines.push(kv_styled("Chain", format!("cannot load: {e}"), t.danger()));
                return lines;
            }
            Load::Idle | Load::Loading => {
                lines.push(kv_styled("Chain", "checking…", t.dim()));
                return lines;
            }
        };
        match &detail.chain {
            Some(chain) => {
                for (k, link) in chain.links.iter().enumerate() {
                    let key = if k == 0 { "Chain" } else { "" };
                    let arrow = if k == 0 { "" } else { "↳ " };
                    if link.problems.is_empty() {
                        lines.push(Line::from(vec![
                            Span::raw(format!(" {key:<12}{arrow}")),
                            Span::styled("ok ", t.ok()),
                            Span::raw(link.subject.clone()),
                        ]));
                    } else {
                        lines.push(Line::from(vec![
                            Span::raw(format!(" {key:<12}{arrow}")),
                            Span::styled("FAIL ", t.danger()),
                            Span::raw(format!("{}: ", link.subject)),
                            Span::styled(link.problems.join("; "), t.danger()),
                        ]));
                    }
                }
                if chain.ok {
                    lines.push(kv_styled("", "chain verified to a trusted root", t.ok()));
                } else {
                    lines.push(kv_styled("", "chain does NOT verify", t.danger()));
                }
            }
            None => lines.push(kv_styled(
                "Chain",
                "not checked (no certificate PEM)",
                t.warn(),
            )),
        }
        lines.push(match detail.issuer_in_truststore {
            Some(true) => kv_styled(
                "Truststore",
                "issuer is in the published truststore",
                t.ok(),
            ),
            Some(false) => kv_styled(
                "Truststore",
                "issuer is NOT in the published truststore: the gateway rejects this cert",
                t.danger(),
            ),
            None => kv_styled("Truststore", "nothing published yet", t.warn()),
        });
        lines.push(Line::raw(""));
        let earlier: Vec<&CertRecord> = detail
            .history
            .iter()
            .filter(|h| h.serial != r.serial)
            .collect();
        if earlier.is_empty() {
            lines.push(kv("History", "no earlier certificates"));
        } else {
            lines.push(kv(
                "History",
                format!("{} earlier certificate(s):", earlier.len()),
            ));
            for h in earlier {
                let state = h.state(now, warn_within);
                let what = match h.status {
                    CertStatus::Revoked => {
                        format!("revoked ({})", h.revocation_summary().unwrap_or_default())
                    }
                    CertStatus::Active => state.as_str().to_string(),
                };
                lines.push(Line::from(vec![
                    Span::raw(format!(" {:<12}", "")),
                    Span::styled(
                        format!(
                            "{}  issued {}  expiry {}  {what}",
                            serial_short(&h.serial),
                            date(h.issued_at),
                            date(h.expiry)
                        ),
                        t.dim(),
                    ),
                ]));
            }
        }
        lines
    }
}
