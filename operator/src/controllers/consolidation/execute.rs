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
        .as_placement_sees_it(&ctx.state, &[])
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
        cordon_nodes_to_free(&occupancy, plan, &status.nodes_to_free).await?;
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
async fn cordon_nodes_to_free(
    occupancy: &Occupancy,
    plan: &str,
    nodes_to_free: &[String],
) -> Result<(), Error> {
    for path in nodes_to_free {
        let (cluster, node) = occupancy::split(path);
        let Some(client) = occupancy.clients.get(cluster) else {
            continue;
        };
        nodes::cordon(client, node, plan)
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
            nodes::uncordon(client, node).await.map_err(member)?;
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use colo_api::{ConsolidationPlanStatus, PlanState, StepState, TenancyStep};
    use http::Method;
    use serde_json::{Value, json};

    use super::{finish, tally};
    use crate::controllers::consolidation::occupancy::Occupancy;
    use crate::controllers::fixtures::{MockApi, requests_to};
    use crate::k8s::labels::{DRAINING, STANDBY_LABEL};

    fn draining(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Node",
               "metadata": {"name": name, "resourceVersion": "7",
                            "labels": {STANDBY_LABEL: DRAINING}},
               "spec": {"unschedulable": true}})
    }

    fn step(state: StepState, moves: i32) -> TenancyStep {
        TenancyStep {
            tenancy: "dvla/shop".into(),
            agency: "dvla".into(),
            state,
            moves,
            ..TenancyStep::default()
        }
    }

    fn plan(steps: Vec<TenancyStep>) -> ConsolidationPlanStatus {
        ConsolidationPlanStatus {
            state: Some(PlanState::Executing),
            nodes_to_free: vec!["north/n1".into(), "north/n2".into()],
            move_count: steps.iter().map(|s| s.moves).sum(),
            steps,
            ..ConsolidationPlanStatus::default()
        }
    }

    /// Both nodes draining on a mocked member; `n1` emptied.
    fn member() -> (
        Occupancy,
        std::sync::Arc<std::sync::Mutex<Vec<crate::controllers::fixtures::Seen>>>,
    ) {
        let (client, seen) = MockApi::new()
            .answer(Method::GET, "/api/v1/nodes/n1", 200, draining("n1"))
            .answer(Method::GET, "/api/v1/nodes/n2", 200, draining("n2"))
            .answer(Method::PATCH, "/api/v1/nodes/n1", 200, draining("n1"))
            .answer(Method::PATCH, "/api/v1/nodes/n2", 200, draining("n2"))
            .client();
        let occupancy = Occupancy {
            clients: BTreeMap::from([("north".to_string(), client)]),
            dark: BTreeMap::new(),
            by_tenancy: BTreeMap::new(),
            empty: BTreeSet::from(["north/n1".to_string()]),
        };
        (occupancy, seen)
    }

    #[tokio::test]
    async fn an_emptied_node_goes_to_standby_and_one_not_emptied_is_uncordoned() {
        let (occupancy, seen) = member();
        let mut status = plan(vec![
            step(StepState::Done, 2),
            step(StepState::RolledBack, 1),
        ]);
        finish(&mut status, &occupancy, false, chrono::Utc::now())
            .await
            .unwrap();
        assert_eq!(status.state, Some(PlanState::Done));
        assert_eq!(status.nodes_freed, 1);
        assert_eq!(
            status.message.as_deref(),
            Some("freed 1 of 2 nodes (north/n1), now in standby")
        );
        let seen = seen.lock().unwrap().clone();
        let n1 = requests_to(&seen, &Method::PATCH, "/api/v1/nodes/n1");
        assert_eq!(n1.len(), 1, "{seen:#?}");
        assert_eq!(n1[0].body["metadata"]["labels"][STANDBY_LABEL], "true");
        assert_eq!(
            n1[0].body["metadata"]["resourceVersion"], "7",
            "only as read"
        );
        let n2 = requests_to(&seen, &Method::PATCH, "/api/v1/nodes/n2");
        assert_eq!(n2.len(), 1);
        assert_eq!(
            n2[0].body["spec"]["unschedulable"],
            Value::Null,
            "uncordoned"
        );
        assert!(seen.iter().all(|s| s.body.get("unexpected").is_none()));
    }

    #[tokio::test]
    async fn a_plan_with_no_move_done_failed_and_a_changed_estate_supersedes_it() {
        let (occupancy, _) = member();
        let mut failed = plan(vec![step(StepState::RolledBack, 2)]);
        finish(&mut failed, &occupancy, false, chrono::Utc::now())
            .await
            .unwrap();
        assert_eq!(failed.state, Some(PlanState::Failed));
        assert!(
            failed
                .message
                .unwrap()
                .starts_with("no move completed in time")
        );

        let (occupancy, _) = member();
        let mut changed = plan(vec![step(StepState::Done, 2)]);
        finish(&mut changed, &occupancy, true, chrono::Utc::now())
            .await
            .unwrap();
        assert_eq!(changed.state, Some(PlanState::Superseded));
        assert!(
            changed
                .message
                .unwrap()
                .starts_with("superseded while executing")
        );
        assert_eq!(changed.nodes_freed, 1, "what it freed is still said");
    }

    #[test]
    fn the_tally_counts_moves_by_how_their_steps_ended() {
        let mut status = plan(vec![
            step(StepState::Done, 2),
            step(StepState::RolledBack, 3),
            step(StepState::Moving, 1),
            step(StepState::Waiting, 4),
        ]);
        tally(&mut status);
        assert_eq!((status.moves_done, status.moves_rolled_back), (2, 3));
        assert_eq!(status.progress.as_deref(), Some("Executing 2/10"));
        assert_eq!(
            status.message.as_deref(),
            Some("executing: 2 of 10 moves done, 1 tenancies moving")
        );
        status.state = Some(PlanState::Paused);
        tally(&mut status);
        assert!(status.message.unwrap().starts_with(
            "paused (spec.approved is false): 2 of 10 moves done, 1 tenancies still moving"
        ));
        let mut done = plan(vec![step(StepState::Done, 1)]);
        done.state = Some(PlanState::Done);
        done.message = Some("freed 2 of 2 nodes".into());
        tally(&mut done);
        assert_eq!(done.message.as_deref(), Some("freed 2 of 2 nodes"), "kept");
    }
}
