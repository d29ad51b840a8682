//! One tenancy's part of a plan, make-before-break, advanced a little each time:
//! 1. its quota gets room for a surge replica and its pods on the nodes being freed are marked
//!    to go first;
//! 2. when its replicas per cluster change, the new placement is handed to the Tenancy
//!    controller, which keeps the old replicas until the new are available;
//! 3. Deployments that still have pods on those nodes are rolled (one new pod available
//!    before an old one goes; the nodes are cordoned, so the new land elsewhere), each when
//!    its disruption budget allows;
//! 4. done when nothing of it is left there and every rollout has settled.
//!
//! A step not done within the move timeout is rolled back: the old placement and pod
//! templates come back, and the rest of the plan goes on.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use colo_api::{Placement, StepState, TenancyStep};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

use super::occupancy::{self, Occupancy, Stranded};
use super::{Error, timestamp};
use crate::context::Context;
use crate::k8s::keys::TenancyKey;
use crate::k8s::labels;
use crate::state::Decided;

pub async fn advance(
    ctx: &Context,
    plan: &str,
    step: &mut TenancyStep,
    occupancy: &Occupancy,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let Some(key) = TenancyKey::parse(&step.tenancy).filter(|k| ctx.hub_has_tenancy(k)) else {
        return finish(
            ctx,
            step,
            StepState::Skipped,
            Some("the tenancy was deleted".into()),
        );
    };
    let started = match step.started_at.as_deref().map(DateTime::parse_from_rfc3339) {
        Some(Ok(t)) => t.with_timezone(&Utc),
        _ => {
            step.started_at = Some(timestamp(now));
            step.state = StepState::Moving;
            now
        }
    };
    // Woken at every look: while the move is open, each look of the Tenancy controller
    // applies its member objects (the protocol: state/moves.rs).
    ctx.state.moves().begin(&key, started);
    ctx.reconcile_now(key.clone());
    let timeout = chrono::Duration::from_std(ctx.config.consolidation.move_timeout)
        .unwrap_or(chrono::Duration::MAX);
    if now - started > timeout {
        return rollback(ctx, &key, step, occupancy).await;
    }
    let stranded = occupancy.by_tenancy.get(&key).cloned().unwrap_or_default();
    mark(occupancy, &stranded).await?;
    let Some(confirmed) = ctx.state.confirmed(&key) else {
        step.message = Some("waits for its placement to be known".into());
        return Ok(());
    };
    if counts(&confirmed.decided.placements) != step.after {
        let target = placements(ctx, &step.after, &confirmed.decided);
        if ctx.state.assumed(&key).map(|a| counts(&a.placements)) != Some(step.after.clone()) {
            let moved = Decided {
                placements: target,
                nodes: Vec::new(),
                explanation: format!("Moved by consolidation plan {plan} to free nodes."),
                spec_digest: confirmed.decided.spec_digest.clone(),
                standby_to_wake: Vec::new(),
            };
            ctx.state.moves().target(&key, moved);
        }
        step.message = Some("its new replicas are being placed".into());
        return Ok(());
    }
    if ctx.state.previous(&key).is_some() || confirmed.surged {
        step.message = Some("waits for its new replicas to be available".into());
        return Ok(());
    }
    if !stranded.is_empty() {
        if ctx.state.moves().applied_since_begun(&key) {
            restart(plan, step, occupancy, &stranded).await?;
        }
        return Ok(());
    }
    if !rolled_out(occupancy, step).await? {
        step.message = Some("waits for its rollouts to settle".into());
        return Ok(());
    }
    finish(ctx, step, StepState::Done, None)
}

fn finish(
    ctx: &Context,
    step: &mut TenancyStep,
    state: StepState,
    message: Option<String>,
) -> Result<(), Error> {
    if let Some(key) = TenancyKey::parse(&step.tenancy) {
        ctx.state.moves().end(&key);
        ctx.reconcile_now(key);
    }
    step.state = state;
    step.message = message;
    Ok(())
}

/// Replicas per `cluster/workload`.
pub fn counts(placements: &[Placement]) -> BTreeMap<String, i32> {
    let mut out = BTreeMap::new();
    for p in placements {
        *out.entry(format!("{}/{}", p.cluster, p.workload))
            .or_default() += p.replicas;
    }
    out
}

/// Placements with `replicas` per `cluster/workload`, sized as the tenancy is now.
fn placements(ctx: &Context, replicas: &BTreeMap<String, i32>, now: &Decided) -> Vec<Placement> {
    replicas
        .iter()
        .map(|(path, &replicas)| {
            let (cluster, workload) = occupancy::split(path);
            let like = now.placements.iter().find(|p| p.workload == workload);
            Placement {
                cluster: cluster.to_string(),
                site: ctx
                    .hub_cluster(cluster)
                    .map(|c| c.spec.site.clone())
                    .unwrap_or_default(),
                workload: workload.to_string(),
                replicas,
                requests: like.and_then(|p| p.requests.clone()),
            }
        })
        .collect()
}

async fn mark(occupancy: &Occupancy, stranded: &[Stranded]) -> Result<(), Error> {
    for pod in stranded.iter().filter(|p| !p.marked) {
        let Some(client) = occupancy.clients.get(&pod.cluster) else {
            continue;
        };
        occupancy::mark_first_to_go(client, pod)
            .await
            .map_err(|source| Error::Member {
                cluster: pod.cluster.clone(),
                source,
            })?;
    }
    Ok(())
}

/// Rolls each Deployment with pods on the nodes being freed, once its budget allows.
async fn restart(
    plan: &str,
    step: &mut TenancyStep,
    occupancy: &Occupancy,
    stranded: &[Stranded],
) -> Result<(), Error> {
    let key = TenancyKey::parse(&step.tenancy).expect("parsed before");
    let mut waiting = Vec::new();
    for pod in stranded {
        let name = labels::object_name(&key.name, &pod.workload);
        let path = format!("{}/{name}", pod.cluster);
        let Some(client) = occupancy.clients.get(&pod.cluster) else {
            continue;
        };
        let fail = |source| Error::Member {
            cluster: pod.cluster.clone(),
            source,
        };
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &pod.namespace);
        let Some(deployment) = deployments.get_opt(&name).await.map_err(fail)? else {
            continue;
        };
        let stamp = moved_by(&deployment);
        if stamp.as_deref() == Some(plan) {
            continue;
        }
        if !budget_allows(client, &pod.namespace, &name)
            .await
            .map_err(fail)?
        {
            waiting.push(path);
            continue;
        }
        step.restarted
            .entry(path)
            .or_insert(stamp.unwrap_or_default());
        stamp_template(&deployments, &name, Some(plan))
            .await
            .map_err(fail)?;
    }
    step.message = Some(match waiting.is_empty() {
        true => "rolling its pods off the nodes being freed".into(),
        false => format!("waits for the disruption budget of {}", waiting.join(", ")),
    });
    Ok(())
}

fn moved_by(d: &Deployment) -> Option<String> {
    d.spec
        .as_ref()?
        .template
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get(labels::MOVED_BY_ANNOTATION)
        .cloned()
}

/// Sets (or with None removes) the pod template's `colo.dev/moved-by`: a rollout, as
/// `kubectl rollout restart` makes one, under Colo's consolidation field manager.
async fn stamp_template(
    deployments: &Api<Deployment>,
    name: &str,
    value: Option<&str>,
) -> Result<(), kube::Error> {
    let body = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {
        labels::MOVED_BY_ANNOTATION: value
    }}}}});
    let params = PatchParams {
        field_manager: Some(labels::CONSOLIDATION_MANAGER.into()),
        ..Default::default()
    };
    deployments
        .patch(name, &params, &Patch::Merge(body))
        .await
        .map(drop)
}

/// A workload without a budget (one replica) may always move; one with a budget when it
/// allows a disruption now (every replica healthy).
async fn budget_allows(client: &Client, ns: &str, name: &str) -> Result<bool, kube::Error> {
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), ns);
    Ok(match budgets.get_opt(name).await? {
        None => true,
        Some(b) => b
            .status
            .is_some_and(|s| s.disruptions_allowed.unwrap_or(0) >= 1),
    })
}

/// True when every Deployment the step rolled has rolled out.
async fn rolled_out(occupancy: &Occupancy, step: &TenancyStep) -> Result<bool, Error> {
    for path in step.restarted.keys() {
        let (cluster, name) = occupancy::split(path);
        let Some(client) = occupancy.clients.get(cluster) else {
            return Ok(false);
        };
        let ns = labels::member_namespace(&step.agency);
        let deployment = Api::<Deployment>::namespaced(client.clone(), &ns)
            .get_opt(name)
            .await
            .map_err(|source| Error::Member {
                cluster: cluster.to_string(),
                source,
            })?;
        if deployment.as_ref().is_some_and(|d| !settled(d)) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn settled(d: &Deployment) -> bool {
    let Some(status) = &d.status else {
        return false;
    };
    let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    status.observed_generation == d.metadata.generation
        && status.replicas.unwrap_or(0) == wanted
        && status.updated_replicas.unwrap_or(0) == wanted
        && status.available_replicas.unwrap_or(0) == wanted
}

/// Puts back what the step changed: the old placement (its replicas still run: the new
/// were added beside them) and the old pod templates (their ReplicaSets still hold their
/// pods: a rollout removes an old pod only once a new one is available).
async fn rollback(
    ctx: &Context,
    key: &TenancyKey,
    step: &mut TenancyStep,
    occupancy: &Occupancy,
) -> Result<(), Error> {
    if step.before != step.after
        && let Some(confirmed) = ctx.state.confirmed(key)
    {
        let back = Decided {
            placements: placements(ctx, &step.before, &confirmed.decided),
            nodes: Vec::new(),
            explanation: "A consolidation move did not complete in time: moved back.".into(),
            spec_digest: confirmed.decided.spec_digest.clone(),
            standby_to_wake: Vec::new(),
        };
        ctx.state.moves().target(key, back);
    }
    for (path, before) in &step.restarted {
        let (cluster, name) = occupancy::split(path);
        let Some(client) = occupancy.clients.get(cluster) else {
            continue;
        };
        let ns = labels::member_namespace(&step.agency);
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        let value = (!before.is_empty()).then_some(before.as_str());
        stamp_template(&deployments, name, value)
            .await
            .map_err(|source| Error::Member {
                cluster: cluster.to_string(),
                source,
            })?;
    }
    let why = format!(
        "rolled back: not done within {} s",
        ctx.config.consolidation.move_timeout.as_secs()
    );
    finish(ctx, step, StepState::RolledBack, Some(why))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn on(cluster: &str, workload: &str, replicas: i32) -> Placement {
        Placement {
            cluster: cluster.into(),
            site: "s".into(),
            workload: workload.into(),
            replicas,
            requests: None,
        }
    }

    #[test]
    fn replicas_are_counted_per_cluster_and_workload() {
        let counted = counts(&[
            on("north", "web", 2),
            on("south", "web", 1),
            on("north", "web", 1),
        ]);
        assert_eq!(
            counted,
            BTreeMap::from([("north/web".into(), 3), ("south/web".into(), 1)])
        );
    }

    fn deployment(generation: i64, observed: i64, replicas: (i32, i32, i32)) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "d", "generation": generation},
            "spec": {"replicas": 2, "selector": {}, "template": {"metadata": {
                "annotations": {labels::MOVED_BY_ANNOTATION: "plan-1"}}}},
            "status": {"observedGeneration": observed, "replicas": replicas.0,
                       "updatedReplicas": replicas.1, "availableReplicas": replicas.2}
        }))
        .unwrap()
    }

    #[test]
    fn a_rollout_has_settled_only_when_every_replica_is_new_and_available() {
        assert!(settled(&deployment(2, 2, (2, 2, 2))));
        assert!(
            !settled(&deployment(2, 1, (2, 2, 2))),
            "not yet seen by its controller"
        );
        assert!(
            !settled(&deployment(2, 2, (3, 2, 2))),
            "an old pod still runs"
        );
        assert!(
            !settled(&deployment(2, 2, (2, 1, 2))),
            "an old pod still serves"
        );
        assert!(
            !settled(&deployment(2, 2, (2, 2, 1))),
            "a new pod not available"
        );
        assert_eq!(
            moved_by(&deployment(1, 1, (2, 2, 2))).as_deref(),
            Some("plan-1")
        );
    }
}
