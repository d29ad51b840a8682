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
        ..Config::default()
    };
    let mut ctx = Context::new(client.clone(), config);
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
