//! `colo`: Colo's one binary. Each subcommand's flow starts in its own module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod crds;
mod plan_cmd;

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
    /// Print the CustomResourceDefinitions as YAML (kubectl apply -f - takes them).
    Crds,
    /// Plan an EstateSnapshot offline: placements, consolidation moves, monthly figures.
    Plan(plan_cmd::Args),
    /// Write a synthetic EstateSnapshot (for trying `colo plan` and for benchmarks).
    Generate(GenerateArgs),
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
