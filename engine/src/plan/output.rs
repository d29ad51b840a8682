//! What a plan says: its options and every part of its output (serialized as `colo plan`
//! prints it, docs/spec.md "Plan").

use serde::{Deserialize, Serialize};

use crate::consolidate::Thresholds;
use crate::pack::Heuristic;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlanOptions {
    pub heuristic: Heuristic,
    /// Re-pack the running estate (moves), not only place new tenancies.
    pub consolidate: bool,
    /// Re-pack the emptiest nodes after greedy placement of new tenancies.
    pub improve: bool,
    pub thresholds: Thresholds,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            heuristic: Heuristic::DotProduct,
            consolidate: false,
            improve: true,
            thresholds: Thresholds::default(),
        }
    }
}

/// The SPEC's Plan, plus `decisions` (why each tenancy is where it is) and a few summary extras.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub assignments: Vec<Assignment>,
    pub unplaced: Vec<Unplaced>,
    pub moves: Vec<PlannedMove>,
    pub summary: Summary,
    pub agencies: Vec<AgencyFigures>,
    pub decisions: Vec<Decision>,
    pub clusters: Vec<ClusterFigures>,
}

/// Per cluster after the plan (beyond the SPEC's shape; `colo plan` prints it as a table).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterFigures {
    pub cluster: String,
    pub site: String,
    pub active_nodes: usize,
    pub total_nodes: usize,
    /// Requested (planned) cpu over the capacity of its active nodes.
    pub requested_cpu_ratio: f64,
    /// Measured cpu (tenancies and system) over the capacity of its active nodes.
    pub measured_cpu_ratio: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    pub tenancy: String,
    pub workload: String,
    pub cluster: String,
    pub site: String,
    pub node: String,
    pub replicas: u32,
    /// Per-replica demand used (and requested in the member cluster).
    pub cpu_millis: i64,
    pub memory_bytes: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unplaced {
    pub tenancy: String,
    pub workload: String,
    pub replicas: u32,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedMove {
    pub tenancy: String,
    pub workload: String,
    /// `cluster/node`.
    pub from: String,
    pub to: String,
    pub replicas: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub active_nodes: usize,
    pub lower_bound_nodes: usize,
    pub clusters_used: usize,
    #[serde(rename = "sharedKWhPerMonth")]
    pub shared_kwh_per_month: f64,
    #[serde(rename = "standaloneKWhPerMonth")]
    pub standalone_kwh_per_month: f64,
    // Beyond the SPEC's summary:
    pub total_nodes: usize,
    pub active_nodes_before: usize,
    pub replicas_placed: u64,
    pub replicas_unplaced: u64,
    pub shared_cost_per_month: f64,
    pub standalone_cost_per_month: f64,
    #[serde(rename = "unattributedKWhPerMonth")]
    pub unattributed_kwh_per_month: f64,
    /// Nodes with no tenancy, in standby: energy and cost not billed to any agency.
    #[serde(rename = "spareKWhPerMonth")]
    pub spare_kwh_per_month: f64,
    pub spare_cost_per_month: f64,
    pub heuristic: String,
    /// With `--consolidate`: what emptying nodes saves and what its moves cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consolidation: Option<ConsolidationFigures>,
}

/// A consolidation priced: the saving recurs each month, the disruption is paid once.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsolidationFigures {
    pub nodes_freed: usize,
    /// The nodes emptied, as `cluster/node`, in estate order.
    #[serde(default)]
    pub freed_nodes: Vec<String>,
    /// Clusters whose every node is then empty (they were not before).
    #[serde(default)]
    pub clusters_freed: Vec<String>,
    /// Idle energy of the freed nodes above standby, a month.
    #[serde(default)]
    #[serde(rename = "kWhSavedPerMonth")]
    pub kwh_saved_per_month: f64,
    pub replicas_moved: u64,
    /// Idle power of the freed nodes above standby, a month.
    pub saving_per_month: f64,
    pub carbon_kg_saved_per_month: f64,
    /// Replicas moved × the disruption cost per move, once.
    pub disruption_cost: f64,
    pub horizon_months: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgencyFigures {
    pub agency: String,
    pub cost_per_month: f64,
    pub standalone_cost_per_month: f64,
    #[serde(rename = "kWhPerMonth")]
    pub kwh_per_month: f64,
    #[serde(rename = "standaloneKWhPerMonth")]
    pub standalone_kwh_per_month: f64,
    pub carbon_kg_per_month: f64,
    pub standalone_carbon_kg_per_month: f64,
    // Beyond the SPEC's figures:
    pub cost_centre: String,
    pub savings_per_month: f64,
    /// Of `kWhPerMonth`, the agency's pro-rata share of energy no one uses directly.
    #[serde(rename = "unattributedKWhPerMonth")]
    pub unattributed_kwh_per_month: f64,
    pub standalone_servers: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub tenancy: String,
    pub outcome: DecisionOutcome,
    pub clusters: Vec<String>,
    pub reason: String,
    /// The clusters it may not or did not go to, and why (JSON `rejected`, as it always was).
    #[serde(rename = "rejected")]
    pub excluded: Vec<Exclusion>,
}

/// What became of a tenancy in a plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionOutcome {
    /// Placed by this plan.
    Placed,
    /// Already running, kept where it is.
    #[default]
    Running,
    /// No room that its constraints allow, now.
    Unplaced,
    /// A replica is larger than every node it may use: no room will ever be freed for it.
    #[serde(rename = "tooLarge")]
    TooLarge,
}

impl std::fmt::Display for DecisionOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DecisionOutcome::Placed => "placed",
            DecisionOutcome::Running => "running",
            DecisionOutcome::Unplaced => "unplaced",
            DecisionOutcome::TooLarge => "too large",
        })
    }
}

/// Why one cluster may not take a tenancy, or lost to the one chosen.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Exclusion {
    pub cluster: String,
    pub reason: String,
}
