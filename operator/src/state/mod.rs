//! What this process knows and decided, with one owner and a small API (kueue's cache shape):
//! the planner *assumes* a placement, the apply step *confirms* it once the member objects are
//! applied or *forgets* it when that fails; quota sums, counts and the nodes the planner must
//! count are queries on it. Also the phase of each tenancy, what was applied of each agency's
//! member space, and the ledger as last persisted.
//!
//! Everything is behind one lock per piece, held only for the length of a query.

pub mod figures;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use colo_api::{Phase, Placement, Resources};
use colo_engine::ledger::Ledger;
use colo_engine::snapshot::ObservedAssignment;

use crate::k8s::keys::TenancyKey;
use crate::metrics::Metrics;

/// A placement decided by the planner: per workload and cluster, the nodes chosen, and why.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decided {
    pub placements: Vec<Placement>,
    /// The nodes the engine chose, counted by later plans until the pods run there.
    pub nodes: Vec<ObservedAssignment>,
    /// One sentence: why there, and why not the others.
    pub explanation: String,
    /// The placement spec it was decided for ([`placement_spec`]): a spec edit that leaves
    /// this alone (an image, an env var) keeps the placement.
    pub spec: String,
    /// Standby nodes (cluster, node) the engine chose: uncordoned when it is applied.
    pub wake: Vec<(String, String)>,
}

/// A placement whose member objects were applied: for which spec, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct Confirmed {
    pub decided: Decided,
    /// The generation of the Tenancy applied.
    pub generation: Option<i64>,
    pub at: DateTime<Utc>,
    /// Applied with more than decided: replicas kept somewhere while a move is in flight, or
    /// quota room for a consolidation's surge pod. Applied again (trimmed) next time.
    pub surged: bool,
}

#[derive(Default)]
struct Record {
    agency: String,
    phase: Option<Phase>,
    assumed: Option<Decided>,
    confirmed: Option<Confirmed>,
    /// What ran before the latest confirmed placement (other clusters, other sizes), until
    /// the new copies have rolled out and the old are gone: quotas count both meanwhile.
    previous: Option<Decided>,
    /// Rejected by validation now: counted only where its pods still run, never planned.
    /// Set by the rejection and cleared by the next acceptance, nothing else.
    rejected: bool,
    /// When the tenancy was first rejected while it had copies in member clusters.
    rejected_since: Option<DateTime<Utc>>,
    /// The clusters its copies were removed from when it was rejected (until accepted again).
    revoked: Option<std::collections::BTreeSet<String>>,
    /// The phase and explanation last announced by an Event.
    announced: Option<(Option<Phase>, Option<String>)>,
    /// Per Event reason announced apart from the phase (Placed, Resized): its last message.
    told: BTreeMap<&'static str, String>,
    /// Since when a consolidation moves it: its quota has room for one more replica of each
    /// workload (a rolling restart's surge pod) and its member objects are applied each time.
    moving: Option<DateTime<Utc>>,
}

impl Record {
    /// What counts now: the newest decision, applied or not.
    fn effective(&self) -> Option<&Decided> {
        self.assumed
            .as_ref()
            .or(self.confirmed.as_ref().map(|c| &c.decided))
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

/// What this process placed, as the planner's snapshot counts it, per tenancy (by engine
/// name): the nodes decided, counted until its pods run there; and per workload the requests
/// its replicas are asked for in the members (the larger of two sizes while a rollout
/// replaces one with the other), so the plan counts what kube-scheduler counts.
#[derive(Clone, Debug, Default)]
pub struct Decisions {
    pub nodes: HashMap<String, Vec<ObservedAssignment>>,
    pub sizes: HashMap<String, BTreeMap<String, Resources>>,
}

/// Per resource, the larger of two requests.
fn larger(a: &Resources, b: &Resources) -> Resources {
    let cpu = |r: &Resources| r.cpu.cpu_millis().unwrap_or(0);
    let mem = |r: &Resources| r.memory.bytes().unwrap_or(0);
    Resources {
        cpu: if cpu(b) > cpu(a) {
            b.cpu.clone()
        } else {
            a.cpu.clone()
        },
        memory: if mem(b) > mem(a) {
            b.memory.clone()
        } else {
            a.memory.clone()
        },
    }
}

/// What a tenancy's placement depends on, as a short stable text: classification, regions,
/// resilience, sizing, a pinned cluster, and each workload's name, replicas and requests.
/// Stamped on member objects, so a restarted operator knows which spec they were made for.
pub fn placement_spec(spec: &colo_api::TenancySpec) -> String {
    let mut regions = spec.regions.clone();
    regions.sort();
    let mut workloads: Vec<String> = spec
        .workloads
        .iter()
        .map(|w| {
            let cpu = w
                .cpu
                .cpu_millis()
                .map_or_else(|_| w.cpu.to_string(), |m| m.to_string());
            let mem = w
                .memory
                .bytes()
                .map_or_else(|_| w.memory.to_string(), |b| b.to_string());
            format!("{}:{}:{cpu}:{mem}", w.name, w.replicas)
        })
        .collect();
    workloads.sort();
    let text = format!(
        "{}|{}|{:?}|{:?}|{}|{}",
        spec.classification.as_str(),
        regions.join(","),
        spec.resilience,
        spec.sizing,
        spec.cluster.as_deref().unwrap_or_default(),
        workloads.join(",")
    );
    fingerprint(&text)
}

/// A short stable digest of `text` (FNV-1a, 64 bits: stable across builds and platforms,
/// unlike the std hasher), for what is stamped on objects and compared later.
pub fn fingerprint(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// An agency's member space in one cluster: (cluster, agency).
type SpaceKey = (String, String);

/// What was last applied of a member space (its fingerprint), and when.
type Applied = (u64, DateTime<Utc>);

/// CPU (milli-cores) and memory (bytes) requested.
pub type Requests = (i64, i64);

pub struct State {
    tenancies: Mutex<HashMap<TenancyKey, Record>>,
    /// Tenancies with a replica larger than every node they may use.
    too_large: Mutex<std::collections::HashSet<TenancyKey>>,
    /// Per cluster: what its nodes offer (count and capacity), to tell when that changes.
    node_prints: Mutex<HashMap<String, u64>>,
    spaces: Mutex<HashMap<SpaceKey, Applied>>,
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

    /// What a starting process learns from the member clusters, until it confirms its own.
    pub fn seed(&self, key: &TenancyKey, agency: &str, seen: Confirmed) {
        let mut tenancies = lock(&self.tenancies);
        let record = tenancies.entry(key.clone()).or_default();
        record.agency = agency.to_string();
        if !seen.decided.placements.is_empty() {
            record.confirmed = Some(seen);
        }
    }

    /// A placement decided (by the planner, or re-sized): counted from now on, until
    /// confirmed or forgotten. A confirmed placement it replaces keeps counting as the
    /// previous one, since its pods run until the new ones have rolled out.
    pub fn assume(&self, key: &TenancyKey, decided: Decided) {
        let mut tenancies = lock(&self.tenancies);
        let record = tenancies.entry(key.clone()).or_default();
        if let Some(old) = &record.confirmed
            && old.decided.placements != decided.placements
        {
            let previous = record.previous.get_or_insert_with(Decided::default);
            for p in &old.decided.placements {
                if !previous.placements.contains(p) {
                    previous.placements.push(p.clone());
                }
            }
        }
        record.assumed = Some(decided);
    }

    /// The member objects of `confirmed` were applied. The placement it replaced counts as
    /// the previous one (noted when it was assumed) until [`State::settle`].
    pub fn confirm(&self, key: &TenancyKey, confirmed: Confirmed) {
        let mut tenancies = lock(&self.tenancies);
        let record = tenancies.entry(key.clone()).or_default();
        record.assumed = None;
        record.confirmed = Some(confirmed);
    }

    /// The new copies have rolled out and the old are gone: the previous placement no longer
    /// counts. Returns it (its clusters' quotas shrink), or None if there was none.
    pub fn settle(&self, key: &TenancyKey) -> Option<Decided> {
        lock(&self.tenancies).get_mut(key)?.previous.take()
    }

    /// The placement before the latest confirmed one, while it is still counted.
    pub fn previous(&self, key: &TenancyKey) -> Option<Decided> {
        lock(&self.tenancies).get(key)?.previous.clone()
    }

    /// When a tenancy with copies was first rejected (noted now if it was not).
    pub fn rejected_since(&self, key: &TenancyKey, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut tenancies = lock(&self.tenancies);
        let record = tenancies.entry(key.clone()).or_default();
        *record.rejected_since.get_or_insert(now)
    }

    /// Validation rejected the tenancy: it is not planned until it is accepted again.
    pub fn reject(&self, key: &TenancyKey) {
        lock(&self.tenancies)
            .entry(key.clone())
            .or_default()
            .rejected = true;
    }

    /// The tenancy is accepted again: no rejection runs, no revocation is remembered, and
    /// the planner sees it.
    pub fn not_rejected(&self, key: &TenancyKey) {
        if let Some(record) = lock(&self.tenancies).get_mut(key) {
            record.rejected = false;
            record.rejected_since = None;
            record.revoked = None;
        }
    }

    /// Its copies were removed from `clusters` because it was rejected.
    pub fn revoked(&self, key: &TenancyKey, clusters: std::collections::BTreeSet<String>) {
        lock(&self.tenancies)
            .entry(key.clone())
            .or_default()
            .revoked = Some(clusters);
    }

    /// Where its copies were removed from when it was rejected, if they were.
    pub fn was_revoked(&self, key: &TenancyKey) -> Option<std::collections::BTreeSet<String>> {
        lock(&self.tenancies).get(key)?.revoked.clone()
    }

    /// Applying the assumed placement failed: it no longer counts, and the confirmed one is
    /// current again (not also a previous one).
    pub fn forget(&self, key: &TenancyKey) {
        let mut tenancies = lock(&self.tenancies);
        let Some(record) = tenancies.get_mut(key) else {
            return;
        };
        record.assumed = None;
        let current = record
            .confirmed
            .as_ref()
            .map(|c| c.decided.placements.clone());
        if let (Some(previous), Some(current)) = (record.previous.as_mut(), current) {
            previous.placements.retain(|p| !current.contains(p));
            if previous.placements.is_empty() {
                record.previous = None;
            }
        }
    }

    /// Drops everything placed for `key` (its copies are gone).
    pub fn clear_placement(&self, key: &TenancyKey) {
        if let Some(record) = lock(&self.tenancies).get_mut(key) {
            record.assumed = None;
            record.confirmed = None;
            record.previous = None;
            record.rejected_since = None;
        }
    }

    /// The placement assumed for `key` (decided, not yet applied), if any.
    pub fn assumed(&self, key: &TenancyKey) -> Option<Decided> {
        lock(&self.tenancies).get(key)?.assumed.clone()
    }

    /// The placement confirmed for `key`, if any.
    pub fn confirmed(&self, key: &TenancyKey) -> Option<Confirmed> {
        lock(&self.tenancies)
            .get(key)
            .and_then(|r| r.confirmed.clone())
    }

    /// True once per change of a tenancy's phase or explanation: whether that change is news
    /// (decided here, not on the cached object, which may not show the last write yet).
    pub fn news(&self, key: &TenancyKey, phase: Option<Phase>, explanation: Option<&str>) -> bool {
        let now = (phase, explanation.map(str::to_string));
        let mut tenancies = lock(&self.tenancies);
        let record = tenancies.entry(key.clone()).or_default();
        if record.announced.as_ref() == Some(&now) {
            return false;
        }
        record.announced = Some(now);
        true
    }

    /// True when `message` differs from the last one told for `reason` about this tenancy, so
    /// that a step repeated (a retried write, a re-seen decision) is announced once.
    pub fn news_of(&self, key: &TenancyKey, reason: &'static str, message: &str) -> bool {
        let mut tenancies = lock(&self.tenancies);
        let told = &mut tenancies.entry(key.clone()).or_default().told;
        if told.get(reason).map(String::as_str) == Some(message) {
            return false;
        }
        told.insert(reason, message.to_string());
        true
    }

    /// Records a tenancy's phase and refreshes `colo_tenancies{phase}`.
    pub fn set_phase(&self, key: &TenancyKey, phase: Phase) {
        let changed = lock(&self.tenancies)
            .get_mut(key)
            .map(|r| r.phase.replace(phase) != Some(phase))
            .unwrap_or(false);
        if changed {
            self.publish_phases();
        }
    }

    /// The phase last written for a tenancy.
    pub fn phase(&self, key: &TenancyKey) -> Option<Phase> {
        lock(&self.tenancies).get(key).and_then(|r| r.phase)
    }

    fn publish_phases(&self) {
        let mut counts: BTreeMap<&'static str, i64> =
            ["Pending", "Placed", "Running", "Degraded", "Rejected"]
                .into_iter()
                .map(|p| (p, 0))
                .collect();
        for phase in lock(&self.tenancies).values().filter_map(|r| r.phase) {
            *counts.entry(phase_name(phase)).or_default() += 1;
        }
        self.metrics.set_tenancy_phases(&counts);
    }

    /// Per cluster, what the agency's tenancies request there (its quota), with room for one
    /// more replica of each workload of a tenancy a consolidation moves.
    pub fn quotas(&self, agency: &str) -> BTreeMap<String, Requests> {
        let mut quotas: BTreeMap<String, Requests> = BTreeMap::new();
        for record in lock(&self.tenancies)
            .values()
            .filter(|r| r.agency == agency)
        {
            let mut surge: BTreeMap<(&str, &str), Requests> = BTreeMap::new();
            for p in record.holding() {
                let Some(r) = &p.requests else { continue };
                let one = (
                    r.cpu.cpu_millis().unwrap_or(0) as i64,
                    r.memory.bytes().unwrap_or(0) as i64,
                );
                let e = quotas.entry(p.cluster.clone()).or_default();
                *e = (
                    e.0 + one.0 * p.replicas as i64,
                    e.1 + one.1 * p.replicas as i64,
                );
                if record.moving.is_some() {
                    let s = surge.entry((&p.cluster, &p.workload)).or_default();
                    *s = (s.0.max(one.0), s.1.max(one.1));
                }
            }
            for ((cluster, _), one) in surge {
                let e = quotas.entry(cluster.to_string()).or_default();
                *e = (e.0 + one.0, e.1 + one.1);
            }
        }
        quotas
    }

    /// Tenancies with a placement decided and not yet applied, or a placement they replace
    /// still held: the estate is changing under them.
    pub fn in_flight(&self) -> Vec<TenancyKey> {
        let mut keys: Vec<TenancyKey> = lock(&self.tenancies)
            .iter()
            .filter(|(_, r)| r.assumed.is_some() || r.previous.is_some() || r.moving.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    }

    /// A consolidation starts moving `key`.
    pub fn start_moving(&self, key: &TenancyKey, now: DateTime<Utc>) {
        let mut tenancies = lock(&self.tenancies);
        let record = tenancies.entry(key.clone()).or_default();
        record.moving.get_or_insert(now);
    }

    /// The consolidation's move of `key` is over (done or rolled back): its member objects
    /// are applied again next time (the quota loses the surge room).
    pub fn stop_moving(&self, key: &TenancyKey) {
        if let Some(record) = lock(&self.tenancies).get_mut(key)
            && record.moving.take().is_some()
            && let Some(c) = record.confirmed.as_mut()
        {
            c.surged = true;
        }
    }

    /// Ends every move not in `moving` (its plan was deleted, or finished in another replica's
    /// time): a tenancy is moved only while an open plan says so.
    pub fn keep_moving_only(&self, moving: &std::collections::HashSet<TenancyKey>) {
        let stale: Vec<TenancyKey> = lock(&self.tenancies)
            .iter()
            .filter(|(k, r)| r.moving.is_some() && !moving.contains(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            self.stop_moving(&key);
        }
    }

    /// True when a consolidation moves `key`.
    pub fn is_moving(&self, key: &TenancyKey) -> bool {
        lock(&self.tenancies)
            .get(key)
            .is_some_and(|r| r.moving.is_some())
    }

    /// True once `key`'s member objects (and its quota's room for a surge) were applied
    /// since a consolidation started moving it.
    pub fn applied_since_moving(&self, key: &TenancyKey) -> bool {
        lock(&self.tenancies).get(key).is_some_and(|r| {
            let applied = r.confirmed.as_ref().map(|c| c.at);
            r.moving.is_some() && applied >= r.moving
        })
    }

    /// How many of an agency's tenancies are accepted (reconciled and not Rejected).
    pub fn accepted_of(&self, agency: &str) -> usize {
        lock(&self.tenancies)
            .values()
            .filter(|r| r.agency == agency)
            .filter(|r| r.phase.is_some_and(|p| p != Phase::Rejected))
            .count()
    }

    /// Notes whether a tenancy waits for the estate's nodes to change (a replica larger than
    /// every node it may use).
    pub fn waiting_for_nodes(&self, key: &TenancyKey, waiting: bool) {
        let mut set = lock(&self.too_large);
        if waiting {
            set.insert(key.clone());
        } else {
            set.remove(key);
        }
    }

    /// Records what a cluster offers now (its nodes, whether it answers); when that changed,
    /// returns the tenancies waiting for nodes to change (they may fit now) and those with
    /// copies there (their replicas may have gone dark, or come back).
    pub fn nodes_seen(&self, cluster: &str, print: u64) -> Vec<TenancyKey> {
        let before = lock(&self.node_prints).insert(cluster.to_string(), print);
        if before.is_none_or(|b| b == print) {
            return Vec::new();
        }
        let mut keys: Vec<TenancyKey> = lock(&self.too_large).iter().cloned().collect();
        keys.extend(
            lock(&self.tenancies)
                .iter()
                .filter(|(_, r)| r.holding().any(|p| p.cluster == cluster))
                .map(|(k, _)| k.clone()),
        );
        keys
    }

    /// The tenancies validation rejects now (not their last written phase: a tenancy
    /// accepted again is planned at once, before its status says so).
    pub fn rejected(&self) -> std::collections::HashSet<TenancyKey> {
        lock(&self.tenancies)
            .iter()
            .filter(|(_, r)| r.rejected)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Whether a tenancy's placement (decided, applied, or being replaced) puts copies in
    /// `cluster`; None when this process has decided nothing for it.
    pub fn may_hold(&self, key: &TenancyKey, cluster: &str) -> Option<bool> {
        let tenancies = lock(&self.tenancies);
        let record = tenancies.get(key)?;
        record.effective()?;
        Some(record.holding().any(|p| p.cluster == cluster))
    }

    /// How many tenancies are placed on `cluster`.
    pub fn tenancies_on(&self, cluster: &str) -> usize {
        lock(&self.tenancies)
            .values()
            .filter_map(Record::effective)
            .filter(|d| d.placements.iter().any(|p| p.cluster == cluster))
            .count()
    }

    /// What this process placed, as the snapshot counts it (`Decisions`).
    pub fn decisions(&self) -> Decisions {
        let mut out = Decisions::default();
        for (k, r) in lock(&self.tenancies).iter() {
            let Some(effective) = r.effective() else {
                continue;
            };
            out.nodes.insert(k.engine_name(), effective.nodes.clone());
            let mut sizes: BTreeMap<String, Resources> = BTreeMap::new();
            for p in r.holding() {
                let Some(asked) = &p.requests else { continue };
                let size = sizes
                    .entry(p.workload.clone())
                    .or_insert_with(|| asked.clone());
                *size = larger(size, asked);
            }
            out.sizes.insert(k.engine_name(), sizes);
        }
        out
    }

    /// True when the agency's member space in `cluster` was applied as `fingerprint` less
    /// than `within` ago (so it need not be applied again yet).
    pub fn space_is_current(
        &self,
        cluster: &str,
        agency: &str,
        fingerprint: u64,
        now: DateTime<Utc>,
        within: Duration,
    ) -> bool {
        lock(&self.spaces)
            .get(&(cluster.to_string(), agency.to_string()))
            .is_some_and(|(f, at)| {
                *f == fingerprint
                    && now.signed_duration_since(*at).to_std().unwrap_or_default() < within
            })
    }

    pub fn space_applied(&self, cluster: &str, agency: &str, fingerprint: u64, now: DateTime<Utc>) {
        lock(&self.spaces).insert(
            (cluster.to_string(), agency.to_string()),
            (fingerprint, now),
        );
    }

    /// The agency's member space in `cluster` must be applied again next time.
    pub fn space_unknown(&self, cluster: &str, agency: &str) {
        lock(&self.spaces).remove(&(cluster.to_string(), agency.to_string()));
    }

    pub fn set_ledger(&self, ledger: Ledger) {
        *lock(&self.ledger) = Some(ledger);
    }

    /// The ledger as this process last persisted it (None: not leading, or not read yet).
    pub fn ledger(&self) -> Option<Ledger> {
        lock(&self.ledger).clone()
    }
}

pub fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Pending => "Pending",
        Phase::Placed => "Placed",
        Phase::Running => "Running",
        Phase::Degraded => "Degraded",
        Phase::Rejected => "Rejected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use colo_api::{Quantity, Resources};

    fn placed(cluster: &str, replicas: i32, cpu: &str) -> Decided {
        Decided {
            placements: vec![Placement {
                cluster: cluster.into(),
                site: "s".into(),
                workload: "w".into(),
                replicas,
                requests: Some(Resources {
                    cpu: Quantity::new(cpu),
                    memory: Quantity::new("1Mi"),
                }),
            }],
            nodes: vec![],
            explanation: String::new(),
            spec: String::new(),
            wake: Vec::new(),
        }
    }

    fn confirmed(decided: Decided) -> Confirmed {
        Confirmed {
            decided,
            generation: Some(1),
            at: Utc::now(),
            surged: false,
        }
    }

    fn state() -> State {
        State::new(Arc::new(Metrics::new()))
    }

    #[test]
    fn an_assumed_placement_counts_until_forgotten_and_a_confirmed_one_stays() {
        let s = state();
        let (a, b) = (TenancyKey::new("ns", "a"), TenancyKey::new("ns", "b"));
        s.track(&a, "ag");
        s.track(&b, "ag");
        s.assume(&a, placed("north", 2, "100m"));
        s.assume(&b, placed("north", 1, "300m"));
        assert_eq!(s.quotas("ag")["north"], (500, 3 << 20));
        s.forget(&b);
        assert_eq!(s.quotas("ag")["north"], (200, 2 << 20));
        s.confirm(&a, confirmed(placed("north", 2, "100m")));
        s.forget(&a);
        assert_eq!(s.quotas("ag")["north"], (200, 2 << 20), "confirmed stays");
        assert_eq!(s.tenancies_on("north"), 1);
        assert!(s.quotas("other").is_empty());
    }

    #[test]
    fn a_move_holds_both_clusters_and_a_forgotten_one_only_the_old() {
        let s = state();
        let a = TenancyKey::new("ns", "a");
        s.track(&a, "ag");
        s.confirm(&a, confirmed(placed("north", 1, "100m")));
        s.assume(&a, placed("south", 1, "100m"));
        assert_eq!(
            s.quotas("ag")["north"],
            (100, 1 << 20),
            "old copies still run"
        );
        assert_eq!(s.quotas("ag")["south"], (100, 1 << 20));
        s.forget(&a);
        assert_eq!(s.quotas("ag")["north"], (100, 1 << 20));
        assert!(!s.quotas("ag").contains_key("south"));
    }

    #[test]
    fn a_tenancy_a_consolidation_moves_has_room_for_one_surge_replica() {
        let s = state();
        let a = TenancyKey::new("ns", "a");
        s.track(&a, "ag");
        let mut at = Utc::now();
        s.confirm(
            &a,
            Confirmed {
                at,
                ..confirmed(placed("north", 3, "100m"))
            },
        );
        assert_eq!(s.quotas("ag")["north"], (300, 3 << 20));
        at += chrono::Duration::seconds(1);
        s.start_moving(&a, at);
        assert_eq!(s.quotas("ag")["north"], (400, 4 << 20), "one more replica");
        assert!(!s.applied_since_moving(&a), "applied before the move began");
        assert_eq!(s.in_flight(), vec![a.clone()]);
        s.confirm(
            &a,
            Confirmed {
                at,
                ..confirmed(placed("north", 3, "100m"))
            },
        );
        assert!(s.applied_since_moving(&a));
        s.stop_moving(&a);
        assert_eq!(s.quotas("ag")["north"], (300, 3 << 20));
        assert!(
            s.confirmed(&a).unwrap().surged,
            "applied again, to trim the quota"
        );
        assert!(s.in_flight().is_empty() && !s.is_moving(&a));
        s.start_moving(&a, at);
        s.keep_moving_only(&std::collections::HashSet::from([a.clone()]));
        assert!(s.is_moving(&a), "its plan still moves it");
        s.keep_moving_only(&std::collections::HashSet::new());
        assert!(!s.is_moving(&a), "its plan is gone: the move is over");
    }

    #[test]
    fn a_resize_holds_old_and_new_in_the_quota_until_it_settles() {
        let s = state();
        let a = TenancyKey::new("ns", "a");
        s.track(&a, "ag");
        s.confirm(&a, confirmed(placed("north", 2, "500m")));
        s.assume(&a, placed("north", 2, "122m"));
        assert_eq!(s.quotas("ag")["north"].0, 1244, "both while it rolls");
        s.confirm(&a, confirmed(placed("north", 2, "122m")));
        assert_eq!(s.quotas("ag")["north"].0, 1244, "until it settles");
        let released = s.settle(&a).unwrap();
        assert_eq!(
            released.placements[0]
                .requests
                .as_ref()
                .unwrap()
                .cpu
                .as_str(),
            "500m"
        );
        assert_eq!(s.quotas("ag")["north"].0, 244);
        assert!(s.settle(&a).is_none());
    }

    #[test]
    fn phases_are_counted_for_the_metric() {
        let s = state();
        let a = TenancyKey::new("ns", "a");
        s.track(&a, "ag");
        s.set_phase(&a, Phase::Running);
        let text = s.metrics.text();
        assert!(
            text.contains("colo_tenancies{phase=\"Running\"} 1"),
            "{text}"
        );
        s.untrack(&a);
        assert!(
            s.metrics
                .text()
                .contains("colo_tenancies{phase=\"Running\"} 0")
        );
    }

    #[test]
    fn a_space_is_current_only_as_applied_and_within_the_window() {
        let s = state();
        let now = Utc::now();
        let minute = Duration::from_secs(60);
        s.space_applied("north", "ag", 7, now);
        assert!(s.space_is_current("north", "ag", 7, now, minute));
        assert!(!s.space_is_current("north", "ag", 8, now, minute));
        assert!(!s.space_is_current("north", "ag", 7, now + chrono::Duration::minutes(2), minute));
        s.space_unknown("north", "ag");
        assert!(!s.space_is_current("north", "ag", 7, now, minute));
    }
}
