//! Executing an approved plan: its nodes cordoned, its tenancies moved a few per agency at a
//! time (`step`), and at the end every node it emptied put in standby and every node it could
//! not empty uncordoned. A change to the estate (a tenancy, a node, a member answering or
//! not) supersedes the rest: moves under way finish, the others are skipped.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use colo_api::{ConsolidationPlanStatus, PlanState, StepState};

use super::occupancy::{self, Occupancy};
use super::{Error, basis, step, timestamp};
use crate::context::Context;
use crate::k8s::nodes;

/// The basis the estate has now.
async fn basis_now(ctx: &Context) -> Result<String, Error> {
    let live = ctx
        .observer
        .observe(&[], &ctx.state.decisions(), &ctx.state.rejected())
        .await
        .map_err(|e| Error::Observe(e.to_string()))?;
    Ok(basis::of(&live.snapshot))
}

const CHANGED: &str =
    "the estate changed since it was proposed (a tenancy, a node, or a member answering)";

/// A proposed plan stays proposed while the estate is as it was made for.
pub async fn check_basis(
    ctx: &Context,
    mut status: ConsolidationPlanStatus,
    now: DateTime<Utc>,
) -> Result<ConsolidationPlanStatus, Error> {
    if Some(basis_now(ctx).await?) != status.basis {
        status.state = Some(PlanState::Superseded);
        status.message = Some(format!("superseded before it was approved: {CHANGED}"));
        status.finished_at = Some(timestamp(now));
        for s in &mut status.steps {
            s.state = StepState::Skipped;
        }
    }
    Ok(status)
}

/// One step of an approved (or paused: `approved: false` again) plan.
pub async fn advance(
    ctx: &Context,
    plan: &str,
    mut status: ConsolidationPlanStatus,
    paused: bool,
    now: DateTime<Utc>,
) -> Result<ConsolidationPlanStatus, Error> {
    let changed = Some(basis_now(ctx).await?) != status.basis;
    let started = matches!(status.state, Some(PlanState::Executing | PlanState::Paused));
    if !started && changed {
        return check_basis(ctx, status, now).await;
    }
    if !started && paused {
        // Approved, then unapproved before it began: proposed again.
        status.state = Some(PlanState::Proposed);
        return check_basis(ctx, status, now).await;
    }
    status.state = Some(if paused {
        PlanState::Paused
    } else {
        PlanState::Executing
    });
    let occupancy = occupancy::read(ctx, &status.nodes_to_free).await?;
    if !changed {
        drain(&occupancy, plan, &status.nodes_to_free).await?;
    }
    for s in status
        .steps
        .iter_mut()
        .filter(|s| s.state == StepState::Moving)
    {
        step::advance(ctx, plan, s, &occupancy, now).await?;
    }
    if !paused || changed {
        start_waiting(ctx, plan, &mut status, &occupancy, changed, now).await?;
    }
    let open =
        |s: &&colo_api::TenancyStep| matches!(s.state, StepState::Waiting | StepState::Moving);
    if !status.steps.iter().any(|s| open(&s)) {
        let after = occupancy::read(ctx, &status.nodes_to_free).await?;
        finish(&mut status, &after, changed, now).await?;
    }
    tally(&mut status);
    Ok(status)
}

/// Cordons the nodes to free (again after a restart: it is idempotent).
async fn drain(occupancy: &Occupancy, plan: &str, nodes_to_free: &[String]) -> Result<(), Error> {
    for path in nodes_to_free {
        let (cluster, node) = occupancy::split(path);
        let Some(client) = occupancy.clients.get(cluster) else {
            continue;
        };
        nodes::drain(client, node, plan)
            .await
            .map_err(|source| Error::Member {
                cluster: cluster.to_string(),
                source,
            })?;
    }
    Ok(())
}

/// Starts waiting steps while their agency has fewer than `moves_per_agency` moving; after a
/// change to the estate, skips them instead.
async fn start_waiting(
    ctx: &Context,
    plan: &str,
    status: &mut ConsolidationPlanStatus,
    occupancy: &Occupancy,
    changed: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let limit = ctx.config.consolidation.moves_per_agency;
    let mut moving: BTreeMap<String, usize> = BTreeMap::new();
    for s in status.steps.iter().filter(|s| s.state == StepState::Moving) {
        *moving.entry(s.agency.clone()).or_default() += 1;
    }
    for s in status
        .steps
        .iter_mut()
        .filter(|s| s.state == StepState::Waiting)
    {
        if changed {
            s.state = StepState::Skipped;
            s.message = Some(format!("skipped: {CHANGED}"));
            continue;
        }
        let count = moving.entry(s.agency.clone()).or_default();
        if *count >= limit {
            continue;
        }
        *count += 1;
        step::advance(ctx, plan, s, occupancy, now).await?;
    }
    Ok(())
}

/// Nodes left empty go to standby; the others are uncordoned. The plan says what it freed.
async fn finish(
    status: &mut ConsolidationPlanStatus,
    occupancy: &Occupancy,
    changed: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let mut freed = Vec::new();
    for path in &status.nodes_to_free {
        let (cluster, node) = occupancy::split(path);
        let Some(client) = occupancy.clients.get(cluster) else {
            continue;
        };
        let member = |source| Error::Member {
            cluster: cluster.to_string(),
            source,
        };
        if !occupancy.empty.contains(path) {
            nodes::wake(client, node).await.map_err(member)?;
        } else if nodes::to_standby(client, node).await.map_err(member)? {
            freed.push(path.clone());
        }
    }
    let proposed = status.nodes_to_free.len();
    status.nodes_freed = freed.len() as i32;
    status.finished_at = Some(timestamp(now));
    let freed_text = match freed.is_empty() {
        true => "none".to_string(),
        false => freed.join(", "),
    };
    let summary = format!(
        "freed {} of {proposed} nodes ({freed_text}), now in standby",
        freed.len()
    );
    let done = status.steps.iter().any(|s| s.state == StepState::Done);
    let (state, message) = if changed {
        (
            PlanState::Superseded,
            format!("superseded while executing: {CHANGED}; {summary}"),
        )
    } else if !done && !status.steps.is_empty() {
        let why = "no move completed in time; each was rolled back and its old copies serve";
        (PlanState::Failed, format!("{why}; {summary}"))
    } else {
        (PlanState::Done, summary)
    };
    status.state = Some(state);
    status.message = Some(message);
    Ok(())
}

/// Moves done and rolled back, and the progress column.
fn tally(status: &mut ConsolidationPlanStatus) {
    let sum = |state: StepState| -> i32 {
        status
            .steps
            .iter()
            .filter(|s| s.state == state)
            .map(|s| s.moves)
            .sum()
    };
    status.moves_done = sum(StepState::Done);
    status.moves_rolled_back = sum(StepState::RolledBack);
    let state = status.state.unwrap_or_default();
    status.progress = Some(format!(
        "{state:?} {}/{}",
        status.moves_done, status.move_count
    ));
    let moving = status
        .steps
        .iter()
        .filter(|s| s.state == StepState::Moving)
        .count();
    if state == PlanState::Executing {
        status.message = Some(format!(
            "executing: {} of {} moves done, {moving} tenancies moving",
            status.moves_done, status.move_count
        ));
    }
    if state == PlanState::Paused {
        status.message = Some(format!(
            "paused (spec.approved is false): {} of {} moves done, {moving} tenancies still moving, no other starts; approve it again to go on, or delete it to end it (the nodes it drains are uncordoned)",
            status.moves_done, status.move_count
        ));
    }
}
