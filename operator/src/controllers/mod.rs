//! The controllers on the hub, one per kind and each the one writer of its kind's status:
//! Tenancy (`tenancy/`), SharedCluster (`cluster.rs`), Agency (`agency.rs`),
//! ConsolidationPlan (`consolidation/`). This module
//! wires them to the hub's shared watches and to member Deployments, and gives every object
//! its own back-off.

pub mod agency;
mod backoff;
pub mod cluster;
pub mod consolidation;
#[cfg(test)]
pub mod fixtures;
pub mod ownership;
mod seed;
pub mod tenancy;
pub mod triggers;

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

use colo_api::{Agency, SharedCluster, Tenancy};
use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

use crate::context::Context;
use crate::k8s::keys::TenancyKey;
use crate::k8s::labels;
use crate::k8s::watch::{Watched, spec_changes};
use crate::observe::cache::Hub;
use backoff::Backoff;

/// What a controller's reconcile and error policy share.
struct Driven<K: Watched> {
    ctx: Arc<Context>,
    name: &'static str,
    backoff: Backoff<ObjectRef<K>>,
}

/// Runs every controller until `shutdown` resolves. `agency_figures` ticks when the
/// accounting loop has new figures: every Agency's status follows.
pub async fn run(
    ctx: Arc<Context>,
    agency_figures: impl Stream<Item = ()> + Send + 'static,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let hub = ctx.hub.clone().expect("the operator watches the hub");
    if let Some(cache) = ctx.observer.cache() {
        cache.hub_ready().await;
    }
    seed::from_members(&ctx).await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    futures::join!(
        tenancies(&ctx, &hub, stopped()),
        clusters(&ctx, &hub, stopped()),
        agencies(&ctx, &hub, agency_figures, stopped()),
        consolidation::run(ctx.clone(), stopped()),
    );
}

fn driven<K: Watched>(ctx: &Arc<Context>, name: &'static str) -> Arc<Driven<K>> {
    Arc::new(Driven {
        ctx: ctx.clone(),
        name,
        backoff: Backoff::default(),
    })
}

/// Runs `reconcile` for each object the controller schedules; failures back off per object
/// and are counted by kind.
async fn drive<K, E, F, R>(controller: Controller<K>, driven: Arc<Driven<K>>, reconcile: R)
where
    K: Watched,
    E: std::error::Error + Display + Send + Sync + 'static + ErrorKind,
    F: Future<Output = Result<Action, E>> + Send + 'static,
    R: Fn(Arc<K>, Arc<Context>) -> F + Send + Sync + 'static,
{
    let reconcile = Arc::new(reconcile);
    controller
        .run(
            move |object, d: Arc<Driven<K>>| {
                let reconcile = reconcile.clone();
                async move {
                    let reference = ObjectRef::from_obj(&*object);
                    let result = reconcile(object, d.ctx.clone()).await;
                    if result.is_ok() {
                        d.backoff.succeeded(&reference);
                    }
                    result
                }
            },
            |object, error: &E, d| {
                let reference = ObjectRef::from_obj(&*object);
                tracing::warn!(controller = d.name, object = %reference, %error, "reconcile failed");
                d.ctx
                    .metrics
                    .reconcile_failures
                    .with_label_values(&[d.name, error.kind()])
                    .inc();
                Action::requeue(d.backoff.failed(reference))
            },
            driven,
        )
        .for_each(|_| async {})
        .await;
}

/// The step a reconcile failed in, for `colo_reconcile_failures_total{error}`.
pub trait ErrorKind {
    fn kind(&self) -> &'static str;
}

/// The step a reconcile behind a finalizer failed in: its own, or the finalizer's.
pub fn finalizer_kind<E: ErrorKind + std::error::Error + 'static>(
    e: &kube::runtime::finalizer::Error<E>,
) -> &'static str {
    use kube::runtime::finalizer::Error;
    match e {
        Error::ApplyFailed(e) | Error::CleanupFailed(e) => e.kind(),
        _ => "finalizer",
    }
}

async fn tenancies(
    ctx: &Arc<Context>,
    hub: &Hub,
    stop: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let store = hub.tenancies.store.clone();
    let refs = |keys: Vec<TenancyKey>| keys.into_iter().map(|k| k.object_ref()).collect::<Vec<_>>();
    // Whatever a rejection can rest on wakes the tenancies it concerns when it changes.
    let agency_changed = {
        let store = store.clone();
        move |agency: Arc<Agency>| refs(triggers::on_agency(&agency, &store.state()))
    };
    let namespace_changed = {
        let store = store.clone();
        move |ns: Arc<Namespace>| refs(triggers::on_namespace(&ns, &store.state()))
    };
    let tenancy_changed = {
        let (store, state) = (store.clone(), ctx.state.clone());
        move |t: Arc<Tenancy>| refs(triggers::on_tenancy(&t, &store.state(), &state.rejected()))
    };
    let agencies = spec_changes(hub.agencies.subscribe(), hub.agencies.store.clone());
    let others = spec_changes(hub.tenancies.subscribe(), store.clone());
    let controller = Controller::for_shared_stream(hub.tenancies.subscribe(), store)
        .watches_shared_stream(agencies, agency_changed)
        .watches_shared_stream(hub.namespaces.subscribe(), namespace_changed)
        .watches_shared_stream(others, tenancy_changed)
        // Tenancies another reconcile woke (new nodes for one too large before).
        .reconcile_on(reconcile_requests(ctx))
        // Deployments in member clusters: availability changes wake their tenancy.
        .watches_stream(member_deployments(ctx), |d: Deployment| {
            labels::workload_of(d.labels()).map(|(key, _)| key.object_ref())
        })
        .graceful_shutdown_on(stop);
    drive(controller, driven(ctx, "tenancy"), tenancy::reconcile).await;
}

fn reconcile_requests(ctx: &Context) -> impl Stream<Item = ObjectRef<Tenancy>> + Send + 'static {
    match ctx.reconcile_requests() {
        Some(s) => s.map(|k| k.object_ref()).boxed(),
        None => futures::stream::empty().boxed(),
    }
}

fn member_deployments(
    ctx: &Context,
) -> impl Stream<Item = Result<Deployment, watcher::Error>> + Send + 'static {
    let changes = ctx.observer.cache().and_then(|c| c.deployment_changes());
    match changes {
        Some(s) => s.map(Ok).boxed(),
        None => futures::stream::empty().boxed(),
    }
}

async fn clusters(
    ctx: &Arc<Context>,
    hub: &Hub,
    stop: impl Future<Output = ()> + Send + Sync + 'static,
) {
    // A member that stops (or starts again) answering is told at once, not at the resync.
    let reach = match ctx.observer.reach.changes() {
        Some(s) => s.map(|name| ObjectRef::<SharedCluster>::new(&name)).boxed(),
        None => futures::stream::empty().boxed(),
    };
    let controller = Controller::for_shared_stream(
        spec_changes(hub.clusters.subscribe(), hub.clusters.store.clone()),
        hub.clusters.store.clone(),
    )
    .reconcile_on(reach)
    .graceful_shutdown_on(stop);
    drive::<SharedCluster, _, _, _>(controller, driven(ctx, "cluster"), cluster::reconcile).await;
}

async fn agencies(
    ctx: &Arc<Context>,
    hub: &Hub,
    figures: impl Stream<Item = ()> + Send + 'static,
    stop: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let controller = Controller::for_shared_stream(
        spec_changes(hub.agencies.subscribe(), hub.agencies.store.clone()),
        hub.agencies.store.clone(),
    )
    .watches_shared_stream(hub.tenancies.subscribe(), |t: Arc<Tenancy>| {
        Some(ObjectRef::<Agency>::new(&t.spec.agency))
    })
    // A namespace labelled (or its label changed) changes what an Agency owns.
    .watches_shared_stream(hub.namespaces.subscribe(), {
        let store = hub.agencies.store.clone();
        move |ns: Arc<Namespace>| triggers::agencies_on_namespace(&ns, &store.state())
    })
    .reconcile_all_on(figures)
    .graceful_shutdown_on(stop);
    drive::<Agency, _, _, _>(controller, driven(ctx, "agency"), agency::reconcile).await;
}
