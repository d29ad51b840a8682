//! The `colo` commands: argument parsing and wiring only. Each command's flow starts here and
//! continues in the rooms below (controllers, accounting, report; the engine for `plan`).

pub mod crds;
pub mod operator;
pub mod plan;
pub mod quote;
pub mod snapshot;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "colo",
    version,
    about = "Colo: shared government hosting, placed by measured use"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator against the hub in KUBECONFIG (or in-cluster).
    Operator(Box<operator::Args>),
    /// Write the live estate as an EstateSnapshot, to replay it with `colo plan`.
    Snapshot(snapshot::Args),
    /// Print the CustomResourceDefinitions as YAML (kubectl apply -f - takes them).
    Crds,
    /// Plan an EstateSnapshot offline: placements, consolidation moves, monthly figures.
    Plan(plan::Args),
    /// Write a synthetic EstateSnapshot (for trying `colo plan` and for benchmarks).
    Generate(GenerateArgs),
    /// Quote a prospective agency from its room's inventory: fit, monthly figures, saving.
    Quote(Box<quote::Args>),
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

/// `colo quote`: bad input is exit 2 with the place named; an unreadable estate exit 1.
fn quote_main(args: &quote::Args) -> ExitCode {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(quote::run(args)) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("colo quote: {err}");
            match err {
                quote::QuoteFailure::Input(_) => ExitCode::from(2),
                quote::QuoteFailure::Estate(_) => ExitCode::FAILURE,
            }
        }
    }
}

fn generate(g: GenerateArgs) -> ExitCode {
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

pub fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Operator(args) => async_main(operator::run(*args)),
        Command::Snapshot(args) => async_main(snapshot::run(args)),
        Command::Crds => match crds::print(&mut std::io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("colo: {err:#}");
                ExitCode::FAILURE
            }
        },
        Command::Generate(g) => generate(g),
        Command::Quote(args) => quote_main(&args),
        // Bad input is exit 2 with the place named, as for a usage error.
        Command::Plan(args) => match plan::run(&args) {
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
