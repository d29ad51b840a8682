//! Watch-fed caches of what the planner observes (hub objects, member nodes and pods), so a
//! batch reads memory instead of listing everything again: controllers keep the snapshot
//! current, the planner decides on it.
//!
//! Every cached object is trimmed to what Colo reads: managed fields and kubectl's
//! last-applied annotation go from all of them, and pods and nodes keep only the few fields
//! the snapshot needs. This is most of the operator's memory under load.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use colo_api::{Agency, SharedCluster, Tenancy};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{
    Container, Node, NodeCondition, NodeSpec, NodeStatus, Pod, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};

pub struct Cache {
    pub agencies: Store<Agency>,
    pub clusters: Store<SharedCluster>,
    pub tenancies: Store<Tenancy>,
    members: Mutex<HashMap<String, MemberStores>>,
    /// Held while waiting for the hub stores to sync (see `Waiting`).
    hub_waiting: Waiting,
}

/// One waiter at a time per set of stores: a store's readiness wakes only the task that
/// polled it last, so two tasks waiting at once can leave the first asleep for good. Once a
/// store is ready, waiting on it returns at once.
type Waiting = Arc<tokio::sync::Mutex<()>>;

/// Nodes and pods of one member cluster.
type MemberStores = (Store<Node>, Store<Pod>, Waiting);

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what no controller of Colo reads from any object's metadata.
pub fn trim_metadata<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// What a watch with a cache can hold: Colo's kinds and the Kubernetes ones it reads.
pub trait Watched:
    Resource<DynamicType = ()>
    + Clone
    + std::fmt::Debug
    + serde::de::DeserializeOwned
    + Send
    + Sync
    + 'static
{
}
impl<K> Watched for K where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static
{
}

/// A watch of `api` whose objects are trimmed by `trim` before anyone holds them.
pub fn trimmed_watch<K: Watched>(
    api: Api<K>,
    config: watcher::Config,
    trim: fn(&mut K),
) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static {
    watcher(api, config).default_backoff().modify(trim)
}

fn reflect<K: Watched>(api: Api<K>, config: watcher::Config, trim: fn(&mut K)) -> Store<K> {
    let (reader, writer) = reflector::store();
    let stream = trimmed_watch(api, config, trim).reflect(writer);
    tokio::spawn(stream.for_each(|_| futures::future::ready(())));
    reader
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
        containers: spec
            .containers
            .into_iter()
            .map(|c| Container {
                name: c.name,
                resources: c.resources,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    });
    pod.status = pod.status.take().map(|s| PodStatus {
        phase: s.phase,
        ..Default::default()
    });
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

impl Cache {
    pub fn start(hub: Client) -> Arc<Cache> {
        let all = watcher::Config::default;
        Arc::new(Cache {
            agencies: reflect(Api::all(hub.clone()), all(), trim_metadata),
            clusters: reflect(Api::all(hub.clone()), all(), trim_metadata),
            tenancies: reflect(Api::all(hub), all(), trim_metadata),
            members: Mutex::default(),
            hub_waiting: Waiting::default(),
        })
    }

    /// Every Agency on the hub, once the caches have synced.
    pub async fn agencies(&self) -> Vec<Agency> {
        self.wait_for_hub().await;
        cloned(&self.agencies)
    }

    async fn wait_for_hub(&self) {
        let _one_waiter = self.hub_waiting.lock().await;
        let _ = futures::join!(
            self.agencies.wait_until_ready(),
            self.clusters.wait_until_ready(),
            self.tenancies.wait_until_ready()
        );
    }

    /// Every Agency, SharedCluster and Tenancy on the hub, once the caches have synced.
    pub async fn hub(&self) -> (Vec<Agency>, Vec<SharedCluster>, Vec<Tenancy>) {
        self.wait_for_hub().await;
        (
            cloned(&self.agencies),
            cloned(&self.clusters),
            cloned(&self.tenancies),
        )
    }

    /// Nodes and live pods of a member cluster (its watches start on first use; pods that
    /// have finished are not watched at all).
    pub async fn member(&self, cluster: &str, client: Client) -> (Vec<Node>, Vec<Pod>) {
        let (nodes, pods, waiting) = {
            let mut members = self.members.lock().expect("lock");
            members
                .entry(cluster.to_string())
                .or_insert_with(|| {
                    let live = watcher::Config::default()
                        .fields("status.phase!=Succeeded,status.phase!=Failed");
                    (
                        reflect(
                            Api::all(client.clone()),
                            watcher::Config::default(),
                            trim_node,
                        ),
                        reflect(Api::all(client), live, trim_pod),
                        Waiting::default(),
                    )
                })
                .clone()
        };
        {
            let _one_waiter = waiting.lock().await;
            let _ = futures::join!(nodes.wait_until_ready(), pods.wait_until_ready());
        }
        (cloned(&nodes), cloned(&pods))
    }
}

fn cloned<K: Resource<DynamicType = ()> + Clone + 'static>(store: &Store<K>) -> Vec<K> {
    store.state().iter().map(|o| (**o).clone()).collect()
}
