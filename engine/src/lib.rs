//! Colo's placement and accounting engine: an `EstateSnapshot` in, a `Plan` out.
//!
//! Pure: no Kubernetes client, no async, no clock reads, no I/O. The operator keeps a
//! snapshot current; this crate decides on it. Start at [`plan::plan`].

pub mod accounting;
pub mod consolidate;
pub mod constraints;
pub mod estate;
pub mod generate;
pub mod ledger;
pub mod model;
pub mod pack;
pub mod place;
pub mod plan;
pub mod quote;
pub mod repack;
pub mod sizing;
pub mod snapshot;

pub use estate::Estate;
pub use pack::Heuristic;
pub use plan::{Plan, PlanOptions, plan};
pub use snapshot::{EstateSnapshot, SnapshotError};

/// Reads, checks and plans a snapshot in one go (what `colo plan` does).
pub fn plan_yaml(text: &str, options: PlanOptions) -> Result<Plan, SnapshotError> {
    let snapshot = EstateSnapshot::from_yaml(text)?;
    let estate = Estate::from_snapshot(&snapshot)?;
    Ok(plan(&estate, options))
}
