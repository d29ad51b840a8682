//! The per-agency ledger counters, by name: each counter says which figure of an agency's
//! ledger it is, read when the counters are published and written back when the report reads
//! history from Prometheus, so neither side matches counters by position.

use std::collections::BTreeMap;

use colo_engine::ledger::AgencyLedger;

const GIB: f64 = (1u64 << 30) as f64;

/// One per-agency counter.
pub struct AgencyCounter {
    pub metric: &'static str,
    pub help: &'static str,
    /// Carries a `currency` label.
    pub money: bool,
    /// Its value, from an agency's figures.
    pub read: fn(&AgencyLedger) -> f64,
    /// Its value (or a difference of two) put back into an agency's figures.
    pub write: fn(&mut AgencyLedger, f64),
}

/// Every per-agency counter.
pub const AGENCY_COUNTERS: [AgencyCounter; 10] = [
    AgencyCounter {
        metric: "colo_agency_energy_joules_total",
        help: "Facility energy attributed to the agency",
        money: false,
        read: |a| a.shared.joules,
        write: |a, v| a.shared.joules = v,
    },
    AgencyCounter {
        metric: "colo_agency_cost_total",
        help: "Cost attributed to the agency (energy and nodes)",
        money: true,
        read: |a| a.shared.cost,
        write: |a, v| a.shared.cost = v,
    },
    AgencyCounter {
        metric: "colo_agency_carbon_grams_total",
        help: "Carbon attributed to the agency, g CO2e",
        money: false,
        read: |a| a.shared.grams,
        write: |a, v| a.shared.grams = v,
    },
    AgencyCounter {
        metric: "colo_agency_standalone_energy_joules_total",
        help: "Facility energy the agency would use alone",
        money: false,
        read: |a| a.standalone.joules,
        write: |a, v| a.standalone.joules = v,
    },
    AgencyCounter {
        metric: "colo_agency_standalone_cost_total",
        help: "What the agency would pay alone",
        money: true,
        read: |a| a.standalone.cost,
        write: |a, v| a.standalone.cost = v,
    },
    AgencyCounter {
        metric: "colo_agency_standalone_carbon_grams_total",
        help: "Carbon the agency would emit alone, g CO2e",
        money: false,
        read: |a| a.standalone.grams,
        write: |a, v| a.standalone.grams = v,
    },
    AgencyCounter {
        metric: "colo_agency_cpu_core_seconds_total",
        help: "CPU the agency used, core-seconds",
        money: false,
        read: |a| a.cpu_core_seconds,
        write: |a, v| a.cpu_core_seconds = v,
    },
    AgencyCounter {
        metric: "colo_agency_memory_byte_seconds_total",
        help: "Memory the agency used, byte-seconds",
        money: false,
        read: |a| a.memory_gib_seconds * GIB,
        write: |a, v| a.memory_gib_seconds = v / GIB,
    },
    AgencyCounter {
        metric: "colo_agency_measured_seconds_total",
        help: "Time accounted from measured usage",
        money: false,
        read: |a| a.measured_seconds,
        write: |a, v| a.measured_seconds = v,
    },
    AgencyCounter {
        metric: "colo_agency_modelled_seconds_total",
        help: "Time accounted from requests (no fresh metrics)",
        money: false,
        read: |a| a.modelled_seconds,
        write: |a, v| a.modelled_seconds = v,
    },
];

/// (metric, help, money) of every counter, for registering them.
pub fn listed() -> Vec<(&'static str, &'static str, bool)> {
    AGENCY_COUNTERS
        .iter()
        .map(|c| (c.metric, c.help, c.money))
        .collect()
}

/// Counter values (or differences) by metric.
pub type CounterValues = BTreeMap<&'static str, f64>;

/// An agency's figures as counter values.
#[cfg(test)]
fn values_of(a: &AgencyLedger) -> CounterValues {
    AGENCY_COUNTERS
        .iter()
        .map(|c| (c.metric, (c.read)(a)))
        .collect()
}

/// The inverse of [`values_of`]: figures from counter values (a counter not given is 0).
pub fn figures_from(values: &CounterValues, cost_centre: String) -> AgencyLedger {
    let mut a = AgencyLedger {
        cost_centre,
        ..Default::default()
    };
    for c in &AGENCY_COUNTERS {
        (c.write)(&mut a, values.get(c.metric).copied().unwrap_or(0.0));
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_values_and_back_are_the_same_figures() {
        let mut a = AgencyLedger {
            cost_centre: "CC".into(),
            ..Default::default()
        };
        a.shared.joules = 1.0;
        a.shared.cost = 2.0;
        a.shared.grams = 3.0;
        a.standalone.joules = 4.0;
        a.standalone.cost = 5.0;
        a.standalone.grams = 6.0;
        a.cpu_core_seconds = 7.0;
        a.memory_gib_seconds = 8.0;
        a.measured_seconds = 9.0;
        a.modelled_seconds = 10.0;
        let values = values_of(&a);
        assert_eq!(values["colo_agency_memory_byte_seconds_total"], 8.0 * GIB);
        assert_eq!(values["colo_agency_standalone_cost_total"], 5.0);
        assert_eq!(figures_from(&values, "CC".into()), a);
        let names: std::collections::BTreeSet<_> = values.keys().collect();
        assert_eq!(names.len(), AGENCY_COUNTERS.len(), "one figure per counter");
    }
}
