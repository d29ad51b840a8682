//! `/api/v1/report`'s parameters: the window (`from`, `to`), how it is cut (`period`) and the
//! format. Any text a reader sends is either a window Colo can cut, or a 400 naming the
//! parameter: times are held to years 1970 to 9999 and every step is checked arithmetic, so
//! no date a reader picks can panic the server (a property test tries every i64).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::ReportError;
use crate::figures::calendar::{month_of, next_month};

/// The earliest and latest times a report may name.
fn bounds() -> (DateTime<Utc>, DateTime<Utc>) {
    let first = Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).single();
    let last = Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).single();
    (
        first.unwrap_or(DateTime::<Utc>::MIN_UTC),
        last.unwrap_or(DateTime::<Utc>::MAX_UTC),
    )
}

/// `from` / `to`: RFC 3339, or a date (midnight UTC), or Unix seconds; 1970 to 9999.
pub fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, ReportError> {
    let t = read_time(text).ok_or_else(|| {
        ReportError::BadRequest(format!(
            "{field}: {text:?} is not a time (use RFC 3339 like 2026-11-01T00:00:00Z, a date like 2026-11-01, or Unix seconds)"
        ))
    })?;
    let (first, last) = bounds();
    if t < first || t > last {
        return Err(ReportError::BadRequest(format!(
            "{field}: {text:?} is outside the years 1970 to 9999"
        )));
    }
    Ok(t)
}

fn read_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?));
    }
    Utc.timestamp_opt(text.parse::<i64>().ok()?, 0).single()
}

/// How a report window is cut into rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Period {
    Whole,
    Day,
    Month,
}

/// The most rows' worth of periods one report may ask for.
const MAX_PERIODS: usize = 400;

pub struct ReportQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub period: Period,
    pub csv: bool,
}

/// Checks `/api/v1/report`'s parameters; every problem names its parameter.
pub fn parse_query(
    params: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<ReportQuery, ReportError> {
    for key in params.keys() {
        if !["from", "to", "format", "period"].contains(&key.as_str()) {
            return Err(ReportError::BadRequest(format!(
                "unknown parameter {key:?} (known: from, to, format, period)"
            )));
        }
    }
    let to = match params.get("to") {
        Some(t) => parse_time("to", t)?,
        None => now.min(bounds().1),
    };
    let from = match params.get("from") {
        Some(t) => parse_time("from", t)?,
        None => month_of(to).1,
    };
    if from >= to {
        return Err(ReportError::BadRequest(format!(
            "from ({}) must be before to ({})",
            from.to_rfc3339(),
            to.to_rfc3339()
        )));
    }
    let csv = match params.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ReportError::BadRequest(format!(
                "format: {other:?} is not json or csv"
            )));
        }
    };
    let period = match params.get("period").map(String::as_str) {
        None | Some("whole") => Period::Whole,
        Some("day") => Period::Day,
        Some("month") => Period::Month,
        Some(other) => {
            return Err(ReportError::BadRequest(format!(
                "period: {other:?} is not whole, day or month"
            )));
        }
    };
    let query = ReportQuery {
        from,
        to,
        period,
        csv,
    };
    let periods = boundaries(&query).len() - 1;
    if periods > MAX_PERIODS {
        return Err(ReportError::BadRequest(format!(
            "from..to holds {periods} periods; at most {MAX_PERIODS} per report"
        )));
    }
    Ok(query)
}

/// The period boundaries from `from` to `to`: days and months are cut at UTC midnights.
pub fn boundaries(q: &ReportQuery) -> Vec<DateTime<Utc>> {
    let mut cuts = vec![q.from];
    let mut t = q.from;
    loop {
        let next = match q.period {
            Period::Whole => q.to,
            Period::Day => t
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .map(|day| Utc.from_utc_datetime(&day))
                .and_then(|day| day.checked_add_signed(chrono::Duration::days(1)))
                .unwrap_or(q.to),
            Period::Month => next_month(month_of(t).1),
        };
        if next >= q.to {
            cuts.push(q.to);
            return cuts;
        }
        cuts.push(next);
        t = next;
        if cuts.len() > MAX_PERIODS + 2 {
            cuts.push(q.to);
            return cuts;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 15, 0, 0).unwrap()
    }

    #[test]
    fn defaults_to_this_month_so_far_in_json() {
        let q = parse_query(&params(&[]), now()).unwrap();
        assert_eq!(q.from, Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap());
        assert_eq!(q.to, now());
        assert!(!q.csv);
        assert_eq!(boundaries(&q).len(), 2, "one period");
    }

    #[test]
    fn bad_parameters_are_named() {
        let cases = [
            (
                vec![("from", "yesterday")],
                "from: \"yesterday\" is not a time",
            ),
            (
                vec![("to", "2026-13-01")],
                "to: \"2026-13-01\" is not a time",
            ),
            (
                vec![("format", "xml")],
                "format: \"xml\" is not json or csv",
            ),
            (
                vec![("period", "week")],
                "period: \"week\" is not whole, day or month",
            ),
            (vec![("form", "2026-11-01")], "unknown parameter \"form\""),
            (
                vec![("from", "2026-11-02"), ("to", "2026-11-01")],
                "must be before to",
            ),
            (
                vec![("from", "2020-01-01"), ("period", "day")],
                "at most 400 per report",
            ),
        ];
        for (p, want) in cases {
            match parse_query(&params(&p), now()) {
                Err(ReportError::BadRequest(m)) => assert!(m.contains(want), "{p:?}: {m}"),
                other => panic!("{p:?}: {:?}", other.map(|_| ())),
            }
        }
    }

    #[test]
    fn days_and_months_cut_at_utc_midnight() {
        let q = parse_query(
            &params(&[
                ("from", "2026-10-30T12:00:00Z"),
                ("to", "2026-11-02"),
                ("period", "day"),
            ]),
            now(),
        )
        .unwrap();
        let cuts: Vec<String> = boundaries(&q).iter().map(|t| t.to_rfc3339()).collect();
        assert_eq!(
            cuts,
            [
                "2026-10-30T12:00:00+00:00",
                "2026-10-31T00:00:00+00:00",
                "2026-11-01T00:00:00+00:00",
                "2026-11-02T00:00:00+00:00"
            ]
        );
        let q = parse_query(
            &params(&[
                ("from", "2026-10-15"),
                ("to", "2026-12-31"),
                ("period", "month"),
            ]),
            now(),
        )
        .unwrap();
        assert_eq!(
            boundaries(&q).len(),
            4,
            "Oct (half), Nov, Dec (to the 31st)"
        );
    }

    proptest! {
        #[test]
        fn any_unix_seconds_and_period_give_a_window_or_a_400(
            from in any::<i64>(), to in any::<i64>(),
            period in prop::sample::select(vec!["whole", "day", "month", "week"]),
            near in 0i64..(86_400 * 800),
        ) {
            // Anywhere in i64, and near the ends of the range Colo takes.
            let last = bounds().1.timestamp();
            for (f, t) in [(from, to), (last - near, last), (from, from.saturating_add(near))] {
                let p = params(&[("from", &f.to_string()), ("to", &t.to_string()), ("period", period)]);
                match parse_query(&p, now()) {
                    Ok(q) => {
                        let cuts = boundaries(&q);
                        prop_assert!(cuts.len() >= 2 && cuts.windows(2).all(|w| w[0] < w[1]), "{cuts:?}");
                        prop_assert_eq!(cuts[0], q.from);
                        prop_assert_eq!(*cuts.last().unwrap(), q.to);
                    }
                    Err(ReportError::BadRequest(m)) => prop_assert!(
                        ["from", "to", "period"].iter().any(|p| m.contains(p)), "{m}"
                    ),
                    Err(other) => prop_assert!(false, "{other:?}"),
                }
            }
        }
    }

    #[test]
    fn the_dates_that_panicked_the_report_are_a_400() {
        let p = params(&[
            ("from", "8210266790400"),
            ("to", "8210266876799"),
            ("period", "day"),
        ]);
        match parse_query(&p, now()) {
            Err(ReportError::BadRequest(m)) => {
                assert!(m.contains("outside the years 1970 to 9999"), "{m}")
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}
