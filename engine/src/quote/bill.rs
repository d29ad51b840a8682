//! Quote and bill: an agency that moved in on a quote sees its accounted month next to it.
//! The accounted month is what was accounted this month while it ran something, from measured
//! usage, taken over a whole month; the difference is explained by what the quote assumed
//! (CPU in use on average) and by what it could not know (the estate's idle room, shared pro
//! rata, moves as other agencies come and go).

use colo_api::{AgencyQuote, MonthFigures, QuoteComparison};

use crate::ledger::{JOULES_PER_KWH, Metered};
use crate::model::HOURS_PER_MONTH;

/// Within this, a bill is said to agree with its quote (the bar: 10%).
pub const AGREES_WITHIN_PERCENT: f64 = 10.0;

fn rounded(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

fn percent_of(accounted: f64, quoted: f64) -> Option<f64> {
    (quoted > 0.0).then(|| rounded((accounted - quoted) / quoted * 100.0, 1))
}

/// The accounted month against `quote`, from this month's `metered` figures.
pub fn compare(quote: &AgencyQuote, metered: &Metered) -> QuoteComparison {
    let quoted = MonthFigures {
        kwh: quote.monthly_kwh,
        cost: quote.monthly_cost,
        carbon_kg: quote.monthly_carbon_kg,
    };
    let hours = metered.seconds / 3600.0;
    if hours <= 0.0 {
        return QuoteComparison {
            quoted,
            accounted: None,
            accounted_hours: 0.0,
            kwh_difference_percent: None,
            cost_difference_percent: None,
            message: "no measured use accounted this month yet: the comparison starts once its \
                      tenancies run and their usage is measured"
                .into(),
        };
    }
    let month = HOURS_PER_MONTH / hours;
    let accounted = MonthFigures {
        kwh: rounded(metered.shared.joules / JOULES_PER_KWH * month, 2),
        cost: rounded(metered.shared.cost * month, 2),
        carbon_kg: rounded(metered.shared.grams / 1000.0 * month, 2),
    };
    let kwh = percent_of(accounted.kwh, quoted.kwh);
    let cost = percent_of(accounted.cost, quoted.cost);
    let cores = metered.cpu_core_seconds / metered.seconds;
    QuoteComparison {
        quoted,
        accounted: Some(accounted),
        accounted_hours: rounded(hours, 2),
        kwh_difference_percent: kwh,
        cost_difference_percent: cost,
        message: explain(kwh, cost, cores, quote.average_cores, hours),
    }
}

fn explain(
    kwh: Option<f64>,
    cost: Option<f64>,
    cores: f64,
    quoted_cores: f64,
    hours: f64,
) -> String {
    let worst = kwh.unwrap_or(0.0).abs().max(cost.unwrap_or(0.0).abs());
    let said = |v: Option<f64>| v.map_or("n/a".to_string(), |p| format!("{p:+.1}%"));
    let head = match worst <= AGREES_WITHIN_PERCENT {
        true => format!("within {AGREES_WITHIN_PERCENT:.0}% of the quote"),
        false => format!("more than {AGREES_WITHIN_PERCENT:.0}% from the quote"),
    };
    let use_ = if quoted_cores > 0.0 {
        let by = (cores - quoted_cores) / quoted_cores * 100.0;
        format!(
            "its CPU in use averaged {cores:.2} cores against the {quoted_cores:.2} quoted ({by:+.0}%), which moves the energy"
        )
    } else {
        format!("its CPU in use averaged {cores:.2} cores")
    };
    format!(
        "{head}: energy {}, cost {} over {hours:.1} h of measured use this month; {use_}; \
         the rest is its share of the estate's idle room, which moves as other agencies come and go",
        said(kwh),
        said(cost)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Amounts;

    fn quote() -> AgencyQuote {
        AgencyQuote {
            monthly_kwh: 730.0,
            monthly_cost: 146.0,
            monthly_carbon_kg: 73.0,
            average_cores: 2.0,
            quoted_at: None,
        }
    }

    #[test]
    fn a_month_at_the_measured_rate_against_the_quote() {
        // Ten hours at 1.05 kW (the quote's 1 kW plus 5%), 2.2 cores on average.
        let metered = Metered {
            seconds: 36_000.0,
            cpu_core_seconds: 2.2 * 36_000.0,
            shared: Amounts {
                joules: 10.5 * JOULES_PER_KWH,
                cost: 2.1,
                grams: 1050.0,
            },
        };
        let c = compare(&quote(), &metered);
        let accounted = c.accounted.unwrap();
        assert_eq!(accounted.kwh, 766.5, "10.5 kWh in 10 h is 766.5 in 730 h");
        assert_eq!(accounted.cost, 153.3);
        assert_eq!(c.kwh_difference_percent, Some(5.0));
        assert_eq!(c.cost_difference_percent, Some(5.0));
        assert_eq!(c.accounted_hours, 10.0);
        assert!(
            c.message.starts_with("within 10% of the quote"),
            "{}",
            c.message
        );
        assert!(
            c.message
                .contains("2.20 cores against the 2.00 quoted (+10%)"),
            "{}",
            c.message
        );
    }

    #[test]
    fn a_bill_far_from_its_quote_says_so() {
        let metered = Metered {
            seconds: 3600.0,
            cpu_core_seconds: 4.0 * 3600.0,
            shared: Amounts {
                joules: 2.0 * JOULES_PER_KWH,
                cost: 0.4,
                grams: 200.0,
            },
        };
        let c = compare(&quote(), &metered);
        assert_eq!(c.kwh_difference_percent, Some(100.0));
        assert!(
            c.message.starts_with("more than 10% from the quote"),
            "{}",
            c.message
        );
    }

    #[test]
    fn nothing_measured_yet_is_no_comparison() {
        let c = compare(&quote(), &Metered::default());
        assert_eq!(c.accounted, None);
        assert_eq!(c.quoted.kwh, 730.0);
        assert!(c.message.contains("no measured use"), "{}", c.message);
    }
}
