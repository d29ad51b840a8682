//! `colo`: Colo's one binary. The rooms below, each depending only on those after it:
//!
//! `cmd` → `controllers` | `accounting` | `report` → `context` → `planner` → `observe` →
//! `state` → `k8s` | `metrics` | `config` | `figures`. docs/operator.md walks them.

mod accounting;
mod cmd;
mod config;
mod context;
mod controllers;
mod figures;
mod k8s;
mod metrics;
mod observe;
mod planner;
mod report;
mod state;

fn main() -> std::process::ExitCode {
    cmd::main()
}
