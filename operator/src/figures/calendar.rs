//! The ledger's calendar: months in UTC, from the first's midnight; timestamps as Colo
//! writes them.

use chrono::{DateTime, Datelike, TimeZone, Utc};

/// The month a moment falls in, as the ledger names it, and when it began.
pub fn month_of(t: DateTime<Utc>) -> (String, DateTime<Utc>) {
    let start = Utc
        .with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0)
        .single()
        .expect("the first of a month exists");
    (t.format("%Y-%m").to_string(), start)
}

/// The first moment of the month after the one that begins at `start`.
pub fn next_month(start: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if start.month() == 12 {
        (start.year() + 1, 1)
    } else {
        (start.year(), start.month() + 1)
    };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .expect("the first of a month exists")
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn unix(t: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(t, 0).single().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_turn_at_utc_midnight_on_the_first() {
        let t = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
        let (name, start) = month_of(t);
        assert_eq!(name, "2026-12");
        assert_eq!(rfc3339(next_month(start)), "2027-01-01T00:00:00Z");
    }
}
