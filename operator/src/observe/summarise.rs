//! What one cluster's nodes, pods and measurement add up to: the snapshot's cluster entry,
//! the health its SharedCluster status shows, each tenancy workload's measured usage, and
//! where each tenancy's pods run. Pure: the fetching is done before, in `observe`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use colo_api::{Quantity, Resources, SharedCluster};
use colo_engine::model::PowerModel;
use colo_engine::snapshot::{ClusterEntry, Metadata, NodeEntry, ObservedAssignment, PowerState};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt;

use super::measure::{Measurement, Usage};
use crate::k8s::keys::TenancyKey;
use crate::k8s::labels;
use crate::k8s::nodes::{self, Standing};

/// A member as fetched: reachable or not, its nodes and live pods, its latest measurement.
pub struct Fetched {
    pub reachable: Result<(), String>,
    /// Why it takes no new placement although it answers (settling after an outage).
    pub settling: Option<String>,
    pub nodes: Vec<Arc<Node>>,
    pub pods: Vec<Arc<Pod>>,
    pub measurement: Measurement,
}

/// How a cluster looked when observed: for SharedCluster status and explanations.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterHealth {
    pub reachable: Result<(), String>,
    /// Why it takes no new placement although it answers (settling after an outage).
    pub settling: Option<String>,
    pub metrics: Result<(), String>,
    pub nodes_active: i32,
    pub nodes_standby: i32,
    pub capacity: Usage,
    pub requested: Usage,
    pub measured: Usage,
    /// IT power of the nodes now (before PUE), by the cluster's linear power model and each
    /// node's measured CPU; None without fresh metrics.
    pub power_watts: Option<f64>,
}

/// What was measured of one tenancy workload: the highest p95 of its pods, and the fewest
/// samples any of them has in the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measured {
    pub usage: Usage,
    pub samples: u32,
}

/// Per tenancy workload, what was measured.
pub type WorkloadUsage = BTreeMap<(TenancyKey, String), Measured>;

pub struct ClusterView {
    pub entry: ClusterEntry,
    pub health: ClusterHealth,
    /// Measured usage of each tenancy workload here (empty without fresh metrics).
    pub usage: WorkloadUsage,
    /// Where each tenancy's pods run here, per workload and node.
    pub assignments: BTreeMap<TenancyKey, Vec<ObservedAssignment>>,
}

pub fn summarise(cluster: &SharedCluster, fetched: &Fetched) -> ClusterView {
    let m = &fetched.measurement;
    let pods = tally_pods(&fetched.pods, m);
    let power = PowerModel::from_spec(cluster.spec.power.as_ref());
    let nodes = tally_nodes(&fetched.nodes, &pods, m, &power);
    let measured_pods = m.pods.values().fold((0, 0), |a, u| (a.0 + u.0, a.1 + u.1));
    let measured_nodes = m.nodes.values().fold((0, 0), |a, u| (a.0 + u.0, a.1 + u.1));
    let health = ClusterHealth {
        reachable: fetched.reachable.clone(),
        settling: fetched.settling.clone(),
        metrics: m.result.clone(),
        nodes_active: nodes.active,
        nodes_standby: nodes.standby,
        capacity: nodes.capacity,
        requested: pods.requested,
        measured: (
            measured_pods.0 + measured_nodes.0,
            measured_pods.1 + measured_nodes.1,
        ),
        power_watts: m.result.is_ok().then_some(nodes.watts.round()),
    };
    let name = cluster.name_any();
    let mut assignments: BTreeMap<TenancyKey, Vec<ObservedAssignment>> = BTreeMap::new();
    for ((key, workload, node), replicas) in pods.tenancy_pods {
        assignments
            .entry(key)
            .or_default()
            .push(ObservedAssignment {
                workload,
                cluster: name.clone(),
                node,
                replicas,
            });
    }
    ClusterView {
        entry: ClusterEntry {
            metadata: Metadata {
                name,
                namespace: None,
            },
            spec: cluster.spec.clone(),
            nodes: nodes.entries,
            unavailable: unavailable(&health),
        },
        health,
        usage: pods.usage,
        assignments,
    }
}

/// Why the cluster takes no placement now, as the explanation of a decision says it.
fn unavailable(health: &ClusterHealth) -> Option<String> {
    match &health.reachable {
        Err(why) => Some(format!("unreachable ({why})")),
        Ok(()) if health.settling.is_some() => health.settling.clone(),
        Ok(()) if health.nodes_active == 0 => Some("has no Ready node".into()),
        Ok(()) => None,
    }
}

/// What the pods on a cluster's nodes add up to.
#[derive(Default)]
struct PodTally {
    /// Requests of every scheduled pod.
    requested: Usage,
    /// Per node: requests of pods that are not tenancies.
    other_requests: HashMap<String, Usage>,
    /// Per node: how many pods that are not tenancies (each takes one of its pod slots).
    other_pods: HashMap<String, u32>,
    /// (tenancy, workload, node) → pods.
    tenancy_pods: BTreeMap<(TenancyKey, String, String), i32>,
    /// Per node: measured CPU of tenancy pods (for the node's power).
    tenancy_cpu_on: HashMap<String, i64>,
    usage: WorkloadUsage,
}

fn tally_pods(pods: &[Arc<Pod>], m: &Measurement) -> PodTally {
    let mut t = PodTally::default();
    for pod in pods {
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            continue;
        };
        let requests = pod_requests(pod);
        t.requested = (t.requested.0 + requests.0, t.requested.1 + requests.1);
        let id = (pod.namespace().unwrap_or_default(), pod.name_any());
        match labels::workload_of(pod.labels()) {
            Some((key, workload)) => {
                if let Some(&(cpu, mem)) = m.pods.get(&id) {
                    *t.tenancy_cpu_on.entry(node.clone()).or_default() += cpu;
                    let samples = m.samples.get(&id).copied().unwrap_or(0);
                    let first = Measured {
                        usage: (0, 0),
                        samples,
                    };
                    let e = t
                        .usage
                        .entry((key.clone(), workload.clone()))
                        .or_insert(first);
                    e.usage = (e.usage.0.max(cpu), e.usage.1.max(mem));
                    e.samples = e.samples.min(samples);
                }
                *t.tenancy_pods.entry((key, workload, node)).or_default() += 1;
            }
            None => {
                *t.other_pods.entry(node.clone()).or_default() += 1;
                let e = t.other_requests.entry(node).or_default();
                *e = (e.0 + requests.0, e.1 + requests.1);
            }
        }
    }
    t
}

struct NodeTally {
    entries: Vec<NodeEntry>,
    active: i32,
    standby: i32,
    capacity: Usage,
    watts: f64,
}

fn tally_nodes(
    nodes: &[Arc<Node>],
    pods: &PodTally,
    m: &Measurement,
    power: &PowerModel,
) -> NodeTally {
    let mut t = NodeTally {
        entries: Vec::new(),
        active: 0,
        standby: 0,
        capacity: (0, 0),
        watts: 0.0,
    };
    // In name order, as a list gives them: the plan must not depend on the watch's order.
    let mut nodes: Vec<&Arc<Node>> = nodes.iter().collect();
    nodes.sort_by_key(|n| n.name_any());
    for node in nodes {
        let name = node.name_any();
        let capacity = allocatable(node);
        let cap = (
            capacity.cpu.cpu_millis().unwrap_or(0) as i64,
            capacity.memory.bytes().unwrap_or(0) as i64,
        );
        let on = is_ready(node) && is_schedulable(node);
        let measured = m.nodes.get(&name).copied().unwrap_or((0, 0));
        if on {
            t.active += 1;
            t.capacity = (t.capacity.0 + cap.0, t.capacity.1 + cap.1);
            let used = measured.0 + pods.tenancy_cpu_on.get(&name).copied().unwrap_or(0);
            t.watts += power.node_watts(used as f64 / cap.0.max(1) as f64);
        } else {
            t.standby += 1;
            t.watts += power.standby_watts;
        }
        // Requests of pods that are not tenancies count as the node's use when above what
        // is measured, so that the plan and kube-scheduler agree on what fits.
        let requested = pods.other_requests.get(&name).copied().unwrap_or((0, 0));
        let usage = (measured.0.max(requested.0), measured.1.max(requested.1));
        t.entries.push(NodeEntry {
            pods: max_pods(node),
            other_pods: pods.other_pods.get(&name).copied(),
            name,
            capacity,
            usage: Some(Resources {
                cpu: Quantity::from_cpu_millis(usage.0 as u64),
                memory: Quantity::from_bytes(usage.1 as u64),
            }),
            power_state: power_state(node, on),
        });
    }
    t
}

/// Running, Colo's standby (woken when work needs it), or cordoned for another reason (a
/// plan draining it, maintenance, not Ready): the last takes nothing new and is never woken,
/// or a placement would undo a move under way or wait on a node nobody uncordons.
fn power_state(node: &Node, on: bool) -> PowerState {
    match (on, nodes::standing(node)) {
        (true, _) => PowerState::On,
        (false, Standing::Standby) => PowerState::Standby,
        (false, _) => PowerState::Cordoned,
    }
}

fn allocatable(node: &Node) -> Resources {
    let allocatable = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
    let quantity = |k: &str| {
        allocatable
            .and_then(|a| a.get(k))
            .map(|q| Quantity::new(q.0.clone()))
            .unwrap_or_default()
    };
    Resources {
        cpu: quantity("cpu"),
        memory: quantity("memory"),
    }
}

/// The node's allocatable pods (kubelet's `maxPods`), when it says.
fn max_pods(node: &Node) -> Option<u32> {
    let allocatable = node.status.as_ref()?.allocatable.as_ref()?;
    allocatable.get("pods")?.0.parse().ok()
}

fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn is_schedulable(node: &Node) -> bool {
    !node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
}

fn pod_requests(pod: &Pod) -> Usage {
    let mut total = (0, 0);
    let containers = pod.spec.as_ref().map(|s| s.containers.as_slice());
    for c in containers.unwrap_or_default() {
        let Some(req) = c.resources.as_ref().and_then(|r| r.requests.as_ref()) else {
            continue;
        };
        let get = |k: &str| req.get(k).map(|q| Quantity::new(q.0.clone()));
        total.0 += get("cpu").and_then(|q| q.cpu_millis().ok()).unwrap_or(0) as i64;
        total.1 += get("memory").and_then(|q| q.bytes().ok()).unwrap_or(0) as i64;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn node(name: &str, cpu: &str, ready: bool, cordoned: bool) -> Arc<Node> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name},
                "spec": {"unschedulable": cordoned},
                "status": {
                    "allocatable": {"cpu": cpu, "memory": "128Gi"},
                    "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]
                }
            }))
            .unwrap(),
        )
    }

    fn pod(name: &str, node: &str, cpu: &str, tenancy: Option<(&str, &str, &str)>) -> Arc<Pod> {
        let labels = match tenancy {
            Some((ns, t, w)) => labels::workload_labels(&TenancyKey::new(ns, t), "ag", w),
            None => Default::default(),
        };
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": if tenancy.is_some() {"colo-ag"} else {"kube-system"}, "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}]}
        }))
        .map(Arc::new)
        .unwrap()
    }

    fn cluster() -> SharedCluster {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "colo.dev/v1alpha1", "kind": "SharedCluster",
            "metadata": {"name": "north-1"},
            "spec": {"site": "north-dc", "region": "uk-north", "classification": "OFFICIAL",
                     "power": {"idleWatts": 100.0, "maxWatts": 300.0, "standbyWatts": 10.0}}
        }))
        .unwrap()
    }

    fn measured(pods: &[(&str, Usage)], nodes: &[(&str, Usage)]) -> Measurement {
        Measurement {
            pods: pods
                .iter()
                .map(|(p, u)| (("colo-ag".to_string(), p.to_string()), *u))
                .collect(),
            samples: pods
                .iter()
                .map(|(p, _)| (("colo-ag".to_string(), p.to_string()), 7))
                .collect(),
            nodes: nodes
                .iter()
                .map(|(n, u)| (n.to_string(), *u))
                .collect::<HashMap<_, _>>(),
            result: Ok(()),
            ..Measurement::none()
        }
    }

    fn fetched(measurement: Measurement) -> Fetched {
        Fetched {
            reachable: Ok(()),
            settling: None,
            nodes: vec![
                node("n1", "32", true, false),
                node("n2", "32", true, true),
                node("n3", "32", false, false),
            ],
            pods: vec![
                pod("a-1", "n1", "500m", Some(("dvla", "shop", "web"))),
                pod("a-2", "n1", "500m", Some(("dvla", "shop", "web"))),
                pod("sys", "n1", "2", None),
            ],
            measurement,
        }
    }

    #[test]
    fn ready_schedulable_nodes_are_active_the_rest_standby_or_cordoned() {
        let view = summarise(&cluster(), &fetched(Measurement::none()));
        let h = &view.health;
        assert_eq!((h.nodes_active, h.nodes_standby), (1, 2));
        assert_eq!(h.capacity.0, 32_000);
        assert_eq!(h.requested.0, 3000);
        assert_eq!(h.power_watts, None, "no power without metrics");
        let states: Vec<_> = view.entry.nodes.iter().map(|n| n.power_state).collect();
        // n2 was cordoned by someone else and n3 is not Ready: neither is Colo's to wake.
        assert_eq!(
            states,
            [PowerState::On, PowerState::Cordoned, PowerState::Cordoned]
        );
    }

    #[test]
    fn only_colos_own_standby_nodes_may_be_woken() {
        let labelled = |value: &str| {
            let mut n = (*node("n", "32", true, true)).clone();
            n.labels_mut()
                .insert(labels::STANDBY_LABEL.into(), value.into());
            n
        };
        let state = |n: &Node| power_state(n, is_ready(n) && is_schedulable(n));
        assert_eq!(state(&labelled(labels::STANDBY)), PowerState::Standby);
        // Being emptied by a plan: waking it would let the moved pods come back.
        assert_eq!(state(&labelled(labels::DRAINING)), PowerState::Cordoned);
        assert_eq!(state(&node("n", "32", true, false)), PowerState::On);
    }

    #[test]
    fn tenancy_pods_give_assignments_and_usage_other_pods_the_nodes_use() {
        let m = measured(
            &[("a-1", (100, 10)), ("a-2", (300, 5))],
            &[("n1", (1000, 0))],
        );
        let view = summarise(&cluster(), &fetched(m));
        let key = TenancyKey::new("dvla", "shop");
        let measured = view.usage[&(key.clone(), "web".into())];
        assert_eq!(measured.usage, (300, 10), "max per workload");
        assert_eq!(measured.samples, 7, "the fewest samples of its pods");
        assert_eq!(view.assignments[&key].len(), 1);
        assert_eq!(view.assignments[&key][0].replicas, 2);
        // System pods request 2 cores, measured at 1: the larger counts as the node's use.
        let n1 = &view.entry.nodes[0];
        assert_eq!(n1.usage.as_ref().unwrap().cpu.cpu_millis().unwrap(), 2000);
        // Power: n1 at (1000 + 400) / 32000 of the way from 100 to 300 W; two standby at 10.
        let expect: f64 = 100.0 + 200.0 * 1400.0 / 32000.0 + 20.0;
        assert_eq!(view.health.power_watts, Some(expect.round()));
        assert_eq!(view.health.measured.0, 1400);
    }
}
