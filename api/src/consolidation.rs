//! `ConsolidationPlan` (cluster-scoped): a proposed re-pack of the running estate.

use serde::{Deserialize, Serialize};

use crate::common::Condition;

/// A proposed re-pack. Colo proposes one every interval (or fills in one the platform team
/// creates); setting `approved: true` executes it, make-before-break; setting it back to
/// `false` pauses it (moves under way finish, no other starts, its nodes stay cordoned);
/// deleting it ends it (its moves end at once, and the nodes it still drains are uncordoned).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(kube::CustomResource, kube::KubeSchema))]
#[cfg_attr(
    feature = "crd",
    kube(
        group = "colo.dev",
        version = "v1alpha1",
        kind = "ConsolidationPlan",
        shortname = "cpl",
        category = "colo",
        status = "ConsolidationPlanStatus",
        printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
        printcolumn = r#"{"name":"Approved","type":"boolean","jsonPath":".spec.approved"}"#,
        printcolumn = r#"{"name":"Progress","type":"string","jsonPath":".status.progress"}"#,
        printcolumn = r#"{"name":"Moves","type":"integer","jsonPath":".status.moveCount"}"#,
        printcolumn = r#"{"name":"Nodes Freed","type":"integer","jsonPath":".status.nodesFreed"}"#,
        printcolumn = r#"{"name":"Saving/Month","type":"number","jsonPath":".status.monthlyCostSaved"}"#,
        printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
        printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.message","priority":1}"#,
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsolidationPlanSpec {
    /// Set by the platform team to execute the plan (make-before-break); `false` while it
    /// executes pauses it.
    #[serde(default)]
    pub approved: bool,
    /// Moves are proposed only when the estate saves at least this much a month (default:
    /// the operator's `--consolidation-min-monthly-saving`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 0.0)))]
    pub min_monthly_saving: Option<f64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
pub enum PlanState {
    #[default]
    Proposed,
    Approved,
    Executing,
    /// Executing, paused by `approved: false`: what was moving has finished, nothing else
    /// starts until it is approved again.
    Paused,
    Done,
    Superseded,
    Failed,
}

impl PlanState {
    /// Nothing more happens to a plan in this state.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PlanState::Done | PlanState::Superseded | PlanState::Failed
        )
    }
}

/// One move of the engine's plan: replicas of a workload from one node to another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Move {
    /// `namespace/name` of the tenancy.
    pub tenancy: String,
    pub workload: String,
    /// `cluster/node` the replicas leave.
    pub from: String,
    /// `cluster/node` they go to.
    pub to: String,
    pub replicas: i32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
pub enum StepState {
    #[default]
    Waiting,
    Moving,
    Done,
    /// It did not complete in time: its old copies serve again, the new are gone.
    RolledBack,
    /// The plan was superseded before it started.
    Skipped,
}

/// What a plan does to one tenancy, as executed: its moves together, since a tenancy's
/// replicas move by its Deployments. `within` moves stay in their clusters (a rolling restart
/// off the nodes being freed); the others change the clusters it runs in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct TenancyStep {
    /// `namespace/name`.
    pub tenancy: String,
    pub agency: String,
    /// Replicas per `cluster/workload` before the plan.
    pub before: std::collections::BTreeMap<String, i32>,
    /// Replicas per `cluster/workload` after it.
    pub after: std::collections::BTreeMap<String, i32>,
    pub state: StepState,
    /// Moves (replicas) of the plan this step makes.
    pub moves: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Deployments rolled off the nodes being freed, as `cluster/deployment`, with the value
    /// their `colo.dev/moved-by` had before (empty: none), to put back on a rollback.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub restarted: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConsolidationPlanStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<PlanState>,
    /// One sentence: what the plan does or why it stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `Executing 12/40`: moves done of all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moves: Vec<Move>,
    #[serde(default)]
    pub move_count: i32,
    #[serde(default)]
    pub moves_done: i32,
    #[serde(default)]
    pub moves_rolled_back: i32,
    /// Nodes the plan frees (proposed), or freed (once done).
    #[serde(default)]
    pub nodes_freed: i32,
    /// The nodes it empties, as `cluster/node`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes_to_free: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters_freed: Vec<String>,
    /// Active nodes before, and after the plan.
    #[serde(default)]
    pub active_nodes_before: i32,
    #[serde(default)]
    pub active_nodes_after: i32,
    /// The fewest nodes the work could run on (the lower bound).
    #[serde(default)]
    pub lower_bound_nodes: i32,
    #[serde(default)]
    #[serde(rename = "monthlyKWhSaved")]
    pub monthly_kwh_saved: f64,
    #[serde(default)]
    pub monthly_cost_saved: f64,
    #[serde(default)]
    pub monthly_carbon_kg_saved: f64,
    /// Replicas moved × the disruption cost of a move, paid once.
    #[serde(default)]
    pub disruption_cost: f64,
    /// Months over which the saving is set against the disruption.
    #[serde(default)]
    pub horizon_months: f64,
    /// The estate the plan was made for (tenancies, their specs, nodes, members that answer):
    /// when it changes the plan is superseded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<TenancyStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl ConsolidationPlanStatus {
    /// True once the plan has moved work and stopped (done, or superseded part way): what it
    /// freed is saved from then on.
    pub fn executed(&self) -> bool {
        matches!(self.state, Some(PlanState::Done | PlanState::Superseded)) && self.moves_done > 0
    }

    /// The part of the projected saving a plan that stopped achieved: the nodes it freed of
    /// those it meant to (1 for a plan still proposed or executing).
    pub fn freed_share(&self) -> f64 {
        let stopped = matches!(self.state, Some(PlanState::Done | PlanState::Superseded));
        if stopped && !self.nodes_to_free.is_empty() {
            self.nodes_freed as f64 / self.nodes_to_free.len() as f64
        } else {
            1.0
        }
    }
}
