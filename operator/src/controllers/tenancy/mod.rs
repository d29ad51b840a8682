//! The Tenancy controller. A reconcile is a short driver over steps, each in its own module
//! with its own error variant: validate → place → size → apply → availability → status. The
//! clock is read once; the status is computed once, from what the steps found, and written
//! once at the end, only when it changed.

mod apply;
mod availability;
mod cleanup;
pub mod failover;
mod materialise;
mod names;
mod place;
#[cfg(test)]
mod recovery_tests;
mod resize;
mod revoke;
mod status;
#[cfg(test)]
mod tests;
mod validate;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use colo_api::{Agency, Phase, SharedCluster, Tenancy, TenancyStatus};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, finalizer};
use kube::{Api, ResourceExt};

use crate::context::Context;
use crate::controllers::ownership;
use crate::k8s::events::Kind;
use crate::k8s::keys::TenancyKey;
use crate::k8s::labels::FINALIZER;
use crate::k8s::members::MemberError;
use crate::planner::PlannerError;
use place::Placing;
use status::{Applied, Outcome, Wait};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("read the agency and the namespace: {0}")]
    Observe(#[source] kube::Error),
    #[error("plan: {0}")]
    Plan(#[source] PlannerError),
    #[error("placed on {0}, which is not a SharedCluster")]
    NoCluster(String),
    #[error("connect to {cluster}: {source}")]
    Connect {
        cluster: String,
        #[source]
        source: MemberError,
    },
    #[error("apply to {cluster}: {source}")]
    Apply {
        cluster: String,
        #[source]
        source: kube::Error,
    },
    #[error("read availability in {cluster}: {source}")]
    Availability {
        cluster: String,
        #[source]
        source: kube::Error,
    },
    #[error("write status: {0}")]
    Status(#[source] kube::Error),
    #[error("clean up {cluster}: {source}")]
    Cleanup {
        cluster: String,
        #[source]
        source: kube::Error,
    },
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
}

impl super::ErrorKind for Error {
    /// The step that failed, for `colo_reconcile_failures_total{error}`.
    fn kind(&self) -> &'static str {
        match self {
            Error::Observe(_) => "observe",
            Error::Plan(_) => "plan",
            Error::NoCluster(_) => "no_cluster",
            Error::Connect { .. } => "connect",
            Error::Apply { .. } => "apply",
            Error::Availability { .. } => "availability",
            Error::Status(_) => "status",
            Error::Cleanup { .. } => "cleanup",
            Error::Finalizer(e) => super::finalizer_kind(e),
        }
    }
}

pub async fn reconcile(tenancy: Arc<Tenancy>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_duration.start_timer();
    let namespace = tenancy.namespace().unwrap_or_default();
    let api: Api<Tenancy> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, tenancy, |event| async {
        match event {
            finalizer::Event::Apply(t) => apply(t, &ctx).await,
            finalizer::Event::Cleanup(t) => cleanup::cleanup(t, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

async fn apply(tenancy: Arc<Tenancy>, ctx: &Context) -> Result<Action, Error> {
    let now = ctx.clock.now();
    let key = TenancyKey::of(&tenancy);
    ctx.state.track(&key, &tenancy.spec.agency);
    let agency = Api::<Agency>::all(ctx.client.clone())
        .get_opt(&tenancy.spec.agency)
        .await
        .map_err(Error::Observe)?;
    // Who owns the namespace matters only once the agency exists.
    let owner = match &agency {
        Some(_) => ownership::owner_of(ctx, &key.namespace, &tenancy.spec.agency)
            .await
            .map_err(Error::Observe)?,
        None => ownership::Owner::Missing,
    };
    let known = validate::Known {
        agency: agency.as_ref(),
        owner: &owner,
        collision: names::collision(&tenancy, &ctx.hub_tenancies()),
        operator_namespace: &ctx.config.namespace,
    };
    let outcome = match judge(&ctx.state, &tenancy, &known) {
        Ok(agency) => place_and_run(&tenancy, &key, agency, ctx, now).await?,
        Err(rejection) => rejected(ctx, &tenancy, agency.as_ref(), rejection, now).await?,
    };
    let status = status::compute(&tenancy, &outcome, now);
    announce(ctx, &tenancy, &outcome, &status).await;
    let api: Api<Tenancy> = Api::namespaced(ctx.client.clone(), &key.namespace);
    let manager = &ctx.config.field_manager;
    crate::k8s::status::write(&api, &*tenancy, tenancy.status.as_ref(), &status, manager)
        .await
        .map_err(Error::Status)?;
    ctx.state.set_phase(&key, status.phase.unwrap_or_default());
    Ok(status::requeue(
        &tenancy,
        &outcome,
        &status,
        &ctx.config,
        now,
    ))
}

/// Validation, with the state's rejection mark kept by it: set by a rejection, cleared by an
/// acceptance (which also ends any revocation under way). Nothing else decides either, so no
/// mark outlives what caused it.
fn judge<'a>(
    state: &crate::state::State,
    tenancy: &Tenancy,
    known: &validate::Known<'a>,
) -> Result<&'a Agency, validate::Rejection> {
    let key = TenancyKey::of(tenancy);
    let verdict = validate::validate(tenancy, known);
    match &verdict {
        Ok(_) => state.not_rejected(&key),
        Err(_) => state.reject(&key),
    }
    verdict
}

/// A rejection, and the revocation of whatever copies the tenancy has.
async fn rejected(
    ctx: &Context,
    tenancy: &Tenancy,
    agency: Option<&Agency>,
    rejection: validate::Rejection,
    now: DateTime<Utc>,
) -> Result<Outcome, Error> {
    ctx.state.reject(&TenancyKey::of(tenancy));
    let revocation = revoke::revoke(ctx, tenancy, agency, now).await?;
    Ok(Outcome::Rejected(rejection, revocation))
}

/// Place (or keep), size, apply to members, read availability, retire what it replaced.
async fn place_and_run(
    tenancy: &Tenancy,
    key: &TenancyKey,
    agency: &Agency,
    ctx: &Context,
    now: DateTime<Utc>,
) -> Result<Outcome, Error> {
    let (decided, stranded) = match place::placement(tenancy, key, ctx)
        .await
        .map_err(Error::Plan)?
    {
        Placing::Unplaced(reason) => {
            ctx.state.waiting_for_nodes(key, false);
            return Ok(Outcome::Pending(reason, Wait::Room));
        }
        Placing::TooLarge(reason) => {
            ctx.state.waiting_for_nodes(key, true);
            return Ok(Outcome::Pending(reason, Wait::Nodes));
        }
        Placing::NoSuchCluster(reason) => {
            ctx.state.waiting_for_nodes(key, false);
            return Ok(Outcome::Pending(reason, Wait::Cluster));
        }
        Placing::Refused(reason) => {
            let rejection = validate::Rejection(reason);
            return rejected(ctx, tenancy, Some(agency), rejection, now).await;
        }
        // A new decision is recorded first (status says where, at once), applied next time;
        // never where the agency's member namespace is someone else's.
        Placing::New(decided) => {
            if let Some(why) = apply::foreign_space(ctx, &agency.name_any(), &decided).await? {
                ctx.state.forget(key);
                return Ok(Outcome::Pending(why, Wait::Room));
            }
            return Ok(Outcome::Decided(decided));
        }
        Placing::Kept(decided) | Placing::Assumed(decided) => (decided, None),
        Placing::Stranded(decided, why) => (decided, Some(why)),
    };
    let in_use: Vec<&str> = decided
        .placements
        .iter()
        .map(|p| p.cluster.as_str())
        .collect();
    let usage = ctx.observer.usage_in(&in_use);
    let clusters: Vec<SharedCluster> = in_use
        .iter()
        .filter_map(|c| ctx.hub_cluster(c).map(|c| (*c).clone()))
        .collect();
    let rules = resize::Rules {
        min_samples: ctx.config.sizing_min_samples,
    };
    let review = resize::review(tenancy, &clusters, &decided.placements, &usage, rules, now);
    let sized = crate::state::Decided {
        placements: review.placements.clone(),
        ..decided
    };
    let mut availability = apply_and_count(ctx, tenancy, key, agency, &sized, now).await?;
    if let Some(why) = &stranded {
        let lost = format!("its replicas on the lost site cannot be placed again: {why}");
        availability.reasons.push(lost);
    }
    if availability.all_up(tenancy) && availability.placed_up(&sized.placements) {
        let settled = availability.settled;
        apply::retire(ctx, tenancy, agency, &sized.placements, settled, now).await?;
    }
    Ok(Outcome::Applied(Applied {
        decided: sized,
        review,
        availability,
        stranded: stranded.is_some(),
    }))
}

/// Applies the placement in every member that answers and counts the available replicas. A
/// member that does not answer is neither written to nor waited for: the replicas it holds
/// are not counted, and status says why.
async fn apply_and_count(
    ctx: &Context,
    tenancy: &Tenancy,
    key: &TenancyKey,
    agency: &Agency,
    sized: &crate::state::Decided,
    now: DateTime<Utc>,
) -> Result<availability::Availability, Error> {
    // Replicas of a spec not yet rolled out count while Colo rolls its own (a resize).
    let confirmed = ctx.state.confirmed(key);
    let in_place = confirmed.is_some_and(|c| c.generation == tenancy.metadata.generation);
    let dark = apply::dark(ctx, &sized.placements);
    let members = match dark.is_empty() {
        true => apply::apply(ctx, tenancy, agency, sized, now).await?,
        false => apply::clients_except(ctx, &sized.placements, &dark).await?,
    };
    let explain = status::explain_shortfall(tenancy, now) || !dark.is_empty();
    let mut availability = availability::read(tenancy, &members, in_place, explain)
        .await
        .map_err(|(cluster, source)| Error::Availability { cluster, source })?;
    availability.reasons.extend(
        dark.iter()
            .map(|(c, why)| format!("{c}: {why}; its replicas there are not counted")),
    );
    Ok(availability)
}

/// One Event per change a person would want to hear of.
async fn announce(ctx: &Context, tenancy: &Tenancy, outcome: &Outcome, now: &TenancyStatus) {
    let old = tenancy.status.clone().unwrap_or_default();
    let key = TenancyKey::of(tenancy);
    let changed = ctx.state.news(&key, now.phase, now.explanation.as_deref())
        && (old.phase != now.phase || old.explanation != now.explanation);
    let events = &ctx.events;
    if changed && old.phase == Some(Phase::Rejected) && now.phase != Some(Phase::Rejected) {
        let was = status::condition(&old, "Accepted").map(|c| c.message.clone());
        let note = format!(
            "accepted again: what rejected it no longer holds ({})",
            was.unwrap_or_else(|| "no reason recorded".into())
        );
        events
            .publish(tenancy, Kind::Normal, "Accepted", &note)
            .await;
    }
    match outcome {
        Outcome::Rejected(validate::Rejection(reason), revocation) if changed => {
            if let revoke::Revocation::Done { clusters } = revocation {
                let clusters = clusters.iter().cloned().collect::<Vec<_>>().join(", ");
                let note = format!("{reason}: its copies were removed from {clusters}");
                events
                    .publish(tenancy, Kind::Warning, "Revoked", &note)
                    .await
            } else {
                events
                    .publish(tenancy, Kind::Warning, "Rejected", reason)
                    .await
            }
        }
        Outcome::Pending(reason, _) if changed => {
            events
                .publish(tenancy, Kind::Warning, "Unplaced", reason)
                .await
        }
        Outcome::Decided(decided) => {
            let why = &decided.explanation;
            if ctx.state.news_of(&key, "Placed", why) {
                events.publish(tenancy, Kind::Normal, "Placed", why).await;
            }
        }
        Outcome::Applied(placed) => {
            let resized = placed.review.changes.join(", ");
            if !resized.is_empty() && ctx.state.news_of(&key, "Resized", &resized) {
                let note = format!(
                    "requests resized by sizing: Measured (status.sizing says which rule): {resized}"
                );
                events
                    .publish(tenancy, Kind::Normal, "Resized", &note)
                    .await;
            }
            if changed && now.phase == Some(Phase::Running) && old.phase != Some(Phase::Running) {
                let available = status::condition(now, "Available");
                let note = available.map(|c| c.message.as_str()).unwrap_or_default();
                events.publish(tenancy, Kind::Normal, "Running", note).await;
            }
        }
        _ => {}
    }
}
