//! The estate as the engine works on it: the snapshot checked, resolved and indexed.
//!
//! Everything a decision needs is computed here once (usable room per node, demand per replica,
//! prices with their defaults), so that placement is plain arithmetic on integers (`res`).
//! The model is here; reading a snapshot into it is `build`.

mod build;
mod res;

use colo_api::Classification;

use crate::model::{PowerModel, StandaloneModel};
use crate::snapshot::{EstateSnapshot, SnapshotError};

pub use build::workload_request;
use build::{Builder, invalid};
pub use res::{DEFAULT_MAX_PODS, Res, amount, reference_capacity, size_key};

/// Fraction of each node never planned, when a cluster does not say.
pub const DEFAULT_HEADROOM: f64 = 0.2;

#[derive(Clone, Debug)]
pub struct Estate {
    pub agencies: Vec<Agency>,
    pub clusters: Vec<Cluster>,
    pub nodes: Vec<Node>,
    pub tenancies: Vec<Tenancy>,
    /// Site names; `Cluster::site` indexes this.
    pub sites: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Agency {
    pub name: String,
    pub cost_centre: String,
    pub clearance: Classification,
    pub standalone: StandaloneModel,
}

#[derive(Clone, Debug)]
pub struct Cluster {
    pub name: String,
    pub site: usize,
    pub region: String,
    pub classification: Classification,
    pub cordoned: bool,
    pub headroom: f64,
    /// Why it takes no placement now, when it does not (unreachable, no Ready node).
    pub unavailable: Option<String>,
    pub power: PowerModel,
    /// Node cost per hour, whether rented or capital spread over its lifetime.
    pub node_cost_per_hour: f64,
    /// Indices into `Estate::nodes`.
    pub nodes: std::ops::Range<usize>,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub cluster: usize,
    pub capacity: Res,
    /// Measured p95 of what is not a tenancy.
    pub system_usage: Res,
    /// `(1 - headroom) × capacity - system usage`: what tenancies may be planned into.
    pub room: Res,
    pub standby: bool,
    /// Cordoned and not Colo's to wake: nothing new is placed there.
    pub closed: bool,
}

#[derive(Clone, Debug)]
pub struct Tenancy {
    /// `namespace/name`.
    pub key: String,
    pub agency: usize,
    pub classification: Classification,
    pub regions: Vec<String>,
    pub dual_site: bool,
    pub pinned: Option<usize>,
    pub workloads: Vec<Workload>,
    /// Where its replicas run now (empty for a new tenancy).
    pub observed: Vec<Assigned>,
}

#[derive(Clone, Debug)]
pub struct Workload {
    pub name: String,
    pub replicas: u32,
    pub request: Res,
    /// Measured p95 per replica, when there is history.
    pub usage: Option<Res>,
    /// What one replica is planned (and requested in the member cluster) at.
    pub demand: Res,
}

impl Workload {
    /// The CPU a replica is taken to burn: measured when known, else what it reserved.
    pub fn cpu_use(&self) -> i64 {
        self.usage.map_or(self.demand.cpu, |u| u.cpu)
    }
}

/// Replicas of one workload on one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Assigned {
    pub workload: usize,
    pub node: usize,
    pub replicas: u32,
}

impl Estate {
    /// Checks a snapshot and resolves it; every problem names where it is. Strict: the first
    /// problem refuses the whole snapshot (what `colo plan` on a file wants).
    pub fn from_snapshot(snapshot: &EstateSnapshot) -> Result<Estate, SnapshotError> {
        Builder::default()
            .build(snapshot, false)
            .map(|(estate, _)| estate)
    }

    /// Resolves what can be resolved: an agency, cluster, node or tenancy with a problem is
    /// left out and named in the refusals, and everything else is planned as usual (what the
    /// live operator wants: one bad object never stops the estate).
    pub fn from_snapshot_lenient(snapshot: &EstateSnapshot) -> (Estate, Vec<Refusal>) {
        Builder::default()
            .build(snapshot, true)
            .expect("a lenient build refuses objects, never the snapshot")
    }

    pub fn cluster_of(&self, node: usize) -> &Cluster {
        &self.clusters[self.nodes[node].cluster]
    }

    pub fn total_replicas(&self) -> u64 {
        self.tenancies
            .iter()
            .flat_map(|t| &t.workloads)
            .map(|w| w.replicas as u64)
            .sum()
    }
}

/// An object a lenient build left out, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The tenancy (`namespace/name`) it concerns, when it is one.
    pub tenancy: Option<String>,
    /// Where in the snapshot (`tenancies[3] (ns/t)`, `clusters[0].nodes[2]`).
    pub at: String,
    /// The field, relative to the object (`spec.workloads[0].cpu`).
    pub field: String,
    pub problem: String,
}

impl Refusal {
    fn to_error(&self) -> SnapshotError {
        let at = if self.field.is_empty() {
            self.at.clone()
        } else {
            format!("{}.{}", self.at, self.field)
        };
        invalid(at, self.problem.clone())
    }
}
