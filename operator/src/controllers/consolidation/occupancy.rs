//! Which tenancy pods still run on the nodes a plan frees, read from the members each step.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};

use super::Error;
use crate::context::Context;
use crate::k8s::keys::TenancyKey;
use crate::k8s::labels;

/// A tenancy pod on a node being freed.
#[derive(Clone, Debug)]
pub struct Stranded {
    pub cluster: String,
    pub namespace: String,
    pub pod: String,
    pub workload: String,
    /// Already marked to go first when its Deployment scales down.
    pub marked: bool,
}

/// The members of the nodes a plan frees, and what still runs on those nodes.
pub struct Occupancy {
    pub clients: BTreeMap<String, Client>,
    /// Clusters of the plan that do not answer now, with why.
    pub dark: BTreeMap<String, String>,
    pub by_tenancy: BTreeMap<TenancyKey, Vec<Stranded>>,
    /// Nodes to free with no tenancy pod left.
    pub empty: BTreeSet<String>,
}

/// Splits `cluster/node`.
pub fn split(path: &str) -> (&str, &str) {
    path.split_once('/').unwrap_or((path, ""))
}

pub async fn read(ctx: &Context, nodes_to_free: &[String]) -> Result<Occupancy, Error> {
    let mut by_cluster: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for path in nodes_to_free {
        let (cluster, node) = split(path);
        by_cluster.entry(cluster).or_default().insert(node);
    }
    let mut out = Occupancy {
        clients: BTreeMap::new(),
        dark: BTreeMap::new(),
        by_tenancy: BTreeMap::new(),
        empty: nodes_to_free.iter().cloned().collect(),
    };
    for (cluster, nodes) in by_cluster {
        let client = match ctx.hub_cluster(cluster) {
            Some(c) => ctx.answering_member(&c).await,
            None => Err("not a SharedCluster any more".to_string()),
        };
        let client = match client {
            Ok(c) => c,
            Err(why) => {
                out.dark.insert(cluster.to_string(), why);
                continue;
            }
        };
        let lp = ListParams::default().labels(labels::AGENCY_LABEL);
        let pods = Api::<Pod>::all(client.clone())
            .list(&lp)
            .await
            .map_err(|source| Error::Member {
                cluster: cluster.to_string(),
                source,
            })?;
        for pod in pods.items {
            let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
            let Some(node) = node.filter(|n| nodes.contains(n.as_str())) else {
                continue;
            };
            let Some((key, workload)) = labels::workload_of(pod.labels()) else {
                continue;
            };
            out.empty.remove(&format!("{cluster}/{node}"));
            out.by_tenancy.entry(key).or_default().push(Stranded {
                cluster: cluster.to_string(),
                namespace: pod.namespace().unwrap_or_default(),
                marked: pod
                    .annotations()
                    .contains_key(labels::DELETION_COST_ANNOTATION),
                pod: pod.name_any(),
                workload,
            });
        }
        out.clients.insert(cluster.to_string(), client);
    }
    Ok(out)
}

/// Marks a pod to be the first its ReplicaSet removes when it scales down (a move's old
/// replica on a node being freed, not one on a node that stays).
pub async fn mark_first_to_go(client: &Client, pod: &Stranded) -> Result<(), kube::Error> {
    let body = serde_json::json!({
        "metadata": {"annotations": {labels::DELETION_COST_ANNOTATION: "-1000"}}
    });
    let params = PatchParams {
        field_manager: Some(labels::CONSOLIDATION_MANAGER.into()),
        ..Default::default()
    };
    Api::<Pod>::namespaced(client.clone(), &pod.namespace)
        .patch(&pod.pod, &params, &Patch::Merge(body))
        .await
        .map(drop)
}
