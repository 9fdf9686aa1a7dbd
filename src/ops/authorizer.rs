//! What the deployed Lambda authorizer does with a roster item, step by step, errors included
//! (see the contract, "The Lambda authorizer"), so `verify` predicts its answer exactly:
//!
//! 1. GetItem by the decimal serial; no item: deny.
//! 2. `item['status'] != 'active'`: deny (no `status` attribute: the Lambda raises, and the
//!    request is refused all the same).
//! 3. `now > datetime.fromisoformat(item['expiry'].replace('Z', '+00:00'))`: deny. An `expiry`
//!    without a UTC offset parses as a naive datetime, and comparing it with the aware `now`
//!    raises TypeError; a value fromisoformat cannot read raises ValueError; either way the
//!    Lambda fails and the request is refused.
//! 4. The CN (the text after the last `CN=` of the subject DN, up to the next `,`) must equal
//!    `item['client_id']` (or `clientName` on items that predate `client_id`).
//!
//! The Python semantics are those of `datetime.fromisoformat` in Python 3.11 (the runtime of
//! the deployed Lambda); tests compare this model with a Python implementation of the
//! authorizer on a corpus of items.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::store::item::{AttrValue, Item, names};

/// The first reason the authorizer refuses a request with this item and subject, None when it
/// allows it. The Lambda stops at the first refusal, and so does this.
pub fn refusal(item: Option<&Item>, subject_dn: &str, now: OffsetDateTime) -> Option<String> {
    let Some(item) = item else {
        return Some(
            "no roster item for this serial (the authorizer denies unknown certificates)".into(),
        );
    };
    let fails = |why: String| {
        Some(format!(
            "the authorizer fails on this item ({why}), so the request is refused"
        ))
    };
    match item.get(names::STATUS) {
        None => return fails("it has no status attribute: KeyError".into()),
        Some(AttrValue::S(s)) if s == "active" => {}
        Some(AttrValue::S(s)) => return Some(format!("the item's status is '{s}', not 'active'")),
        Some(other) => {
            return Some(format!(
                "the item's status is {}, not 'active'",
                shown(other)
            ));
        }
    }
    let expiry = match item.get(names::EXPIRY) {
        None => return fails("it has no expiry attribute: KeyError".into()),
        Some(AttrValue::S(s)) => s,
        Some(other) => {
            return fails(format!(
                "its expiry is {}, not a string: AttributeError",
                shown(other)
            ));
        }
    };
    match fromisoformat(&expiry.replace('Z', "+00:00")) {
        Err(()) => {
            return fails(format!(
                "expiry '{expiry}' is not an ISO-8601 time Python reads: ValueError"
            ));
        }
        Ok(Parsed::Naive(_)) => {
            return fails(format!(
                "expiry '{expiry}' has no UTC offset, and Python cannot compare it with the \
                 current time: TypeError"
            ));
        }
        Ok(Parsed::Aware(t)) if now > t => {
            return Some(format!(
                "the item's expiry {} has passed",
                crate::timefmt::format(t)
            ));
        }
        Ok(Parsed::Aware(_)) => {}
    }
    let cn = python_cn(subject_dn);
    let client_id = match item.get(names::CLIENT_ID).or(item.get(names::CLIENT_NAME)) {
        Some(AttrValue::S(s)) => s.as_str(),
        _ => return fails("it has neither client_id nor clientName: KeyError".into()),
    };
    if cn != client_id {
        return Some(format!(
            "CN '{cn}' is not the item's client_id '{client_id}'"
        ));
    }
    None
}

fn shown(v: &AttrValue) -> String {
    match v {
        AttrValue::S(s) => format!("'{s}'"),
        AttrValue::N(n) => format!("the number {n}"),
        AttrValue::Bool(b) => format!("the boolean {b}"),
    }
}

/// `subject_dn.split('CN=')[-1].split(',')[0]`.
pub fn python_cn(subject_dn: &str) -> &str {
    let last = subject_dn.rsplit("CN=").next().unwrap_or(subject_dn);
    last.split(',').next().unwrap_or(last)
}

/// A datetime as Python's `fromisoformat` returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed {
    Naive(PrimitiveDateTime),
    Aware(OffsetDateTime),
}

/// Python 3.11's `datetime.fromisoformat`: a date (`YYYY-MM-DD`, `YYYYMMDD`, or a week date
/// `YYYY-Www[-D]` / `YYYYWww[D]`), optionally a separator (any one character) and a time
/// (`HH[:MM[:SS[.f...]]]` or `HH[MM[SS[.f...]]]`, up to six fraction digits kept, `.` or `,`),
/// optionally an offset (`Z`, `±HH[:MM[:SS[.f]]]` or `±HHMM[SS]`). Where the date ends is
/// found as CPython's `_find_isoformat_datetime_separator` finds it.
pub(crate) fn fromisoformat(s: &str) -> Result<Parsed, ()> {
    let chars: Vec<char> = s.chars().collect();
    let sep = date_end(&chars)?.min(chars.len());
    let date = parse_date(&chars[..sep])?;
    if sep == chars.len() {
        return Ok(Parsed::Naive(PrimitiveDateTime::new(date, Time::MIDNIGHT)));
    }
    // Any single character separates the date from the time.
    let (time, offset) = parse_time(&chars[sep + 1..])?;
    let dt = PrimitiveDateTime::new(date, time);
    Ok(match offset {
        None => Parsed::Naive(dt),
        Some(off) => Parsed::Aware(dt.assume_offset(off)),
    })
}

/// The length of the date part (CPython's `_find_isoformat_datetime_separator`).
fn date_end(c: &[char]) -> Result<usize, ()> {
    let digit = |i: usize| c.get(i).is_some_and(char::is_ascii_digit);
    match c.len() {
        0..7 => return Err(()),
        7 => return Ok(7),
        _ => {}
    }
    Ok(match (c[4], c[5]) {
        ('-', 'W') => match c.get(8) {
            Some('-') if c.len() == 9 => return Err(()),
            Some('-') if c.len() > 10 && digit(10) => 8,
            Some('-') => 10,
            _ => 8,
        },
        ('-', _) => 10,
        ('W', _) => {
            let last = (7..c.len()).find(|&i| !digit(i)).unwrap_or(c.len());
            match last {
                ..9 => last,
                _ if last % 2 == 0 => 7,
                _ => 8,
            }
        }
        _ => 8,
    })
}

fn digits(c: &[char], n: usize) -> Result<u32, ()> {
    if c.len() < n || !c[..n].iter().all(|d| d.is_ascii_digit()) {
        return Err(());
    }
    Ok(c[..n]
        .iter()
        .fold(0, |acc, d| acc * 10 + (*d as u32 - '0' as u32)))
}

/// A date part of 7, 8 or 10 characters (CPython's `_parse_isoformat_date`).
fn parse_date(c: &[char]) -> Result<Date, ()> {
    if !matches!(c.len(), 7 | 8 | 10) {
        return Err(());
    }
    let year = i32::try_from(digits(c, 4)?).map_err(|_| ())?;
    if year == 0 {
        return Err(());
    }
    let dashed = c[4] == '-';
    let mut pos = 4 + usize::from(dashed);
    let date = if c.get(pos) == Some(&'W') {
        pos += 1;
        let week = digits(&c[pos..], 2)?;
        pos += 2;
        let mut day = 1;
        if c.len() > pos {
            if (c[pos] == '-') != dashed {
                return Err(());
            }
            pos += usize::from(dashed);
            day = digits(&c[pos..], 1)?;
            pos += 1;
        }
        let weekday = match day {
            1 => time::Weekday::Monday,
            2 => time::Weekday::Tuesday,
            3 => time::Weekday::Wednesday,
            4 => time::Weekday::Thursday,
            5 => time::Weekday::Friday,
            6 => time::Weekday::Saturday,
            7 => time::Weekday::Sunday,
            _ => return Err(()),
        };
        Date::from_iso_week_date(year, u8::try_from(week).map_err(|_| ())?, weekday)
            .map_err(|_| ())?
    } else {
        let month = digits(&c[pos..], 2)?;
        pos += 2;
        if (c.get(pos) == Some(&'-')) != dashed {
            return Err(());
        }
        pos += usize::from(dashed);
        let day = digits(&c[pos..], 2)?;
        pos += 2;
        let month = Month::try_from(u8::try_from(month).map_err(|_| ())?).map_err(|_| ())?;
        Date::from_calendar_date(year, month, u8::try_from(day).map_err(|_| ())?).map_err(|_| ())?
    };
    if pos != c.len() {
        return Err(());
    }
    Ok(date)
}

/// Where a time ends and its offset begins.
fn split_offset(c: &[char]) -> (&[char], Option<&[char]>) {
    match c.iter().position(|ch| matches!(ch, '+' | '-' | 'Z')) {
        Some(i) => (&c[..i], Some(&c[i..])),
        None => (c, None),
    }
}

fn parse_time(c: &[char]) -> Result<(Time, Option<UtcOffset>), ()> {
    let (time, offset) = split_offset(c);
    let (h, m, s, micro) = parse_hms(time, true)?;
    let time = Time::from_hms_micro(
        u8::try_from(h).map_err(|_| ())?,
        u8::try_from(m).map_err(|_| ())?,
        u8::try_from(s).map_err(|_| ())?,
        micro,
    )
    .map_err(|_| ())?;
    let offset = match offset {
        None => None,
        Some(['Z']) => Some(UtcOffset::UTC),
        Some(['Z', ..]) => return Err(()),
        Some([sign, rest @ ..]) => {
            let (oh, om, os, _) = parse_hms(rest, false)?;
            let sign = if *sign == '-' { -1 } else { 1 };
            let secs = i32::try_from(oh * 3600 + om * 60 + os).map_err(|_| ())?;
            if oh >= 24 {
                return Err(());
            }
            Some(UtcOffset::from_whole_seconds(sign * secs).map_err(|_| ())?)
        }
        Some([]) => return Err(()),
    };
    Ok((time, offset))
}

/// `HH[:MM[:SS[.f]]]` or `HH[MM[SS[.f]]]`; a fraction only when `fraction` (times) or after
/// seconds in an offset.
fn parse_hms(c: &[char], fraction: bool) -> Result<(u32, u32, u32, u32), ()> {
    let h = digits(c, 2)?;
    let mut pos = 2;
    let extended = c.get(2) == Some(&':');
    let mut parts = [0u32; 2];
    for part in &mut parts {
        if pos == c.len() || matches!(c.get(pos), Some('.' | ',')) {
            break;
        }
        if extended {
            if c.get(pos) != Some(&':') {
                return Err(());
            }
            pos += 1;
        }
        *part = digits(&c[pos..], 2)?;
        pos += 2;
    }
    let mut micro = 0;
    if pos < c.len() {
        if !matches!(c[pos], '.' | ',') || pos < 6 + usize::from(extended) * 2 {
            return Err(());
        }
        let frac = &c[pos + 1..];
        if frac.is_empty()
            || !frac.iter().all(|d| d.is_ascii_digit())
            || (!fraction && frac.len() != 6)
        {
            return Err(());
        }
        let kept: String = frac.iter().take(6).collect();
        micro = format!("{kept:0<6}").parse().map_err(|_| ())?;
    }
    Ok((h, parts[0], parts[1], micro))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn item(pairs: &[(&str, AttrValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn s(v: &str) -> AttrValue {
        AttrValue::S(v.into())
    }

    #[test]
    fn reads_what_python_reads() {
        let utc = |t: OffsetDateTime| Ok(Parsed::Aware(t));
        assert_eq!(
            fromisoformat("2030-01-01T00:00:00+00:00"),
            utc(datetime!(2030-01-01 0:00 UTC))
        );
        assert_eq!(
            fromisoformat("2030-01-01 12:30:00.5+01:00"),
            utc(datetime!(2030-01-01 11:30:00.5 UTC))
        );
        assert_eq!(
            fromisoformat("20300101T000000+0000"),
            utc(datetime!(2030-01-01 0:00 UTC))
        );
        assert!(matches!(
            fromisoformat("2030-01-01T00:00:00"),
            Ok(Parsed::Naive(_))
        ));
        assert!(matches!(fromisoformat("2030-01-01"), Ok(Parsed::Naive(_))));
        for bad in [
            "",
            "2030",
            "2030-13-01",
            "2030-01-01T25:00:00",
            "31/01/2030",
            "2030-01-01T00:00:00+",
        ] {
            assert_eq!(fromisoformat(bad), Err(()), "{bad}");
        }
    }

    #[test]
    fn stops_at_the_first_refusal_like_the_lambda() {
        let now = datetime!(2026-01-01 0:00 UTC);
        let good = item(&[
            ("status", s("active")),
            ("expiry", s("2030-01-01T00:00:00Z")),
            ("client_id", s("acme")),
        ]);
        assert_eq!(refusal(Some(&good), "CN=acme,O=Example", now), None);
        assert!(
            refusal(None, "CN=acme", now)
                .unwrap()
                .contains("no roster item")
        );
        let naive = item(&[
            ("status", s("active")),
            ("expiry", s("2030-01-01T00:00:00")),
            ("client_id", s("acme")),
        ]);
        assert!(
            refusal(Some(&naive), "CN=acme", now)
                .unwrap()
                .contains("TypeError")
        );
        let suspended = item(&[("status", s("suspended")), ("expiry", s("nonsense"))]);
        assert!(
            refusal(Some(&suspended), "CN=acme", now)
                .unwrap()
                .contains("'suspended'")
        );
        let legacy = item(&[
            ("status", s("active")),
            ("expiry", s("2030-01-01T00:00:00Z")),
            ("clientName", s("acme")),
        ]);
        assert_eq!(refusal(Some(&legacy), "O=x,CN=acme", now), None);
        assert!(
            refusal(Some(&legacy), "CN=other", now)
                .unwrap()
                .contains("CN 'other'")
        );
    }
}
