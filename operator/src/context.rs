//! What every controller shares: the hub client, member clients, configuration, metrics, the
//! clock, and the latest placement decisions (so quotas are summed consistently).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use colo_api::Placement;
use prometheus::{Histogram, HistogramOpts, IntGaugeVec, Opts, Registry};

use crate::members::Members;

/// Injected so tests and accounting windows never read the wall clock directly.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that runs `speed` times faster than the wall clock from `start` on: for demos and
/// tests of accounting, where a day should pass in minutes. The same `start` after a restart
/// gives the same time, so the ledger carries on.
pub struct FastClock {
    start: DateTime<Utc>,
    speed: f64,
}

impl FastClock {
    pub fn new(start: DateTime<Utc>, speed: f64) -> Self {
        FastClock { start, speed }
    }
}

impl Clock for FastClock {
    fn now(&self) -> DateTime<Utc> {
        let real = (Utc::now() - self.start).num_milliseconds() as f64;
        self.start + chrono::Duration::milliseconds((real * self.speed) as i64)
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    /// Namespace of member kubeconfig Secrets that do not name one, and of the leader Lease.
    pub namespace: String,
    /// Field manager of every server-side apply.
    pub field_manager: String,
    /// `rate()` window of CPU counters (a few scrape intervals).
    pub rate_window: String,
    /// How often SharedCluster status is refreshed, and tenancies not yet Running re-checked.
    pub resync: Duration,
    /// How long one Prometheus measurement of a cluster is used before it is taken again.
    pub measure_every: Duration,
    /// How often the accounting loop accounts the estate.
    pub accounting_interval: Duration,
    /// How much faster than the wall clock accounting time runs (1 but in demos and tests).
    pub accounting_speed: f64,
    /// The currency of every figure of money (a label on money metrics, a report column).
    pub currency: String,
    /// The Prometheus that scrapes Colo's own metrics: past report windows are read there.
    pub history_prometheus: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            namespace: "colo-system".into(),
            field_manager: "colo".into(),
            rate_window: "1m".into(),
            resync: Duration::from_secs(15),
            measure_every: Duration::from_secs(15),
            accounting_interval: Duration::from_secs(60),
            accounting_speed: 1.0,
            currency: "GBP".into(),
            history_prometheus: None,
        }
    }
}

pub struct Metrics {
    pub registry: Registry,
    pub reconcile_duration: Histogram,
    pub placement_duration: Histogram,
    pub tenancies: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let buckets = vec![
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let reconcile_duration = Histogram::with_opts(
            HistogramOpts::new(
                "colo_reconcile_duration_seconds",
                "Time to reconcile one object",
            )
            .buckets(buckets.clone()),
        )
        .expect("metric");
        let placement_duration = Histogram::with_opts(
            HistogramOpts::new(
                "colo_placement_duration_seconds",
                "Time to plan one tenancy",
            )
            .buckets(buckets),
        )
        .expect("metric");
        let tenancies = IntGaugeVec::new(
            Opts::new("colo_tenancies", "Tenancies by phase"),
            &["phase"],
        )
        .expect("metric");
        for m in [
            Box::new(reconcile_duration.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(placement_duration.clone()),
            Box::new(tenancies.clone()),
        ] {
            registry.register(m).expect("register metric");
        }
        Metrics {
            registry,
            reconcile_duration,
            placement_duration,
            tenancies,
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The generation whose member objects were applied, and when.
pub type Applied = (Option<i64>, DateTime<Utc>);

pub struct Context {
    pub client: kube::Client,
    pub members: Members,
    pub config: Config,
    pub metrics: Metrics,
    pub clock: Arc<dyn Clock>,
    /// The clock accounting windows are measured with (the wall clock, unless sped up).
    pub accounting_clock: Arc<dyn Clock>,
    /// Per agency: held while a tenancy of it is planned and applied, so that placements and
    /// the agency's quotas in member clusters are decided one at a time.
    agency_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Latest placements decided by this process, by `namespace/name`, ahead of the cache.
    pub decided: Mutex<HashMap<String, Vec<Placement>>>,
    /// Generation of each tenancy whose member objects were applied, and when.
    pub applied: Mutex<HashMap<String, Applied>>,
    /// Watch-fed caches for the planner (None: list on every observation, as `colo snapshot`).
    pub cache: Option<Arc<crate::cache::Cache>>,
    /// The nodes the engine chose for them, counted until their pods run.
    pub decided_nodes: Mutex<HashMap<String, Vec<colo_engine::snapshot::ObservedAssignment>>>,
    /// Latest Prometheus measurement of each cluster.
    pub measurements: Mutex<HashMap<String, crate::observe::Measurement>>,
    /// Per cluster with fresh metrics: measured p95 of each tenancy workload running there.
    pub workload_usage: Mutex<HashMap<String, crate::observe::WorkloadUsage>>,
    pub accounting: crate::accounting::AccountingMetrics,
    /// The ledger as last persisted by this process (None: not leading, or not read yet).
    pub ledger: Mutex<Option<colo_engine::ledger::Ledger>>,
}

impl Context {
    pub fn new(client: kube::Client, config: Config) -> Self {
        let metrics = Metrics::new();
        Context {
            members: Members::new(client.clone(), config.namespace.clone()),
            client,
            config,
            accounting: crate::accounting::AccountingMetrics::new(&metrics.registry),
            ledger: Mutex::default(),
            metrics,
            clock: Arc::new(SystemClock),
            accounting_clock: Arc::new(SystemClock),
            agency_locks: Mutex::default(),
            decided: Mutex::default(),
            decided_nodes: Mutex::default(),
            applied: Mutex::default(),
            measurements: Mutex::default(),
            workload_usage: Mutex::default(),
            cache: None,
        }
    }

    pub fn agency_lock(&self, agency: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.agency_locks
            .lock()
            .expect("lock")
            .entry(agency.to_string())
            .or_default()
            .clone()
    }
}
