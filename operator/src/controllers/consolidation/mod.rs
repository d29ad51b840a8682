//! The consolidation controller (docs/operator.md, "Consolidation"). One loop, on the leader
//! only, every `step_every`: each open ConsolidationPlan is advanced one step (filled in,
//! superseded, executed) and, when none is open and the mode asks, the estate is looked at for
//! a new one every `interval`. Everything a restarted leader needs is in the plans' status.
//!
//! Steps: `propose` (the engine on the live estate), `basis` (what a plan was made for),
//! `execute` (drains, steps, standby), `step` (one tenancy's move, make-before-break).

mod basis;
mod execute;
mod occupancy;
mod propose;
mod step;
mod sweep;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use colo_api::{ConsolidationPlan, ConsolidationPlanStatus, PlanState};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};

use crate::config::ConsolidationMode;
use crate::context::Context;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("list ConsolidationPlans: {0}")]
    List(#[source] kube::Error),
    #[error("observe the estate: {0}")]
    Observe(String),
    #[error("write ConsolidationPlan {plan}: {source}")]
    Write {
        plan: String,
        #[source]
        source: kube::Error,
    },
    #[error("{cluster}: {source}")]
    Member {
        cluster: String,
        #[source]
        source: kube::Error,
    },
}

impl super::ErrorKind for Error {
    fn kind(&self) -> &'static str {
        match self {
            Error::List(_) => "list",
            Error::Observe(_) => "observe",
            Error::Write { .. } => "write",
            Error::Member { .. } => "member",
        }
    }
}

/// Runs until `stop` resolves.
pub async fn run(ctx: Arc<Context>, stop: impl Future<Output = ()> + Send) {
    let looping = async {
        let mut looking = Looking::default();
        loop {
            if let Err(error) = tick(&ctx, &mut looking).await {
                tracing::warn!(controller = "consolidation", %error, "step failed");
                ctx.metrics
                    .reconcile_failures
                    .with_label_values(&["consolidation", super::ErrorKind::kind(&error)])
                    .inc();
            }
            tokio::time::sleep(ctx.config.consolidation.step_every).await;
        }
    };
    tokio::select! {
        _ = looping => {}
        _ = stop => {}
    }
}

/// What the loop remembers between steps: when it last looked for a plan, and why it found
/// none (said once per change, not every step).
#[derive(Default)]
struct Looking {
    last: Option<Instant>,
    why_none: String,
}

async fn tick(ctx: &Context, looking: &mut Looking) -> Result<(), Error> {
    let api: Api<ConsolidationPlan> = Api::all(ctx.client.clone());
    let mut plans = api
        .list(&ListParams::default())
        .await
        .map_err(Error::List)?
        .items;
    plans.sort_by_key(|p| (p.creation_timestamp(), p.name_any()));
    publish(ctx, &plans);
    for deleted in plans
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some())
    {
        sweep::release(ctx, deleted).await?;
    }
    let open: Vec<&ConsolidationPlan> = plans
        .iter()
        .filter(|p| !is_final(p) && p.metadata.deletion_timestamp.is_none())
        .collect();
    let moving = open
        .iter()
        .flat_map(|p| p.status.iter().flat_map(|s| &s.steps))
        .filter(|s| s.state == colo_api::StepState::Moving)
        .filter_map(|s| crate::k8s::keys::TenancyKey::parse(&s.tenancy))
        .collect();
    ctx.state.moves().end_all_but(&moving);
    sweep::sweep(ctx, &open.iter().map(|p| p.name_any()).collect()).await?;
    let mut executing = false;
    for plan in &open {
        let now = ctx.clock.now();
        let status = advance(ctx, plan, executing, now).await?;
        executing |= matches!(status.state, Some(PlanState::Executing | PlanState::Paused));
        write(ctx, plan, &status).await?;
    }
    let settings = &ctx.config.consolidation;
    let due = looking
        .last
        .is_none_or(|t| t.elapsed() >= settings.interval);
    // Looked at in every mode (the dashboard's active nodes against the lower bound); a plan
    // is made only when the mode asks.
    if open.is_empty() && due {
        looking.last = Some(Instant::now());
        let why = propose_new(ctx, &api).await?;
        if why != looking.why_none && !why.is_empty() {
            tracing::info!(%why, "no consolidation plan");
        }
        looking.why_none = why;
    }
    Ok(())
}

/// What the plans executed so far freed and save a month, for the platform dashboard.
fn publish(ctx: &Context, plans: &[ConsolidationPlan]) {
    let executed = plans
        .iter()
        .filter_map(|p| p.status.as_ref())
        .filter(|s| s.executed());
    let (nodes, saved) = executed.fold((0.0, 0.0), |(n, c), s| {
        (
            n + s.nodes_freed as f64,
            c + s.monthly_cost_saved * s.freed_share(),
        )
    });
    let gauges = &ctx.metrics.consolidation;
    gauges.with_label_values(&["nodes_freed"]).set(nodes);
    gauges.with_label_values(&["saved_per_month"]).set(saved);
}

fn is_final(plan: &ConsolidationPlan) -> bool {
    plan.status
        .as_ref()
        .and_then(|s| s.state)
        .is_some_and(PlanState::is_final)
}

/// One step of an open plan; `behind` when an earlier plan is executing (one at a time).
async fn advance(
    ctx: &Context,
    plan: &ConsolidationPlan,
    behind: bool,
    now: DateTime<Utc>,
) -> Result<ConsolidationPlanStatus, Error> {
    let Some(status) = plan.status.clone().filter(|s| s.state.is_some()) else {
        // Created by the platform team: filled in now, as Colo would propose it.
        let min = plan
            .spec
            .min_monthly_saving
            .unwrap_or(ctx.config.consolidation.min_monthly_saving);
        return propose::fill(ctx, min, now).await;
    };
    if status.state == Some(PlanState::Proposed)
        && !plan.spec.approved
        && auto_approves(ctx, &status)
    {
        approve(ctx, plan).await?;
    }
    match status.state.unwrap_or_default() {
        PlanState::Proposed | PlanState::Approved if behind => Ok(status),
        PlanState::Proposed if !plan.spec.approved => execute::check_basis(ctx, status, now).await,
        _ => {
            // Its nodes are uncordoned whatever becomes of it, deletion included.
            sweep::hold(ctx, plan).await?;
            let paused = !plan.spec.approved;
            execute::advance(ctx, &plan.name_any(), status, paused, now).await
        }
    }
}

/// In `auto` mode, a plan saving at least the auto-approval figure is approved by Colo (also
/// one proposed before the mode or the figure changed).
fn auto_approves(ctx: &Context, status: &ConsolidationPlanStatus) -> bool {
    let settings = &ctx.config.consolidation;
    settings.mode == ConsolidationMode::Auto
        && status.monthly_cost_saved >= settings.auto_approve_saving
}

async fn approve(ctx: &Context, plan: &ConsolidationPlan) -> Result<(), Error> {
    let api: Api<ConsolidationPlan> = Api::all(ctx.client.clone());
    let patch = serde_json::json!({"spec": {"approved": true}});
    api.patch(
        &plan.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(|source| Error::Write {
        plan: plan.name_any(),
        source,
    })?;
    tracing::info!(plan = %plan.name_any(), "consolidation plan approved (auto mode)");
    Ok(())
}

/// Looks at the estate and creates a plan when it saves enough (approved at once in `auto`
/// mode when it saves at least the auto-approval figure). Returns why there is none, if not.
async fn propose_new(ctx: &Context, api: &Api<ConsolidationPlan>) -> Result<String, Error> {
    let settings = &ctx.config.consolidation;
    let now = ctx.clock.now();
    let status = propose::fill(ctx, settings.min_monthly_saving, now).await?;
    if settings.mode == ConsolidationMode::Off {
        return Ok(String::new());
    }
    if status.state != Some(PlanState::Proposed) {
        return Ok(status.message.unwrap_or_default());
    }
    let approved = auto_approves(ctx, &status);
    let name = format!("colo-{}", now.format("%Y%m%d-%H%M%S"));
    let mut plan = ConsolidationPlan::new(
        &name,
        colo_api::ConsolidationPlanSpec {
            approved,
            min_monthly_saving: None,
        },
    );
    plan = api
        .create(&PostParams::default(), &plan)
        .await
        .map_err(|source| Error::Write {
            plan: name.clone(),
            source,
        })?;
    write(ctx, &plan, &status).await?;
    tracing::info!(plan = %name, approved, saving = status.monthly_cost_saved, "consolidation proposed");
    Ok(String::new())
}

async fn write(
    ctx: &Context,
    plan: &ConsolidationPlan,
    status: &ConsolidationPlanStatus,
) -> Result<(), Error> {
    let api: Api<ConsolidationPlan> = Api::all(ctx.client.clone());
    let manager = &ctx.config.field_manager;
    crate::k8s::status::write(&api, plan, plan.status.as_ref(), status, manager)
        .await
        .map_err(|source| Error::Write {
            plan: plan.name_any(),
            source,
        })
}

fn timestamp(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Secs, true)
}
