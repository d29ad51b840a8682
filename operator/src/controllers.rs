//! The controllers on the hub, and what they share. Reconcilers live in their own modules;
//! this one wires them to watches and gives every object its own back-off.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use colo_api::cluster::NodeCounts;
use colo_api::{Agency, Condition, SharedCluster, SharedClusterStatus, Tenancy};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::ListParams;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, predicates, reflector, watcher};
use kube::{Api, ResourceExt};

use crate::cache::{Watched, trim_metadata, trimmed_watch};
use crate::context::Context;
use crate::planner::Planner;

pub struct Shared {
    pub ctx: Arc<Context>,
    pub planner: Planner,
    pub recorder: Recorder,
    /// `namespace/name` of each tenancy to its agency, for quota sums.
    pub agency_of: Mutex<HashMap<String, String>>,
    /// Phase of each tenancy, for `colo_tenancies{phase}` and agency counts.
    pub phases: Mutex<HashMap<String, colo_api::Phase>>,
    /// Consecutive failures per object, for exponential back-off.
    failures: Mutex<HashMap<String, u32>>,
}

impl Shared {
    pub fn new(ctx: Arc<Context>, identity: &str) -> Self {
        let recorder = Recorder::new(
            ctx.client.clone(),
            Reporter {
                controller: "colo".into(),
                instance: Some(identity.to_string()),
            },
        );
        Shared {
            planner: Planner::start(ctx.clone()),
            ctx,
            recorder,
            agency_of: Mutex::default(),
            phases: Mutex::default(),
            failures: Mutex::default(),
        }
    }

    /// Back-off of one object: 0.5 s doubling to 5 min, reset by a success.
    fn backoff(&self, key: String) -> Duration {
        let mut failures = self.failures.lock().expect("lock");
        let n = failures.entry(key).or_default();
        *n = (*n + 1).min(10);
        Duration::from_millis(500 << (*n - 1)).min(Duration::from_secs(300))
    }

    fn succeeded(&self, key: &str) {
        self.failures.lock().expect("lock").remove(key);
    }

    /// Records a tenancy's phase (None: it is gone) and refreshes `colo_tenancies{phase}`.
    pub fn phase(&self, key: &str, phase: Option<colo_api::Phase>) {
        let mut phases = self.phases.lock().expect("lock");
        match phase {
            Some(p) => phases.insert(key.to_string(), p),
            None => phases.remove(key),
        };
        let mut counts: BTreeMap<String, i64> =
            ["Pending", "Placed", "Running", "Degraded", "Rejected"]
                .iter()
                .map(|p| (p.to_string(), 0))
                .collect();
        for p in phases.values() {
            *counts.entry(format!("{p:?}")).or_default() += 1;
        }
        for (phase, n) in counts {
            self.ctx
                .metrics
                .tenancies
                .with_label_values(&[phase.as_str()])
                .set(n);
        }
    }
}

/// Seeds what this process knows of placements from the tenancies' status (after a restart or
/// a change of leader), so quotas sum every tenancy from the first reconcile on.
pub async fn seed(shared: &Shared) -> Result<(), kube::Error> {
    let tenancies = Api::<Tenancy>::all(shared.ctx.client.clone())
        .list(&ListParams::default())
        .await?;
    let mut decided = shared.ctx.decided.lock().expect("lock");
    let mut agency_of = shared.agency_of.lock().expect("lock");
    for t in tenancies {
        let key = format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any());
        agency_of.insert(key.clone(), t.spec.agency.clone());
        if let Some(status) = &t.status {
            if let Some(phase) = status.phase {
                shared
                    .phases
                    .lock()
                    .expect("lock")
                    .insert(key.clone(), phase);
            }
            if !status.placements.is_empty() {
                decided.insert(key, status.placements.clone());
            }
        }
    }
    Ok(())
}

/// A controller woken only when an object's spec (generation) changes: controllers that
/// write the status of their own kind would otherwise wake themselves on every write.
fn on_spec_change<K: Watched>(api: Api<K>) -> Controller<K> {
    let (reader, writer) = reflector::store();
    let changes = trimmed_watch(api, watcher::Config::default(), trim_metadata)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());
    Controller::for_stream(changes, reader)
}

/// Colo's Deployments in every member cluster, as one stream of changes: a SharedCluster
/// added while the operator runs gets its watch when it appears.
fn member_deployment_changes(
    shared: &Shared,
) -> futures::stream::BoxStream<'static, Result<Deployment, watcher::Error>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let ctx = shared.ctx.clone();
    tokio::spawn(async move {
        let mut watching = std::collections::HashSet::new();
        let clusters = trimmed_watch(
            Api::<SharedCluster>::all(ctx.client.clone()),
            watcher::Config::default(),
            trim_metadata,
        )
        .applied_objects();
        futures::pin_mut!(clusters);
        while let Some(cluster) = clusters.next().await {
            let Ok(cluster) = cluster else { continue };
            let name = cluster.name_any();
            if watching.contains(&name) {
                continue;
            }
            match ctx.members.client(&cluster).await {
                Ok(client) => {
                    watching.insert(name);
                    let tx = tx.clone();
                    let changes = trimmed_watch(
                        Api::<Deployment>::all(client),
                        watcher::Config::default().labels("app.kubernetes.io/managed-by=colo"),
                        trim_metadata,
                    )
                    .touched_objects();
                    tokio::spawn(changes.for_each(move |change| {
                        let _ = tx.send(change);
                        futures::future::ready(())
                    }));
                }
                // Retried on the cluster's next change; tenancies there still requeue.
                Err(e) => {
                    tracing::warn!(cluster = %name, error = %e, "not watching its Deployments")
                }
            }
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|d| (d, rx)) }).boxed()
}

/// Runs every controller until `shutdown` resolves.
pub async fn run(
    shared: Arc<Shared>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let client = shared.ctx.client.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let member_deployments = member_deployment_changes(&shared);
    let (tenancy_store, tenancy_writer) = reflector::store();
    let tenancy_changes = trimmed_watch(
        Api::<Tenancy>::all(client.clone()),
        watcher::Config::default(),
        trim_metadata,
    )
    .reflect(tenancy_writer)
    .applied_objects();
    let tenancies = Controller::for_stream(tenancy_changes, tenancy_store)
        // A new Agency, or a changed spec, may accept (or reject) its tenancies; status
        // changes of agencies do not concern them.
        .watches_stream(
            trimmed_watch(
                Api::<Agency>::all(client.clone()),
                watcher::Config::default(),
                trim_metadata,
            )
            .touched_objects()
            .predicate_filter(predicates::generation, Default::default()),
            {
                let shared = shared.clone();
                move |agency: Agency| {
                    let agency_of = shared.agency_of.lock().expect("lock");
                    agency_of
                        .iter()
                        .filter(|(_, a)| **a == agency.name_any())
                        .filter_map(|(k, _)| {
                            k.split_once('/')
                                .map(|(ns, n)| ObjectRef::<Tenancy>::new(n).within(ns))
                        })
                        .collect::<Vec<_>>()
                }
            },
        )
        // Deployments in member clusters: availability changes wake their tenancy.
        .watches_stream(member_deployments, |d: Deployment| {
            let labels = d.labels();
            match (
                labels.get(colo_api::TENANCY_LABEL),
                labels.get(crate::observe::TENANCY_NAMESPACE_LABEL),
            ) {
                (Some(name), Some(ns)) => Some(ObjectRef::<Tenancy>::new(name).within(ns)),
                _ => None,
            }
        })
        .graceful_shutdown_on(stopped(stop_rx.clone()))
        .run(
            |t, s: Arc<Shared>| async move {
                let key = format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any());
                s.agency_of
                    .lock()
                    .expect("lock")
                    .insert(key.clone(), t.spec.agency.clone());
                let result = crate::tenancy::reconcile(t, s.clone()).await;
                if result.is_ok() {
                    s.succeeded(&key);
                }
                result
            },
            |t, error, s| {
                let key = format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any());
                tracing::warn!(tenancy = %key, %error, "reconcile failed");
                Action::requeue(s.backoff(key))
            },
            shared.clone(),
        )
        .for_each(|_| async {});

    let clusters = on_spec_change(Api::<SharedCluster>::all(client.clone()))
        .graceful_shutdown_on(stopped(stop_rx.clone()))
        .run(
            |c, s: Arc<Shared>| async move { reconcile_cluster(c, s).await },
            |c, error, s| {
                tracing::warn!(cluster = %c.name_any(), %error, "reconcile failed");
                Action::requeue(s.backoff(format!("cluster/{}", c.name_any())))
            },
            shared.clone(),
        )
        .for_each(|_| async {});

    let agencies = on_spec_change(Api::<Agency>::all(client.clone()))
        .watches_stream(
            trimmed_watch(
                Api::<Tenancy>::all(client.clone()),
                watcher::Config::default(),
                trim_metadata,
            )
            .touched_objects(),
            |t: Tenancy| Some(ObjectRef::<Agency>::new(&t.spec.agency)),
        )
        .graceful_shutdown_on(stopped(stop_rx.clone()))
        .run(
            |a, s: Arc<Shared>| async move { reconcile_agency(a, s).await },
            |a, error, s| {
                tracing::warn!(agency = %a.name_any(), %error, "reconcile failed");
                Action::requeue(s.backoff(format!("agency/{}", a.name_any())))
            },
            shared.clone(),
        )
        .for_each(|_| async {});
    let accounting = crate::accounting::run(shared.clone(), stopped(stop_rx.clone()));
    futures::join!(tenancies, clusters, agencies, accounting);
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("update status: {0}")]
    Status(#[source] kube::Error),
}

fn condition(
    type_: &str,
    result: &Result<(), String>,
    ok_reason: &str,
    ok_message: &str,
) -> Condition {
    let (status, reason, message) = match result {
        Ok(()) => ("True", ok_reason.to_string(), ok_message.to_string()),
        Err(e) => ("False", format!("Not{ok_reason}"), e.clone()),
    };
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason,
        message,
        ..Default::default()
    }
}

/// Keeps transition times of conditions whose status did not change.
fn carry_times(new: &mut [Condition], old: &[Condition], now: &str) {
    for c in new {
        c.last_transition_time = match old.iter().find(|o| o.type_ == c.type_) {
            Some(o) if o.status == c.status => o.last_transition_time.clone(),
            _ => Some(now.to_string()),
        };
    }
}

async fn reconcile_cluster(
    cluster: Arc<SharedCluster>,
    shared: Arc<Shared>,
) -> Result<Action, StatusError> {
    let ctx = &shared.ctx;
    tracing::debug!(cluster = %cluster.name_any(), "reconciling a cluster");
    let (_, health) =
        crate::observe::observe_cluster(ctx, &cluster, &mut BTreeMap::new(), &mut BTreeMap::new())
            .await;
    let tenancies = ctx
        .decided
        .lock()
        .expect("lock")
        .values()
        .filter(|ps| ps.iter().any(|p| p.cluster == cluster.name_any()))
        .count();
    let res = |(cpu, mem): (i64, i64)| colo_api::Resources {
        cpu: colo_api::Quantity::from_cpu_millis(cpu.max(0) as u64),
        memory: colo_api::Quantity::from_bytes(mem.max(0) as u64),
    };
    let ready: Result<(), String> = match (&health.reachable, &health.metrics) {
        (Ok(()), _) if health.nodes_active > 0 => Ok(()),
        (Ok(()), _) => Err("no node is Ready".into()),
        (Err(e), _) => Err(e.clone()),
    };
    let mut conditions = vec![
        condition(
            "Reachable",
            &health.reachable,
            "Reachable",
            "the API server answers",
        ),
        condition(
            "MetricsFresh",
            &health.metrics,
            "MetricsFresh",
            "Prometheus has fresh usage; placement uses measured p95",
        ),
        condition("Ready", &ready, "Ready", "takes placements"),
    ];
    if health.metrics.is_err() {
        conditions[1]
            .message
            .push_str("; placement falls back to requests");
    }
    let now = ctx
        .clock
        .now()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let old = cluster.status.clone().unwrap_or_default();
    carry_times(&mut conditions, &old.conditions, &now);
    let measured_cpu = (health.capacity.0 > 0).then(|| {
        format!(
            "{:.0}%",
            100.0 * health.measured.0 as f64 / health.capacity.0 as f64
        )
    });
    let status = SharedClusterStatus {
        conditions,
        nodes: Some(NodeCounts {
            active: health.nodes_active,
            standby: health.nodes_standby,
        }),
        capacity: Some(res(health.capacity)),
        requested: Some(res(health.requested)),
        measured: health.metrics.is_ok().then(|| res(health.measured)),
        measured_cpu: if health.metrics.is_ok() {
            measured_cpu
        } else {
            None
        },
        tenancies: tenancies as i32,
        power_watts: health.power_watts,
        observed_generation: cluster.metadata.generation,
    };
    publish_cluster(ctx, &cluster, &health);
    let api = Api::<SharedCluster>::all(ctx.client.clone());
    crate::status::write(
        &api,
        &cluster,
        cluster.status.as_ref(),
        &status,
        &ctx.config.field_manager,
    )
    .await
    .map_err(StatusError::Status)?;
    shared.succeeded(&format!("cluster/{}", cluster.name_any()));
    Ok(Action::requeue(ctx.config.resync))
}

/// Cluster gauges for the platform dashboard.
fn publish_cluster(ctx: &Context, cluster: &SharedCluster, health: &crate::observe::ClusterHealth) {
    let (name, site) = (cluster.name_any(), cluster.spec.site.clone());
    let m = &ctx.accounting;
    let capacity = health.capacity.0.max(1) as f64;
    if health.metrics.is_ok() {
        m.cluster_cpu
            .with_label_values(&[&name, &site])
            .set(health.measured.0 as f64 / capacity);
    }
    m.cluster_requested_cpu
        .with_label_values(&[&name, &site])
        .set(health.requested.0 as f64 / capacity);
    m.cluster_nodes
        .with_label_values(&[&name, "active"])
        .set(health.nodes_active as f64);
    m.cluster_nodes
        .with_label_values(&[&name, "standby"])
        .set(health.nodes_standby as f64);
    if let Some(w) = health.power_watts {
        m.cluster_power.with_label_values(&[&name, &site]).set(w);
    }
}

async fn reconcile_agency(agency: Arc<Agency>, shared: Arc<Shared>) -> Result<Action, StatusError> {
    let ctx = &shared.ctx;
    let ledger = ctx.ledger.lock().expect("lock").clone();
    let status = crate::accounting::agency_status(&shared, &agency, ledger.as_ref());
    let api = Api::<Agency>::all(ctx.client.clone());
    crate::status::write(
        &api,
        &agency,
        agency.status.as_ref(),
        &status,
        &ctx.config.field_manager,
    )
    .await
    .map_err(StatusError::Status)?;
    shared.succeeded(&format!("agency/{}", agency.name_any()));
    Ok(Action::requeue(Duration::from_secs(300)))
}
