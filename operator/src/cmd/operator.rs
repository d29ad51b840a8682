//! `colo operator`: lead (one replica acts at a time), run the controllers, serve health and
//! metrics, stop cleanly on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use k8s_openapi::api::coordination::v1::Lease;
use kube_lease_manager::LeaseManagerBuilder;

use crate::accounting;
use crate::config::{Config, ConsolidationMode};
use crate::context::{Context, Wiring};
use crate::controllers;
use crate::k8s::fence::{self, Fence};
use crate::k8s::labels;
use crate::report::auth::Gate;

#[derive(clap::Args)]
pub struct Args {
    /// Namespace of the leader Lease and of member kubeconfig Secrets that do not name one.
    #[arg(long, default_value = "colo-system", env = "COLO_NAMESPACE")]
    pub namespace: String,
    /// Where the report (the page and /api/v1/…) is served, to readers with a bearer token.
    #[arg(long, default_value = "0.0.0.0:8080", env = "COLO_HTTP_ADDR")]
    pub http_addr: SocketAddr,
    /// Where /metrics, /healthz and /readyz are served (no token: for Prometheus and probes).
    #[arg(long, default_value = "0.0.0.0:8081", env = "COLO_METRICS_ADDR")]
    pub metrics_addr: SocketAddr,
    /// Seconds the hub's answers on who a token is and what it may read are kept.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub auth_cache_seconds: u64,
    /// This replica's name in the Lease (default: host name and pid).
    #[arg(long, env = "COLO_IDENTITY")]
    pub identity: Option<String>,
    /// rate() window of CPU counters: a few scrape intervals.
    #[arg(long, default_value = "1m")]
    pub rate_window: String,
    /// Seconds one Prometheus measurement of a cluster is reused before it is taken again.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub measure_every_seconds: u64,
    /// Seconds between accounting ticks (energy, cost and carbon per agency).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub accounting_interval_seconds: u64,
    /// Seconds a rejected tenancy keeps its copies in member clusters before they are
    /// removed (time to undo a mistaken edit of its Agency).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=86400))]
    pub revocation_grace_seconds: u64,
    /// `sizing: Measured` lowers a request only on usage with this many samples in the window.
    #[arg(long, default_value_t = 20)]
    pub sizing_min_samples: u32,
    /// Currency of every figure of money: ISO 4217 code.
    #[arg(long, default_value = "GBP", env = "COLO_CURRENCY", value_parser = currency_code)]
    pub currency: String,
    /// The Prometheus that scrapes Colo's /metrics: /api/v1/report reads past windows there.
    #[arg(long, env = "COLO_HISTORY_PROMETHEUS_URL")]
    pub history_prometheus_url: Option<String>,
    /// Each second accounts this many seconds of use (demos and tests only: 60 accounts an
    /// hour of use a minute). Times stay the wall clock's; outputs say the speed.
    #[arg(long, default_value_t = 1.0, value_parser = speed)]
    pub accounting_speed: f64,
    /// Any one request to a member cluster gives up after this many seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub member_timeout_seconds: u64,
    /// A member whose API server has not answered its heartbeat for this many seconds is
    /// unreachable: nothing new is placed there and its replicas are not counted.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub member_unreachable_seconds: u64,
    /// `SingleSite` tenancies on a member that has not answered for this many seconds are
    /// placed again on the members left (make-before-break: the old copies go when it answers).
    #[arg(long, default_value_t = 180, value_parser = clap::value_parser!(u64).range(0..=86400))]
    pub failover_grace_seconds: u64,
    /// A member back from an outage takes new placements only once it has answered every
    /// heartbeat for this many seconds (until then its replicas count, nothing new goes there).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(0..=86400))]
    pub member_settle_seconds: u64,
    #[command(flatten)]
    pub consolidation: ConsolidationArgs,
}

/// Consolidation of the running estate (docs/operator.md, "Consolidation").
#[derive(clap::Args)]
pub struct ConsolidationArgs {
    /// off: propose nothing (plans the platform team creates are still filled in); propose:
    /// a ConsolidationPlan every interval when it saves enough; auto: and approve it when it
    /// saves at least --consolidation-auto-approve-saving.
    #[arg(
        long,
        value_enum,
        default_value = "propose",
        env = "COLO_CONSOLIDATION_MODE"
    )]
    pub consolidation_mode: ConsolidationMode,
    /// Seconds between looks at the estate for a plan.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=604800))]
    pub consolidation_interval_seconds: u64,
    /// A plan is proposed only when it saves at least this much a month (the currency's units).
    #[arg(long, default_value_t = 20.0, value_parser = non_negative)]
    pub consolidation_min_monthly_saving: f64,
    /// In auto mode, plans saving at least this much a month are approved by Colo.
    #[arg(long, default_value_t = 100.0, value_parser = non_negative)]
    pub consolidation_auto_approve_saving: f64,
    /// Tenancies of one agency moved at the same time.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub consolidation_moves_per_agency: u64,
    /// Seconds a move may take before it is rolled back (its old copies serve again).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(10..=86400))]
    pub consolidation_move_timeout_seconds: u64,
}

fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{text:?} is not a number of 0 or more")),
    }
}

fn speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (1.0..=100_000.0).contains(&v) => Ok(v),
        _ => Err(format!("{text:?} is not a number from 1 to 100000")),
    }
}

fn currency_code(text: &str) -> Result<String, String> {
    if text.len() == 3 && text.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not an ISO 4217 code such as GBP or EUR"
        ))
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let hub = kube::Config::infer()
        .await
        .context("connecting to the hub (KUBECONFIG or in-cluster)")?;
    // The Lease is renewed with a client of its own; every other write goes through the fence.
    let lease_client = kube::Client::try_from(hub.clone()).context("a client for the hub")?;
    let readers = kube::Client::try_from(hub.clone()).context("a client for the hub")?;
    let fence = Fence::closed();
    let client = fence::client(hub, fence.clone()).context("a client for the hub")?;
    let identity = args.identity.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    });
    let ctx = Arc::new(Context::new(
        client.clone(),
        config(&args),
        Wiring {
            identity: identity.clone(),
            watch_hub: true,
            fence: fence.clone(),
        },
    ));
    let ready = Arc::new(AtomicBool::new(false));
    let stop = Stop::on_signal();
    let probes = tokio::spawn(crate::report::http::serve_probes(
        args.metrics_addr,
        ctx.clone(),
        ready.clone(),
        stop.wait(),
    ));
    // Readers are checked with a client outside the fence (every replica answers them), and
    // not the Lease's: a flood of readers must not share the connection its renewals use.
    let gate = Gate::new(readers, Duration::from_secs(args.auth_cache_seconds));
    let report = tokio::spawn(crate::report::http::serve_report(
        args.http_addr,
        ctx.clone(),
        Arc::new(gate),
        stop.wait(),
    ));
    ensure_namespace(&lease_client, &args.namespace, &ctx.config.field_manager).await?;
    let lease = LeaseManagerBuilder::new(lease_client.clone(), labels::LEASE)
        .with_namespace(&args.namespace)
        .with_identity(&identity)
        .with_duration(LEASE.as_secs())
        .with_grace((LEASE - RENEW_EVERY).as_secs())
        .build()
        .await
        .context("creating the leader Lease")?;
    let (mut leading, lease_task) = lease.watch().await;
    tracing::info!(%identity, "waiting to lead");
    let became_leader = tokio::select! {
        led = leading.wait_for(|l| *l) => led.is_ok(),
        _ = stop.wait() => false,
    };
    if became_leader {
        let leases = kube::Api::namespaced(lease_client, &args.namespace);
        let holding = hold_lease(leases, identity.clone(), fence.clone());
        tracing::info!(%identity, "leading");
        lead(&ctx, &ready, &leading, holding, fence.clone(), &stop).await;
    }
    fence.close();
    ready.store(false, Ordering::Relaxed);
    drop(leading);
    // Hands the Lease over at once, without waiting long for a hub that does not answer.
    let _ = tokio::time::timeout(RENEW_EVERY, lease_task).await;
    let _ = tokio::join!(probes, report);
    tracing::info!("stopped");
    Ok(())
}

/// Ends a replica that has stopped leading without being asked to: its writes are fenced
/// already; it exits at once (in-flight reconciles are not waited for) with an error, so that
/// its supervisor starts it afresh to contend for the Lease again.
fn abdicate(fence: &Fence, why: &str) -> ! {
    fence.close();
    tracing::error!(
        "{why}, so stopped acting; exiting so that a fresh start contends for the Lease"
    );
    eprintln!("colo: {why}, so stopped acting");
    std::process::exit(1)
}

/// How long the leader Lease lasts after a renewal…
const LEASE: Duration = Duration::from_secs(15);
/// …how often the leader renews it…
const RENEW_EVERY: Duration = Duration::from_secs(5);
/// …and how long before the Lease's end a leader stops writing: another replica's clock may
/// run this far ahead.
const SKEW: Duration = Duration::from_secs(5);

/// Keeps the fence open as far as the Lease, read back, shows this replica's renewals; returns
/// when the deadline passes without one (the hub is cut off, or the process was frozen) or the
/// Lease shows another holder.
async fn hold_lease(leases: kube::Api<Lease>, identity: String, fence: Arc<Fence>) {
    let mut every = tokio::time::interval(Duration::from_millis(500));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let began = tokio::time::Instant::now();
    loop {
        every.tick().await;
        let read = tokio::time::timeout(RENEW_EVERY, leases.get(labels::LEASE)).await;
        if let Ok(Ok(lease)) = read {
            let spec = lease.spec.unwrap_or_default();
            if spec.holder_identity.as_deref() != Some(identity.as_str()) {
                tracing::error!(holder = ?spec.holder_identity, "the leader Lease is another replica's");
                fence.close();
                return;
            }
            if let Some(renewed) = spec.renew_time {
                let left = fence::time_left(renewed.0.into(), LEASE, SKEW, SystemTime::now());
                fence.hold_until(tokio::time::Instant::now() + left);
            }
        }
        if fence.lapsed() {
            tracing::error!("the leader Lease was not renewed before its deadline; writes stopped");
            return;
        }
        if fence.refusal().is_some() && began.elapsed() >= LEASE {
            tracing::error!("could not read back the leader Lease this replica took; not acting");
            return;
        }
    }
}

fn config(args: &Args) -> Config {
    Config {
        namespace: args.namespace.clone(),
        rate_window: args.rate_window.clone(),
        measure_every: Duration::from_secs(args.measure_every_seconds),
        accounting_interval: Duration::from_secs(args.accounting_interval_seconds),
        revocation_grace: Duration::from_secs(args.revocation_grace_seconds),
        sizing_min_samples: args.sizing_min_samples,
        currency: args.currency.clone(),
        accounting_speed: args.accounting_speed,
        history_prometheus: args.history_prometheus_url.clone(),
        member_timeout: Duration::from_secs(args.member_timeout_seconds),
        member_unreachable_after: Duration::from_secs(args.member_unreachable_seconds),
        failover_grace: Duration::from_secs(args.failover_grace_seconds),
        member_settle: Duration::from_secs(args.member_settle_seconds),
        consolidation: consolidation(&args.consolidation),
        ..Config::default()
    }
}

fn consolidation(args: &ConsolidationArgs) -> crate::config::Consolidation {
    crate::config::Consolidation {
        mode: args.consolidation_mode,
        interval: Duration::from_secs(args.consolidation_interval_seconds),
        min_monthly_saving: args.consolidation_min_monthly_saving,
        auto_approve_saving: args.consolidation_auto_approve_saving,
        moves_per_agency: args.consolidation_moves_per_agency as usize,
        move_timeout: Duration::from_secs(args.consolidation_move_timeout_seconds),
        ..Default::default()
    }
}

/// Runs the controllers and the accounting loop until stopped. Losing the Lease, or failing
/// to renew it in time (`holding` returns), ends the process (`abdicate`).
async fn lead(
    ctx: &Arc<Context>,
    ready: &AtomicBool,
    leading: &tokio::sync::watch::Receiver<bool>,
    holding: impl std::future::Future<Output = ()> + Send + 'static,
    fence: Arc<Fence>,
    stop: &Stop,
) {
    let lost = {
        let mut leading = leading.clone();
        async move {
            let _ = leading.wait_for(|l| !*l).await;
        }
    };
    let (end_tx, end_rx) = tokio::sync::watch::channel(false);
    let stopping = stop.wait();
    let watching = fence.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = stopping => {}
            _ = lost => abdicate(&watching, "another replica holds the leader Lease"),
            _ = holding => abdicate(&watching, "could not renew the leader Lease before its deadline"),
        };
        let _ = end_tx.send(true);
    });
    // Nothing acts before a renewal by this replica has been read back.
    while fence.refusal().is_some() && !*end_rx.borrow() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ended = move || {
        let mut rx = end_rx.clone();
        async move {
            let _ = rx.wait_for(|e| *e).await;
        }
    };
    let (figures_tx, figures_rx) = tokio::sync::mpsc::unbounded_channel();
    let figures = futures::stream::unfold(figures_rx, |mut rx| async move {
        rx.recv().await.map(|()| ((), rx))
    });
    ready.store(true, Ordering::Relaxed);
    futures::join!(
        controllers::run(ctx.clone(), figures, ended()),
        accounting::run(ctx.clone(), figures_tx, ended()),
    );
}

/// Resolves every waiter once SIGTERM or Ctrl-C arrives.
struct Stop(tokio::sync::watch::Receiver<bool>);

impl Stop {
    fn on_signal() -> Stop {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            let _ = tx.send(true);
        });
        Stop(rx)
    }

    fn wait(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.0.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }
}

/// Creates the operator's namespace when it is missing. Installed by the chart, it exists and
/// the operator may only `get` it (no right to write namespaces on the hub).
async fn ensure_namespace(client: &kube::Client, name: &str, manager: &str) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{Patch, PatchParams};
    let namespaces = kube::Api::<Namespace>::all(client.clone());
    let found = namespaces
        .get_opt(name)
        .await
        .with_context(|| format!("reading namespace {name}"))?;
    if found.is_some() {
        return Ok(());
    }
    let ns =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    namespaces
        .patch(name, &PatchParams::apply(manager), &Patch::Apply(&ns))
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
