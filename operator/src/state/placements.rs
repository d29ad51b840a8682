//! A tenancy's placement through its life (docs/glossary.md): the planner's *decision* is
//! *assumed* (counted from then on), *confirmed* once its member objects are applied, or
//! *forgotten* when that fails; the placement it replaces is the *previous* one, held until
//! the new copies have rolled out and it *settles*. Also what the planner's snapshot must
//! count of all this ([`Decisions`]).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use colo_api::{Placement, Resources};
use colo_engine::snapshot::ObservedAssignment;

use super::{Record, State, lock};
use crate::k8s::keys::TenancyKey;

/// A placement decided by the planner: per workload and cluster, the nodes chosen, and why.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decided {
    pub placements: Vec<Placement>,
    /// The nodes the engine chose, counted by later plans until the pods run there.
    pub nodes: Vec<ObservedAssignment>,
    /// One sentence: why there, and why not the others.
    pub explanation: String,
    /// The placement digest of the spec it was decided for (`k8s::digest::placement`): a spec
    /// edit that leaves this alone (an image, an env var) keeps the placement.
    pub spec_digest: String,
    /// Standby nodes (cluster, node) the engine chose: uncordoned when it is applied.
    pub standby_to_wake: Vec<(String, String)>,
}

/// A placement whose member objects were applied: for which spec, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct Confirmed {
    pub decided: Decided,
    /// The generation of the Tenancy applied.
    pub generation: Option<i64>,
    pub at: DateTime<Utc>,
    /// Applied with more replicas than decided: those it had kept somewhere while the
    /// placement it replaces is still held. Applied again (trimmed) next time.
    pub surged: bool,
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

impl State {
    /// What a starting process learns from the member clusters, until it confirms its own.
    pub fn seed(&self, key: &TenancyKey, agency: &str, seen: Confirmed) {
        let mut tenancies = lock(&self.tenancies);
        let record = tenancies.entry(key.clone()).or_default();
        record.agency = agency.to_string();
        if !seen.decided.placements.is_empty() {
            record.confirmed = Some(seen);
        }
    }

    /// A placement decided (by the planner, re-sized, or a move's target): counted from now
    /// on, until confirmed or forgotten. A confirmed placement it replaces keeps counting as
    /// the previous one, since its pods run until the new ones have rolled out.
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
    /// the previous one (noted when it was assumed) until [`State::settle`]; a move that had
    /// ended waiting for this apply is over (`moves`).
    pub fn confirm(&self, key: &TenancyKey, confirmed: Confirmed) {
        let mut tenancies = lock(&self.tenancies);
        let record = tenancies.entry(key.clone()).or_default();
        record.assumed = None;
        record.confirmed = Some(confirmed);
        record.applied();
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

    /// Tenancies with a placement decided and not yet applied, a placement they replace
    /// still held, or a move open: the estate is changing under them.
    pub fn in_flight(&self) -> Vec<TenancyKey> {
        let mut keys: Vec<TenancyKey> = lock(&self.tenancies)
            .iter()
            .filter(|(_, r)| r.assumed.is_some() || r.previous.is_some() || r.move_open())
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
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
}

/// Placements for unit tests: one workload `w` on `cluster`.
#[cfg(test)]
pub fn placed(cluster: &str, replicas: i32, cpu: &str) -> Decided {
    use colo_api::Quantity;
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
        ..Decided::default()
    }
}

/// `decided` as applied now, for unit tests.
#[cfg(test)]
pub fn confirmed(decided: Decided) -> Confirmed {
    Confirmed {
        decided,
        generation: Some(1),
        at: Utc::now(),
        surged: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::for_tests;

    #[test]
    fn an_assumed_placement_counts_until_forgotten_and_a_confirmed_one_stays() {
        let s = for_tests();
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
    fn a_replacement_holds_both_clusters_and_a_forgotten_one_only_the_old() {
        let s = for_tests();
        let a = TenancyKey::new("ns", "a");
        s.track(&a, "ag");
        s.confirm(&a, confirmed(placed("north", 1, "100m")));
        s.assume(&a, placed("south", 1, "100m"));
        assert_eq!(s.quotas("ag")["north"], (100, 1 << 20), "old copies run");
        assert_eq!(s.quotas("ag")["south"], (100, 1 << 20));
        assert_eq!(s.may_hold(&a, "north"), Some(true));
        s.forget(&a);
        assert_eq!(s.quotas("ag")["north"], (100, 1 << 20));
        assert!(!s.quotas("ag").contains_key("south"));
        assert_eq!(s.may_hold(&a, "south"), Some(false));
    }

    #[test]
    fn a_resize_holds_old_and_new_in_the_quota_until_it_settles() {
        let s = for_tests();
        let a = TenancyKey::new("ns", "a");
        s.track(&a, "ag");
        s.confirm(&a, confirmed(placed("north", 2, "500m")));
        s.assume(&a, placed("north", 2, "122m"));
        assert_eq!(s.quotas("ag")["north"].0, 1244, "both while it rolls");
        let sizes = &s.decisions().sizes[&a.engine_name()];
        assert_eq!(
            sizes["w"].cpu.as_str(),
            "500m",
            "the snapshot counts the larger"
        );
        s.confirm(&a, confirmed(placed("north", 2, "122m")));
        assert_eq!(s.quotas("ag")["north"].0, 1244, "until it settles");
        let released = s.settle(&a).unwrap();
        let cpu = released.placements[0]
            .requests
            .as_ref()
            .unwrap()
            .cpu
            .clone();
        assert_eq!(cpu.as_str(), "500m");
        assert_eq!(s.quotas("ag")["north"].0, 244);
        assert!(s.settle(&a).is_none());
    }
}
