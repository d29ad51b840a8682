//! `colo snapshot`: the live estate as an EstateSnapshot, to replay with `colo plan`.

use anyhow::Context as _;

use crate::config::Config;
use crate::context::{Context, Wiring};

#[derive(clap::Args)]
pub struct Args {
    /// rate() window of CPU counters.
    #[arg(long, default_value = "1m")]
    rate_window: String,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    print!("{}", live(&args.rate_window).await?.to_yaml());
    Ok(())
}

/// The live estate (KUBECONFIG's hub, its members and their Prometheus), warning on stderr
/// about what could not be seen.
pub async fn live(rate_window: &str) -> anyhow::Result<colo_engine::EstateSnapshot> {
    let client = kube::Client::try_default()
        .await
        .context("connecting to the hub")?;
    let config = Config {
        rate_window: rate_window.to_string(),
        ..Config::default()
    };
    let wiring = Wiring {
        identity: "colo-snapshot".into(),
        watch_hub: false,
        fence: crate::k8s::fence::Fence::open(),
    };
    let ctx = Context::new(client, config, wiring);
    let live = ctx
        .observer
        .observe(&[], &Default::default(), &Default::default())
        .await
        .context("observing the estate")?;
    for (cluster, health) in &live.health {
        if let Err(e) = &health.reachable {
            eprintln!("colo: warning: {cluster} unreachable ({e}); written without nodes");
        } else if let Err(e) = &health.metrics {
            eprintln!("colo: warning: {cluster}: {e}; usage is requests only");
        }
    }
    Ok(live.snapshot)
}
