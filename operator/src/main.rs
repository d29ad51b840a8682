//! `colo`: Colo's one binary. Each subcommand's flow starts in its own module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod accounting;
mod cache;
mod context;
mod controllers;
mod crds;
mod http;
mod materialize;
mod members;
mod observe;
mod operator_cmd;
mod page;
mod plan_cmd;
mod planner;
mod prom;
mod report;
mod resize;
mod status;
mod tenancy;

#[derive(Parser)]
#[command(
    name = "colo",
    version,
    about = "Colo: shared government hosting, placed by measured use"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator against the hub in KUBECONFIG (or in-cluster).
    Operator(operator_cmd::Args),
    /// Write the live estate as an EstateSnapshot, to replay it with `colo plan`.
    Snapshot(SnapshotArgs),
    /// Print the CustomResourceDefinitions as YAML (kubectl apply -f - takes them).
    Crds,
    /// Plan an EstateSnapshot offline: placements, consolidation moves, monthly figures.
    Plan(plan_cmd::Args),
    /// Write a synthetic EstateSnapshot (for trying `colo plan` and for benchmarks).
    Generate(GenerateArgs),
}

#[derive(clap::Args)]
struct SnapshotArgs {
    /// rate() window of CPU counters.
    #[arg(long, default_value = "1m")]
    rate_window: String,
}

#[derive(clap::Args)]
struct GenerateArgs {
    #[arg(long, default_value_t = 100)]
    tenancies: usize,
    #[arg(long, default_value_t = 40)]
    nodes: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// One flat pool: no classifications, regions or DualSite (for packing bounds).
    #[arg(long)]
    unconstrained: bool,
    /// Share of tenancies already running, spread thin (something to consolidate).
    #[arg(long, default_value_t = 0.0)]
    running: f64,
}

/// Runs an async command on a multi-threaded runtime with structured (JSON) logs.
fn async_main(job: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(job) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("colo: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn snapshot(args: SnapshotArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let client = kube::Client::try_default()
        .await
        .context("connecting to the hub")?;
    let config = context::Config {
        rate_window: args.rate_window,
        ..context::Config::default()
    };
    let ctx = context::Context::new(client, config);
    let live = observe::observe(&ctx, &[])
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Operator(args) => async_main(operator_cmd::run(args)),
        Command::Snapshot(args) => async_main(snapshot(args)),
        Command::Crds => match crds::print(&mut std::io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("colo: {err:#}");
                ExitCode::FAILURE
            }
        },
        Command::Generate(g) => {
            let shape = colo_engine::generate::EstateShape {
                tenancies: g.tenancies,
                nodes: g.nodes,
                seed: g.seed,
                constrained: !g.unconstrained,
                running: g.running.clamp(0.0, 1.0),
            };
            print!("{}", colo_engine::generate::estate(shape).to_yaml());
            ExitCode::SUCCESS
        }
        // Bad input is exit 2 with the place named, as for a usage error.
        Command::Plan(args) => match plan_cmd::run(&args) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("colo plan: {err}");
                ExitCode::from(2)
            }
        },
    }
}
