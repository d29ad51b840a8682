//! The Tenancy controller. Reconcile is a short named sequence:
//! observe → validate → plan → apply → update status, one error variant per step.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use colo_api::{Agency, Condition, Phase, Placement, SharedCluster, Tenancy, TenancyStatus};
use kube::api::ListParams;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::finalizer::{self, finalizer};
use kube::{Api, Resource, ResourceExt};

use crate::controllers::Shared;
use crate::materialize;
use crate::planner::{Decision, PlannerError};

pub const FINALIZER: &str = "colo.dev/member-cleanup";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("observe: {0}")]
    Observe(#[source] kube::Error),
    #[error("plan: {0}")]
    Plan(#[source] PlannerError),
    #[error("apply to {cluster}: {message}")]
    Apply { cluster: String, message: String },
    #[error("update status: {0}")]
    Status(#[source] kube::Error),
    #[error("clean up: {0}")]
    Cleanup(String),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
}

/// What validation found wrong with a tenancy: it waits for a change, it does not loop.
struct Rejection(String);

pub async fn reconcile(tenancy: Arc<Tenancy>, shared: Arc<Shared>) -> Result<Action, Error> {
    let _timer = shared.ctx.metrics.reconcile_duration.start_timer();
    let api: Api<Tenancy> = Api::namespaced(
        shared.ctx.client.clone(),
        &tenancy.namespace().unwrap_or_default(),
    );
    finalizer(&api, FINALIZER, tenancy, |event| async {
        match event {
            finalizer::Event::Apply(t) => apply(t, &shared).await,
            finalizer::Event::Cleanup(t) => cleanup(t, &shared).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

async fn apply(tenancy: Arc<Tenancy>, shared: &Shared) -> Result<Action, Error> {
    let ctx = &shared.ctx;
    let key = format!(
        "{}/{}",
        tenancy.namespace().unwrap_or_default(),
        tenancy.name_any()
    );
    // Observe.
    let agency = Api::<Agency>::all(ctx.client.clone())
        .get_opt(&tenancy.spec.agency)
        .await
        .map_err(Error::Observe)?;
    let clusters = Api::<SharedCluster>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(Error::Observe)?;
    // Validate.
    let agency = match validate(&tenancy, agency) {
        Ok(agency) => agency,
        Err(Rejection(reason)) => {
            let status = rejected(&tenancy, &reason, ctx.clock.now());
            publish(shared, &tenancy, EventType::Warning, "Rejected", &reason).await;
            write_status(ctx, &tenancy, status).await?;
            shared.phase(&key, Some(Phase::Rejected));
            return Ok(Action::await_change());
        }
    };
    // Plan (only when the spec changed since the last placement: placements are stable).
    let generation = tenancy.metadata.generation;
    let old = tenancy.status.clone().unwrap_or_default();
    let placed_before = !old.placements.is_empty() && old.observed_generation == generation;
    let (placements, explanation) = if placed_before {
        (
            old.placements.clone(),
            old.explanation.clone().unwrap_or_default(),
        )
    } else {
        match shared.planner.place(&key).await.map_err(Error::Plan)? {
            Decision::Placed {
                placements,
                explanation,
            } => {
                publish(shared, &tenancy, EventType::Normal, "Placed", &explanation).await;
                (placements, explanation)
            }
            Decision::Unplaced { reason } => {
                publish(shared, &tenancy, EventType::Warning, "Unplaced", &reason).await;
                let status = pending(&tenancy, &reason, ctx.clock.now());
                write_status(ctx, &tenancy, status).await?;
                shared.phase(&key, Some(Phase::Pending));
                return Ok(Action::requeue(Duration::from_secs(30)));
            }
        }
    };
    // Measured sizing of a running tenancy: requests follow its p95 once the window passed.
    let sized = crate::resize::review(ctx, &tenancy, &clusters.items, &placements, ctx.clock.now());
    let resized = !sized.changes.is_empty();
    if resized {
        let note = format!(
            "requests set to measured p95 × 1.2: {}",
            sized.changes.join(", ")
        );
        publish(shared, &tenancy, EventType::Normal, "Resized", &note).await;
    }
    let placements = sized.placements.clone();
    // Record the decision before acting on it, so a restart resumes rather than re-plans.
    if !placed_before {
        let mut status = status_with(
            &tenancy,
            Phase::Placed,
            &placements,
            &explanation,
            &sized,
            ctx.clock.now(),
        );
        set_condition(
            &mut status.conditions,
            "Available",
            "False",
            "Rolling",
            "member Deployments are starting",
            ctx.clock.now(),
            generation,
        );
        write_status(ctx, &tenancy, status).await?;
    } else if resized {
        // Same phase, new requests: the Deployments roll in place.
        let phase = old.phase.unwrap_or(Phase::Placed);
        let status = status_with(
            &tenancy,
            phase,
            &placements,
            &explanation,
            &sized,
            ctx.clock.now(),
        );
        write_status(ctx, &tenancy, status).await?;
    }
    // Apply, under the agency's lock so its quota sums every placement.
    let by_cluster: BTreeMap<&str, Vec<&Placement>> =
        placements.iter().fold(BTreeMap::new(), |mut m, p| {
            m.entry(p.cluster.as_str()).or_default().push(p);
            m
        });
    // Member objects are applied when the placement or spec changed, or every few minutes to
    // repair drift; in between, a reconcile only reads availability.
    let applied_already = ctx
        .applied
        .lock()
        .expect("lock")
        .get(&key)
        .is_some_and(|(g, at)| {
            !resized
                && *g == generation
                && ctx.clock.now().signed_duration_since(*at) < chrono::Duration::minutes(5)
        });
    let mut available: BTreeMap<String, i32> = BTreeMap::new();
    let mut clients_in_use = Vec::new();
    // Per cluster: Deployments that cannot create their pods, and why.
    let mut failures: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for cluster in &clusters.items {
        let name = cluster.name_any();
        let here = by_cluster.get(name.as_str());
        let was_here = old.placements.iter().any(|p| p.cluster == name);
        if here.is_none() && (!was_here || applied_already) {
            continue;
        }
        let fail = |message: String| Error::Apply {
            cluster: name.clone(),
            message,
        };
        let client = ctx
            .members
            .client(cluster)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !applied_already {
            // Under the agency's lock, so its quota sums every placement.
            let lock = ctx.agency_lock(&agency.name_any());
            let _held = lock.lock().await;
            match here {
                Some(here) => {
                    let quotas = agency_quotas(shared, &agency.name_any(), &key, &placements);
                    let quota = quotas.get(name.as_str()).copied().unwrap_or_default();
                    materialize::agency_space(&client, &ctx.config.field_manager, &agency, quota)
                        .await
                        .map_err(|e| fail(e.to_string()))?;
                    materialize::workloads(&client, &ctx.config.field_manager, &tenancy, here)
                        .await
                        .map_err(|e| fail(e.to_string()))?;
                }
                // Placed here before but not now: the new copies are applied first.
                None => materialize::remove(&client, &tenancy)
                    .await
                    .map_err(|e| fail(e.to_string()))?,
            }
        }
        if here.is_some() {
            // Replicas of a spec the member has not rolled out yet count only while the
            // tenancy's own spec is unchanged (Colo rolling it in place, as on a resize): a
            // spec the user changed is Running once the new spec runs.
            let in_place = old.observed_generation == generation;
            for (w, a) in materialize::available(&client, &tenancy)
                .await
                .map_err(|e| fail(e.to_string()))?
            {
                let n = if a.current || in_place { a.ready } else { 0 };
                *available.entry(w).or_default() += n;
                if let Some(f) = a.failure {
                    failures.entry(name.clone()).or_default().push(f);
                }
            }
            clients_in_use.push((name.clone(), client.clone()));
        }
    }
    if !applied_already {
        ctx.applied
            .lock()
            .expect("lock")
            .insert(key.clone(), (generation, ctx.clock.now()));
    }
    // Update status.
    let wanted: BTreeMap<&str, i32> = tenancy
        .spec
        .workloads
        .iter()
        .map(|w| (w.name.as_str(), w.replicas))
        .collect();
    let all_up = wanted
        .iter()
        .all(|(w, n)| available.get(*w).copied().unwrap_or(0) >= *n);
    let was_running = old.phase == Some(Phase::Running) || old.phase == Some(Phase::Degraded);
    let phase = match (all_up, was_running) {
        (true, _) => Phase::Running,
        (false, true) => Phase::Degraded,
        (false, false) => Phase::Placed,
    };
    let mut status = status_with(
        &tenancy,
        phase,
        &placements,
        &explanation,
        &sized,
        ctx.clock.now(),
    );
    let ready: i32 = available.values().sum();
    let asked: i32 = wanted.values().sum();
    let (st, reason, message) = if all_up {
        (
            "True",
            "Available",
            format!("{ready} of {asked} replicas available"),
        )
    } else {
        // Say why, from the members: a quota or admission failure, or a pod not scheduled.
        // (Asked only once a rollout had time to start: a fresh placement is not news.)
        let placed_at = old
            .conditions
            .iter()
            .find(|c| c.type_ == "Placed" && c.status == "True")
            .and_then(|c| c.last_transition_time.as_deref())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        let settled = placed_at.is_some_and(|t| {
            ctx.clock.now().signed_duration_since(t) > chrono::Duration::seconds(30)
        });
        let mut why = Vec::new();
        for (cluster, client) in clients_in_use.iter().filter(|_| settled || was_running) {
            if let Some(failed) = failures.get(cluster) {
                why.extend(failed.iter().map(|f| format!("{cluster}: {f}")));
            } else if let Some(reason) = materialize::pending_pods(client, &tenancy).await {
                why.push(format!("{cluster}: {reason}"));
            }
        }
        let mut message = format!("{ready} of {asked} replicas available");
        if !why.is_empty() {
            message = format!("{message} ({})", why.join("; "));
        }
        ("False", "Unavailable", message)
    };
    set_condition(
        &mut status.conditions,
        "Available",
        st,
        reason,
        &message,
        ctx.clock.now(),
        generation,
    );
    if phase == Phase::Running && old.phase != Some(Phase::Running) {
        publish(shared, &tenancy, EventType::Normal, "Running", &message).await;
    }
    write_status(ctx, &tenancy, status).await?;
    shared.phase(&key, Some(phase));
    // Member Deployments are watched, so a change wakes this tenancy; the requeue is a fallback.
    Ok(match phase {
        // Measured sizing is reviewed on the resync cadence; other running tenancies rest.
        Phase::Running if tenancy.spec.sizing == colo_api::Sizing::Measured => {
            Action::requeue(ctx.config.resync)
        }
        Phase::Running => Action::requeue(ctx.config.resync * 4),
        _ => Action::requeue(Duration::from_secs(5)),
    })
}

fn validate(tenancy: &Tenancy, agency: Option<Agency>) -> Result<Agency, Rejection> {
    let namespace = tenancy.namespace().unwrap_or_default();
    let Some(agency) = agency else {
        return Err(Rejection(format!(
            "agency {:?} does not exist",
            tenancy.spec.agency
        )));
    };
    if !agency.spec.namespaces.contains(&namespace) {
        return Err(Rejection(format!(
            "namespace {namespace} is not owned by agency {} (it owns {})",
            agency.name_any(),
            agency.spec.namespaces.join(", ")
        )));
    }
    if tenancy.spec.classification > agency.spec.max_classification {
        return Err(Rejection(format!(
            "classification {} is above agency {}'s clearance {}",
            tenancy.spec.classification.as_str(),
            agency.name_any(),
            agency.spec.max_classification.as_str()
        )));
    }
    Ok(agency)
}

/// Per cluster, the requests of every tenancy of the agency placed there (as decided by this
/// process, with this tenancy's new placements), for the agency's ResourceQuota.
fn agency_quotas(
    shared: &Shared,
    agency: &str,
    key: &str,
    placements: &[Placement],
) -> BTreeMap<String, (i64, i64)> {
    let mut decided = shared.ctx.decided.lock().expect("lock");
    decided.insert(key.to_string(), placements.to_vec());
    let mut quotas: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let agency_of = shared.agency_of.lock().expect("lock");
    for (k, ps) in decided.iter() {
        if agency_of.get(k).map(String::as_str) != Some(agency) && k != key {
            continue;
        }
        for p in ps {
            let Some(r) = &p.requests else { continue };
            let e = quotas.entry(p.cluster.clone()).or_default();
            e.0 += r.cpu.cpu_millis().unwrap_or(0) as i64 * p.replicas as i64;
            e.1 += r.memory.bytes().unwrap_or(0) as i64 * p.replicas as i64;
        }
    }
    quotas
}

async fn cleanup(tenancy: Arc<Tenancy>, shared: &Shared) -> Result<Action, Error> {
    let ctx = &shared.ctx;
    let key = format!(
        "{}/{}",
        tenancy.namespace().unwrap_or_default(),
        tenancy.name_any()
    );
    let clusters = Api::<SharedCluster>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(Error::Observe)?;
    let lock = ctx.agency_lock(&tenancy.spec.agency);
    let _held = lock.lock().await;
    ctx.decided.lock().expect("lock").remove(&key);
    ctx.decided_nodes.lock().expect("lock").remove(&key);
    let agency = Api::<Agency>::all(ctx.client.clone())
        .get_opt(&tenancy.spec.agency)
        .await
        .map_err(Error::Observe)?;
    let quotas = agency_quotas(shared, &tenancy.spec.agency, &key, &[]);
    // Every cluster, not only those in status: nothing is left behind after a crash mid-apply.
    for cluster in &clusters.items {
        let client = ctx
            .members
            .client(cluster)
            .await
            .map_err(|e| Error::Cleanup(e.to_string()))?;
        materialize::remove(&client, &tenancy)
            .await
            .map_err(|e| Error::Cleanup(format!("{}: {e}", cluster.name_any())))?;
        // The quota shrinks where this tenancy was (to nothing if it was the agency's last there).
        let was_here = tenancy
            .status
            .as_ref()
            .is_some_and(|s| s.placements.iter().any(|p| p.cluster == cluster.name_any()));
        let quota = quotas
            .get(&cluster.name_any())
            .copied()
            .or(was_here.then_some((0, 0)));
        if let (Some(agency), Some(quota)) = (&agency, quota) {
            materialize::agency_space(&client, &ctx.config.field_manager, agency, quota)
                .await
                .map_err(|e| Error::Cleanup(e.to_string()))?;
        }
    }
    ctx.decided.lock().expect("lock").remove(&key);
    ctx.applied.lock().expect("lock").remove(&key);
    shared.agency_of.lock().expect("lock").remove(&key);
    shared.phase(&key, None);
    publish(
        shared,
        &tenancy,
        EventType::Normal,
        "CleanedUp",
        "removed from every member cluster",
    )
    .await;
    Ok(Action::await_change())
}

fn status_with(
    tenancy: &Tenancy,
    phase: Phase,
    placements: &[Placement],
    explanation: &str,
    sized: &crate::resize::Review,
    now: chrono::DateTime<chrono::Utc>,
) -> TenancyStatus {
    let old = tenancy.status.clone().unwrap_or_default();
    let generation = tenancy.metadata.generation;
    let mut status = TenancyStatus {
        phase: Some(phase),
        conditions: old.conditions.clone(),
        placements: placements.to_vec(),
        clusters: Some(
            placements
                .iter()
                .map(|p| p.cluster.as_str())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(","),
        ),
        explanation: Some(explanation.to_string()),
        measured: sized.measured.clone(),
        sizing: sized.sizing.clone(),
        observed_generation: generation,
    };
    accepted(&mut status.conditions, now, generation);
    set_condition(
        &mut status.conditions,
        "Placed",
        "True",
        "Placed",
        explanation,
        now,
        generation,
    );
    status
}

/// A status with no placement: the phase and explanation, the conditions carried over.
fn unplaced_status(tenancy: &Tenancy, phase: Phase, explanation: String) -> TenancyStatus {
    TenancyStatus {
        phase: Some(phase),
        observed_generation: tenancy.metadata.generation,
        conditions: tenancy.status.clone().unwrap_or_default().conditions,
        explanation: Some(explanation),
        ..Default::default()
    }
}

fn rejected(tenancy: &Tenancy, reason: &str, now: chrono::DateTime<chrono::Utc>) -> TenancyStatus {
    let generation = tenancy.metadata.generation;
    let mut status = unplaced_status(tenancy, Phase::Rejected, format!("Rejected: {reason}."));
    set_condition(
        &mut status.conditions,
        "Accepted",
        "False",
        "Rejected",
        reason,
        now,
        generation,
    );
    status.conditions.retain(|c| c.type_ == "Accepted");
    status
}

fn pending(tenancy: &Tenancy, reason: &str, now: chrono::DateTime<chrono::Utc>) -> TenancyStatus {
    let generation = tenancy.metadata.generation;
    let mut status = unplaced_status(tenancy, Phase::Pending, format!("Not placed: {reason}."));
    accepted(&mut status.conditions, now, generation);
    set_condition(
        &mut status.conditions,
        "Placed",
        "False",
        "NoRoom",
        reason,
        now,
        generation,
    );
    status
}

/// `Accepted=True`: validation passed.
fn accepted(
    conditions: &mut Vec<Condition>,
    now: chrono::DateTime<chrono::Utc>,
    generation: Option<i64>,
) {
    set_condition(
        conditions,
        "Accepted",
        "True",
        "Accepted",
        "the agency owns the namespace and is cleared for the classification",
        now,
        generation,
    );
}

/// Sets a condition, keeping its transition time when its status did not change.
fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: chrono::DateTime<chrono::Utc>,
    generation: Option<i64>,
) {
    let message: String = message.chars().take(1024).collect();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time =
                    Some(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            }
            c.status = status.into();
            c.reason = reason.into();
            c.message = message;
            c.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message,
            last_transition_time: Some(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            observed_generation: generation,
        }),
    }
}

/// Writes status only when it changed (a write that changes nothing would wake every watcher).
async fn write_status(
    ctx: &crate::context::Context,
    tenancy: &Tenancy,
    status: TenancyStatus,
) -> Result<(), Error> {
    let api: Api<Tenancy> =
        Api::namespaced(ctx.client.clone(), &tenancy.namespace().unwrap_or_default());
    crate::status::write(
        &api,
        tenancy,
        tenancy.status.as_ref(),
        &status,
        &ctx.config.field_manager,
    )
    .await
    .map_err(Error::Status)
}

async fn publish(shared: &Shared, tenancy: &Tenancy, type_: EventType, reason: &str, note: &str) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1000).collect()),
        action: reason.into(),
        secondary: None,
    };
    if let Err(e) = shared
        .recorder
        .publish(&event, &tenancy.object_ref(&()))
        .await
    {
        tracing::warn!(error = %e, "could not publish an event");
    }
}
