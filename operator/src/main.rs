//! `colo`: Colo's one binary. Each subcommand's flow starts in its own module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod crds;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crds => crds::print(&mut std::io::stdout().lock()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("colo: {err:#}");
            ExitCode::FAILURE
        }
    }
}
