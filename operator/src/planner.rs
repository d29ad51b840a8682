//! The planner: one task that places tenancies in batches, in numbered cycles. Reconcilers ask
//! it to place a tenancy and wait; it gathers what is asked within a short window, observes
//! the estate once, and lets the engine decide for the whole batch (kueue's shape: controllers
//! keep the snapshot current, the scheduler decides on it). Each placement it decides is
//! *assumed* in the state until the apply step confirms or forgets it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use colo_api::{Placement, Quantity, Resources};
use colo_engine::plan::{DecisionOutcome, Plan};
use colo_engine::snapshot::{ObservedAssignment, PowerState};
use colo_engine::{Estate, PlanOptions};
use tokio::sync::{mpsc, oneshot};

use crate::k8s::digest;
use crate::k8s::keys::TenancyKey;
use crate::metrics::Metrics;
use crate::observe::{LiveEstate, Observer};
use crate::state::{Decided, State};

/// What the planner decided for one tenancy.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Placed {
        decided: Decided,
    },
    Unplaced {
        reason: String,
    },
    /// The engine cannot represent it (a field out of range): the field and the problem.
    Refused {
        reason: String,
    },
    /// A replica is larger than every node it may use: it waits for its spec or the
    /// estate's nodes to change.
    TooLarge {
        reason: String,
    },
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum PlannerError {
    #[error("cannot observe the estate: {0}")]
    Observe(String),
    #[error("tenancy {0} is not on the hub any more")]
    Gone(TenancyKey),
    #[error("the estate the planner saw does not know it yet ({0}); trying again")]
    NotSeenYet(String),
    #[error("the planner stopped")]
    Stopped,
    /// The planning thread panicked (a fault in Colo): the batch is answered with this.
    #[error("planning failed: {0}")]
    Failed(String),
}

struct Request {
    key: TenancyKey,
    reply: oneshot::Sender<Result<Decision, PlannerError>>,
}

#[derive(Clone)]
pub struct Planner {
    tx: mpsc::UnboundedSender<Request>,
}

/// Fields whose refusal means the planner's snapshot lags the hub (validation found the agency
/// and the pinned cluster): retried, not held against the tenancy.
const REFERENCES: [&str; 2] = ["spec.agency", "spec.cluster"];

/// How long the planner waits for more requests before it observes and plans.
const BATCH_WINDOW: Duration = Duration::from_millis(25);

struct Cycle {
    observer: Arc<Observer>,
    state: Arc<State>,
    metrics: Arc<Metrics>,
}

impl Planner {
    pub fn start(observer: Arc<Observer>, state: Arc<State>, metrics: Arc<Metrics>) -> Planner {
        let (tx, rx) = mpsc::unbounded_channel();
        let cycle = Cycle {
            observer,
            state,
            metrics,
        };
        tokio::spawn(run(cycle, rx));
        Planner { tx }
    }

    /// Places a tenancy, waiting for the batch it joins.
    pub async fn place(&self, key: &TenancyKey) -> Result<Decision, PlannerError> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            key: key.clone(),
            reply,
        };
        self.tx.send(request).map_err(|_| PlannerError::Stopped)?;
        answer.await.map_err(|_| PlannerError::Stopped)?
    }
}

async fn run(cycle: Cycle, mut rx: mpsc::UnboundedReceiver<Request>) {
    let mut number: u64 = 0;
    while let Some(first) = rx.recv().await {
        tokio::time::sleep(BATCH_WINDOW).await;
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        number += 1;
        let mut keys: Vec<TenancyKey> = batch.iter().map(|r| r.key.clone()).collect();
        keys.sort();
        keys.dedup();
        let started = Instant::now();
        let decided = cycle.plan(&keys).await;
        let seconds = started.elapsed().as_secs_f64();
        cycle.metrics.placement_duration.observe(seconds);
        let ms = (seconds * 1000.0) as u64;
        tracing::info!(
            cycle = number,
            tenancies = keys.len(),
            ms,
            "planned a batch"
        );
        for request in batch {
            let answer = match &decided {
                Ok(planned) => match planned.lagging.get(&request.key) {
                    Some(why) => Err(PlannerError::NotSeenYet(why.clone())),
                    None => planned
                        .decisions
                        .get(&request.key)
                        .cloned()
                        .ok_or_else(|| PlannerError::Gone(request.key.clone())),
                },
                Err(e) => Err(e.clone()),
            };
            let _ = request.reply.send(answer);
        }
    }
}

impl Cycle {
    /// Observes the estate, plans the batch, and assumes every placement decided. The
    /// planning itself is CPU work: it runs on a blocking thread, never on the async runtime
    /// (whose watches, probes and Lease renewals must not wait behind a long plan).
    async fn plan(&self, keys: &[TenancyKey]) -> Result<Planned, PlannerError> {
        let live = self
            .observer
            .as_placement_sees_it(&self.state, keys)
            .await
            .map_err(|e| PlannerError::Observe(e.to_string()))?;
        decide_off_the_runtime(live, keys.to_vec(), self.state.clone()).await
    }
}

/// [`decide_batch`] on a blocking thread: the caller's task waits, the runtime does not.
async fn decide_off_the_runtime(
    live: LiveEstate,
    keys: Vec<TenancyKey>,
    state: Arc<State>,
) -> Result<Planned, PlannerError> {
    tokio::task::spawn_blocking(move || decide_batch(&live, &keys, &state))
        .await
        .map_err(|e| PlannerError::Failed(e.to_string()))
}

/// The engine's plan for the batch on the estate observed, as decisions; every placement
/// decided is assumed.
fn decide_batch(live: &LiveEstate, keys: &[TenancyKey], state: &State) -> Planned {
    // One object the engine cannot represent is refused on its own; the rest is planned.
    let (estate, refused) = Estate::from_snapshot_lenient(&live.snapshot);
    let plan = colo_engine::plan(&estate, PlanOptions::default());
    let context = Explaining::new(live);
    let (mut out, lagging) = refusals(refused, keys);
    let specs: HashMap<String, String> = live
        .snapshot
        .tenancies
        .iter()
        .map(|t| {
            let key = format!(
                "{}/{}",
                t.metadata.namespace.as_deref().unwrap_or_default(),
                t.metadata.name
            );
            (key, digest::placement(&t.spec))
        })
        .collect();
    let undecided: Vec<&TenancyKey> = keys
        .iter()
        .filter(|k| !out.contains_key(*k) && !lagging.contains_key(*k))
        .collect();
    for key in undecided {
        let spec = specs.get(&key.engine_name()).cloned().unwrap_or_default();
        let Some(decision) = decide(key, &plan, &context, spec) else {
            continue;
        };
        if let Decision::Placed { decided, .. } = &decision {
            state.assume(key, decided.clone());
        }
        out.insert(key.clone(), decision);
    }
    Planned {
        decisions: out,
        lagging,
    }
}

type Lagging = BTreeMap<TenancyKey, String>;

/// What the engine left out, by tenancy of the batch: refused (its own fields), or lagging
/// (it names an agency or cluster the snapshot does not know yet: retried).
fn refusals(
    refused: Vec<colo_engine::estate::Refusal>,
    keys: &[TenancyKey],
) -> (BTreeMap<TenancyKey, Decision>, Lagging) {
    let mut out = BTreeMap::new();
    let mut lagging = BTreeMap::new();
    for r in refused {
        let key = r
            .tenancy
            .as_ref()
            .and_then(|t| keys.iter().find(|k| k.engine_name() == *t));
        match key {
            Some(key) if REFERENCES.contains(&r.field.as_str()) => {
                lagging.insert(key.clone(), format!("{}: {}", r.field, r.problem));
            }
            Some(key) => {
                let reason = format!("{}: {}", r.field, r.problem);
                out.insert(key.clone(), Decision::Refused { reason });
            }
            None => {
                tracing::warn!(at = %r.at, field = %r.field, problem = %r.problem, "left out of the plan")
            }
        }
    }
    (out, lagging)
}

/// A batch's answer: a decision per tenancy, or why the planner's view lags for it.
struct Planned {
    decisions: BTreeMap<TenancyKey, Decision>,
    lagging: Lagging,
}

/// What explanations need from the observation: sites, and why a cluster has no fresh
/// measurements (so a tenancy placed there was placed by its requests).
struct Explaining {
    sites: HashMap<String, String>,
    unmeasured: BTreeMap<String, String>,
    /// Nodes in standby (cluster, node): a placement on one wakes it.
    standby: std::collections::HashSet<(String, String)>,
}

impl Explaining {
    fn new(live: &LiveEstate) -> Self {
        let unmeasured = live
            .health
            .iter()
            .filter(|(_, h)| h.reachable.is_ok())
            .filter_map(|(c, h)| h.metrics.as_ref().err().map(|e| (c.clone(), e.clone())))
            .collect();
        let sites = live
            .snapshot
            .clusters
            .iter()
            .map(|c| (c.metadata.name.clone(), c.spec.site.clone()))
            .collect();
        let standby = live
            .snapshot
            .clusters
            .iter()
            .flat_map(|c| {
                c.nodes
                    .iter()
                    .filter(|n| n.power_state == PowerState::Standby)
                    .map(|n| (c.metadata.name.clone(), n.name.clone()))
            })
            .collect();
        Explaining {
            sites,
            unmeasured,
            standby,
        }
    }

    /// The basis of a placement on `clusters`, said once, for those of them not measured.
    fn basis(&self, clusters: &[String]) -> String {
        let by_requests: Vec<String> = clusters
            .iter()
            .filter_map(|c| self.unmeasured.get(c).map(|why| format!("{c} ({why})")))
            .collect();
        if by_requests.is_empty() {
            return String::new();
        }
        format!(
            "; measured usage unavailable for {}, so placed there by requests",
            by_requests.join(", ")
        )
    }
}

/// The plan's decision for one tenancy, as placements with an explanation or a reason.
fn decide(key: &TenancyKey, plan: &Plan, context: &Explaining, spec: String) -> Option<Decision> {
    let name = key.engine_name();
    let decision = plan.decisions.iter().find(|d| d.tenancy == name)?;
    let why_not: Vec<String> = decision
        .excluded
        .iter()
        .map(|r| format!("{}: {}", r.cluster, r.reason))
        .collect();
    if decision.outcome != DecisionOutcome::Placed {
        let reason = if why_not.is_empty() {
            decision.reason.clone()
        } else {
            format!("{} ({})", decision.reason, why_not.join("; "))
        };
        return Some(match decision.outcome {
            DecisionOutcome::TooLarge => Decision::TooLarge { reason },
            _ => Decision::Unplaced { reason },
        });
    }
    let mut explanation = format!("Placed {}", decision.reason);
    for r in &decision.excluded {
        explanation.push_str(&format!("; not {}: {}", r.cluster, r.reason));
    }
    explanation.push_str(&context.basis(&decision.clusters));
    explanation.push('.');
    let decided = decided(&name, plan, &context.sites, explanation);
    let standby_to_wake = decided
        .nodes
        .iter()
        .map(|a| (a.cluster.clone(), a.node.clone()))
        .filter(|n| context.standby.contains(n))
        .collect();
    Some(Decision::Placed {
        decided: Decided {
            spec_digest: spec,
            standby_to_wake,
            ..decided
        },
    })
}

/// The plan's assignments of one tenancy, as placements per cluster and workload.
fn decided(
    name: &str,
    plan: &Plan,
    sites: &HashMap<String, String>,
    explanation: String,
) -> Decided {
    let mut per_cluster: BTreeMap<(String, String), (i32, Resources)> = BTreeMap::new();
    let mut nodes = Vec::new();
    for a in plan.assignments.iter().filter(|a| a.tenancy == name) {
        let requests = Resources {
            cpu: Quantity::from_cpu_millis(a.cpu_millis as u64),
            memory: Quantity::from_bytes(a.memory_bytes as u64),
        };
        per_cluster
            .entry((a.cluster.clone(), a.workload.clone()))
            .or_insert((0, requests))
            .0 += a.replicas as i32;
        nodes.push(ObservedAssignment {
            workload: a.workload.clone(),
            cluster: a.cluster.clone(),
            node: a.node.clone(),
            replicas: a.replicas as i32,
        });
    }
    let placements = per_cluster
        .into_iter()
        .map(|((cluster, workload), (replicas, requests))| Placement {
            site: sites.get(&cluster).cloned().unwrap_or_default(),
            cluster,
            workload,
            replicas,
            requests: Some(requests),
        })
        .collect();
    Decided {
        placements,
        nodes,
        explanation,
        spec_digest: String::new(),
        standby_to_wake: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use colo_engine::snapshot::EstateSnapshot;

    /// Two clusters at two sites; `north` has only a standby node, `south` is too small.
    fn plan() -> Plan {
        let yaml = r#"
apiVersion: colo.dev/v1alpha1
kind: EstateSnapshot
agencies: [{metadata: {name: a}, spec: {displayName: A, costCentre: c, namespaces: [ns], maxClassification: OFFICIAL}}]
clusters:
- metadata: {name: north}
  spec: {site: s1, region: r, classification: OFFICIAL}
  nodes: [{name: n1, capacity: {cpu: "8", memory: 32Gi}, powerState: Standby}]
- metadata: {name: south}
  spec: {site: s2, region: r, classification: OFFICIAL}
  nodes: [{name: m1, capacity: {cpu: "1", memory: 1Gi}}]
tenancies:
- metadata: {name: t, namespace: ns}
  spec: {agency: a, classification: OFFICIAL, workloads: [{name: w, image: i, replicas: 2, cpu: "1", memory: 2Gi}]}
"#;
        let estate = Estate::from_snapshot(&EstateSnapshot::from_yaml(yaml).unwrap()).unwrap();
        colo_engine::plan(&estate, PlanOptions::default())
    }

    fn explaining(unmeasured: &[(&str, &str)]) -> Explaining {
        Explaining {
            sites: HashMap::from([("north".into(), "s1".into()), ("south".into(), "s2".into())]),
            unmeasured: unmeasured
                .iter()
                .map(|(c, w)| (c.to_string(), w.to_string()))
                .collect(),
            standby: [("north".to_string(), "n1".to_string())].into(),
        }
    }

    #[test]
    fn a_placed_decision_names_its_placements_the_standby_to_wake_and_why_not_elsewhere() {
        let key = TenancyKey::new("ns", "t");
        let context = explaining(&[("north", "Prometheus did not answer")]);
        let Some(Decision::Placed { decided }) = decide(&key, &plan(), &context, "d1".into())
        else {
            panic!("placed");
        };
        assert_eq!(decided.spec_digest, "d1");
        assert_eq!(decided.placements.len(), 1);
        let p = &decided.placements[0];
        assert_eq!(
            (p.cluster.as_str(), p.site.as_str(), p.replicas),
            ("north", "s1", 2)
        );
        let requests = p.requests.as_ref().unwrap();
        assert_eq!(requests.cpu.cpu_millis().unwrap(), 1000);
        assert_eq!(requests.memory.bytes().unwrap(), 2 << 30);
        assert_eq!(decided.standby_to_wake, vec![("north".into(), "n1".into())]);
        assert_eq!(decided.nodes.iter().map(|n| n.replicas).sum::<i32>(), 2);
        let why = &decided.explanation;
        assert!(why.starts_with("Placed "), "{why}");
        assert!(why.contains("; not south: "), "{why}");
        assert!(
            why.ends_with(
                "; measured usage unavailable for north (Prometheus did not answer), so placed there by requests."
            ),
            "{why}"
        );
    }

    #[test]
    fn a_tenancy_the_plan_does_not_know_gets_no_decision() {
        let key = TenancyKey::new("ns", "other");
        assert_eq!(decide(&key, &plan(), &explaining(&[]), String::new()), None);
        assert_eq!(explaining(&[]).basis(&["north".into()]), "");
    }

    /// A plan of a large estate runs while the runtime's other tasks (a Lease renewal, a
    /// watch) go on: on a single-threaded runtime, a ticker every 5 ms is never held up for
    /// more than a fraction of the plan's time.
    #[tokio::test(flavor = "current_thread")]
    async fn a_long_plan_does_not_hold_up_the_runtime() {
        use colo_engine::generate::{EstateShape, estate};
        let snapshot = estate(EstateShape::new(3000, 1440));
        let keys: Vec<TenancyKey> = snapshot
            .tenancies
            .iter()
            .map(|t| TenancyKey::new(t.metadata.namespace.as_deref().unwrap(), &t.metadata.name))
            .collect();
        let live = LiveEstate {
            snapshot,
            health: BTreeMap::new(),
        };
        let worst = Arc::new(std::sync::Mutex::new(Duration::ZERO));
        let ticker = {
            let worst = worst.clone();
            tokio::spawn(async move {
                let mut last = Instant::now();
                loop {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let gap = last.elapsed();
                    let mut w = worst.lock().unwrap();
                    *w = (*w).max(gap);
                    last = Instant::now();
                }
            })
        };
        tokio::task::yield_now().await;
        let started = Instant::now();
        let state = Arc::new(crate::state::for_tests());
        let planned = decide_off_the_runtime(live, keys.clone(), state.clone()).await;
        let took = started.elapsed();
        // The ticker's next wake records the gap the plan made, if it made one.
        tokio::time::sleep(Duration::from_millis(20)).await;
        ticker.abort();
        let planned = planned.expect("planned");
        assert!(
            planned.decisions.len() == keys.len(),
            "every tenancy of the batch decided"
        );
        assert!(
            took >= Duration::from_millis(100),
            "the plan took {took:?}: too short to tell (make the estate larger)"
        );
        let worst = *worst.lock().unwrap();
        assert!(
            worst < took / 4,
            "the runtime was held up for {worst:?} of a {took:?} plan"
        );
    }
}
