//! Watch-fed caches of what is observed: Colo's hub objects (one watch per kind, shared with
//! the controllers) and each member's nodes, live pods and Colo's Deployments. A batch of the
//! planner reads memory instead of listing everything again.
//!
//! Member watches are built from the member's client and rebuilt when that client changes
//! (its kubeconfig Secret was rotated). Every cached object is trimmed to what Colo reads: pods
//! and nodes keep only the few fields the snapshot needs, which is most of the operator's
//! memory under load.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use colo_api::{Agency, SharedCluster, Tenancy};
use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, Namespace, Node, NodeCondition, NodeSpec, NodeStatus, Pod, PodSpec, PodStatus,
    PodTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::mpsc;

use crate::k8s::keys::TenancyKey;
use crate::k8s::labels;
use crate::k8s::members::Member;
use crate::k8s::watch::{Reflected, Shared, Watched, trim_metadata, trimmed_watch};

/// One watch per hub kind, shared by the planner's snapshot and the controllers; and the
/// hub's namespaces, whose `colo.dev/agency` label says which agency owns each.
#[derive(Clone)]
pub struct Hub {
    pub agencies: Shared<Agency>,
    pub clusters: Shared<SharedCluster>,
    pub tenancies: Shared<Tenancy>,
    pub namespaces: Shared<Namespace>,
}

impl Hub {
    pub fn start(client: Client) -> Hub {
        Hub {
            agencies: Shared::start(Api::all(client.clone()), trim_metadata),
            clusters: Shared::start(Api::all(client.clone()), trim_metadata),
            tenancies: Shared::start(Api::all(client.clone()), trim_metadata),
            namespaces: Shared::start(Api::all(client), trim_namespace),
        }
    }
}

/// One waiter at a time per set of stores: a store's readiness wakes only the task that
/// polled it last, so two tasks waiting at once can leave the first asleep for good. Once a
/// store is ready, waiting on it returns at once.
type Waiting = Arc<tokio::sync::Mutex<()>>;

/// Nodes, live pods and Colo's Deployments of one member, and the client version they were
/// built with. Dropping it stops its watches.
struct MemberStores {
    version: String,
    nodes: Reflected<Node>,
    pods: Reflected<Pod>,
    deployments: Store<Deployment>,
    deployment_task: tokio::task::JoinHandle<()>,
    waiting: Waiting,
}

impl Drop for MemberStores {
    fn drop(&mut self) {
        self.deployment_task.abort();
    }
}

pub struct Cache {
    pub hub: Hub,
    hub_waiting: Waiting,
    members: Mutex<HashMap<String, Arc<MemberStores>>>,
    /// Where changes of Colo's Deployments in every member go (the Tenancy controller).
    deployment_changes: mpsc::UnboundedSender<Deployment>,
    deployment_receiver: Mutex<Option<mpsc::UnboundedReceiver<Deployment>>>,
}

impl Cache {
    pub fn new(hub: Hub) -> Cache {
        let (tx, rx) = mpsc::unbounded_channel();
        Cache {
            hub,
            hub_waiting: Waiting::default(),
            members: Mutex::default(),
            deployment_changes: tx,
            deployment_receiver: Mutex::new(Some(rx)),
        }
    }

    /// Waits until every hub store has synced.
    pub async fn hub_ready(&self) {
        let _one_waiter = self.hub_waiting.lock().await;
        let _ = futures::join!(
            self.hub.agencies.store.wait_until_ready(),
            self.hub.clusters.store.wait_until_ready(),
            self.hub.tenancies.store.wait_until_ready(),
            self.hub.namespaces.store.wait_until_ready()
        );
    }

    /// Every Agency, SharedCluster and Tenancy on the hub, once the caches have synced.
    pub async fn hub_objects(&self) -> (Vec<Agency>, Vec<SharedCluster>, Vec<Tenancy>) {
        self.hub_ready().await;
        (
            cloned(&self.hub.agencies.store),
            cloned(&self.hub.clusters.store),
            cloned(&self.hub.tenancies.store),
        )
    }

    /// Changes of Colo's Deployments in every member, for whoever asks first (the Tenancy
    /// controller); None after that.
    pub fn deployment_changes(&self) -> Option<impl Stream<Item = Deployment> + Send + 'static> {
        let rx = self
            .deployment_receiver
            .lock()
            .expect("cache lock")
            .take()?;
        Some(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|d| (d, rx))
        }))
    }

    /// Starts (or restarts, when the member's client changed) the watches of a member.
    pub fn connect(&self, cluster: &str, member: &Member) {
        self.stores(cluster, member);
    }

    /// Stops watching a member that is gone.
    pub fn disconnect(&self, cluster: &str) {
        self.members.lock().expect("cache lock").remove(cluster);
    }

    fn stores(&self, cluster: &str, member: &Member) -> Arc<MemberStores> {
        let mut members = self.members.lock().expect("cache lock");
        if let Some(stores) = members.get(cluster).filter(|s| s.version == member.version) {
            return stores.clone();
        }
        if members.contains_key(cluster) {
            tracing::info!(cluster, "member client changed; watching it again");
        }
        let stores = Arc::new(self.watch_member(member));
        members.insert(cluster.to_string(), stores.clone());
        stores
    }

    fn watch_member(&self, member: &Member) -> MemberStores {
        let client = member.watch_client.clone();
        let live =
            watcher::Config::default().fields("status.phase!=Succeeded,status.phase!=Failed");
        let colo_only = watcher::Config::default().labels(&labels::managed_by_colo());
        let (deployments, writer) = reflector::store();
        let tx = self.deployment_changes.clone();
        let changes = trimmed_watch(
            Api::<Deployment>::all(client.clone()),
            colo_only,
            trim_deployment,
        )
        .reflect(writer)
        .touched_objects()
        .for_each(move |change| {
            if let Ok(d) = change {
                let _ = tx.send(d);
            }
            futures::future::ready(())
        });
        MemberStores {
            version: member.version.clone(),
            nodes: Reflected::start(
                Api::all(client.clone()),
                watcher::Config::default(),
                trim_node,
            ),
            pods: Reflected::start(Api::all(client), live, trim_pod),
            deployments,
            deployment_task: tokio::spawn(changes),
            waiting: Waiting::default(),
        }
    }

    /// Colo's Deployments in a member, once its watch has synced (None: not within `wait`, or
    /// not watched).
    pub async fn deployments(
        &self,
        cluster: &str,
        wait: std::time::Duration,
    ) -> Option<Vec<Deployment>> {
        let stores = self
            .members
            .lock()
            .expect("cache lock")
            .get(cluster)
            .cloned()?;
        let ready = {
            let _one_waiter = stores.waiting.lock().await;
            tokio::time::timeout(wait, stores.deployments.wait_until_ready()).await
        };
        ready.ok()?.ok()?;
        Some(
            stores
                .deployments
                .state()
                .iter()
                .map(|d| (**d).clone())
                .collect(),
        )
    }

    /// The tenancies (with their agency) whose Deployments are seen in a member.
    pub fn tenancies_in(&self, cluster: &str) -> BTreeMap<TenancyKey, String> {
        let members = self.members.lock().expect("cache lock");
        let Some(stores) = members.get(cluster) else {
            return BTreeMap::new();
        };
        stores
            .deployments
            .state()
            .iter()
            .filter_map(|d| {
                let (key, _) = labels::workload_of(d.labels())?;
                let agency = d.labels().get(labels::AGENCY_LABEL)?.clone();
                Some((key, agency))
            })
            .collect()
    }

    /// The clusters where Colo's Deployments of a tenancy are seen.
    pub fn deployed_in(&self, key: &TenancyKey) -> Vec<String> {
        let members = self.members.lock().expect("cache lock");
        members
            .iter()
            .filter(|(_, stores)| {
                stores
                    .deployments
                    .state()
                    .iter()
                    .any(|d| labels::workload_of(d.labels()).is_some_and(|(k, _)| &k == key))
            })
            .map(|(cluster, _)| cluster.clone())
            .collect()
    }

    /// A member's nodes and live pods once its watches have synced, shared with the cache (not
    /// copied: a large member holds thousands of pods, observed every few seconds). None when
    /// they have not synced within `wait`.
    pub async fn member(
        &self,
        cluster: &str,
        member: &Member,
        wait: std::time::Duration,
    ) -> Option<(Vec<Arc<Node>>, Vec<Arc<Pod>>)> {
        let stores = self.stores(cluster, member);
        {
            let _one_waiter = stores.waiting.lock().await;
            let synced = futures::future::join(
                stores.nodes.store.wait_until_ready(),
                stores.pods.store.wait_until_ready(),
            );
            let (nodes, pods) = tokio::time::timeout(wait, synced).await.ok()?;
            nodes.ok().and(pods.ok())?;
        }
        Some((stores.nodes.store.state(), stores.pods.store.state()))
    }
}

/// Every object of a store, in namespace and name order as a list would give them: the
/// engine's plan must not depend on the order a watch happened to see objects in.
fn cloned<K: Watched>(store: &Store<K>) -> Vec<K> {
    let mut objects: Vec<K> = store.state().iter().map(|o| (**o).clone()).collect();
    objects.sort_by_key(|o| (o.namespace(), o.name_any()));
    objects
}

/// Containers with their names and resources only.
fn names_and_resources(containers: Vec<Container>) -> Vec<Container> {
    containers
        .into_iter()
        .map(|c| Container {
            name: c.name,
            resources: c.resources,
            ..Default::default()
        })
        .collect()
}

/// A pod as the snapshot reads it: name, labels, node, container requests, phase.
fn trim_pod(pod: &mut Pod) {
    let meta = std::mem::take(&mut pod.metadata);
    pod.metadata = ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        labels: meta.labels,
        ..Default::default()
    };
    pod.spec = pod.spec.take().map(|spec| PodSpec {
        node_name: spec.node_name,
        containers: names_and_resources(spec.containers),
        ..Default::default()
    });
    pod.status = pod.status.take().map(|s| PodStatus {
        phase: s.phase,
        ..Default::default()
    });
}

/// A hub namespace as ownership reads it: its name, uid and labels.
fn trim_namespace(ns: &mut Namespace) {
    let meta = std::mem::take(&mut ns.metadata);
    ns.metadata = ObjectMeta {
        name: meta.name,
        uid: meta.uid,
        labels: meta.labels,
        ..Default::default()
    };
    ns.spec = None;
    ns.status = None;
}

/// A node as the snapshot reads it: name, schedulable, allocatable, Ready.
fn trim_node(node: &mut Node) {
    let meta = std::mem::take(&mut node.metadata);
    node.metadata = ObjectMeta {
        name: meta.name,
        labels: meta.labels,
        ..Default::default()
    };
    node.spec = node.spec.take().map(|s| NodeSpec {
        unschedulable: s.unschedulable,
        ..Default::default()
    });
    node.status = node.status.take().map(|s| NodeStatus {
        allocatable: s.allocatable,
        conditions: s.conditions.map(|cs| {
            cs.into_iter()
                .filter(|c| c.type_ == "Ready")
                .map(|c| NodeCondition {
                    type_: c.type_,
                    status: c.status,
                    ..Default::default()
                })
                .collect()
        }),
        ..Default::default()
    });
}

/// A Deployment as Colo reads it from the cache: who it belongs to, what Colo stamped on it,
/// its replicas and its containers' requests (its status is read fresh when needed).
fn trim_deployment(d: &mut Deployment) {
    let meta = std::mem::take(&mut d.metadata);
    let annotations = meta.annotations.map(|a| {
        a.into_iter()
            .filter(|(k, _)| k.starts_with("colo.dev/"))
            .collect()
    });
    d.metadata = ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        labels: meta.labels,
        annotations,
        generation: meta.generation,
        // The start-up seed takes the newest copies of a moved tenancy as its placement.
        creation_timestamp: meta.creation_timestamp,
        ..Default::default()
    };
    d.spec = d.spec.take().map(|spec| DeploymentSpec {
        replicas: spec.replicas,
        template: PodTemplateSpec {
            spec: spec.template.spec.map(|p| PodSpec {
                containers: names_and_resources(p.containers),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    });
    d.status = None;
}
