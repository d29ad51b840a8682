//! The plan step: a tenancy keeps the placement confirmed for its spec (placements are
//! stable); otherwise the planner decides, in the batch the request joins.

use colo_api::Tenancy;

use crate::context::Context;
use crate::k8s::keys::TenancyKey;
use crate::planner::{Decision, PlannerError};
use crate::state::Decided;

pub enum Placing {
    /// Confirmed before for this spec.
    Kept(Decided),
    /// Decided now by the planner (assumed until applied).
    New(Decided),
    /// No room: the reason.
    Unplaced(String),
}

pub async fn placement(
    tenancy: &Tenancy,
    key: &TenancyKey,
    ctx: &Context,
) -> Result<Placing, PlannerError> {
    let generation = tenancy.metadata.generation;
    if let Some(confirmed) = ctx
        .state
        .confirmed(key)
        .filter(|c| c.generation == generation)
    {
        return Ok(Placing::Kept(confirmed.decided));
    }
    Ok(match ctx.planner.place(key).await? {
        Decision::Placed { decided } => Placing::New(decided),
        Decision::Unplaced { reason } => Placing::Unplaced(reason),
    })
}
