//! The planner: one task that places tenancies in batches. Reconcilers ask it to place a
//! tenancy and wait; it gathers what is asked within a short window, observes the estate once,
//! and lets the engine decide for the whole batch (kueue's shape: controllers keep the
//! snapshot current, the scheduler decides on it).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use colo_api::{Placement, Resources};
use colo_engine::{Estate, PlanOptions};
use tokio::sync::{mpsc, oneshot};

use crate::context::Context;

/// What the planner decided for one tenancy.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Placed {
        placements: Vec<Placement>,
        explanation: String,
    },
    Unplaced {
        reason: String,
    },
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum PlannerError {
    #[error("cannot observe the estate: {0}")]
    Observe(String),
    #[error("the live estate is not a valid snapshot: {0}")]
    Snapshot(String),
    #[error("the planner stopped")]
    Stopped,
}

struct Request {
    key: String,
    reply: oneshot::Sender<Result<Decision, PlannerError>>,
}

#[derive(Clone)]
pub struct Planner {
    tx: mpsc::UnboundedSender<Request>,
}

/// How long the planner waits for more requests before it observes and plans.
const BATCH_WINDOW: Duration = Duration::from_millis(25);

impl Planner {
    pub fn start(ctx: Arc<Context>) -> Planner {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(ctx, rx));
        Planner { tx }
    }

    /// Places the tenancy `namespace/name`, waiting for the batch it joins.
    pub async fn place(&self, key: &str) -> Result<Decision, PlannerError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request {
                key: key.to_string(),
                reply,
            })
            .map_err(|_| PlannerError::Stopped)?;
        answer.await.map_err(|_| PlannerError::Stopped)?
    }
}

async fn run(ctx: Arc<Context>, mut rx: mpsc::UnboundedReceiver<Request>) {
    while let Some(first) = rx.recv().await {
        tokio::time::sleep(BATCH_WINDOW).await;
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let mut keys: Vec<String> = batch.iter().map(|r| r.key.clone()).collect();
        keys.sort();
        keys.dedup();
        let started = Instant::now();
        let decided = plan_batch(&ctx, &keys).await;
        ctx.metrics
            .placement_duration
            .observe(started.elapsed().as_secs_f64());
        tracing::info!(
            tenancies = keys.len(),
            ms = started.elapsed().as_millis() as u64,
            "planned a batch"
        );
        for request in batch {
            let answer = match &decided {
                Ok(decisions) => decisions.get(&request.key).cloned().ok_or_else(|| {
                    PlannerError::Observe(format!(
                        "tenancy {} is not on the hub any more",
                        request.key
                    ))
                }),
                Err(e) => Err(e.clone()),
            };
            let _ = request.reply.send(answer);
        }
    }
}

async fn plan_batch(
    ctx: &Context,
    keys: &[String],
) -> Result<BTreeMap<String, Decision>, PlannerError> {
    let started = Instant::now();
    let live = crate::observe::observe(ctx, keys)
        .await
        .map_err(|e| PlannerError::Observe(e.to_string()))?;
    let observed = started.elapsed();
    let estate =
        Estate::from_snapshot(&live.snapshot).map_err(|e| PlannerError::Snapshot(e.to_string()))?;
    let plan = colo_engine::plan(&estate, PlanOptions::default());
    tracing::debug!(
        observe_ms = observed.as_millis() as u64,
        plan_ms = (started.elapsed() - observed).as_millis() as u64,
        tenancies = estate.tenancies.len(),
        "observed and planned"
    );
    let unmeasured: Vec<String> = live
        .health
        .iter()
        .filter_map(|(c, h)| h.metrics.as_ref().err().map(|e| format!("{c} ({e})")))
        .collect();
    let fallback = if unmeasured.is_empty() {
        String::new()
    } else {
        format!(
            "; measured usage unavailable for {}, so placed there by requests",
            unmeasured.join(", ")
        )
    };
    let sites: BTreeMap<&str, &str> = live
        .snapshot
        .clusters
        .iter()
        .map(|c| (c.metadata.name.as_str(), c.spec.site.as_str()))
        .collect();
    let mut out = BTreeMap::new();
    for key in keys {
        let Some(decision) = plan.decisions.iter().find(|d| &d.tenancy == key) else {
            continue;
        };
        if decision.outcome != "placed" {
            let why = decision
                .rejected
                .iter()
                .map(|r| format!("{}: {}", r.cluster, r.reason))
                .collect::<Vec<_>>();
            let reason = if why.is_empty() {
                decision.reason.clone()
            } else {
                format!("{} ({})", decision.reason, why.join("; "))
            };
            out.insert(
                key.clone(),
                Decision::Unplaced {
                    reason: reason + &fallback,
                },
            );
            continue;
        }
        let mut per_cluster: BTreeMap<(String, String), (i32, Resources)> = BTreeMap::new();
        let mut nodes = Vec::new();
        for a in plan.assignments.iter().filter(|a| &a.tenancy == key) {
            let requests = Resources {
                cpu: colo_api::Quantity::from_cpu_millis(a.cpu_millis as u64),
                memory: colo_api::Quantity::from_bytes(a.memory_bytes as u64),
            };
            per_cluster
                .entry((a.cluster.clone(), a.workload.clone()))
                .or_insert((0, requests))
                .0 += a.replicas as i32;
            nodes.push(colo_engine::snapshot::ObservedAssignment {
                workload: a.workload.clone(),
                cluster: a.cluster.clone(),
                node: a.node.clone(),
                replicas: a.replicas as i32,
            });
        }
        let placements: Vec<Placement> = per_cluster
            .into_iter()
            .map(|((cluster, workload), (replicas, requests))| Placement {
                site: sites
                    .get(cluster.as_str())
                    .copied()
                    .unwrap_or_default()
                    .to_string(),
                cluster,
                workload,
                replicas,
                requests: Some(requests),
            })
            .collect();
        let mut explanation = format!("Placed {}", decision.reason);
        for r in &decision.rejected {
            explanation.push_str(&format!("; not {}: {}", r.cluster, r.reason));
        }
        explanation.push_str(&fallback);
        explanation.push('.');
        ctx.decided
            .lock()
            .expect("lock")
            .insert(key.clone(), placements.clone());
        ctx.decided_nodes
            .lock()
            .expect("lock")
            .insert(key.clone(), nodes);
        out.insert(
            key.clone(),
            Decision::Placed {
                placements,
                explanation,
            },
        );
    }
    Ok(out)
}
