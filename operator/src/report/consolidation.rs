//! `GET /api/v1/consolidation`: every ConsolidationPlan, newest first, with what each moved
//! and saved, and the monthly saving of the plans done (what consolidation has saved so far).

use colo_api::ConsolidationPlan;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use serde::Serialize;

use super::ReportError;
use crate::context::Context;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Consolidations {
    pub currency: String,
    /// Monthly saving of the nodes freed by plans done (and superseded ones, for what they
    /// freed before they stopped).
    pub saved_per_month: f64,
    #[serde(rename = "kWhSavedPerMonth")]
    pub kwh_saved_per_month: f64,
    pub nodes_freed: i32,
    pub plans: Vec<PlanRow>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanRow {
    pub name: String,
    pub state: String,
    pub approved: bool,
    pub progress: String,
    pub moves: i32,
    pub moves_done: i32,
    pub moves_rolled_back: i32,
    pub nodes_freed: i32,
    pub nodes_to_free: Vec<String>,
    pub clusters_freed: Vec<String>,
    pub monthly_cost_saved: f64,
    #[serde(rename = "monthlyKWhSaved")]
    pub monthly_kwh_saved: f64,
    pub monthly_carbon_kg_saved: f64,
    pub disruption_cost: f64,
    pub proposed_at: Option<String>,
    pub finished_at: Option<String>,
    pub message: String,
    #[serde(skip)]
    created: Option<k8s_openapi::jiff::Timestamp>,
    #[serde(skip)]
    executed: bool,
}

fn row(plan: &ConsolidationPlan) -> PlanRow {
    let s = plan.status.clone().unwrap_or_default();
    let freed_share = s.freed_share();
    let executed = s.executed();
    PlanRow {
        name: plan.name_any(),
        state: s
            .state
            .map_or_else(|| "Pending".into(), |st| format!("{st:?}")),
        approved: plan.spec.approved,
        progress: s.progress.unwrap_or_default(),
        moves: s.move_count,
        moves_done: s.moves_done,
        moves_rolled_back: s.moves_rolled_back,
        nodes_freed: s.nodes_freed,
        nodes_to_free: s.nodes_to_free,
        clusters_freed: s.clusters_freed,
        monthly_cost_saved: round(s.monthly_cost_saved * freed_share),
        monthly_kwh_saved: round(s.monthly_kwh_saved * freed_share),
        monthly_carbon_kg_saved: round(s.monthly_carbon_kg_saved * freed_share),
        disruption_cost: s.disruption_cost,
        proposed_at: s.proposed_at,
        finished_at: s.finished_at,
        message: s.message.unwrap_or_default(),
        created: plan.creation_timestamp().map(|t| t.0),
        executed,
    }
}

/// Two decimals; an empty sum (-0.0 in Rust) is 0.
fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0 + 0.0
}

pub async fn list(ctx: &Context) -> Result<Consolidations, ReportError> {
    let plans = Api::<ConsolidationPlan>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| ReportError::Unavailable(format!("cannot list ConsolidationPlans: {e}")))?;
    let mut rows: Vec<PlanRow> = plans.items.iter().map(row).collect();
    rows.sort_by(|a, b| b.created.cmp(&a.created).then(a.name.cmp(&b.name)));
    let done = |r: &&PlanRow| r.executed && r.nodes_freed > 0;
    Ok(Consolidations {
        currency: ctx.config.currency.clone(),
        saved_per_month: round(rows.iter().filter(done).map(|r| r.monthly_cost_saved).sum()),
        kwh_saved_per_month: round(rows.iter().filter(done).map(|r| r.monthly_kwh_saved).sum()),
        nodes_freed: rows.iter().filter(done).map(|r| r.nodes_freed).sum(),
        plans: rows,
    })
}
