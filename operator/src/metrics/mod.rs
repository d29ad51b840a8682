//! Every metric the operator serves on `/metrics`, registered in one registry. The SPEC names
//! the accounting ones; money carries a `currency` label, everything else is in base units.

pub mod ledger_counters;

use std::collections::BTreeMap;

use colo_api::Agency;
use colo_api::report::cents;
use colo_engine::ledger::Ledger;
pub use ledger_counters::AGENCY_COUNTERS;
use prometheus::{
    CounterVec, GaugeVec, Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts, Registry,
};

pub struct Metrics {
    pub registry: Registry,
    pub reconcile_duration: Histogram,
    pub placement_duration: Histogram,
    /// Tenancies by phase.
    pub tenancies: IntGaugeVec,
    /// Failed reconciles by controller and error kind (the step that failed).
    pub reconcile_failures: IntCounterVec,
    /// Report requests whose handler panicked (answered 500), by path.
    pub http_panics: IntCounterVec,
    agency: BTreeMap<&'static str, CounterVec>,
    estate: BTreeMap<&'static str, CounterVec>,
    month: MonthGauges,
    ledger_until: prometheus::Gauge,
    /// The platform dashboard's per-cluster gauges.
    pub cluster: ClusterGauges,
    /// Consolidation: active nodes and the fewest the work could run on (each time the
    /// estate is looked at for a plan), and what executed plans freed and saved.
    pub consolidation: GaugeVec,
}

/// Each agency's month beside its budget.
struct MonthGauges {
    info: GaugeVec,
    budget: GaugeVec,
    cost: GaugeVec,
    standalone_cost: GaugeVec,
    over_budget: GaugeVec,
}

pub struct ClusterGauges {
    pub cpu: GaugeVec,
    pub requested_cpu: GaugeVec,
    pub nodes: GaugeVec,
    pub power: GaugeVec,
}

/// Estate lines: (name, help, has a currency label).
const ESTATE_COUNTERS: [(&str, &str, bool); 7] = [
    (
        "colo_estate_energy_joules_total",
        "Facility energy of the whole estate",
        false,
    ),
    ("colo_estate_cost_total", "Cost of the whole estate", true),
    (
        "colo_estate_carbon_grams_total",
        "Carbon of the whole estate, g CO2e",
        false,
    ),
    (
        "colo_unattributed_energy_joules_total",
        "Idle and system energy no agency uses (spread over agencies pro rata)",
        false,
    ),
    (
        "colo_unattributed_cost_total",
        "Cost no agency uses (spread over agencies pro rata)",
        true,
    ),
    (
        "colo_spare_energy_joules_total",
        "Energy of nodes with no tenancy (the platform's line)",
        false,
    ),
    (
        "colo_spare_cost_total",
        "Cost of nodes with no tenancy (the platform's line)",
        true,
    ),
];

fn register<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    registry.register(Box::new(c.clone())).expect("register");
    c
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    register(
        registry,
        GaugeVec::new(Opts::new(name, help), labels).expect("metric"),
    )
}

fn counters(
    registry: &Registry,
    list: &[(&'static str, &str, bool)],
    labels: &[&str],
) -> BTreeMap<&'static str, CounterVec> {
    list.iter()
        .map(|&(name, help, money)| {
            let mut names = labels.to_vec();
            if money {
                names.push("currency");
            }
            let c = CounterVec::new(Opts::new(name, help), &names).expect("metric");
            (name, register(registry, c))
        })
        .collect()
}

fn histogram(registry: &Registry, name: &str, help: &str) -> Histogram {
    let buckets = vec![
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    register(
        registry,
        Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("metric"),
    )
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let r = &registry;
        Metrics {
            reconcile_duration: histogram(
                r,
                "colo_reconcile_duration_seconds",
                "Time to reconcile one object",
            ),
            placement_duration: histogram(
                r,
                "colo_placement_duration_seconds",
                "Time to plan one tenancy",
            ),
            tenancies: register(
                r,
                IntGaugeVec::new(
                    Opts::new("colo_tenancies", "Tenancies by phase"),
                    &["phase"],
                )
                .expect("metric"),
            ),
            reconcile_failures: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "colo_reconcile_failures_total",
                        "Failed reconciles by controller and the step that failed",
                    ),
                    &["controller", "error"],
                )
                .expect("metric"),
            ),
            http_panics: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "colo_http_panics_total",
                        "Report requests whose handler panicked, answered 500",
                    ),
                    &["path"],
                )
                .expect("metric"),
            ),
            agency: counters(r, &ledger_counters::listed(), &["agency"]),
            estate: counters(r, &ESTATE_COUNTERS, &[]),
            month: MonthGauges::new(r),
            ledger_until: register(
                r,
                prometheus::Gauge::new(
                    "colo_ledger_until_timestamp_seconds",
                    "Unix time up to which the ledger has accounted",
                )
                .expect("metric"),
            ),
            cluster: ClusterGauges::new(r),
            consolidation: gauge(
                r,
                "colo_consolidation",
                "Consolidation figures: active_nodes, lower_bound_nodes (at the last look for a plan), nodes_freed and saved_per_month (by executed plans)",
                &["figure"],
            ),
            registry,
        }
    }

    /// The metrics in Prometheus' text format.
    pub fn text(&self) -> String {
        prometheus::TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_default()
    }

    /// Sets `colo_tenancies{phase}` from counts by phase name.
    pub fn set_tenancy_phases(&self, counts: &BTreeMap<&'static str, i64>) {
        for (phase, n) in counts {
            self.tenancies.with_label_values(&[phase]).set(*n);
        }
    }

    /// Raises a counter to `value` (the ledger only grows, so counters never go back).
    fn raise(counter: &CounterVec, labels: &[&str], value: f64) {
        let c = counter.with_label_values(labels);
        let delta = value - c.get();
        if delta > 0.0 {
            c.inc_by(delta);
        }
    }

    /// Publishes the ledger's totals to date, and this month's cost beside the budgets.
    pub fn publish_ledger(&self, ledger: &Ledger, agencies: &[Agency], currency: &str) {
        for (name, a) in &ledger.to_date.agencies {
            for counter in &AGENCY_COUNTERS {
                let labels: Vec<&str> = if counter.money {
                    vec![name, currency]
                } else {
                    vec![name]
                };
                Self::raise(&self.agency[counter.metric], &labels, (counter.read)(a));
            }
        }
        let e = &ledger.to_date;
        let values = [
            e.total.joules,
            e.total.cost,
            e.total.grams,
            e.unattributed.joules,
            e.unattributed.cost,
            e.spare.joules,
            e.spare.cost,
        ];
        for ((metric, _, money), value) in ESTATE_COUNTERS.iter().zip(values) {
            let labels: Vec<&str> = if *money { vec![currency] } else { vec![] };
            Self::raise(&self.estate[metric], &labels, value);
        }
        for agency in agencies {
            self.publish_agency_month(agency, ledger, currency);
        }
        self.ledger_until.set(ledger.until as f64);
    }

    fn publish_agency_month(&self, agency: &Agency, ledger: &Ledger, currency: &str) {
        let name = agency.metadata.name.as_deref().unwrap_or_default();
        let m = &self.month;
        m.info
            .with_label_values(&[name, &agency.spec.cost_centre, &agency.spec.display_name])
            .set(1.0);
        let month = ledger.this_month.agencies.get(name);
        let cost = month.map_or(0.0, |m| m.shared.cost);
        m.cost.with_label_values(&[name, currency]).set(cents(cost));
        m.standalone_cost
            .with_label_values(&[name, currency])
            .set(cents(month.map_or(0.0, |m| m.standalone.cost)));
        if let Some(budget) = agency.spec.budget {
            m.budget.with_label_values(&[name, currency]).set(budget);
            m.over_budget
                .with_label_values(&[name])
                .set(if cost > budget { 1.0 } else { 0.0 });
        }
    }
}

impl MonthGauges {
    fn new(r: &Registry) -> Self {
        let money = &["agency", "currency"];
        MonthGauges {
            info: gauge(
                r,
                "colo_agency_info",
                "Each agency's cost centre and name (value 1), to join on agency",
                &["agency", "cost_centre", "display_name"],
            ),
            budget: gauge(
                r,
                "colo_agency_budget",
                "Monthly budget of the agency",
                money,
            ),
            cost: gauge(
                r,
                "colo_agency_month_cost",
                "Cost of the agency this month so far",
                money,
            ),
            standalone_cost: gauge(
                r,
                "colo_agency_month_standalone_cost",
                "What the agency would have paid alone this month so far",
                money,
            ),
            over_budget: gauge(
                r,
                "colo_agency_over_budget",
                "1 when this month's cost passed the agency's budget",
                &["agency"],
            ),
        }
    }
}

impl ClusterGauges {
    fn new(r: &Registry) -> Self {
        ClusterGauges {
            cpu: gauge(
                r,
                "colo_cluster_cpu_utilisation_ratio",
                "Measured CPU of active nodes over their capacity",
                &["cluster", "site"],
            ),
            requested_cpu: gauge(
                r,
                "colo_cluster_requested_cpu_ratio",
                "Requested CPU of active nodes over their capacity",
                &["cluster", "site"],
            ),
            nodes: gauge(
                r,
                "colo_cluster_nodes",
                "Nodes by state (active, standby)",
                &["cluster", "state"],
            ),
            power: gauge(
                r,
                "colo_cluster_power_watts",
                "IT power of the cluster's nodes now",
                &["cluster", "site"],
            ),
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use colo_engine::ledger::AgencyLedger;

    #[test]
    fn every_metric_the_spec_names_is_served() {
        let m = Metrics::new();
        m.tenancies.with_label_values(&["Running"]).set(1);
        m.reconcile_failures
            .with_label_values(&["tenancy", "plan"])
            .inc();
        let mut ledger = Ledger::default();
        ledger
            .to_date
            .agencies
            .insert("a".into(), AgencyLedger::default());
        m.publish_ledger(&ledger, &[], "GBP");
        let text = m.text();
        for name in AGENCY_COUNTERS.iter().map(|c| c.metric).chain([
            "colo_estate_cost_total",
            "colo_tenancies",
            "colo_reconcile_failures_total",
            "colo_ledger_until_timestamp_seconds",
        ]) {
            assert!(text.contains(name), "{name} missing");
        }
    }
}
