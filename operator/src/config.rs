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
    /// `sizing: Measured`: samples of usage a window needs before a request is lowered.
    pub sizing_min_samples: u32,
    /// How long a rejected tenancy keeps its copies in member clusters before they are
    /// removed: time to undo a mistaken edit of its Agency.
    pub revocation_grace: Duration,
    /// How often the accounting loop accounts the estate.
    pub accounting_interval: Duration,
    /// Seconds of use each second accounts (1 but in demos and tests, where figures should
    /// grow visibly; times stay the clock's).
    pub accounting_speed: f64,
    /// The currency of every figure of money (a label on money metrics, a report column).
    pub currency: String,
    /// The Prometheus that scrapes Colo's own metrics: past report windows are read there.
    pub history_prometheus: Option<String>,
    /// How long any one call to a member cluster may take.
    pub member_timeout: Duration,
    /// A member that has not answered its heartbeat for this long is unreachable.
    pub member_unreachable_after: Duration,
    /// `SingleSite` tenancies on a member silent this long are placed again elsewhere.
    pub failover_grace: Duration,
    /// A member back from an outage takes new placements once it has answered this long.
    pub member_settle: Duration,
    pub consolidation: Consolidation,
}

/// What the consolidation controller does on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ConsolidationMode {
    /// Nothing is proposed; plans the platform team creates are still filled in and executed.
    Off,
    /// A plan is proposed every interval when it saves enough; the platform team approves it.
    Propose,
    /// As `propose`, and a plan saving at least the auto-approval figure is approved at once.
    Auto,
}

#[derive(Clone, Debug)]
pub struct Consolidation {
    pub mode: ConsolidationMode,
    /// How often the estate is looked at for a plan (and executing plans are advanced).
    pub interval: Duration,
    /// A plan is proposed only when it saves at least this much a month.
    pub min_monthly_saving: f64,
    /// In `auto` mode, a plan saving at least this much a month is approved by Colo.
    pub auto_approve_saving: f64,
    /// Tenancies of one agency moving at once.
    pub moves_per_agency: usize,
    /// A move not complete after this long is rolled back.
    pub move_timeout: Duration,
    /// How often an executing plan is looked at.
    pub step_every: Duration,
    /// What moving one replica costs, once, and the months a saving is set against it.
    pub disruption_cost_per_move: f64,
    pub horizon_months: f64,
}

impl Default for Consolidation {
    fn default() -> Self {
        let engine = colo_engine::consolidate::Thresholds::default();
        Consolidation {
            mode: ConsolidationMode::Propose,
            interval: Duration::from_secs(3600),
            min_monthly_saving: 20.0,
            auto_approve_saving: 100.0,
            moves_per_agency: 2,
            move_timeout: Duration::from_secs(600),
            step_every: Duration::from_secs(5),
            disruption_cost_per_move: engine.disruption_cost_per_move,
            horizon_months: engine.horizon_months,
        }
    }
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
            sizing_min_samples: 20,
            accounting_interval: Duration::from_secs(60),
            accounting_speed: 1.0,
            currency: "GBP".into(),
            history_prometheus: None,
            member_timeout: Duration::from_secs(10),
            member_unreachable_after: Duration::from_secs(20),
            failover_grace: Duration::from_secs(180),
            member_settle: Duration::from_secs(120),
            consolidation: Consolidation::default(),
        }
    }
}
