//! The ranges every caller (CLI, TUI, bulk files, rotations) is held to, stated once.

use time::Duration;

use crate::error::{Error, Result};

/// Longest validity of a client cert: 10 years.
pub const MAX_CLIENT_DAYS: u32 = 3650;
/// Longest validity of a CA cert: 30 years (a CDN's origin-pull CA runs about 15).
pub const MAX_CA_DAYS: u32 = 10_950;
/// Longest grace an old cert keeps after its client got a new one: 10 years, the longest a
/// client cert can be valid anyway.
pub const MAX_GRACE: Duration = Duration::days(MAX_CLIENT_DAYS as i64);

/// A client cert's validity in days, or why not.
pub fn client_days(days: u32) -> Result<u32> {
    if days == 0 || days > MAX_CLIENT_DAYS {
        return Err(Error::Invalid(format!(
            "validity of {days} days is out of range; give 1 to {MAX_CLIENT_DAYS} days"
        )));
    }
    Ok(days)
}

/// A CA cert's validity in days (`what` names it), or why not.
pub fn ca_days(what: &str, days: u32) -> Result<u32> {
    if days == 0 || days > MAX_CA_DAYS {
        return Err(Error::Invalid(format!(
            "{what} validity of {days} days is out of range; give 1 to {MAX_CA_DAYS} days"
        )));
    }
    Ok(days)
}

/// A grace period, or why not.
pub fn grace(grace: Duration) -> Result<Duration> {
    if grace.is_negative() || grace > MAX_GRACE {
        return Err(Error::Invalid(format!(
            "a grace of {} days is out of range; give at most {} days (a plain 0 revokes the \
             old cert at once)",
            grace.whole_days(),
            MAX_GRACE.whole_days()
        )));
    }
    Ok(grace)
}

/// Parses `90s`, `15m`, `24h`, `7d`, `2w` (a plain number is hours) as a grace period
/// (`what` names the flag in messages), within [`MAX_GRACE`].
pub fn parse_grace(what: &str, s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let not_duration = || {
        Error::Invalid(format!(
            "{what} '{s}' is not a duration; write e.g. 24h, 7d or 2w"
        ))
    };
    let too_long = || {
        Error::Invalid(format!(
            "{what} '{s}' is too long; give at most {} days",
            MAX_GRACE.whole_days()
        ))
    };
    let n: i64 = match num.parse() {
        Ok(n) => n,
        Err(e) if matches!(e.kind(), std::num::IntErrorKind::PosOverflow) => {
            return Err(too_long());
        }
        Err(_) => return Err(not_duration()),
    };
    let unit_secs: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" | "" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        other => {
            return Err(Error::Invalid(format!(
                "unknown duration unit '{other}' in '{s}'; use s, m, h, d or w"
            )));
        }
    };
    let secs = n.checked_mul(unit_secs).ok_or_else(too_long)?;
    let d = Duration::seconds(secs);
    if d > MAX_GRACE {
        return Err(too_long());
    }
    Ok(d)
}

/// Shortest PKCS#12 passphrase, in the CLI and the console alike.
pub const MIN_P12_PASSPHRASE: usize = 8;

/// A PKCS#12 passphrase, or why not.
pub fn p12_passphrase(pass: &str) -> Result<&str> {
    if pass.chars().count() < MIN_P12_PASSPHRASE {
        return Err(Error::Invalid(format!(
            "use a PKCS#12 passphrase of at least {MIN_P12_PASSPHRASE} characters"
        )));
    }
    Ok(pass)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_grace("--grace", "24h").unwrap(), Duration::hours(24));
        assert_eq!(parse_grace("--grace", "7d").unwrap(), Duration::days(7));
        assert_eq!(parse_grace("--grace", "2w").unwrap(), Duration::weeks(2));
        assert_eq!(parse_grace("--grace", "0").unwrap(), Duration::ZERO);
        assert!(parse_grace("--grace", "soon").is_err());
        assert!(parse_grace("--grace", "3y").is_err());
        assert!(parse_grace("--grace", "-1d").is_err());
        let long = parse_grace("--grace", "3000000d").unwrap_err().to_string();
        assert!(long.contains("too long") && long.contains("3650"), "{long}");
        assert!(parse_grace("--grace", "999999999999999999999999d").is_err());
    }

    proptest! {
        /// Any text: a duration within the bound or an error, never a panic.
        #[test]
        fn any_grace_text_is_bounded_or_refused(s in "\\PC{0,24}") {
            if let Ok(d) = parse_grace("--grace", &s) {
                prop_assert!(d >= Duration::ZERO && d <= MAX_GRACE);
            }
        }

        /// Any number with any unit, up to i64::MAX: bounded or refused.
        #[test]
        fn any_grace_number_is_bounded_or_refused(
            n in 0..=i64::MAX,
            unit in prop::sample::select(vec!["", "s", "m", "h", "d", "w", "y"]),
        ) {
            match parse_grace("--grace", &format!("{n}{unit}")) {
                Ok(d) => prop_assert!(d <= MAX_GRACE && unit != "y"),
                Err(e) => prop_assert!(e.to_string().contains("--grace")
                    || e.to_string().contains("unit")),
            }
        }

        #[test]
        fn any_day_count_is_in_range_or_refused(days in any::<u32>()) {
            match client_days(days) {
                Ok(d) => prop_assert!((1..=MAX_CLIENT_DAYS).contains(&d)),
                Err(e) => prop_assert!(e.to_string().contains("out of range")),
            }
            match ca_days("root", days) {
                Ok(d) => prop_assert!((1..=MAX_CA_DAYS).contains(&d)),
                Err(e) => prop_assert!(e.to_string().contains("out of range")),
            }
        }

        #[test]
        fn any_grace_is_in_range_or_refused(secs in any::<i64>()) {
            let d = Duration::seconds(secs);
            prop_assert_eq!(grace(d).is_ok(), (Duration::ZERO..=MAX_GRACE).contains(&d));
        }
    }
}
