//! Observing the live estate as an `EstateSnapshot`: SharedClusters and their nodes, what
//! runs on them (pods of tenancies, other pods' measured use), and Colo's hub objects.
//! The planner decides on it; `colo snapshot` writes it out.

use std::collections::{BTreeMap, HashMap};

use colo_api::{Agency, Quantity, Resources, SharedCluster, Tenancy};
use colo_engine::snapshot::{
    API_VERSION, AgencyEntry, ClusterEntry, EstateSnapshot, KIND, Metadata, NodeEntry, Observed,
    ObservedAssignment, PowerState, TenancyEntry,
};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::ListParams;
use kube::{Api, ResourceExt};

use crate::context::Context;
use crate::prom::Prometheus;

pub const WORKLOAD_LABEL: &str = "colo.dev/workload";
pub const TENANCY_NAMESPACE_LABEL: &str = "colo.dev/tenancy-namespace";

/// How a cluster looked when observed: for SharedCluster status and explanations.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterHealth {
    pub reachable: Result<(), String>,
    pub metrics: Result<(), String>,
    pub nodes_active: i32,
    pub nodes_standby: i32,
    pub capacity: (i64, i64),
    pub requested: (i64, i64),
    pub measured: (i64, i64),
    /// IT power of the nodes now (before PUE), by the cluster's linear power model and each
    /// node's measured CPU; None without fresh metrics.
    pub power_watts: Option<f64>,
}

/// Per pod: measured p95 cpu (milli-cores) and memory (bytes), by (namespace, pod).
type PodUsage = HashMap<(String, String), (i64, i64)>;

/// Per tenancy workload (`namespace/name`, workload): the highest p95 of its pods.
pub type WorkloadUsage = BTreeMap<(String, String), (i64, i64)>;

pub struct LiveEstate {
    pub snapshot: EstateSnapshot,
    pub health: BTreeMap<String, ClusterHealth>,
}

/// Observes everything. Tenancies in `planning` are left without observed assignments (they
/// are about to be placed); others count where their pods run, or where they were decided.
pub async fn observe(ctx: &Context, planning: &[String]) -> Result<LiveEstate, kube::Error> {
    let (agencies, clusters, tenancies) = match &ctx.cache {
        Some(cache) => cache.hub().await,
        None => {
            let lp = ListParams::default();
            let (agencies, clusters, tenancies) = (
                Api::<Agency>::all(ctx.client.clone()),
                Api::<SharedCluster>::all(ctx.client.clone()),
                Api::<Tenancy>::all(ctx.client.clone()),
            );
            let (a, c, t) =
                futures::try_join!(agencies.list(&lp), clusters.list(&lp), tenancies.list(&lp))?;
            (a.items, c.items, t.items)
        }
    };

    let mut snapshot = EstateSnapshot {
        api_version: API_VERSION.into(),
        kind: KIND.into(),
        ..Default::default()
    };
    for a in &agencies {
        snapshot.agencies.push(AgencyEntry {
            metadata: meta(a.name_any(), None),
            spec: a.spec.clone(),
        });
    }
    let mut health = BTreeMap::new();
    // (tenancy key, workload) -> node assignments from pods; and measured use per pod.
    let mut pods_of: BTreeMap<String, Vec<ObservedAssignment>> = BTreeMap::new();
    let mut usage_of: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for cluster in &clusters {
        let (entry, h) = observe_cluster(ctx, cluster, &mut pods_of, &mut usage_of).await;
        snapshot.clusters.push(entry);
        health.insert(cluster.name_any(), h);
    }
    let decided = ctx.decided_nodes.lock().expect("lock").clone();
    for t in &tenancies {
        let key = format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any());
        if t.status.as_ref().and_then(|s| s.phase) == Some(colo_api::Phase::Rejected) {
            continue;
        }
        let mut observed = Observed::default();
        for w in &t.spec.workloads {
            if let Some(&(cpu, mem)) = usage_of.get(&(key.clone(), w.name.clone())) {
                observed.usage.insert(
                    w.name.clone(),
                    Resources {
                        cpu: Quantity::from_cpu_millis(cpu as u64),
                        memory: Quantity::from_bytes(mem as u64),
                    },
                );
            }
        }
        if !planning.contains(&key) {
            let pods: Vec<ObservedAssignment> = pods_of.get(&key).cloned().unwrap_or_default();
            let asked: i32 = t.spec.workloads.iter().map(|w| w.replicas).sum();
            let running: i32 = pods.iter().map(|a| a.replicas).sum();
            observed.assignments = if running >= asked {
                pods
            } else {
                decided.get(&key).cloned().unwrap_or(pods)
            };
            // A snapshot only names nodes and workloads that exist.
            observed.assignments.retain(|a| {
                t.spec.workloads.iter().any(|w| w.name == a.workload)
                    && snapshot.clusters.iter().any(|c| {
                        c.metadata.name == a.cluster && c.nodes.iter().any(|n| n.name == a.node)
                    })
            });
        }
        snapshot.tenancies.push(TenancyEntry {
            metadata: meta(t.name_any(), t.namespace()),
            spec: t.spec.clone(),
            observed: Some(observed),
        });
    }
    Ok(LiveEstate { snapshot, health })
}

fn meta(name: String, namespace: Option<String>) -> Metadata {
    Metadata { name, namespace }
}

pub async fn observe_cluster(
    ctx: &Context,
    cluster: &SharedCluster,
    pods_of: &mut BTreeMap<String, Vec<ObservedAssignment>>,
    usage_of: &mut BTreeMap<(String, String), (i64, i64)>,
) -> (ClusterEntry, ClusterHealth) {
    let name = cluster.name_any();
    let mut entry = ClusterEntry {
        metadata: meta(name.clone(), None),
        spec: cluster.spec.clone(),
        nodes: Vec::new(),
    };
    let mut health = ClusterHealth {
        reachable: Ok(()),
        metrics: Err("not measured".into()),
        nodes_active: 0,
        nodes_standby: 0,
        capacity: (0, 0),
        requested: (0, 0),
        measured: (0, 0),
        power_watts: None,
    };
    let client = match ctx.members.client(cluster).await {
        Ok(c) => c,
        Err(e) => {
            health.reachable = Err(e.to_string());
            return (entry, health);
        }
    };
    tracing::debug!(cluster = %name, "member client ready");
    let (nodes, pods) = match &ctx.cache {
        Some(cache) => cache.member(&name, client).await,
        None => {
            let (node_api, pod_api) = (Api::<Node>::all(client.clone()), Api::<Pod>::all(client));
            let (all, live) = (
                ListParams::default(),
                ListParams::default().fields("status.phase!=Succeeded,status.phase!=Failed"),
            );
            match futures::try_join!(node_api.list(&all), pod_api.list(&live)) {
                Ok((n, p)) => (n.items, p.items),
                Err(e) => {
                    health.reachable = Err(format!("cannot list nodes and pods: {e}"));
                    return (entry, health);
                }
            }
        }
    };
    health.reachable = Ok(());
    let measuring = std::time::Instant::now();
    let (pod_usage, node_usage, metrics) = measure(ctx, cluster).await;
    tracing::debug!(cluster = %name, pods = pods.len(), measure_ms = measuring.elapsed().as_millis() as u64, "observed a cluster");
    health.metrics = metrics;

    // Requests of pods that are not tenancies count as the node's use when above what is measured,
    // so that the plan and kube-scheduler agree on what fits.
    let mut other_requests: HashMap<String, (i64, i64)> = HashMap::new();
    let mut tenancy_pods: BTreeMap<(String, String, String), i32> = BTreeMap::new();
    // Measured CPU of tenancy pods per node, for the node's power.
    let mut tenancy_cpu_on: HashMap<String, i64> = HashMap::new();
    let power = colo_engine::model::PowerModel::from_spec(cluster.spec.power.as_ref());
    let mut watts = 0.0;
    for pod in &pods {
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            continue;
        };
        let labels = pod.labels();
        let requests = pod_requests(pod);
        health.requested.0 += requests.0;
        health.requested.1 += requests.1;
        match (
            labels.get(colo_api::TENANCY_LABEL),
            labels.get(TENANCY_NAMESPACE_LABEL),
            labels.get(WORKLOAD_LABEL),
        ) {
            (Some(t), Some(ns), Some(w)) => {
                let key = format!("{ns}/{t}");
                if let Some(&(cpu, _)) =
                    pod_usage.get(&(pod.namespace().unwrap_or_default(), pod.name_any()))
                {
                    *tenancy_cpu_on.entry(node.clone()).or_default() += cpu;
                }
                *tenancy_pods.entry((key, w.clone(), node)).or_default() += 1;
            }
            _ => {
                let e = other_requests.entry(node).or_default();
                e.0 += requests.0;
                e.1 += requests.1;
            }
        }
    }
    // What each tenancy workload measured here, for status and `sizing: Measured`.
    let here: WorkloadUsage = pods
        .iter()
        .filter_map(|pod| {
            let labels = pod.labels();
            let key = format!(
                "{}/{}",
                labels.get(TENANCY_NAMESPACE_LABEL)?,
                labels.get(colo_api::TENANCY_LABEL)?
            );
            let usage = pod_usage.get(&(pod.namespace().unwrap_or_default(), pod.name_any()))?;
            Some(((key, labels.get(WORKLOAD_LABEL)?.clone()), *usage))
        })
        .fold(BTreeMap::new(), |mut m, (k, u)| {
            let e: &mut (i64, i64) = m.entry(k).or_default();
            *e = (e.0.max(u.0), e.1.max(u.1));
            m
        });
    for (k, u) in &here {
        let e = usage_of.entry(k.clone()).or_default();
        *e = (e.0.max(u.0), e.1.max(u.1));
    }
    let mut workload_usage = ctx.workload_usage.lock().expect("lock");
    if health.metrics.is_ok() {
        workload_usage.insert(name.clone(), here);
    } else {
        workload_usage.remove(&name);
    }
    drop(workload_usage);
    for ((key, workload, node), replicas) in tenancy_pods {
        pods_of.entry(key).or_default().push(ObservedAssignment {
            workload,
            cluster: name.clone(),
            node,
            replicas,
        });
    }
    for node in &nodes {
        let node_name = node.name_any();
        let allocatable = node
            .status
            .as_ref()
            .and_then(|s| s.allocatable.clone())
            .unwrap_or_default();
        let quantity = |k: &str| {
            allocatable
                .get(k)
                .map(|q| Quantity::new(q.0.clone()))
                .unwrap_or_default()
        };
        let capacity = Resources {
            cpu: quantity("cpu"),
            memory: quantity("memory"),
        };
        let (cap_cpu, cap_mem) = (
            capacity.cpu.cpu_millis().unwrap_or(0) as i64,
            capacity.memory.bytes().unwrap_or(0) as i64,
        );
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let schedulable = !node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        let on = ready && schedulable;
        if on {
            health.nodes_active += 1;
            health.capacity.0 += cap_cpu;
            health.capacity.1 += cap_mem;
        } else {
            health.nodes_standby += 1;
        }
        let measured = node_usage.get(&node_name).copied().unwrap_or((0, 0));
        watts += if on {
            let used = measured.0 + tenancy_cpu_on.get(&node_name).copied().unwrap_or(0);
            power.node_watts(used as f64 / cap_cpu.max(1) as f64)
        } else {
            power.standby_watts
        };
        let requested = other_requests.get(&node_name).copied().unwrap_or((0, 0));
        let usage = (measured.0.max(requested.0), measured.1.max(requested.1));
        entry.nodes.push(NodeEntry {
            name: node_name,
            capacity,
            usage: Some(Resources {
                cpu: Quantity::from_cpu_millis(usage.0 as u64),
                memory: Quantity::from_bytes(usage.1 as u64),
            }),
            power_state: if on {
                PowerState::On
            } else {
                PowerState::Standby
            },
        });
    }
    health.power_watts = health.metrics.is_ok().then_some(watts.round());
    health.measured = node_usage
        .values()
        .fold((0, 0), |a, u| (a.0 + u.0, a.1 + u.1));
    health.measured.0 += pod_usage.values().map(|u| u.0).sum::<i64>();
    health.measured.1 += pod_usage.values().map(|u| u.1).sum::<i64>();
    (entry, health)
}

fn pod_requests(pod: &Pod) -> (i64, i64) {
    let mut total = (0, 0);
    for c in pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
    {
        if let Some(req) = c.resources.as_ref().and_then(|r| r.requests.as_ref()) {
            total.0 += req
                .get("cpu")
                .and_then(|q| Quantity::new(q.0.clone()).cpu_millis().ok())
                .unwrap_or(0) as i64;
            total.1 += req
                .get("memory")
                .and_then(|q| Quantity::new(q.0.clone()).bytes().ok())
                .unwrap_or(0) as i64;
        }
    }
    total
}

/// What one cluster's Prometheus said, kept for `Config::measure_every`: measurements move
/// over the window, not per placement request, and querying per batch was most of a batch's
/// time under load.
#[derive(Clone)]
pub struct Measurement {
    taken: std::time::Instant,
    asked: Option<colo_api::cluster::PrometheusSpec>,
    pods: PodUsage,
    nodes: HashMap<String, (i64, i64)>,
    result: Result<(), String>,
}

/// Measured p95 per tenancy pod, and per node of everything that is not a tenancy, over the
/// cluster's window. Errors leave both empty: placement then goes by requests, and says so.
async fn measure(
    ctx: &Context,
    cluster: &SharedCluster,
) -> (PodUsage, HashMap<String, (i64, i64)>, Result<(), String>) {
    let name = cluster.name_any();
    let asked = cluster.spec.prometheus.clone();
    let cached = ctx.measurements.lock().expect("lock").get(&name).cloned();
    if let Some(m) =
        cached.filter(|m| m.asked == asked && m.taken.elapsed() < ctx.config.measure_every)
    {
        return (m.pods, m.nodes, m.result);
    }
    let (pods, nodes, result) = query_usage(ctx, cluster).await;
    ctx.measurements.lock().expect("lock").insert(
        name,
        Measurement {
            taken: std::time::Instant::now(),
            asked,
            pods: pods.clone(),
            nodes: nodes.clone(),
            result: result.clone(),
        },
    );
    (pods, nodes, result)
}

async fn query_usage(
    ctx: &Context,
    cluster: &SharedCluster,
) -> (PodUsage, HashMap<String, (i64, i64)>, Result<(), String>) {
    let Some(spec) = &cluster.spec.prometheus else {
        return (
            HashMap::new(),
            HashMap::new(),
            Err("no Prometheus configured".into()),
        );
    };
    let prom = Prometheus::new(&spec.url);
    let name = cluster.name_any();
    let window = spec.window.clone().unwrap_or_else(|| "1h".into());
    let q = spec.percentile.unwrap_or(0.95);
    let rate = &ctx.config.rate_window;
    let cpu = |selector: &str, by: &str| {
        format!(
            "quantile_over_time({q}, sum by ({by}) (rate(container_cpu_usage_seconds_total{{cluster=\"{name}\",{selector}}}[{rate}]))[{window}:])"
        )
    };
    let mem = |selector: &str, by: &str| {
        format!(
            "quantile_over_time({q}, sum by ({by}) (container_memory_working_set_bytes{{cluster=\"{name}\",{selector}}})[{window}:])"
        )
    };
    let texts = [
        format!("max(up{{cluster=\"{name}\"}})"),
        cpu("namespace=~\"colo-.*\"", "namespace, pod"),
        mem("namespace=~\"colo-.*\"", "namespace, pod"),
        cpu("namespace!~\"colo-.*\"", "node"),
        mem("namespace!~\"colo-.*\"", "node"),
    ];
    let queries = futures::try_join!(
        prom.query(&texts[0]),
        prom.query(&texts[1]),
        prom.query(&texts[2]),
        prom.query(&texts[3]),
        prom.query(&texts[4]),
    );
    let (up, pod_cpu, pod_mem, node_cpu, node_mem) = match queries {
        Ok(r) => r,
        Err(e) => return (HashMap::new(), HashMap::new(), Err(e.to_string())),
    };
    if up.first().is_none_or(|s| s.value < 1.0) {
        return (
            HashMap::new(),
            HashMap::new(),
            Err(format!(
                "Prometheus at {} has no fresh scrape of {name}",
                prom.url()
            )),
        );
    }
    let mut pods: PodUsage = HashMap::new();
    for s in pod_cpu {
        let key = (
            s.labels.get("namespace").cloned().unwrap_or_default(),
            s.labels.get("pod").cloned().unwrap_or_default(),
        );
        pods.entry(key).or_default().0 = (s.value * 1000.0).ceil() as i64;
    }
    for s in pod_mem {
        let key = (
            s.labels.get("namespace").cloned().unwrap_or_default(),
            s.labels.get("pod").cloned().unwrap_or_default(),
        );
        pods.entry(key).or_default().1 = s.value.ceil() as i64;
    }
    let mut nodes: HashMap<String, (i64, i64)> = HashMap::new();
    for s in node_cpu {
        nodes
            .entry(s.labels.get("node").cloned().unwrap_or_default())
            .or_default()
            .0 = (s.value * 1000.0).ceil() as i64;
    }
    for s in node_mem {
        nodes
            .entry(s.labels.get("node").cloned().unwrap_or_default())
            .or_default()
            .1 = s.value.ceil() as i64;
    }
    (pods, nodes, Ok(()))
}
