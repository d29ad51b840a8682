//! The live accounting loop: every interval, the estate as observed (measured usage from each
//! cluster's Prometheus) goes through the engine's ledger; the ledger is persisted in one
//! ConfigMap before anything is published, so a restart or a change of leader loses at most
//! one interval and never counts one twice. Then the metrics follow it, the state keeps it for
//! the report, and the Agency controller is woken to write every Agency's status.
//!
//! Steps of a tick: observe → account → persist → publish.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use colo_api::Agency;
use colo_engine::Estate;
use colo_engine::ledger::{Ledger, TickError};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use tokio::sync::mpsc;

use crate::context::Context;
use crate::figures::calendar::{month_of, next_month, unix};
use crate::k8s::ledger::{LedgerError, load, persist};

#[derive(Debug, thiserror::Error)]
pub enum AccountingError {
    #[error("observe: {0}")]
    Observe(#[source] kube::Error),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("account: {0}")]
    Account(#[from] TickError),
}

/// Runs ticks every `accounting_interval` until `stop` resolves; after each, `figures` is told.
pub async fn run(
    ctx: Arc<Context>,
    figures: mpsc::UnboundedSender<()>,
    stop: impl std::future::Future<Output = ()>,
) {
    // Metrics start from the persisted ledger: a new leader continues, it does not reset.
    match load(&ledger_api(&ctx)).await {
        Ok((ledger, _)) => publish(&ctx, ledger, &figures),
        Err(e) => tracing::warn!(error = %e, "accounting starts without a ledger"),
    }
    let mut every = tokio::time::interval(ctx.config.accounting_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = every.tick() => {}
        }
        match tick(&ctx).await {
            Ok(ledger) => publish(&ctx, ledger, &figures),
            Err(e) => tracing::warn!(error = %e, "accounting tick failed; the next one catches up"),
        }
    }
}

fn ledger_api(ctx: &Context) -> Api<ConfigMap> {
    Api::namespaced(ctx.client.clone(), &ctx.config.namespace)
}

/// One tick: observe → account → persist. Returns the ledger as persisted.
pub async fn tick(ctx: &Context) -> Result<Ledger, AccountingError> {
    let live = ctx
        .observer
        .as_placement_sees_it(&ctx.state, &[])
        .await
        .map_err(AccountingError::Observe)?;
    // One object the engine cannot represent is left out; everything else is accounted.
    let (estate, refused) = Estate::from_snapshot_lenient(&live.snapshot);
    for r in refused {
        tracing::debug!(at = %r.at, field = %r.field, problem = %r.problem, "not accounted");
    }
    let measured: Vec<bool> = estate
        .clusters
        .iter()
        .map(|c| live.health.get(&c.name).is_some_and(|h| h.metrics.is_ok()))
        .collect();
    let api = ledger_api(ctx);
    let (mut ledger, version) = load(&api).await?;
    account(ctx, &mut ledger, &estate, &measured, ctx.clock.now())?;
    // Persist before publishing: what was published is always in the ledger.
    persist(&api, &ledger, version, &ctx.config.field_manager).await?;
    Ok(ledger)
}

/// Adds the time since the ledger's last tick (a new month starts at its first second).
fn account(
    ctx: &Context,
    ledger: &mut Ledger,
    estate: &Estate,
    measured: &[bool],
    now: DateTime<Utc>,
) -> Result<(), TickError> {
    // At most two intervals per tick: a longer gap is not guessed at. Times are the clock's;
    // in demos each second accounts `accounting_speed` seconds of use.
    let max_gap = (2.0 * ctx.config.accounting_interval.as_secs_f64().max(1.0)) as i64;
    let speed = ctx.config.accounting_speed;
    if ledger.until > 0 {
        let (month, start) = month_of(unix(ledger.until));
        let boundary = next_month(start);
        if now > boundary && unix(ledger.until) < boundary {
            let end = boundary.timestamp();
            ledger.tick_scaled(estate, measured, end, &month, max_gap, speed)?;
        }
    }
    let (month, _) = month_of(now);
    ledger.tick_scaled(estate, measured, now.timestamp(), &month, max_gap, speed)?;
    Ok(())
}

/// Metrics follow the ledger, the state keeps it, and the Agency controller is woken.
fn publish(ctx: &Context, ledger: Ledger, figures: &mpsc::UnboundedSender<()>) {
    let agencies: Vec<Agency> = ctx
        .hub
        .as_ref()
        .map(|h| {
            h.agencies
                .store
                .state()
                .iter()
                .map(|a| (**a).clone())
                .collect()
        })
        .unwrap_or_default();
    ctx.metrics
        .publish_ledger(&ledger, &agencies, &ctx.config.currency);
    ctx.state.set_ledger(ledger);
    let _ = figures.send(());
}
