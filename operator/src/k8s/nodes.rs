//! Member nodes in and out of standby. Colo cordons only the nodes a consolidation plan empties
//! and labels them; it uncordons only nodes carrying its label, so a node the platform team
//! cordoned for maintenance stays cordoned.

use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use super::labels::{CONSOLIDATION_MANAGER, DRAINING, PLAN_ANNOTATION, STANDBY, STANDBY_LABEL};

/// Where a node stands with Colo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Schedulable.
    Active,
    /// Cordoned by Colo while a plan empties it.
    Draining,
    /// Cordoned by Colo and empty: in standby.
    Standby,
    /// Cordoned by someone else: Colo leaves it alone.
    CordonedByOthers,
}

pub fn standing(node: &Node) -> Standing {
    let cordoned = node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false);
    match (
        cordoned,
        node.labels().get(STANDBY_LABEL).map(String::as_str),
    ) {
        (false, _) => Standing::Active,
        (true, Some(DRAINING)) => Standing::Draining,
        (true, Some(STANDBY)) => Standing::Standby,
        (true, _) => Standing::CordonedByOthers,
    }
}

async fn patch(client: &Client, node: &str, body: serde_json::Value) -> Result<(), kube::Error> {
    let params = PatchParams {
        field_manager: Some(CONSOLIDATION_MANAGER.into()),
        ..Default::default()
    };
    Api::<Node>::all(client.clone())
        .patch(node, &params, &Patch::Merge(body))
        .await
        .map(drop)
}

/// Cordons `node` for `plan` to empty it. A node someone else cordoned is left as it is.
pub async fn cordon(client: &Client, node: &str, plan: &str) -> Result<(), kube::Error> {
    let current = Api::<Node>::all(client.clone()).get(node).await?;
    if standing(&current) == Standing::CordonedByOthers {
        return Ok(());
    }
    let body = json!({
        "metadata": {"labels": {STANDBY_LABEL: DRAINING}, "annotations": {PLAN_ANNOTATION: plan}},
        "spec": {"unschedulable": true},
    });
    patch(client, node, body).await
}

/// An emptied node goes to standby (it stays cordoned; its power is the model's standby).
/// Only a node still draining, and unchanged since it was read: a placement may have woken it
/// in between (labelled standby but schedulable would be neither). False when it was not.
pub async fn to_standby(client: &Client, node: &str) -> Result<bool, kube::Error> {
    let current = Api::<Node>::all(client.clone()).get(node).await?;
    if standing(&current) != Standing::Draining {
        return Ok(false);
    }
    let body = json!({"metadata": {
        "labels": {STANDBY_LABEL: STANDBY},
        "resourceVersion": current.resource_version(),
    }});
    match patch(client, node, body).await {
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        done => done.map(|()| true),
    }
}

/// Uncordons a node Colo cordoned (draining, or in standby); others are left alone.
pub async fn uncordon(client: &Client, node: &str) -> Result<bool, kube::Error> {
    let current = Api::<Node>::all(client.clone()).get(node).await?;
    if !matches!(standing(&current), Standing::Draining | Standing::Standby) {
        return Ok(false);
    }
    let body = json!({
        "metadata": {"labels": {STANDBY_LABEL: null}, "annotations": {PLAN_ANNOTATION: null}},
        "spec": {"unschedulable": null},
    });
    patch(client, node, body).await.map(|()| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(unschedulable: bool, label: Option<&str>) -> Node {
        let mut n: Node = serde_json::from_value(json!({
            "metadata": {"name": "n"}, "spec": {"unschedulable": unschedulable}
        }))
        .unwrap();
        if let Some(l) = label {
            n.labels_mut().insert(STANDBY_LABEL.into(), l.into());
        }
        n
    }

    #[test]
    fn only_nodes_colo_cordoned_are_its_own() {
        assert_eq!(standing(&node(false, None)), Standing::Active);
        assert_eq!(standing(&node(false, Some(STANDBY))), Standing::Active);
        assert_eq!(standing(&node(true, Some(DRAINING))), Standing::Draining);
        assert_eq!(standing(&node(true, Some(STANDBY))), Standing::Standby);
        assert_eq!(standing(&node(true, None)), Standing::CordonedByOthers);
        assert_eq!(standing(&node(true, Some("x"))), Standing::CordonedByOthers);
    }
}
