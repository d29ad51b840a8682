//! `colo operator`: lead (one replica acts at a time), run the controllers, serve health and
//! metrics, stop cleanly on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use kube_lease_manager::LeaseManagerBuilder;

use crate::context::{Config, Context};
use crate::controllers::{self, Shared};

#[derive(clap::Args)]
pub struct Args {
    /// Namespace of the leader Lease and of member kubeconfig Secrets that do not name one.
    #[arg(long, default_value = "colo-system", env = "COLO_NAMESPACE")]
    pub namespace: String,
    /// Where /healthz, /readyz and /metrics are served.
    #[arg(long, default_value = "0.0.0.0:8080", env = "COLO_HTTP_ADDR")]
    pub http_addr: SocketAddr,
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
    /// Currency of every figure of money: ISO 4217 code.
    #[arg(long, default_value = "GBP", env = "COLO_CURRENCY", value_parser = currency_code)]
    pub currency: String,
    /// The Prometheus that scrapes Colo's /metrics: /api/v1/report reads past windows there.
    #[arg(long, env = "COLO_HISTORY_PROMETHEUS_URL")]
    pub history_prometheus_url: Option<String>,
    /// Accounting time runs this many times faster than the wall clock (demos and tests only:
    /// 60 accounts an hour a minute).
    #[arg(long, default_value_t = 1.0, value_parser = speed)]
    pub accounting_speed: f64,
    /// Wall-clock moment (RFC 3339) from which sped-up accounting time runs (default: start).
    #[arg(long)]
    pub accounting_epoch: Option<chrono::DateTime<chrono::Utc>>,
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
    let client = kube::Client::try_default()
        .await
        .context("connecting to the hub (KUBECONFIG or in-cluster)")?;
    let identity = args.identity.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    });
    let config = Config {
        namespace: args.namespace.clone(),
        rate_window: args.rate_window.clone(),
        measure_every: std::time::Duration::from_secs(args.measure_every_seconds),
        accounting_interval: std::time::Duration::from_secs(args.accounting_interval_seconds),
        currency: args.currency.clone(),
        accounting_speed: args.accounting_speed,
        history_prometheus: args.history_prometheus_url.clone(),
        ..Config::default()
    };
    let mut ctx = Context::new(client.clone(), config);
    if args.accounting_speed != 1.0 {
        tracing::warn!(
            speed = args.accounting_speed,
            "accounting time is sped up: figures are not real"
        );
        let epoch = args.accounting_epoch.unwrap_or_else(chrono::Utc::now);
        ctx.accounting_clock =
            Arc::new(crate::context::FastClock::new(epoch, args.accounting_speed));
    }
    ctx.cache = Some(crate::cache::Cache::start(client.clone()));
    let ctx = Arc::new(ctx);
    let ready = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });
    let http = tokio::spawn(crate::http::serve(
        args.http_addr,
        ctx.clone(),
        ready.clone(),
        stop(),
    ));

    ensure_namespace(&client, &args.namespace).await?;
    let lease = LeaseManagerBuilder::new(client.clone(), "colo-operator")
        .with_namespace(&args.namespace)
        .with_identity(&identity)
        .with_duration(15)
        .with_grace(5)
        .build()
        .await
        .context("creating the leader Lease")?;
    let (mut leading, lease_task) = lease.watch().await;
    tracing::info!(%identity, "waiting to lead");
    let became_leader = tokio::select! {
        led = leading.wait_for(|l| *l) => led.is_ok(),
        _ = stop() => false,
    };
    if !became_leader {
        drop(leading);
        let _ = lease_task.await;
        let _ = http.await;
        return Ok(());
    }
    tracing::info!(%identity, "leading");
    let shared = Arc::new(Shared::new(ctx.clone(), &identity));
    controllers::seed(&shared)
        .await
        .context("reading tenancies")?;
    ready.store(true, Ordering::Relaxed);
    // Losing the lease stops the controllers: two replicas never both act.
    let lost = {
        let mut leading = leading.clone();
        async move {
            let _ = leading.wait_for(|l| !*l).await;
        }
    };
    let stop_or_lost = {
        let stop = stop();
        async move {
            tokio::select! {
                _ = stop => {}
                _ = lost => tracing::error!("lost the lease; stopping"),
            }
        }
    };
    controllers::run(shared, stop_or_lost).await;
    ready.store(false, Ordering::Relaxed);
    drop(leading);
    let _ = lease_task.await;
    let _ = http.await;
    tracing::info!("stopped");
    Ok(())
}

async fn ensure_namespace(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{Patch, PatchParams};
    let ns =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    kube::Api::<Namespace>::all(client.clone())
        .patch(name, &PatchParams::apply("colo"), &Patch::Apply(&ns))
        .await
        .with_context(|| format!("ensuring namespace {name}"))?;
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
