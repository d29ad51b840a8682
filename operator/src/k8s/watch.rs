//! Watches with caches: one watch per kind, its objects trimmed to what Colo reads, its store
//! shared by every reader, and its changes fanned out to every controller that subscribes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use tokio::sync::mpsc;

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

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what no controller of Colo reads from any object's metadata.
pub fn trim_metadata<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// A watch of `api` whose objects are trimmed by `trim` before anyone holds them.
pub fn trimmed_watch<K: Watched>(
    api: Api<K>,
    config: watcher::Config,
    trim: fn(&mut K),
) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static {
    watcher(api, config).default_backoff().modify(trim)
}

/// A store kept current by a watch running in its own task (stopped when dropped).
pub struct Reflected<K: Watched> {
    pub store: Store<K>,
    task: tokio::task::JoinHandle<()>,
}

impl<K: Watched> Reflected<K> {
    pub fn start(api: Api<K>, config: watcher::Config, trim: fn(&mut K)) -> Self {
        let (store, writer) = reflector::store();
        let stream = trimmed_watch(api, config, trim).reflect(writer);
        let task = tokio::spawn(stream.for_each(|_| futures::future::ready(())));
        Reflected { store, task }
    }
}

impl<K: Watched> Drop for Reflected<K> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One watch of a kind shared by everyone: a store to read, and a stream of changed objects
/// for each subscriber. Subscribers get every object in the store when they subscribe, then
/// every change (an object deleted comes as it was last seen); a slow subscriber buffers, it
/// never holds the watch back or loses a change.
pub struct Shared<K: Watched> {
    pub store: Store<K>,
    subscribers: Arc<Mutex<Vec<mpsc::UnboundedSender<Arc<K>>>>>,
}

impl<K: Watched> Clone for Shared<K> {
    fn clone(&self) -> Self {
        Shared {
            store: self.store.clone(),
            subscribers: self.subscribers.clone(),
        }
    }
}

impl<K: Watched> Shared<K> {
    pub fn start(api: Api<K>, trim: fn(&mut K)) -> Self {
        let (store, writer) = reflector::store();
        let subscribers: Arc<Mutex<Vec<mpsc::UnboundedSender<Arc<K>>>>> = Arc::default();
        let fan_out = subscribers.clone();
        let changes = trimmed_watch(api, watcher::Config::default(), trim)
            .reflect(writer)
            .touched_objects();
        tokio::spawn(changes.for_each(move |object| {
            if let Ok(object) = object {
                let object = Arc::new(object);
                let mut subscribers = fan_out.lock().expect("subscribers lock");
                subscribers.retain(|s| s.send(object.clone()).is_ok());
            }
            futures::future::ready(())
        }));
        Shared { store, subscribers }
    }

    /// Every object now, then every change.
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut subscribers = self.subscribers.lock().expect("subscribers lock");
        for object in self.store.state() {
            let _ = tx.send(object);
        }
        subscribers.push(tx);
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|o| (o, rx)) })
    }
}

/// Passes an object on only when its spec changed (its generation) or it was deleted (gone
/// from `store`, which the watch updates before it tells): controllers that write the status
/// of their own kind would otherwise wake themselves on every write.
pub fn spec_changes<K: Watched>(
    objects: impl Stream<Item = Arc<K>> + Send + 'static,
    store: Store<K>,
) -> impl Stream<Item = Arc<K>> + Send + 'static {
    let mut seen: HashMap<String, Option<i64>> = HashMap::new();
    objects.filter(move |o| {
        let uid = o.uid().unwrap_or_else(|| o.name_any());
        let generation = o.meta().generation;
        let gone = store.get(&reflector::ObjectRef::from_obj(&**o)).is_none();
        let changed = seen.insert(uid.clone(), generation) != Some(generation);
        if gone {
            seen.remove(&uid);
        }
        futures::future::ready(changed || gone)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn object(generation: i64) -> Arc<ConfigMap> {
        let mut c = ConfigMap::default();
        c.metadata.name = Some("a".into());
        c.metadata.uid = Some("u".into());
        c.metadata.generation = Some(generation);
        Arc::new(c)
    }

    #[tokio::test]
    async fn spec_changes_pass_new_generations_and_deletions_only() {
        let (store, mut writer) = reflector::store::<ConfigMap>();
        writer.apply_watcher_event(&watcher::Event::Apply((*object(1)).clone()));
        let (tx, rx) = mpsc::unbounded_channel();
        let events =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|o| (o, rx)) });
        let mut passed = Box::pin(spec_changes(events, store));
        let mut next = async |o: Arc<ConfigMap>| {
            tx.send(o).unwrap();
            let probe = futures::future::poll_fn(|cx| match passed.as_mut().poll_next(cx) {
                std::task::Poll::Ready(o) => {
                    std::task::Poll::Ready(o.map(|o| o.metadata.generation))
                }
                std::task::Poll::Pending => std::task::Poll::Ready(None),
            });
            probe.await
        };
        assert_eq!(next(object(1)).await, Some(Some(1)), "first seen");
        assert_eq!(
            next(object(1)).await,
            None,
            "a status write: same generation"
        );
        writer.apply_watcher_event(&watcher::Event::Apply((*object(2)).clone()));
        assert_eq!(next(object(2)).await, Some(Some(2)), "a new generation");
        writer.apply_watcher_event(&watcher::Event::Delete((*object(2)).clone()));
        assert_eq!(
            next(object(2)).await,
            Some(Some(2)),
            "deleted: gone from the store"
        );
    }
}
