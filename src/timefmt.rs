//! Timestamps as the deployed tooling writes them: ISO-8601 UTC (`2025-01-31T12:00:00Z`).
//! Reading is lenient: fractional seconds, `+00:00` offsets and offset-less Python
//! `isoformat()` output (taken as UTC) are all accepted.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Formats as `YYYY-MM-DDTHH:MM:SSZ`, whole seconds, UTC.
pub fn format(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let f = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&f).expect("a UTC timestamp always formats")
}

/// Parses the forms the deployed tooling is known to write. Returns None for anything else.
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.to_offset(UtcOffset::UTC));
    }
    let naive = [
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]"),
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]"),
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    ];
    naive
        .iter()
        .find_map(|f| PrimitiveDateTime::parse(s, f).ok())
        .map(|p| p.assume_utc())
}

/// A duration as an operator writes it: `7d`, `36h`, `90m`, `45s` (the largest unit that
/// divides it), `0s` for none.
pub fn duration(d: time::Duration) -> String {
    let secs = d.whole_seconds();
    for (unit, size) in [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs != 0 && secs % size == 0 {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// Epoch seconds, as the DynamoDB `ttl` attribute holds them.
pub fn epoch(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn durations_use_the_largest_whole_unit() {
        assert_eq!(duration(time::Duration::days(14)), "2w");
        assert_eq!(duration(time::Duration::days(3)), "3d");
        assert_eq!(duration(time::Duration::hours(36)), "36h");
        assert_eq!(duration(time::Duration::seconds(90)), "90s");
        assert_eq!(duration(time::Duration::ZERO), "0s");
    }

    #[test]
    fn formats_whole_seconds_utc() {
        assert_eq!(
            format(datetime!(2025-01-31 12:00:00.5 UTC)),
            "2025-01-31T12:00:00Z"
        );
        assert_eq!(
            format(datetime!(2025-01-31 14:00:00 +2)),
            "2025-01-31T12:00:00Z"
        );
    }

    #[test]
    fn parses_the_forms_in_use() {
        let want = datetime!(2025-01-31 12:00:00 UTC);
        for s in [
            "2025-01-31T12:00:00Z",
            "2025-01-31T12:00:00+00:00",
            "2025-01-31T14:00:00+02:00",
            "2025-01-31T12:00:00",
            "2025-01-31 12:00:00",
        ] {
            assert_eq!(parse(s), Some(want), "{s}");
        }
        assert_eq!(
            parse("2025-01-31T12:00:00.250000"),
            Some(datetime!(2025-01-31 12:00:00.25 UTC))
        );
        assert_eq!(parse("31/01/2025"), None);
        assert_eq!(parse(""), None);
    }
}
