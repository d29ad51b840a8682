//! What this process knows and decided, with one owner and a small API (kueue's cache shape).
//! One file per question a caller asks (docs/glossary.md has the words):
//!
//! - [`placements`]: a tenancy's placement through its life: *assumed* when decided,
//!   *confirmed* once its member objects are applied (or *forgotten* when that fails), the
//!   *previous* one held until the new has rolled out and *settled*;
//! - [`quotas`]: what an agency's tenancies request per cluster, with surge room;
//! - [`moves`]: the make-before-break protocol between consolidation and the Tenancy
//!   controller;
//! - [`rejections`]: which tenancies validation rejects now, and what a revocation removed;
//! - [`news`]: phases (and their metric) and which Events are news;
//! - [`waits`]: tenancies that wait for the estate's nodes to change;
//! - [`spaces`]: what was applied of each agency's member space;
//! - the ledger as last persisted (below).
//!
//! Everything is behind one lock per piece, held only for the length of a query.

pub mod moves;
pub mod news;
pub mod placements;
pub mod quotas;
pub mod rejections;
pub mod spaces;
pub mod waits;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use colo_api::{Phase, Placement};
use colo_engine::ledger::Ledger;

use crate::k8s::keys::TenancyKey;
use crate::metrics::Metrics;
pub use placements::{Confirmed, Decided, Decisions};
pub use quotas::Requests;

/// Everything known of one tenancy; each field is read and written by one file of this module.
#[derive(Default)]
struct Record {
    agency: String,
    /// news.rs: the phase last written.
    phase: Option<Phase>,
    /// placements.rs: the newest decision, not yet applied.
    assumed: Option<Decided>,
    /// placements.rs: the placement whose member objects were applied.
    confirmed: Option<Confirmed>,
    /// placements.rs: what ran before the latest confirmed placement (other clusters, other
    /// sizes), until the new copies have rolled out and the old are gone: quotas count both.
    previous: Option<Decided>,
    /// rejections.rs: rejected by validation now: counted only where its pods still run,
    /// never planned. Set by the rejection and cleared by the next acceptance, nothing else.
    rejected: bool,
    /// rejections.rs: when the tenancy was first rejected while it had copies in members.
    rejected_since: Option<DateTime<Utc>>,
    /// rejections.rs: the clusters its copies were removed from when it was rejected.
    revoked: Option<BTreeSet<String>>,
    /// news.rs: the phase and explanation last announced by an Event.
    announced: Option<(Option<Phase>, Option<String>)>,
    /// news.rs: per Event reason announced apart from the phase (Placed, Resized): its last
    /// message.
    told: BTreeMap<&'static str, String>,
    /// moves.rs: where a consolidation's move of it stands.
    moving: Option<moves::Mark>,
}

impl Record {
    /// What counts now: the newest decision, applied or not.
    fn effective(&self) -> Option<&Decided> {
        self.assumed
            .as_ref()
            .or(self.confirmed.as_ref().map(|c| &c.decided))
    }

    /// True while a consolidation's move of it is open (`moves`).
    fn move_open(&self) -> bool {
        matches!(self.moving, Some(moves::Mark::Open(_)))
    }

    /// Its member objects were applied: a move that had ended is over (`moves`).
    fn applied(&mut self) {
        if self.moving == Some(moves::Mark::Ended) {
            self.moving = None;
        }
    }

    /// Every placement that may hold member pods now: the effective one and the previous.
    fn holding(&self) -> impl Iterator<Item = &Placement> {
        let effective = self.effective().map(|d| d.placements.iter());
        let previous = self.previous.as_ref().map(|d| d.placements.iter());
        effective
            .into_iter()
            .flatten()
            .chain(previous.into_iter().flatten())
    }
}

pub struct State {
    tenancies: Mutex<HashMap<TenancyKey, Record>>,
    /// waits.rs: tenancies with a replica larger than every node they may use.
    too_large: Mutex<HashSet<TenancyKey>>,
    /// waits.rs: per cluster, what its nodes offer (count and capacity), to tell a change.
    node_prints: Mutex<HashMap<String, u64>>,
    /// spaces.rs.
    spaces: Mutex<HashMap<spaces::SpaceKey, spaces::Applied>>,
    ledger: Mutex<Option<Ledger>>,
    metrics: Arc<Metrics>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().expect("state lock")
}

impl State {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        State {
            tenancies: Mutex::default(),
            too_large: Mutex::default(),
            node_prints: Mutex::default(),
            spaces: Mutex::default(),
            ledger: Mutex::default(),
            metrics,
        }
    }

    /// Notes that `key` exists and belongs to `agency` (every reconcile says so).
    pub fn track(&self, key: &TenancyKey, agency: &str) {
        let mut tenancies = lock(&self.tenancies);
        let record = tenancies.entry(key.clone()).or_default();
        if record.agency != agency {
            record.agency = agency.to_string();
        }
    }

    /// Forgets a tenancy that is gone.
    pub fn untrack(&self, key: &TenancyKey) {
        lock(&self.tenancies).remove(key);
        lock(&self.too_large).remove(key);
        self.publish_phases();
    }

    pub fn set_ledger(&self, ledger: Ledger) {
        *lock(&self.ledger) = Some(ledger);
    }

    /// The ledger as this process last persisted it (None: not leading, or not read yet).
    pub fn ledger(&self) -> Option<Ledger> {
        lock(&self.ledger).clone()
    }
}

/// A state for unit tests, with its own metrics.
#[cfg(test)]
pub fn for_tests() -> State {
    State::new(Arc::new(Metrics::new()))
}
