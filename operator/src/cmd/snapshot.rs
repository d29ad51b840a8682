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
    let client = kube::Client::try_default()
        .await
        .context("connecting to the hub")?;
    let config = Config {
        rate_window: args.rate_window,
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
            eprintln!("colo snapshot: warning: {cluster} unreachable ({e}); written without nodes");
        } else if let Err(e) = &health.metrics {
            eprintln!("colo snapshot: warning: {cluster}: {e}; usage is requests only");
        }
    }
    print!("{}", live.snapshot.to_yaml());
    Ok(())
}
