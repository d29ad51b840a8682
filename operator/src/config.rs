//! The operator's settings and its clocks. Nothing here reads the environment: `cmd` fills a
//! `Config` from flags, and tests build one by hand.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Injected so reconciles and accounting windows never read the wall clock directly.
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
    /// Namespace of member kubeconfig Secrets that do not name one, of the leader Lease and
    /// of the ledger.
    pub namespace: String,
    /// Field manager of every server-side apply.
    pub field_manager: String,
    /// `rate()` window of CPU counters (a few scrape intervals).
    pub rate_window: String,
    /// How often SharedCluster status is refreshed, and tenancies not yet Running re-checked.
    pub resync: Duration,
    /// How long one Prometheus measurement of a cluster is used before it is taken again.
    pub measure_every: Duration,
    /// How often member objects of an unchanged tenancy are applied again (drift repair).
    pub drift_repair: Duration,
    /// How often a tenancy that found no room is planned again.
    pub pending_retry: Duration,
    /// How long a rejected tenancy keeps its copies in member clusters before they are
    /// removed: time to undo a mistaken edit of its Agency.
    pub revocation_grace: Duration,
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
            drift_repair: Duration::from_secs(300),
            pending_retry: Duration::from_secs(30),
            revocation_grace: Duration::from_secs(300),
            accounting_interval: Duration::from_secs(60),
            accounting_speed: 1.0,
            currency: "GBP".into(),
            history_prometheus: None,
        }
    }
}
