//! Nothing stays cordoned that no live plan owns. A plan Colo executes carries a finalizer:
//! deleted, it uncordons the nodes it still drains in every member that answers, then lets
//! the plan go. Every step also sweeps the members for nodes Colo labelled `draining` for a
//! plan that is no longer open (deleted while its member was dark, or ended `Superseded`
//! while one was), and uncordons them: a member back from an outage gets its nodes back.
//! Nodes a plan put in standby stay there (a placement that needs them wakes them).

use std::collections::HashSet;

use colo_api::ConsolidationPlan;
use k8s_openapi::api::core::v1::Node;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};

use super::Error;
use crate::context::Context;
use crate::k8s::labels::{DRAINING, PLAN_ANNOTATION, STANDBY_LABEL};
use crate::k8s::nodes;

/// Held by a plan that executes, until the nodes it drains are uncordoned.
pub const FINALIZER: &str = "colo.dev/uncordon";

/// Adds the finalizer to a plan about to cordon nodes (nothing when it has it).
pub async fn hold(ctx: &Context, plan: &ConsolidationPlan) -> Result<(), Error> {
    if plan.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let patch = match plan.metadata.finalizers.as_ref() {
        Some(_) => {
            serde_json::json!([{"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER}])
        }
        None => {
            serde_json::json!([{"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}])
        }
    };
    patch_plan(ctx, plan, patch).await
}

/// A deleted plan: its draining nodes uncordoned where members answer (the sweep does the
/// others when they answer), then its finalizer removed.
pub async fn release(ctx: &Context, plan: &ConsolidationPlan) -> Result<(), Error> {
    let name = plan.name_any();
    let woke = uncordon_draining(ctx, |owner| owner == Some(name.as_str())).await?;
    if !woke.is_empty() {
        tracing::info!(plan = %name, nodes = ?woke, "plan deleted: the nodes it drained are uncordoned");
    }
    let Some(i) = plan.finalizers().iter().position(|f| f == FINALIZER) else {
        return Ok(());
    };
    let path = format!("/metadata/finalizers/{i}");
    let patch = serde_json::json!([
        {"op": "test", "path": path, "value": FINALIZER},
        {"op": "remove", "path": path},
    ]);
    patch_plan(ctx, plan, patch).await
}

/// Uncordons every node Colo drains for a plan that is not in `open`.
pub async fn sweep(ctx: &Context, open: &HashSet<String>) -> Result<(), Error> {
    let woke = uncordon_draining(ctx, |owner| owner.is_none_or(|p| !open.contains(p))).await?;
    if !woke.is_empty() {
        tracing::info!(nodes = ?woke, "uncordoned nodes drained for a plan that is no longer open");
    }
    Ok(())
}

/// Uncordons the draining nodes (in members that answer) whose plan `stale` picks; returns them
/// as `cluster/node`.
async fn uncordon_draining(
    ctx: &Context,
    stale: impl Fn(Option<&str>) -> bool,
) -> Result<Vec<String>, Error> {
    let draining = ListParams::default().labels(&format!("{STANDBY_LABEL}={DRAINING}"));
    let mut woke = Vec::new();
    for cluster in ctx.hub_clusters() {
        let Ok(client) = ctx.answering_member(&cluster).await else {
            continue;
        };
        let member = |source| Error::Member {
            cluster: cluster.name_any(),
            source,
        };
        let listed = Api::<Node>::all(client.clone()).list(&draining).await;
        for node in listed.map_err(member)? {
            let owner = node.annotations().get(PLAN_ANNOTATION).map(String::as_str);
            if stale(owner)
                && nodes::uncordon(&client, &node.name_any())
                    .await
                    .map_err(member)?
            {
                woke.push(format!("{}/{}", cluster.name_any(), node.name_any()));
            }
        }
    }
    Ok(woke)
}

async fn patch_plan(
    ctx: &Context,
    plan: &ConsolidationPlan,
    patch: serde_json::Value,
) -> Result<(), Error> {
    let api: Api<ConsolidationPlan> = Api::all(ctx.client.clone());
    let patch: json_patch::Patch = serde_json::from_value(patch).expect("a JSON patch");
    match api
        .patch(
            &plan.name_any(),
            &PatchParams::default(),
            &Patch::<()>::Json(patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        // Gone, or changed since read (a failed test op): the next step reads it again.
        Err(e) if crate::k8s::plain::is_not_found(&e) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 422 || e.code == 409 => Ok(()),
        Err(source) => Err(Error::Write {
            plan: plan.name_any(),
            source,
        }),
    }
}
