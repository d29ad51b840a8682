//! The live accounting loop: every interval, the estate as observed (measured usage from each
//! cluster's Prometheus) goes through the engine's ledger; the ledger is persisted in one
//! ConfigMap before anything is published, so a restart or a change of leader loses at most
//! one interval and never counts one twice; then metrics and Agency status follow it.
//!
//! Steps of a tick: observe → account → persist → publish (metrics, Agency status, Events).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use colo_api::report::{cents, thousandths};
use colo_api::{Agency, AgencyStatus, Condition, ReportRow};
use colo_engine::Estate;
use colo_engine::ledger::{AgencyLedger, Ledger};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use prometheus::{CounterVec, GaugeVec, Opts, Registry};

use crate::context::Context;
use crate::controllers::Shared;

/// The ConfigMap (in the operator's namespace) that holds the ledger.
pub const LEDGER_CONFIGMAP: &str = "colo-ledger";
const LEDGER_KEY: &str = "ledger.json";

#[derive(Debug, thiserror::Error)]
pub enum AccountingError {
    #[error("observe: {0}")]
    Observe(String),
    #[error("read the ledger: {0}")]
    Read(#[source] kube::Error),
    #[error("the ledger in {LEDGER_CONFIGMAP} is not readable: {0}")]
    Corrupt(String),
    #[error("account: {0}")]
    Account(#[from] colo_engine::ledger::TickError),
    #[error("persist the ledger (another writer, or the API server): {0}")]
    Persist(#[source] kube::Error),
    #[error("update agency status: {0}")]
    Status(#[source] kube::Error),
}

/// The SPEC's accounting metrics, in base units; money carries a `currency` label.
pub struct AccountingMetrics {
    agency: BTreeMap<&'static str, CounterVec>,
    estate: BTreeMap<&'static str, CounterVec>,
    pub agency_info: GaugeVec,
    pub budget: GaugeVec,
    pub month_cost: GaugeVec,
    pub month_standalone_cost: GaugeVec,
    pub over_budget: GaugeVec,
    pub ledger_until: prometheus::Gauge,
    pub cluster_cpu: GaugeVec,
    pub cluster_requested_cpu: GaugeVec,
    pub cluster_nodes: GaugeVec,
    pub cluster_power: GaugeVec,
}

/// Per-agency counters: (name, help, has a currency label), in the order of
/// [`counter_values`]; the report reads history back through the same list.
pub const AGENCY_COUNTERS: [(&str, &str, bool); 10] = [
    (
        "colo_agency_energy_joules_total",
        "Facility energy attributed to the agency",
        false,
    ),
    (
        "colo_agency_cost_total",
        "Cost attributed to the agency (energy and nodes)",
        true,
    ),
    (
        "colo_agency_carbon_grams_total",
        "Carbon attributed to the agency, g CO2e",
        false,
    ),
    (
        "colo_agency_standalone_energy_joules_total",
        "Facility energy the agency would use alone",
        false,
    ),
    (
        "colo_agency_standalone_cost_total",
        "What the agency would pay alone",
        true,
    ),
    (
        "colo_agency_standalone_carbon_grams_total",
        "Carbon the agency would emit alone, g CO2e",
        false,
    ),
    (
        "colo_agency_cpu_core_seconds_total",
        "CPU the agency used, core-seconds",
        false,
    ),
    (
        "colo_agency_memory_byte_seconds_total",
        "Memory the agency used, byte-seconds",
        false,
    ),
    (
        "colo_agency_measured_seconds_total",
        "Time accounted from measured usage",
        false,
    ),
    (
        "colo_agency_modelled_seconds_total",
        "Time accounted from requests (no fresh metrics)",
        false,
    ),
];

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

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), labels).expect("metric");
    registry.register(Box::new(g.clone())).expect("register");
    g
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
            registry.register(Box::new(c.clone())).expect("register");
            (name, c)
        })
        .collect()
}

impl AccountingMetrics {
    pub fn new(registry: &Registry) -> Self {
        let ledger_until = prometheus::Gauge::new(
            "colo_ledger_until_timestamp_seconds",
            "Unix time up to which the ledger has accounted",
        )
        .expect("metric");
        registry
            .register(Box::new(ledger_until.clone()))
            .expect("register");
        AccountingMetrics {
            agency: counters(registry, &AGENCY_COUNTERS, &["agency"]),
            estate: counters(registry, &ESTATE_COUNTERS, &[]),
            agency_info: gauge(
                registry,
                "colo_agency_info",
                "Each agency's cost centre and name (value 1), to join on agency",
                &["agency", "cost_centre", "display_name"],
            ),
            budget: gauge(
                registry,
                "colo_agency_budget",
                "Monthly budget of the agency",
                &["agency", "currency"],
            ),
            month_cost: gauge(
                registry,
                "colo_agency_month_cost",
                "Cost of the agency this month so far",
                &["agency", "currency"],
            ),
            month_standalone_cost: gauge(
                registry,
                "colo_agency_month_standalone_cost",
                "What the agency would have paid alone this month so far",
                &["agency", "currency"],
            ),
            over_budget: gauge(
                registry,
                "colo_agency_over_budget",
                "1 when this month's cost passed the agency's budget",
                &["agency"],
            ),
            ledger_until,
            cluster_cpu: gauge(
                registry,
                "colo_cluster_cpu_utilisation_ratio",
                "Measured CPU of active nodes over their capacity",
                &["cluster", "site"],
            ),
            cluster_requested_cpu: gauge(
                registry,
                "colo_cluster_requested_cpu_ratio",
                "Requested CPU of active nodes over their capacity",
                &["cluster", "site"],
            ),
            cluster_nodes: gauge(
                registry,
                "colo_cluster_nodes",
                "Nodes by state (active, standby)",
                &["cluster", "state"],
            ),
            cluster_power: gauge(
                registry,
                "colo_cluster_power_watts",
                "IT power of the cluster's nodes now",
                &["cluster", "site"],
            ),
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
    pub fn publish(&self, ledger: &Ledger, agencies: &[Agency], currency: &str) {
        for (name, a) in &ledger.to_date.agencies {
            for ((metric, _, money), value) in AGENCY_COUNTERS.iter().zip(counter_values(a)) {
                let labels: Vec<&str> = if *money {
                    vec![name, currency]
                } else {
                    vec![name]
                };
                Self::raise(&self.agency[metric], &labels, value);
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
            let name = agency.name_any();
            self.agency_info
                .with_label_values(&[&name, &agency.spec.cost_centre, &agency.spec.display_name])
                .set(1.0);
            let month = ledger.this_month.agencies.get(&name);
            let cost = month.map_or(0.0, |m| m.shared.cost);
            self.month_cost
                .with_label_values(&[&name, currency])
                .set(cents(cost));
            self.month_standalone_cost
                .with_label_values(&[&name, currency])
                .set(cents(month.map_or(0.0, |m| m.standalone.cost)));
            if let Some(budget) = agency.spec.budget {
                self.budget
                    .with_label_values(&[&name, currency])
                    .set(budget);
                self.over_budget
                    .with_label_values(&[&name])
                    .set(if cost > budget { 1.0 } else { 0.0 });
            }
        }
        self.ledger_until.set(ledger.until as f64);
    }
}

const GIB: f64 = (1u64 << 30) as f64;

/// An agency's figures as its counters' values, in the order of [`AGENCY_COUNTERS`].
fn counter_values(a: &AgencyLedger) -> [f64; 10] {
    [
        a.shared.joules,
        a.shared.cost,
        a.shared.grams,
        a.standalone.joules,
        a.standalone.cost,
        a.standalone.grams,
        a.cpu_core_seconds,
        a.memory_gib_seconds * GIB,
        a.measured_seconds,
        a.modelled_seconds,
    ]
}

/// The inverse of [`counter_values`]: figures from counter values (or their differences).
pub fn from_counter_values(v: [f64; 10], cost_centre: String) -> AgencyLedger {
    let mut a = AgencyLedger {
        cost_centre,
        ..Default::default()
    };
    a.shared.joules = v[0];
    a.shared.cost = v[1];
    a.shared.grams = v[2];
    a.standalone.joules = v[3];
    a.standalone.cost = v[4];
    a.standalone.grams = v[5];
    a.cpu_core_seconds = v[6];
    a.memory_gib_seconds = v[7] / GIB;
    a.measured_seconds = v[8];
    a.modelled_seconds = v[9];
    a
}

/// The month a moment falls in, as the ledger names it, and when it began.
pub fn month_of(t: DateTime<Utc>) -> (String, DateTime<Utc>) {
    let start = Utc
        .with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0)
        .single()
        .expect("the first of a month exists");
    (t.format("%Y-%m").to_string(), start)
}

fn next_month(start: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if start.month() == 12 {
        (start.year() + 1, 1)
    } else {
        (start.year(), start.month() + 1)
    };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .expect("the first of a month exists")
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn unix(t: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(t, 0).single().unwrap_or_default()
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

/// Reads the ledger and the ConfigMap's resourceVersion (None: no ledger yet).
pub async fn load(ctx: &Context) -> Result<(Ledger, Option<String>), AccountingError> {
    let api = Api::<ConfigMap>::namespaced(ctx.client.clone(), &ctx.config.namespace);
    let Some(cm) = api
        .get_opt(LEDGER_CONFIGMAP)
        .await
        .map_err(AccountingError::Read)?
    else {
        return Ok((Ledger::default(), None));
    };
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(LEDGER_KEY))
        .ok_or_else(|| AccountingError::Corrupt(format!("no key {LEDGER_KEY}")))?;
    let ledger = serde_json::from_str(text).map_err(|e| AccountingError::Corrupt(e.to_string()))?;
    Ok((ledger, cm.metadata.resource_version))
}

/// Writes the ledger only if nobody wrote it since `version` was read (else 409 Conflict).
async fn persist(
    ctx: &Context,
    ledger: &Ledger,
    version: Option<String>,
) -> Result<(), AccountingError> {
    let api = Api::<ConfigMap>::namespaced(ctx.client.clone(), &ctx.config.namespace);
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(LEDGER_CONFIGMAP.into());
    cm.metadata.labels = Some(BTreeMap::from([(
        "app.kubernetes.io/managed-by".to_string(),
        "colo".to_string(),
    )]));
    cm.data = Some(BTreeMap::from([(
        LEDGER_KEY.to_string(),
        serde_json::to_string(ledger).expect("a ledger serialises"),
    )]));
    let pp = PostParams {
        field_manager: Some(ctx.config.field_manager.clone()),
        ..Default::default()
    };
    match version {
        None => api.create(&pp, &cm).await.map(|_| ()),
        Some(v) => {
            cm.metadata.resource_version = Some(v);
            api.replace(LEDGER_CONFIGMAP, &pp, &cm).await.map(|_| ())
        }
    }
    .map_err(AccountingError::Persist)
}

/// Runs ticks every `accounting_interval` until `stop` resolves.
pub async fn run(shared: Arc<Shared>, stop: impl std::future::Future<Output = ()>) {
    let ctx = &shared.ctx;
    // Metrics start from the persisted ledger: a new leader continues, it does not reset.
    match load(ctx).await {
        Ok((ledger, _)) => {
            let agencies = agencies(ctx).await.unwrap_or_default();
            ctx.accounting
                .publish(&ledger, &agencies, &ctx.config.currency);
            *ctx.ledger.lock().expect("lock") = Some(ledger);
        }
        Err(e) => tracing::warn!(error = %e, "accounting starts without a ledger"),
    }
    let mut every = tokio::time::interval(ctx.config.accounting_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = every.tick() => {}
        }
        if let Err(e) = tick(&shared).await {
            tracing::warn!(error = %e, "accounting tick failed; the next one catches up");
        }
    }
}

/// Every Agency: from the watch cache when the operator has one (each tick needs them).
async fn agencies(ctx: &Context) -> Result<Vec<Agency>, kube::Error> {
    if let Some(cache) = &ctx.cache {
        return Ok(cache.agencies().await);
    }
    Ok(Api::<Agency>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await?
        .items)
}

/// One tick: observe → account → persist → publish.
pub async fn tick(shared: &Shared) -> Result<(), AccountingError> {
    let ctx = &shared.ctx;
    // Observe.
    let live = crate::observe::observe(ctx, &[])
        .await
        .map_err(|e| AccountingError::Observe(e.to_string()))?;
    let estate = Estate::from_snapshot(&live.snapshot)
        .map_err(|e| AccountingError::Observe(e.to_string()))?;
    let measured: Vec<bool> = estate
        .clusters
        .iter()
        .map(|c| live.health.get(&c.name).is_some_and(|h| h.metrics.is_ok()))
        .collect();
    // Account, from the persisted ledger (a new month starts at its first second).
    let (mut ledger, version) = load(ctx).await?;
    let now = ctx.accounting_clock.now();
    // At most two intervals (of accounting time) per tick: a longer gap is not guessed at.
    let max_gap = (2.0
        * ctx.config.accounting_interval.as_secs_f64().max(1.0)
        * ctx.config.accounting_speed) as i64;
    if ledger.until > 0 {
        let (month, start) = month_of(unix(ledger.until));
        let boundary = next_month(start);
        if now > boundary && unix(ledger.until) < boundary {
            ledger.tick(&estate, &measured, boundary.timestamp(), &month, max_gap)?;
        }
    }
    let (month, _) = month_of(now);
    ledger.tick(&estate, &measured, now.timestamp(), &month, max_gap)?;
    // Persist before publishing: what was published is always in the ledger.
    persist(ctx, &ledger, version).await?;
    // Publish.
    let agencies = agencies(ctx).await.map_err(AccountingError::Status)?;
    ctx.accounting
        .publish(&ledger, &agencies, &ctx.config.currency);
    *ctx.ledger.lock().expect("lock") = Some(ledger.clone());
    for agency in &agencies {
        update_agency(shared, agency, &ledger).await?;
    }
    Ok(())
}

/// The Agency's status from what this process knows: its tenancies, the ledger, its budget.
pub fn agency_status(shared: &Shared, agency: &Agency, ledger: Option<&Ledger>) -> AgencyStatus {
    let ctx = &shared.ctx;
    let name = agency.name_any();
    let tenancies = shared
        .agency_of
        .lock()
        .expect("lock")
        .values()
        .filter(|a| **a == name)
        .count() as i32;
    let old = agency.status.clone().unwrap_or_default();
    let mut status = AgencyStatus {
        tenancies,
        usage: old.usage.clone(),
        conditions: old.conditions.clone(),
        this_month: old.this_month.clone(),
        to_date: old.to_date.clone(),
        observed_generation: agency.metadata.generation,
    };
    let Some(ledger) = ledger.filter(|l| l.until > 0) else {
        return status;
    };
    let currency = &ctx.config.currency;
    let until = unix(ledger.until);
    let (_, month_start) = month_of(until);
    let empty = AgencyLedger {
        cost_centre: agency.spec.cost_centre.clone(),
        ..Default::default()
    };
    let month = ledger.this_month.agencies.get(&name).unwrap_or(&empty);
    let to_date = ledger.to_date.agencies.get(&name).unwrap_or(&empty);
    let first = ledger.since;
    let resources = |cores: f64, gib: f64| colo_api::Resources {
        cpu: colo_api::Quantity::from_cpu_millis((cores * 1000.0).round() as u64),
        memory: colo_api::Quantity::from_bytes((gib * 1024.0).round() as u64 * (1 << 20)),
    };
    status.usage = Some(colo_api::AgencyUsage {
        now: resources(month.now_cores, month.now_memory_gib),
        peak_this_month: resources(month.peak_cores, month.peak_memory_gib),
    });
    status.this_month = Some(row(
        &name,
        month,
        month_start.max(unix(first)),
        until,
        currency,
    ));
    status.to_date = Some(row(&name, to_date, unix(first), until, currency));
    status.conditions.retain(|c| c.type_ != "WithinBudget");
    if let Some(budget) = agency.spec.budget {
        let cost = cents(month.shared.cost);
        let within = cost <= budget;
        let message =
            format!("{cost:.2} of the monthly budget {budget:.2} {currency} spent this month");
        let now = rfc3339(ctx.clock.now());
        let previous = old.conditions.iter().find(|c| c.type_ == "WithinBudget");
        let status_text = if within { "True" } else { "False" };
        status.conditions.push(Condition {
            type_: "WithinBudget".into(),
            status: status_text.into(),
            reason: if within { "WithinBudget" } else { "OverBudget" }.into(),
            message,
            last_transition_time: match previous {
                Some(p) if p.status == status_text => p.last_transition_time.clone(),
                _ => Some(now),
            },
            observed_generation: agency.metadata.generation,
        });
    }
    status
}

/// Writes an Agency's status when it changed, with an Event when it goes over budget.
async fn update_agency(
    shared: &Shared,
    agency: &Agency,
    ledger: &Ledger,
) -> Result<(), AccountingError> {
    let status = agency_status(shared, agency, Some(ledger));
    let was_over = agency
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "WithinBudget"))
        .is_some_and(|c| c.status == "False");
    let over = status
        .conditions
        .iter()
        .find(|c| c.type_ == "WithinBudget")
        .filter(|c| c.status == "False");
    if let (Some(c), false) = (over, was_over) {
        let event = Event {
            type_: EventType::Warning,
            reason: "OverBudget".into(),
            note: Some(c.message.clone()),
            action: "Accounting".into(),
            secondary: None,
        };
        if let Err(e) = shared
            .recorder
            .publish(&event, &agency.object_ref(&()))
            .await
        {
            tracing::warn!(error = %e, "could not publish an event");
        }
    }
    let api = Api::<Agency>::all(shared.ctx.client.clone());
    crate::status::write(
        &api,
        agency,
        agency.status.as_ref(),
        &status,
        &shared.ctx.config.field_manager,
    )
    .await
    .map_err(AccountingError::Status)
}
