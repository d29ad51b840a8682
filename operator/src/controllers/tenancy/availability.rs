//! How many replicas of each workload are available in the member clusters, and when some are
//! missing, the members' reason: a Deployment that cannot create its pods (quota, admission),
//! or a pod that is not scheduled.

use std::collections::BTreeMap;

use colo_api::Tenancy;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use crate::k8s::keys::TenancyKey;
use crate::k8s::labels;

/// What the members say about a tenancy's replicas.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Availability {
    /// Available replicas per workload, over every cluster.
    pub ready: BTreeMap<String, i32>,
    /// Available replicas per (cluster, workload).
    pub ready_in: BTreeMap<(String, String), i32>,
    /// Why replicas are missing, as "cluster: reason" (empty when none are, or not asked).
    pub reasons: Vec<String>,
    /// Every Deployment has rolled out its latest spec: no pod of an older one is left.
    pub settled: bool,
}

impl Availability {
    /// True when every workload has the replicas the tenancy asks for.
    pub fn all_up(&self, tenancy: &Tenancy) -> bool {
        tenancy
            .spec
            .workloads
            .iter()
            .all(|w| self.ready.get(&w.name).copied().unwrap_or(0) >= w.replicas)
    }

    /// True when every placement has its replicas available in its own cluster (replicas
    /// kept elsewhere meanwhile do not make up for them).
    pub fn placed_up(&self, placements: &[colo_api::Placement]) -> bool {
        placements.iter().all(|p| {
            let key = (p.cluster.clone(), p.workload.clone());
            self.ready_in.get(&key).copied().unwrap_or(0) >= p.replicas
        })
    }

    pub fn total_ready(&self) -> i32 {
        self.ready.values().sum()
    }
}

/// One member Deployment's available replicas, and whether its controller has seen the spec
/// Colo applied last (else the replicas counted may be of the previous spec).
struct Counted {
    workload: String,
    ready: i32,
    current: bool,
    /// Rolled out: every pod is of the latest spec, and available.
    settled: bool,
    /// Why the Deployment cannot create its pods, when it cannot.
    failure: Option<String>,
}

fn count(d: &Deployment) -> Counted {
    let status = d.status.as_ref();
    let failure = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
        })
        .map(|c| {
            format!(
                "{}: {}",
                d.name_any(),
                c.message.clone().unwrap_or_default()
            )
        });
    let current = status.and_then(|s| s.observed_generation) == d.metadata.generation;
    let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let count = |f: fn(&k8s_openapi::api::apps::v1::DeploymentStatus) -> Option<i32>| {
        status.and_then(f).unwrap_or(0)
    };
    let settled = current
        && count(|s| s.replicas) == wanted
        && count(|s| s.updated_replicas) == wanted
        && count(|s| s.available_replicas) == wanted;
    Counted {
        workload: d
            .labels()
            .get(labels::WORKLOAD_LABEL)
            .cloned()
            .unwrap_or_default(),
        ready: count(|s| s.available_replicas),
        current,
        settled,
        failure,
    }
}

fn of_tenancy(tenancy: &Tenancy) -> ListParams {
    ListParams::default().labels(&labels::tenancy_selector(&TenancyKey::of(tenancy)))
}

/// Reads availability in `members` (cluster name, client). Replicas of a spec a member has
/// not rolled out yet count only when `in_place` (Colo rolling the tenancy's own unchanged
/// spec, as on a resize): a spec the user changed is Running once the new spec runs. With
/// `explain`, missing replicas come with the members' reasons.
pub async fn read(
    tenancy: &Tenancy,
    members: &[(String, Client)],
    in_place: bool,
    explain: bool,
) -> Result<Availability, (String, kube::Error)> {
    let ns = labels::member_namespace(&tenancy.spec.agency);
    let mut seen = Availability {
        settled: true,
        ..Default::default()
    };
    let mut failures: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (cluster, client) in members {
        let deployments = Api::<Deployment>::namespaced(client.clone(), &ns)
            .list(&of_tenancy(tenancy))
            .await
            .map_err(|e| (cluster.clone(), e))?;
        for c in deployments.items.iter().map(count) {
            seen.settled &= c.settled;
            let n = if c.current || in_place { c.ready } else { 0 };
            *seen.ready.entry(c.workload.clone()).or_default() += n;
            *seen
                .ready_in
                .entry((cluster.clone(), c.workload))
                .or_default() += n;
            failures.entry(cluster).or_default().extend(c.failure);
        }
    }
    if !explain || seen.all_up(tenancy) {
        return Ok(seen);
    }
    for (cluster, client) in members {
        match failures.get(cluster.as_str()).filter(|f| !f.is_empty()) {
            Some(failed) => seen
                .reasons
                .extend(failed.iter().map(|f| format!("{cluster}: {f}"))),
            None => {
                if let Some(reason) = pending_pods(client, tenancy, &ns).await {
                    seen.reasons.push(format!("{cluster}: {reason}"));
                }
            }
        }
    }
    Ok(seen)
}

/// Pods of the tenancy still Pending in one member, with the first one's scheduling message.
async fn pending_pods(client: &Client, tenancy: &Tenancy, ns: &str) -> Option<String> {
    let pods = Api::<Pod>::namespaced(client.clone(), ns)
        .list(&of_tenancy(tenancy).fields("status.phase=Pending"))
        .await
        .ok()?;
    let first = pods.items.iter().find_map(|p| {
        p.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            .and_then(|c| c.message.clone())
    });
    match (pods.items.len(), first) {
        (0, _) => None,
        (n, Some(message)) => Some(format!("{n} pod(s) pending: {message}")),
        (n, None) => Some(format!("{n} pod(s) pending")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_kept_elsewhere_do_not_make_up_for_a_placement() {
        let place = |cluster: &str, replicas| colo_api::Placement {
            cluster: cluster.into(),
            site: String::new(),
            workload: "api".into(),
            replicas,
            requests: None,
        };
        let seen = Availability {
            ready_in: BTreeMap::from([
                (("north".to_string(), "api".to_string()), 2),
                (("south".to_string(), "api".to_string()), 0),
            ]),
            ..Default::default()
        };
        assert!(seen.placed_up(&[place("north", 2)]));
        assert!(!seen.placed_up(&[place("north", 1), place("south", 1)]));
    }
}
