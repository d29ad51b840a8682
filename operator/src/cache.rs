//! Watch-fed caches of what the planner observes (hub objects, member nodes and pods), so a
//! batch reads memory instead of listing everything again: controllers keep the snapshot
//! current, the planner decides on it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use colo_api::{Agency, SharedCluster, Tenancy};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

pub struct Cache {
    pub agencies: Store<Agency>,
    pub clusters: Store<SharedCluster>,
    pub tenancies: Store<Tenancy>,
    members: Mutex<HashMap<String, MemberStores>>,
}

/// Nodes and pods of one member cluster.
type MemberStores = (Store<Node>, Store<Pod>);

fn reflect<K>(api: Api<K>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer);
    tokio::spawn(stream.for_each(|_| futures::future::ready(())));
    reader
}

impl Cache {
    pub fn start(hub: Client) -> Arc<Cache> {
        Arc::new(Cache {
            agencies: reflect(Api::all(hub.clone())),
            clusters: reflect(Api::all(hub.clone())),
            tenancies: reflect(Api::all(hub)),
            members: Mutex::default(),
        })
    }

    /// Every Agency, SharedCluster and Tenancy on the hub, once the caches have synced.
    pub async fn hub(&self) -> (Vec<Agency>, Vec<SharedCluster>, Vec<Tenancy>) {
        let _ = futures::join!(
            self.agencies.wait_until_ready(),
            self.clusters.wait_until_ready(),
            self.tenancies.wait_until_ready()
        );
        (
            cloned(&self.agencies),
            cloned(&self.clusters),
            cloned(&self.tenancies),
        )
    }

    /// Nodes and live pods of a member cluster (its watches start on first use).
    pub async fn member(&self, cluster: &str, client: Client) -> (Vec<Node>, Vec<Pod>) {
        let (nodes, pods) = {
            let mut members = self.members.lock().expect("lock");
            members
                .entry(cluster.to_string())
                .or_insert_with(|| (reflect(Api::all(client.clone())), reflect(Api::all(client))))
                .clone()
        };
        let _ = futures::join!(nodes.wait_until_ready(), pods.wait_until_ready());
        let live = |p: &Pod| {
            !matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded") | Some("Failed")
            )
        };
        (
            cloned(&nodes),
            pods.state()
                .iter()
                .filter(|p| live(p))
                .map(|p| (**p).clone())
                .collect(),
        )
    }
}

fn cloned<K: kube::Resource<DynamicType = ()> + Clone + 'static>(store: &Store<K>) -> Vec<K> {
    store.state().iter().map(|o| (**o).clone()).collect()
}
