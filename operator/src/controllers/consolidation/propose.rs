//! A plan from the engine on the live estate: the same `plan --consolidate` that `colo plan`
//! runs on a `colo snapshot`, so the two agree on the same moment. Only a settled estate is
//! planned: nothing being placed or moved, every member answering.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use colo_api::{ConsolidationPlanStatus, Move, PlanState, StepState, TenancyStep};
use colo_engine::consolidate::Thresholds;
use colo_engine::{Estate, EstateSnapshot, Plan, PlanOptions};

use super::{Error, basis, timestamp};
use crate::context::Context;

/// The status of a plan proposed now; without a state when the estate is not settled (it is
/// looked at again next step), `Done` when nothing is worth moving.
pub async fn fill(
    ctx: &Context,
    min_saving: f64,
    now: DateTime<Utc>,
) -> Result<ConsolidationPlanStatus, Error> {
    let waiting = |why: String| ConsolidationPlanStatus {
        message: Some(format!("waits to be planned: {why}")),
        ..Default::default()
    };
    let moving = ctx.state.in_flight();
    if !moving.is_empty() {
        let names: Vec<String> = moving.iter().take(3).map(|k| k.to_string()).collect();
        let why = format!(
            "{} tenancies are being placed or moved ({}…)",
            moving.len(),
            names.join(", ")
        );
        return Ok(waiting(why));
    }
    let live = ctx
        .observer
        .as_placement_sees_it(&ctx.state, &[])
        .await
        .map_err(|e| Error::Observe(e.to_string()))?;
    let dark: Vec<String> = live
        .health
        .iter()
        .filter_map(|(c, h)| h.reachable.as_ref().err().map(|e| format!("{c}: {e}")))
        .collect();
    if !dark.is_empty() {
        return Ok(waiting(format!(
            "not every member answers ({})",
            dark.join("; ")
        )));
    }
    let (estate, _refused) = Estate::from_snapshot_lenient(&live.snapshot);
    let settings = &ctx.config.consolidation;
    let options = PlanOptions {
        consolidate: true,
        thresholds: Thresholds {
            disruption_cost_per_move: settings.disruption_cost_per_move,
            horizon_months: settings.horizon_months,
            ..Thresholds::default()
        },
        ..PlanOptions::default()
    };
    let plan = colo_engine::plan(&estate, options);
    let gauge = |figure: &str, value: usize| {
        let g = ctx.metrics.consolidation.with_label_values(&[figure]);
        g.set(value as f64);
    };
    gauge("active_nodes", plan.summary.active_nodes_before);
    gauge("lower_bound_nodes", plan.summary.lower_bound_nodes);
    Ok(status(
        &live.snapshot,
        &plan,
        min_saving,
        &ctx.config.currency,
        now,
    ))
}

fn status(
    snapshot: &EstateSnapshot,
    plan: &Plan,
    min_saving: f64,
    currency: &str,
    now: DateTime<Utc>,
) -> ConsolidationPlanStatus {
    let figures = plan.summary.consolidation.clone().unwrap_or_default();
    let moves: Vec<Move> = plan
        .moves
        .iter()
        .map(|m| Move {
            tenancy: m.tenancy.clone(),
            workload: m.workload.clone(),
            from: m.from.clone(),
            to: m.to.clone(),
            replicas: m.replicas as i32,
        })
        .collect();
    let saving = figures.saving_per_month;
    let worth = figures.nodes_freed > 0 && saving >= min_saving;
    let message = if worth {
        format!(
            "frees {} ({}), saving {saving:.2} {currency} and {:.1} kWh a month for a one-off disruption of {:.2} (moves {}); set spec.approved: true to execute it",
            count(figures.nodes_freed, "node"),
            figures.freed_nodes.join(", "),
            figures.kwh_saved_per_month,
            figures.disruption_cost,
            count(figures.replicas_moved as usize, "replica"),
        )
    } else {
        format!(
            "nothing worth moving: freeing {} would save {saving:.2} {currency} a month, the minimum is {min_saving:.2}",
            count(figures.nodes_freed, "node")
        )
    };
    ConsolidationPlanStatus {
        state: Some(if worth {
            PlanState::Proposed
        } else {
            PlanState::Done
        }),
        message: Some(message),
        progress: worth.then(|| format!("Proposed 0/{}", figures.replicas_moved)),
        move_count: if worth {
            figures.replicas_moved as i32
        } else {
            0
        },
        steps: if worth {
            steps(snapshot, plan)
        } else {
            Vec::new()
        },
        moves: if worth { moves } else { Vec::new() },
        nodes_freed: figures.nodes_freed as i32,
        nodes_to_free: if worth {
            figures.freed_nodes.clone()
        } else {
            Vec::new()
        },
        clusters_freed: figures.clusters_freed.clone(),
        active_nodes_before: plan.summary.active_nodes_before as i32,
        active_nodes_after: plan.summary.active_nodes as i32,
        lower_bound_nodes: plan.summary.lower_bound_nodes as i32,
        monthly_kwh_saved: figures.kwh_saved_per_month,
        monthly_cost_saved: saving,
        monthly_carbon_kg_saved: figures.carbon_kg_saved_per_month,
        disruption_cost: figures.disruption_cost,
        horizon_months: figures.horizon_months,
        basis: Some(basis::of(snapshot)),
        proposed_at: Some(timestamp(now)),
        finished_at: (!worth).then(|| timestamp(now)),
        ..Default::default()
    }
}

fn count(n: usize, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    }
}

/// One step per tenancy the plan moves: its replicas per `cluster/workload` before and after.
fn steps(snapshot: &EstateSnapshot, plan: &Plan) -> Vec<TenancyStep> {
    let mut moved: BTreeMap<&str, i32> = BTreeMap::new();
    for m in &plan.moves {
        *moved.entry(m.tenancy.as_str()).or_default() += m.replicas as i32;
    }
    let mut steps = Vec::new();
    for t in &snapshot.tenancies {
        let key = format!(
            "{}/{}",
            t.metadata.namespace.as_deref().unwrap_or_default(),
            t.metadata.name
        );
        let Some(&moves) = moved.get(key.as_str()) else {
            continue;
        };
        let mut before = BTreeMap::new();
        for a in t.observed.iter().flat_map(|o| &o.assignments) {
            *before
                .entry(format!("{}/{}", a.cluster, a.workload))
                .or_default() += a.replicas;
        }
        let mut after = BTreeMap::new();
        for a in plan.assignments.iter().filter(|a| a.tenancy == key) {
            *after
                .entry(format!("{}/{}", a.cluster, a.workload))
                .or_default() += a.replicas as i32;
        }
        steps.push(TenancyStep {
            tenancy: key,
            agency: t.spec.agency.clone(),
            before,
            after,
            state: StepState::Waiting,
            moves,
            ..Default::default()
        });
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two nodes of one cluster, each with one 12-core replica: one node can be freed.
    fn spread() -> EstateSnapshot {
        let tenancy = |name: &str, node: &str| {
            format!(
                "- metadata: {{name: {name}, namespace: ns}}\n  spec: {{agency: a, classification: OFFICIAL, workloads: [{{name: api, image: i, replicas: 1, cpu: '12', memory: 4Gi}}]}}\n  observed: {{assignments: [{{workload: api, cluster: c1, node: {node}, replicas: 1}}]}}\n"
            )
        };
        let yaml = format!(
            "apiVersion: colo.dev/v1alpha1\nkind: EstateSnapshot\nagencies: [{{metadata: {{name: a}}, spec: {{displayName: A, costCentre: c, namespaces: [ns], maxClassification: OFFICIAL}}}}]\nclusters:\n- metadata: {{name: c1}}\n  spec: {{site: s, region: r, classification: OFFICIAL, headroom: 0.2}}\n  nodes:\n  - {{name: n1, capacity: {{cpu: '32', memory: 128Gi}}}}\n  - {{name: n2, capacity: {{cpu: '32', memory: 128Gi}}}}\ntenancies:\n{}{}",
            tenancy("t1", "n1"),
            tenancy("t2", "n2")
        );
        EstateSnapshot::from_yaml(&yaml).expect("a snapshot")
    }

    fn planned(snapshot: &EstateSnapshot) -> Plan {
        let estate = Estate::from_snapshot(snapshot).unwrap();
        let options = PlanOptions {
            consolidate: true,
            ..PlanOptions::default()
        };
        colo_engine::plan(&estate, options)
    }

    #[test]
    fn a_plan_says_its_moves_nodes_and_saving_and_one_step_per_tenancy() {
        let snapshot = spread();
        let plan = planned(&snapshot);
        let s = status(&snapshot, &plan, 1.0, "GBP", Utc::now());
        assert_eq!(s.state, Some(PlanState::Proposed));
        assert_eq!((s.nodes_freed, s.move_count, s.moves.len()), (1, 1, 1));
        assert_eq!(s.nodes_to_free.len(), 1);
        assert!(s.monthly_cost_saved > 0.0 && s.monthly_kwh_saved > 0.0);
        assert_eq!(s.steps.len(), 1, "only the tenancy that moves");
        let step = &s.steps[0];
        assert_eq!((step.state, step.moves), (StepState::Waiting, 1));
        assert_eq!(
            step.before, step.after,
            "within one cluster: the same replicas per cluster"
        );
        assert_eq!(step.before.get("c1/api"), Some(&1));
        assert!(s.message.unwrap().starts_with("frees 1 node ("));
        assert_eq!(s.basis, Some(basis::of(&snapshot)));
    }

    #[test]
    fn a_plan_below_the_minimum_saving_moves_nothing() {
        let snapshot = spread();
        let plan = planned(&snapshot);
        let s = status(&snapshot, &plan, 1_000_000.0, "GBP", Utc::now());
        assert_eq!(s.state, Some(PlanState::Done));
        assert!(s.moves.is_empty() && s.steps.is_empty() && s.nodes_to_free.is_empty());
        assert!(
            s.message.unwrap().starts_with("nothing worth moving"),
            "says why"
        );
    }
}
