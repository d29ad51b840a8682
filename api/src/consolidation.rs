//! `ConsolidationPlan` (cluster-scoped): a proposed re-pack of the running estate.

use serde::{Deserialize, Serialize};

use crate::common::Condition;

/// A proposed re-pack. The platform team reviews it and sets `approved: true` to execute it.
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
        printcolumn = r#"{"name":"Moves","type":"integer","jsonPath":".status.moveCount"}"#,
        printcolumn = r#"{"name":"Nodes Freed","type":"integer","jsonPath":".status.nodesFreed"}"#,
        printcolumn = r#"{"name":"Saving/Month","type":"number","jsonPath":".status.monthlyCostSaved"}"#,
        printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsolidationPlanSpec {
    /// Set by the platform team to execute the plan (make-before-break).
    #[serde(default)]
    pub approved: bool,
    /// Moves are proposed only when the estate saves at least this much a month.
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
    Done,
    Superseded,
    Failed,
}

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

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConsolidationPlanStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<PlanState>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moves: Vec<Move>,
    #[serde(default)]
    pub move_count: i32,
    #[serde(default)]
    pub nodes_freed: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters_freed: Vec<String>,
    #[serde(default)]
    pub monthly_k_wh_saved: f64,
    #[serde(default)]
    pub monthly_cost_saved: f64,
    #[serde(default)]
    pub monthly_carbon_kg_saved: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
