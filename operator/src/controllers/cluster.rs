//! The SharedCluster controller: connects to the member (rebuilding its watches when its
//! kubeconfig Secret changed) and owns the SharedCluster's status: reachable, metrics fresh,
//! ready, nodes, capacity, load and power; and the cluster gauges of the platform dashboard.

use std::sync::Arc;

use colo_api::cluster::NodeCounts;
use colo_api::{Quantity, Resources, SharedCluster, SharedClusterStatus};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::ErrorKind;
use crate::context::Context;
use crate::k8s::status::{Said, set_condition};
use crate::observe::ClusterHealth;

/// The one way this reconcile fails: its status write.
#[derive(Debug, thiserror::Error)]
#[error("write status: {0}")]
pub struct StatusError(#[source] kube::Error);

impl ErrorKind for StatusError {
    fn kind(&self) -> &'static str {
        "status"
    }
}

pub async fn reconcile(
    cluster: Arc<SharedCluster>,
    ctx: Arc<Context>,
) -> Result<Action, StatusError> {
    let _timer = ctx.metrics.reconcile_duration.start_timer();
    if let Err(e) = ctx.observer.connect(&cluster).await {
        tracing::warn!(cluster = %cluster.name_any(), error = %e, "cannot connect");
    }
    let view = ctx.observer.cluster(&cluster).await;
    super::tenancy::failover::orphans(&ctx, &cluster).await;
    super::agency::sweep_namespaces(&ctx, &cluster).await;
    // New or bigger nodes may take a tenancy that was too large for every node before.
    for key in ctx
        .state
        .nodes_seen(&cluster.name_any(), nodes_print(&view.entry))
    {
        ctx.reconcile_now(key);
    }
    // A tenancy pinned to this cluster waits for it to exist, and to answer.
    for key in super::triggers::pinned_to(&cluster.name_any(), &ctx.hub_tenancies()) {
        if ctx.state.phase(&key) == Some(colo_api::Phase::Pending) {
            ctx.reconcile_now(key);
        }
    }
    let tenancies = ctx.state.tenancies_on(&cluster.name_any());
    let status = status(&cluster, &view.health, tenancies as i32, ctx.clock.now());
    publish_gauges(&ctx, &cluster, &view.health);
    let api = Api::<SharedCluster>::all(ctx.client.clone());
    let manager = &ctx.config.field_manager;
    crate::k8s::status::write(&api, &*cluster, cluster.status.as_ref(), &status, manager)
        .await
        .map_err(StatusError)?;
    Ok(Action::requeue(ctx.config.resync))
}

/// What a cluster's nodes offer, as one number: their names, capacity and power state.
fn nodes_print(entry: &colo_engine::snapshot::ClusterEntry) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for n in &entry.nodes {
        (&n.name, n.capacity.cpu.as_str(), n.capacity.memory.as_str()).hash(&mut hasher);
        (n.power_state == colo_engine::snapshot::PowerState::On).hash(&mut hasher);
    }
    entry.unavailable.hash(&mut hasher);
    hasher.finish()
}

fn resources((cpu, mem): (i64, i64)) -> Resources {
    Resources {
        cpu: Quantity::from_cpu_millis(cpu.max(0) as u64),
        memory: Quantity::from_bytes(mem.max(0) as u64),
    }
}

fn status(
    cluster: &SharedCluster,
    health: &ClusterHealth,
    tenancies: i32,
    now: chrono::DateTime<chrono::Utc>,
) -> SharedClusterStatus {
    let mut conditions = cluster.status.clone().unwrap_or_default().conditions;
    for c in conditions_of(health) {
        let said = Said {
            type_: c.type_,
            status: c.ok,
            reason: c.reason,
            message: &c.message,
        };
        set_condition(&mut conditions, said, now, cluster.metadata.generation);
    }
    let measured = health.metrics.is_ok();
    let measured_cpu = (measured && health.capacity.0 > 0).then(|| {
        format!(
            "{:.0}%",
            100.0 * health.measured.0 as f64 / health.capacity.0 as f64
        )
    });
    SharedClusterStatus {
        conditions,
        nodes: Some(NodeCounts {
            active: health.nodes_active,
            standby: health.nodes_standby,
        }),
        capacity: Some(resources(health.capacity)),
        requested: Some(resources(health.requested)),
        measured: measured.then(|| resources(health.measured)),
        measured_cpu,
        tenancies,
        power_watts: health.power_watts,
        observed_generation: cluster.metadata.generation,
    }
}

struct Health {
    type_: &'static str,
    ok: bool,
    reason: &'static str,
    message: String,
}

fn health(type_: &'static str, result: Result<&str, &str>) -> Health {
    let (ok, message) = match result {
        Ok(m) => (true, m),
        Err(m) => (false, m),
    };
    Health {
        type_,
        ok,
        reason: match (type_, ok) {
            ("Reachable", true) => "Reachable",
            ("Reachable", false) => "NotReachable",
            ("MetricsFresh", true) => "MetricsFresh",
            ("MetricsFresh", false) => "NotMetricsFresh",
            (_, true) => "Ready",
            (_, false) => "NotReady",
        },
        message: message.to_string(),
    }
}

/// `Reachable`, `MetricsFresh` and `Ready`, each with its message.
fn conditions_of(h: &ClusterHealth) -> [Health; 3] {
    let fallback = h
        .metrics
        .as_ref()
        .err()
        .map(|e| format!("{e}; placement falls back to requests"));
    let ready = match &h.reachable {
        Ok(()) if h.settling.is_some() => Err(h.settling.as_deref().unwrap_or_default()),
        Ok(()) if h.nodes_active > 0 => Ok("takes placements"),
        Ok(()) => Err("no node is Ready"),
        Err(e) => Err(e.as_str()),
    };
    [
        health(
            "Reachable",
            h.reachable
                .as_ref()
                .map(|()| "the API server answers")
                .map_err(String::as_str),
        ),
        health(
            "MetricsFresh",
            match &fallback {
                None => Ok("Prometheus has fresh usage; placement uses measured p95"),
                Some(why) => Err(why.as_str()),
            },
        ),
        Health {
            reason: match h.settling {
                Some(_) if h.reachable.is_ok() => "Settling",
                _ => health("Ready", ready).reason,
            },
            ..health("Ready", ready)
        },
    ]
}

/// Cluster gauges for the platform dashboard.
fn publish_gauges(ctx: &Context, cluster: &SharedCluster, health: &ClusterHealth) {
    let (name, site) = (cluster.name_any(), cluster.spec.site.clone());
    let m = &ctx.metrics.cluster;
    let capacity = health.capacity.0.max(1) as f64;
    if health.metrics.is_ok() {
        m.cpu
            .with_label_values(&[&name, &site])
            .set(health.measured.0 as f64 / capacity);
    }
    m.requested_cpu
        .with_label_values(&[&name, &site])
        .set(health.requested.0 as f64 / capacity);
    m.nodes
        .with_label_values(&[&name, "active"])
        .set(health.nodes_active as f64);
    m.nodes
        .with_label_values(&[&name, "standby"])
        .set(health.nodes_standby as f64);
    if let Some(w) = health.power_watts {
        m.power.with_label_values(&[&name, &site]).set(w);
    }
}
