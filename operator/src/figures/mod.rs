//! An agency's figures as every surface shows them (Agency status, `/api/v1/agencies`, the
//! report page): built here once, from the ledger and the Agency's own spec. Not state: a
//! pure function of them (and the calendar, `calendar`).

pub mod calendar;

use chrono::{DateTime, Utc};
use colo_api::report::{cents, thousandths};
use colo_api::{Agency, AgencyUsage, Quantity, QuoteComparison, ReportRow, Resources};
use colo_engine::ledger::{AgencyLedger, Ledger};
use colo_engine::quote::bill::compare;

use calendar::{month_of, rfc3339, unix};

/// One agency's month so far and its figures to date, as of the ledger's last tick.
#[derive(Clone, Debug, PartialEq)]
pub struct AgencyMonth {
    pub this_month: ReportRow,
    pub to_date: ReportRow,
    pub usage: AgencyUsage,
    /// Its pro-rata share this month of what no one uses, kWh.
    pub unattributed_kwh: f64,
    /// This month's bill against its quote, when it was quoted.
    pub quote: Option<QuoteComparison>,
}

/// One agency's figures over `from`..`to` as a report row (rounded as the CSV shows them).
pub fn row(
    agency: &str,
    figures: &AgencyLedger,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    currency: &str,
) -> ReportRow {
    let cost = cents(figures.shared.cost);
    let standalone_cost = cents(figures.standalone.cost);
    let savings = cents(standalone_cost - cost);
    ReportRow {
        agency: agency.to_string(),
        cost_centre: figures.cost_centre.clone(),
        from: rfc3339(from),
        to: rfc3339(to),
        cpu_core_hours: thousandths(figures.cpu_core_seconds / 3600.0),
        memory_gib_hours: thousandths(figures.memory_gib_seconds / 3600.0),
        kwh: thousandths(figures.shared.kwh()),
        cost,
        carbon_kg: thousandths(figures.shared.grams / 1000.0),
        standalone_kwh: thousandths(figures.standalone.kwh()),
        standalone_cost,
        standalone_carbon_kg: thousandths(figures.standalone.grams / 1000.0),
        savings,
        savings_percent: if standalone_cost > 0.0 {
            (savings / standalone_cost * 1000.0).round() / 10.0
        } else {
            0.0
        },
        currency: currency.to_string(),
        quality: if figures.modelled_seconds > 0.0 || figures.measured_seconds <= 0.0 {
            "modelled".into()
        } else {
            "measured".into()
        },
    }
}

fn resources(cores: f64, gib: f64) -> Resources {
    Resources {
        cpu: Quantity::from_cpu_millis((cores * 1000.0).round() as u64),
        memory: Quantity::from_bytes((gib * 1024.0).round() as u64 * (1 << 20)),
    }
}

/// The agency's month and figures to date (None before the ledger's first tick). The cost
/// centre is always the Agency's own, as it reads now.
pub fn agency_month(agency: &Agency, ledger: &Ledger, currency: &str) -> Option<AgencyMonth> {
    if ledger.until <= 0 {
        return None;
    }
    let name = agency.metadata.name.as_deref().unwrap_or_default();
    let with_centre = |figures: Option<&AgencyLedger>| AgencyLedger {
        cost_centre: agency.spec.cost_centre.clone(),
        ..figures.cloned().unwrap_or_default()
    };
    let month = with_centre(ledger.this_month.agencies.get(name));
    let to_date = with_centre(ledger.to_date.agencies.get(name));
    let until = unix(ledger.until);
    let first = unix(ledger.since);
    let (_, month_start) = month_of(until);
    Some(AgencyMonth {
        this_month: row(name, &month, month_start.max(first), until, currency),
        to_date: row(name, &to_date, first, until, currency),
        usage: AgencyUsage {
            now: resources(month.now_cores, month.now_memory_gib),
            peak_this_month: resources(month.peak_cores, month.peak_memory_gib),
        },
        unattributed_kwh: thousandths(month.unattributed_share.kwh()),
        quote: agency
            .spec
            .quote
            .as_ref()
            .map(|q| compare(q, &month.metered)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn agency(name: &str, centre: &str) -> Agency {
        let spec: colo_api::AgencySpec = serde_json::from_value(serde_json::json!({
            "displayName": name, "costCentre": centre, "namespaces": [name],
            "maxClassification": "OFFICIAL"
        }))
        .unwrap();
        Agency::new(name, spec)
    }

    #[test]
    fn no_figures_before_the_first_tick() {
        assert_eq!(
            agency_month(&agency("a", "C"), &Ledger::default(), "GBP"),
            None
        );
    }

    #[test]
    fn the_month_runs_from_its_first_or_the_ledgers_first_second() {
        let mut ledger = Ledger {
            since: Utc
                .with_ymd_and_hms(2026, 11, 20, 0, 0, 0)
                .unwrap()
                .timestamp(),
            until: Utc
                .with_ymd_and_hms(2026, 11, 27, 12, 0, 0)
                .unwrap()
                .timestamp(),
            ..Default::default()
        };
        let mut figures = AgencyLedger {
            cost_centre: "OLD".into(),
            measured_seconds: 10.0,
            ..Default::default()
        };
        figures.shared.cost = 1.234;
        figures.standalone.cost = 4.0;
        ledger.this_month.agencies.insert("a".into(), figures);
        let m = agency_month(&agency("a", "NEW"), &ledger, "GBP").unwrap();
        assert_eq!(m.this_month.from, "2026-11-20T00:00:00Z");
        assert_eq!(m.this_month.to, "2026-11-27T12:00:00Z");
        assert_eq!(m.this_month.cost, 1.23);
        assert_eq!(m.this_month.savings, 2.77);
        assert_eq!(m.this_month.cost_centre, "NEW", "the cost centre reads now");
        assert_eq!(m.this_month.quality, "measured");
        assert_eq!(m.to_date.cost, 0.0, "nothing to date for it yet");
    }
}
