//! The roster as the console holds it: every client's latest cert, plus a filtered and sorted
//! index recomputed when the filter, the status filter or the sort changes. Built for 100,000
//! rows: matching runs over one lower-cased text arena (no allocation per row), and drawing
//! reads only the visible window of the index.

use std::cmp::Ordering;

use time::OffsetDateTime;

use crate::model::{CertRecord, ClientState};
use crate::ops::StatusFilter;

/// The order of the roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    ClientId,
    /// Soonest expiry first.
    Expiry,
    /// Newest first.
    Issued,
    /// Most urgent first: expired, expiring, active, revoked.
    Status,
}

impl SortKey {
    pub fn next(self) -> Self {
        match self {
            SortKey::ClientId => SortKey::Expiry,
            SortKey::Expiry => SortKey::Issued,
            SortKey::Issued => SortKey::Status,
            SortKey::Status => SortKey::ClientId,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::ClientId => "client_id",
            SortKey::Expiry => "expiry",
            SortKey::Issued => "issued (newest)",
            SortKey::Status => "status",
        }
    }
}

/// Cycles all -> active -> expiring -> expired -> revoked.
pub fn next_status_filter(f: StatusFilter) -> StatusFilter {
    match f {
        StatusFilter::All => StatusFilter::Active,
        StatusFilter::Active => StatusFilter::Expiring,
        StatusFilter::Expiring => StatusFilter::Expired,
        StatusFilter::Expired => StatusFilter::Revoked,
        StatusFilter::Revoked => StatusFilter::All,
    }
}

pub fn status_filter_label(f: StatusFilter) -> &'static str {
    match f {
        StatusFilter::All => "all",
        StatusFilter::Active => "active",
        StatusFilter::Expiring => "expiring/expired",
        StatusFilter::Expired => "expired",
        StatusFilter::Revoked => "revoked",
    }
}

/// Does a row in `state` pass the status filter? `active` is what the authorizer allows
/// (expiring included), `expiring` is what needs renewal (expired included).
pub fn status_matches(f: StatusFilter, state: ClientState) -> bool {
    match f {
        StatusFilter::All => true,
        StatusFilter::Active => matches!(state, ClientState::Active | ClientState::Expiring),
        StatusFilter::Expiring => matches!(state, ClientState::Expiring | ClientState::Expired),
        StatusFilter::Expired => state == ClientState::Expired,
        StatusFilter::Revoked => state == ClientState::Revoked,
    }
}

/// Number of rows in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub active: usize,
    pub expiring: usize,
    pub expired: usize,
    pub revoked: usize,
}

impl Counts {
    pub fn total(&self) -> usize {
        self.active + self.expiring + self.expired + self.revoked
    }
}

#[derive(Debug, Clone, Default)]
pub struct RosterTable {
    records: Vec<CertRecord>,
    states: Vec<ClientState>,
    /// Lower-cased `client_id \x01 cn \x01 serial` of every row, concatenated.
    text: String,
    /// Row i's text is `text[bounds[i]..bounds[i + 1]]`.
    bounds: Vec<u32>,
    /// Every row, in sort order.
    order: Vec<u32>,
    /// The rows that pass the filters, in sort order.
    visible: Vec<u32>,
    counts: Counts,
    /// Characters of the longest client_id and serial.
    widest_id: usize,
    widest_serial: usize,
    sort: SortKey,
    /// The sort's order turned around.
    reversed: bool,
    status: StatusFilter,
    /// Lower-cased filter text the visible index was computed for.
    needle: String,
    now: Option<OffsetDateTime>,
    expiring_days: i64,
}

impl RosterTable {
    /// Replaces the rows, keeping the sort and both filters; computes everything once.
    pub fn reload(&mut self, records: Vec<CertRecord>, now: OffsetDateTime, expiring_days: i64) {
        self.records = records;
        self.now = Some(now);
        self.expiring_days = expiring_days;
        self.rebuild();
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn records(&self) -> &[CertRecord] {
        &self.records
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Characters of the longest client_id (sizes the column).
    pub fn widest_id(&self) -> usize {
        self.widest_id
    }

    /// Characters of the longest serial.
    pub fn widest_serial(&self) -> usize {
        self.widest_serial
    }

    pub fn sort_key(&self) -> SortKey {
        self.sort
    }

    pub fn status_filter(&self) -> StatusFilter {
        self.status
    }

    /// Rows passing the filters, as indexes into [`RosterTable::records`], in sort order.
    pub fn visible(&self) -> &[u32] {
        &self.visible
    }

    /// The `pos`-th visible row.
    pub fn row(&self, pos: usize) -> Option<(&CertRecord, ClientState)> {
        let i = *self.visible.get(pos)? as usize;
        Some((&self.records[i], self.states[i]))
    }

    /// Position in the visible index of the row with this client_id.
    pub fn position_of(&self, client_id: &str) -> Option<usize> {
        self.visible
            .iter()
            .position(|&i| self.records[i as usize].client_id == client_id)
    }

    /// Replaces a client's row (same client_id) or adds one; everything is recomputed.
    pub fn upsert(&mut self, record: CertRecord) {
        match self
            .records
            .iter_mut()
            .find(|r| r.client_id == record.client_id)
        {
            Some(slot) => *slot = record,
            None => self.records.push(record),
        }
        self.rebuild();
    }

    pub fn set_sort(&mut self, sort: SortKey) {
        self.sort = sort;
        self.sort_order();
        self.refilter(false);
    }

    pub fn reversed(&self) -> bool {
        self.reversed
    }

    /// Turns the order around (the sort is total, so this is the reverse sort).
    pub fn set_reversed(&mut self, reversed: bool) {
        if reversed != self.reversed {
            self.reversed = reversed;
            self.order.reverse();
            self.refilter(false);
        }
    }

    pub fn set_status_filter(&mut self, status: StatusFilter) {
        self.status = status;
        self.refilter(false);
    }

    /// Applies a new filter text. When it only narrows the previous one, only the rows
    /// still visible are scanned.
    pub fn set_filter(&mut self, filter: &str) {
        let needle = filter.to_lowercase();
        let narrowing = needle.contains(self.needle.as_str());
        self.needle = needle;
        self.refilter(narrowing);
    }

    fn rebuild(&mut self) {
        let now = self.now.unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let n = self.records.len();
        self.states.clear();
        self.states.reserve(n);
        self.text.clear();
        self.bounds.clear();
        self.bounds.reserve(n + 1);
        self.bounds.push(0);
        let mut counts = Counts::default();
        for r in &self.records {
            let state = r.state(now, self.expiring_days);
            match state {
                ClientState::Active | ClientState::SupersededInGrace => counts.active += 1,
                ClientState::Expiring => counts.expiring += 1,
                ClientState::Expired => counts.expired += 1,
                ClientState::Revoked => counts.revoked += 1,
            }
            self.states.push(state);
            for (k, field) in [&r.client_id, &r.client_name, &r.serial]
                .into_iter()
                .enumerate()
            {
                if k > 0 {
                    self.text.push('\x01');
                }
                self.text.extend(field.chars().flat_map(char::to_lowercase));
            }
            self.bounds.push(self.text.len() as u32);
        }
        self.counts = counts;
        self.widest_id = self
            .records
            .iter()
            .map(|r| r.client_id.chars().count())
            .max()
            .unwrap_or(0);
        self.widest_serial = self
            .records
            .iter()
            .map(|r| r.serial.len())
            .max()
            .unwrap_or(0);
        self.order = (0..n as u32).collect();
        self.sort_order();
        self.refilter(false);
    }

    fn sort_order(&mut self) {
        let mut order = std::mem::take(&mut self.order);
        order.sort_unstable_by(|a, b| {
            let o = self.compare(*a as usize, *b as usize);
            if self.reversed { o.reverse() } else { o }
        });
        self.order = order;
    }

    /// The order of two rows under the current sort; ties go by client_id.
    fn compare(&self, a: usize, b: usize) -> Ordering {
        let (ra, rb) = (&self.records[a], &self.records[b]);
        match self.sort {
            SortKey::ClientId => Ordering::Equal,
            SortKey::Expiry => ra.expiry.cmp(&rb.expiry),
            SortKey::Issued => rb.issued_at.cmp(&ra.issued_at),
            SortKey::Status => urgency(self.states[a])
                .cmp(&urgency(self.states[b]))
                .then_with(|| ra.expiry.cmp(&rb.expiry)),
        }
        .then_with(|| ra.client_id.cmp(&rb.client_id))
    }

    fn refilter(&mut self, narrowing: bool) {
        let source = if narrowing {
            std::mem::take(&mut self.visible)
        } else {
            self.order.clone()
        };
        let needle = self.needle.as_str();
        let status = self.status;
        let text = self.text.as_str();
        let bounds = &self.bounds;
        let states = &self.states;
        self.visible = source
            .into_iter()
            .filter(|&i| {
                let i = i as usize;
                status_matches(status, states[i])
                    && (needle.is_empty()
                        || text[bounds[i] as usize..bounds[i + 1] as usize].contains(needle))
            })
            .collect();
    }
}

fn urgency(s: ClientState) -> u8 {
    match s {
        ClientState::Expired => 0,
        ClientState::Expiring => 1,
        ClientState::SupersededInGrace => 2,
        ClientState::Active => 3,
        ClientState::Revoked => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CertStatus;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2025-06-01 00:00 UTC);

    fn rec(id: &str, cn: &str, serial: &str, days: i64, status: CertStatus) -> CertRecord {
        CertRecord {
            serial: serial.into(),
            client_id: id.into(),
            client_name: cn.into(),
            status,
            issued_at: NOW - time::Duration::days(400 - days),
            not_before: None,
            expiry: NOW + time::Duration::days(days),
            ttl: 0,
            not_after: None,
            cert_pem: None,
            fingerprint: None,
            issuer: None,
            issuer_fingerprint: None,
            key_algorithm: None,
            key_held: false,
            revoked_at: None,
            revocation_reason: None,
            revoked_by: None,
            revocation_note: None,
            replaces: None,
            replaced_by: None,
            version: 0,
        }
    }

    fn sample() -> RosterTable {
        let mut r = RosterTable::default();
        r.reload(
            vec![
                rec("Zulu", "Zulu", "111", 200, CertStatus::Active),
                rec("alpha", "Alpha-CN", "222", 10, CertStatus::Active),
                rec("mike", "mike", "333", -5, CertStatus::Active),
                rec("bravo", "bravo", "123", 100, CertStatus::Revoked),
            ],
            NOW,
            30,
        );
        r
    }

    fn ids(r: &RosterTable) -> Vec<&str> {
        (0..r.visible().len())
            .map(|i| r.row(i).unwrap().0.client_id.as_str())
            .collect()
    }

    #[test]
    fn counts_every_state() {
        let r = sample();
        assert_eq!(
            r.counts(),
            Counts {
                active: 1,
                expiring: 1,
                expired: 1,
                revoked: 1
            }
        );
    }

    #[test]
    fn filter_is_case_insensitive_over_id_cn_and_serial_but_not_across_fields() {
        let mut r = sample();
        r.set_filter("ALPHA-cn");
        assert_eq!(ids(&r), ["alpha"]);
        r.set_filter("23");
        assert_eq!(ids(&r), ["bravo"]);
        r.set_filter("zulu");
        assert_eq!(ids(&r), ["Zulu"]);
        // "mike" + separator + "mike": no match spanning two fields.
        r.set_filter("kemi");
        assert!(ids(&r).is_empty());
        r.set_filter("");
        assert_eq!(r.visible().len(), 4);
    }

    #[test]
    fn narrowing_and_widening_give_the_same_rows_as_a_fresh_filter() {
        let mut r = sample();
        for f in ["", "a", "al", "alp", "al", "a", "", "2", "22", "2"] {
            r.set_filter(f);
            let mut fresh = sample();
            fresh.set_filter(f);
            assert_eq!(ids(&r), ids(&fresh), "filter {f:?}");
        }
    }

    #[test]
    fn sorts_and_status_filters() {
        let mut r = sample();
        assert_eq!(ids(&r), ["Zulu", "alpha", "bravo", "mike"]);
        r.set_sort(SortKey::Expiry);
        assert_eq!(ids(&r), ["mike", "alpha", "bravo", "Zulu"]);
        r.set_sort(SortKey::Status);
        assert_eq!(ids(&r), ["mike", "alpha", "Zulu", "bravo"]);
        r.set_status_filter(StatusFilter::Expiring);
        assert_eq!(ids(&r), ["mike", "alpha"]);
        r.set_status_filter(StatusFilter::Active);
        assert_eq!(ids(&r), ["alpha", "Zulu"]);
    }

    #[test]
    fn upsert_replaces_a_client_or_adds_it() {
        let mut r = sample();
        r.upsert(rec("alpha", "alpha", "999", 300, CertStatus::Revoked));
        assert_eq!(r.len(), 4);
        assert_eq!(r.counts().revoked, 2);
        r.upsert(rec("charlie", "charlie", "444", 300, CertStatus::Active));
        assert_eq!(r.len(), 5);
        r.set_filter("999");
        assert_eq!(ids(&r), ["alpha"]);
    }
}
