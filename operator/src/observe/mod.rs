//! Observing the live estate as an `EstateSnapshot`: SharedClusters and their nodes, what runs
//! on them (pods of tenancies, other pods' measured use), and Colo's hub objects. The planner
//! decides on it, the SharedCluster controller shows its health, accounting bills it, and
//! `colo snapshot` writes it out.
//!
//! Each cluster is fetched (member caches or lists, and a Prometheus measurement taken at
//! most every `measure_every`), then summarised by the pure `summarise`.

pub mod cache;
pub mod measure;
pub mod reach;
pub mod summarise;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use colo_api::{Agency, Quantity, Resources, SharedCluster, Tenancy};
use colo_engine::snapshot::{
    API_VERSION, AgencyEntry, EstateSnapshot, KIND, Metadata, Observed, ObservedAssignment,
    TenancyEntry,
};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use crate::k8s::keys::TenancyKey;
use crate::k8s::members::{Member, MemberError, Members};
use crate::state::{Decisions, State};
use cache::Cache;
use measure::Measurement;
use reach::{Judging, Reach};
pub use summarise::{ClusterHealth, ClusterView, WorkloadUsage};
use summarise::{Fetched, summarise};

/// What the planner and accounting decide on.
pub struct LiveEstate {
    pub snapshot: EstateSnapshot,
    pub health: BTreeMap<String, ClusterHealth>,
}

/// How measurements are taken.
#[derive(Clone, Debug)]
pub struct Measuring {
    /// `rate()` window of CPU counters.
    pub rate_window: String,
    /// How long one measurement of a cluster is used before it is taken again.
    pub every: Duration,
    /// The operator's own namespace (not an agency's, though it has the member prefix).
    pub operator_namespace: String,
}

pub struct Observer {
    hub: Client,
    members: Arc<Members>,
    /// Watch-fed caches (None: list on every observation, as `colo snapshot` does).
    cache: Option<Cache>,
    measuring: Measuring,
    measurements: Mutex<HashMap<String, Measurement>>,
    /// The latest measured usage of tenancy workloads per cluster (absent: not fresh).
    usage: Mutex<HashMap<String, Arc<WorkloadUsage>>>,
    /// Whether each member answers.
    pub reach: Reach,
    judging: Judging,
}

impl Observer {
    pub fn new(
        hub: Client,
        members: Arc<Members>,
        cache: Option<Cache>,
        measuring: Measuring,
        judging: Judging,
    ) -> Self {
        Observer {
            hub,
            members,
            cache,
            measuring,
            measurements: Mutex::default(),
            usage: Mutex::default(),
            reach: Reach::new(judging),
            judging,
        }
    }

    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_ref()
    }

    /// Connects to a member again (reading its kubeconfig Secret) and (re)starts its watches
    /// when its client changed.
    /// A member that answers again after an outage is watched afresh: its old watches may
    /// have missed what changed meanwhile.
    pub async fn connect(&self, cluster: &SharedCluster) -> Result<Member, MemberError> {
        let name = cluster.name_any();
        let member = self.members.connect(cluster).await;
        match &member {
            Ok(m) => self.reach.watch(&name, &m.client, &m.version),
            Err(_) => self.reach.forget(&name),
        }
        if let Some(cache) = &self.cache {
            if member.is_err() || self.reach.take_returned(&name) {
                cache.disconnect(&name);
            }
            if let Ok(m) = &member {
                cache.connect(&name, m);
            }
        }
        member
    }

    /// The estate as placement sees it now, the one way every caller asks for it: with what
    /// this process decided counted and what validation rejects now left unplaced; the
    /// tenancies in `planning` (a planner batch; none for everyone else) are left unplaced.
    pub async fn as_placement_sees_it(
        &self,
        state: &State,
        planning: &[TenancyKey],
    ) -> Result<LiveEstate, kube::Error> {
        self.observe(planning, &state.decisions(), &state.rejected())
            .await
    }

    /// Observes everything. Tenancies in `planning` are left without observed assignments
    /// (they are about to be placed); others count where their pods run, or where `decided`
    /// (the planner's earlier decisions, by engine name) put them until their pods exist.
    /// `rejected` tenancies count only where their pods still run (they are not placed); a
    /// tenancy being planned is always in the snapshot.
    pub async fn observe(
        &self,
        planning: &[TenancyKey],
        decided: &Decisions,
        rejected: &HashSet<TenancyKey>,
    ) -> Result<LiveEstate, kube::Error> {
        let (agencies, clusters, tenancies) = self.hub_objects().await?;
        let mut snapshot = EstateSnapshot {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            agencies: agencies.iter().map(agency_entry).collect(),
            ..Default::default()
        };
        let mut health = BTreeMap::new();
        let mut usage: BTreeMap<(TenancyKey, String), (i64, i64)> = BTreeMap::new();
        let mut pods_of: BTreeMap<TenancyKey, Vec<ObservedAssignment>> = BTreeMap::new();
        for cluster in &clusters {
            let view = self.cluster(cluster).await;
            for (k, m) in view.usage {
                let e = usage.entry(k).or_default();
                *e = (e.0.max(m.usage.0), e.1.max(m.usage.1));
            }
            for (key, mut a) in view.assignments {
                pods_of.entry(key).or_default().append(&mut a);
            }
            snapshot.clusters.push(view.entry);
            health.insert(cluster.name_any(), view.health);
        }
        for t in &tenancies {
            let key = TenancyKey::of(t);
            let planned = planning.contains(&key);
            if rejected.contains(&key) && !pods_of.contains_key(&key) && !planned {
                continue;
            }
            let mut observed = Observed {
                usage: measured_usage(t, &key, &usage),
                requests: applied_requests(t, decided.sizes.get(&key.engine_name())),
                assignments: Vec::new(),
            };
            if !planned {
                let pods = pods_of.remove(&key).unwrap_or_default();
                let nodes = decided.nodes.get(&key.engine_name());
                observed.assignments = running_or_decided(t, pods, nodes);
                // A snapshot only names nodes and workloads that exist.
                observed.assignments.retain(|a| {
                    t.spec.workloads.iter().any(|w| w.name == a.workload)
                        && snapshot.clusters.iter().any(|c| {
                            c.metadata.name == a.cluster && c.nodes.iter().any(|n| n.name == a.node)
                        })
                });
            }
            snapshot.tenancies.push(TenancyEntry {
                metadata: Metadata {
                    name: t.name_any(),
                    namespace: t.namespace(),
                },
                spec: t.spec.clone(),
                observed: Some(observed),
            });
        }
        Ok(LiveEstate { snapshot, health })
    }

    async fn hub_objects(
        &self,
    ) -> Result<(Vec<Agency>, Vec<SharedCluster>, Vec<Tenancy>), kube::Error> {
        if let Some(cache) = &self.cache {
            return Ok(cache.hub_objects().await);
        }
        let lp = ListParams::default();
        let (agencies, clusters, tenancies) = (
            Api::<Agency>::all(self.hub.clone()),
            Api::<SharedCluster>::all(self.hub.clone()),
            Api::<Tenancy>::all(self.hub.clone()),
        );
        let (a, c, t) =
            futures::try_join!(agencies.list(&lp), clusters.list(&lp), tenancies.list(&lp))?;
        Ok((a.items, c.items, t.items))
    }

    /// One cluster as it is now.
    pub async fn cluster(&self, cluster: &SharedCluster) -> ClusterView {
        let fetched = self.fetch(cluster).await;
        let view = summarise(cluster, &fetched);
        let mut usage = self.usage.lock().expect("observer lock");
        if view.health.metrics.is_ok() {
            usage.insert(cluster.name_any(), Arc::new(view.usage.clone()));
        } else {
            usage.remove(&cluster.name_any());
        }
        view
    }

    /// The latest measured usage of tenancy workloads in each of `clusters` (None where the
    /// cluster's metrics are not fresh).
    pub fn usage_in(&self, clusters: &[&str]) -> BTreeMap<String, Option<Arc<WorkloadUsage>>> {
        let usage = self.usage.lock().expect("observer lock");
        clusters
            .iter()
            .map(|c| (c.to_string(), usage.get(*c).cloned()))
            .collect()
    }

    async fn fetch(&self, cluster: &SharedCluster) -> Fetched {
        let unreachable = |why: String| Fetched {
            reachable: Err(why),
            settling: None,
            nodes: Vec::new(),
            pods: Vec::new(),
            measurement: Measurement::none(),
        };
        let member = match self.members.member(cluster).await {
            Ok(member) => member,
            Err(e) => return unreachable(e.to_string()),
        };
        // A cache cannot tell a dead member from a quiet one: the heartbeat does.
        if let Err(why) = self.reach.status(&cluster.name_any()) {
            return unreachable(why);
        }
        let (nodes, pods) = match self.nodes_and_pods(cluster, &member).await {
            Ok(np) => np,
            Err(why) => return unreachable(why),
        };
        Fetched {
            reachable: Ok(()),
            settling: self.reach.placeable(&cluster.name_any()).err(),
            nodes,
            pods,
            measurement: self.measurement(cluster).await,
        }
    }

    async fn nodes_and_pods(
        &self,
        cluster: &SharedCluster,
        member: &Member,
    ) -> Result<(Vec<Arc<Node>>, Vec<Arc<Pod>>), String> {
        if let Some(cache) = &self.cache {
            let wait = self.judging.timeout;
            return cache
                .member(&cluster.name_any(), member, wait)
                .await
                .ok_or_else(|| {
                    format!(
                        "its nodes and pods did not list within {} s",
                        wait.as_secs()
                    )
                });
        }
        let live = ListParams::default().fields("status.phase!=Succeeded,status.phase!=Failed");
        let all = ListParams::default();
        let (nodes, pods) = (
            Api::<Node>::all(member.client.clone()),
            Api::<Pod>::all(member.client.clone()),
        );
        let (nodes, pods) =
            futures::try_join!(nodes.list(&all), pods.list(&live)).map_err(|e| {
                format!(
                    "cannot list nodes and pods: {}",
                    crate::k8s::plain::kube_error(&e)
                )
            })?;
        Ok((shared(nodes.items), shared(pods.items)))
    }

    /// The cluster's measurement, taken again when older than `measure_every` or when its
    /// Prometheus settings changed: measurements move over the window, not per request.
    async fn measurement(&self, cluster: &SharedCluster) -> Measurement {
        let name = cluster.name_any();
        let cached = self
            .measurements
            .lock()
            .expect("observer lock")
            .get(&name)
            .cloned();
        if let Some(m) = cached.filter(|m| {
            m.asked == cluster.spec.prometheus && m.taken.elapsed() < self.measuring.every
        }) {
            return m;
        }
        let m = &self.measuring;
        let taken = measure::take(cluster, &m.rate_window, &m.operator_namespace).await;
        self.measurements
            .lock()
            .expect("observer lock")
            .insert(name, taken.clone());
        taken
    }
}

fn agency_entry(a: &Agency) -> AgencyEntry {
    AgencyEntry {
        metadata: Metadata {
            name: a.name_any(),
            namespace: None,
        },
        spec: a.spec.clone(),
    }
}

/// The tenancy's measured p95 per replica, by workload, from every cluster it runs in.
fn measured_usage(
    t: &Tenancy,
    key: &TenancyKey,
    usage: &BTreeMap<(TenancyKey, String), (i64, i64)>,
) -> BTreeMap<String, Resources> {
    t.spec
        .workloads
        .iter()
        .filter_map(|w| {
            let &(cpu, mem) = usage.get(&(key.clone(), w.name.clone()))?;
            Some((
                w.name.clone(),
                Resources {
                    cpu: Quantity::from_cpu_millis(cpu as u64),
                    memory: Quantity::from_bytes(mem as u64),
                },
            ))
        })
        .collect()
}

/// The requests each of the tenancy's workloads was applied with (workloads of its spec only).
fn applied_requests(
    t: &Tenancy,
    sizes: Option<&BTreeMap<String, Resources>>,
) -> BTreeMap<String, Resources> {
    let Some(sizes) = sizes else {
        return BTreeMap::new();
    };
    sizes
        .iter()
        .filter(|(w, _)| t.spec.workloads.iter().any(|x| &x.name == *w))
        .map(|(w, r)| (w.clone(), r.clone()))
        .collect()
}

/// Where a tenancy is: its pods when all of them run, else where it was decided to go.
fn running_or_decided(
    t: &Tenancy,
    pods: Vec<ObservedAssignment>,
    decided: Option<&Vec<ObservedAssignment>>,
) -> Vec<ObservedAssignment> {
    let asked: i32 = t.spec.workloads.iter().map(|w| w.replicas).sum();
    let running: i32 = pods.iter().map(|a| a.replicas).sum();
    if running >= asked {
        pods
    } else {
        decided.cloned().unwrap_or(pods)
    }
}

fn shared<K>(items: Vec<K>) -> Vec<Arc<K>> {
    items.into_iter().map(Arc::new).collect()
}
