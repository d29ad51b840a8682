//! Consolidation benchmark: on estates spread thin (every tenancy running where a
//! least-allocated scheduler put it), the nodes left on by the greedy one-node-at-a-time pass
//! (`consolidate`) and by the set-choosing re-pack (`repack`) that `colo plan --consolidate`
//! uses, side by side with a fresh plan of the same work and the lower bound, and the moves
//! each makes per node it frees. Figures go to docs/benchmarks.md.
//!
//!   cargo bench -p colo-engine --bench consolidation
//!
//! Times are medians of 5 runs in this process, one core (the engine is single-threaded).

use std::time::Instant;

use colo_engine::consolidate::{self, Move, Thresholds};
use colo_engine::generate::{EstateShape, estate, running_and_fresh};
use colo_engine::plan::{consolidation_targets, lower_bound_nodes, running_packing};
use colo_engine::repack::repack;
use colo_engine::{Estate, Heuristic, PlanOptions, plan};

const RUNS: usize = 5;

fn main() {
    println!(
        "| estate | tenancies running | nodes | active before | fresh plan | lower bound | greedy pass: active | moves | moves per freed node | ms | re-pack: active | moves | moves per freed node | fewest possible per freed node | ms | re-pack / fresh |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (tenancies, nodes, constrained) in [
        (300, 213, true),
        (300, 213, false),
        (1_000, 500, true),
        (1_000, 500, false),
        (10_000, 5_000, true),
        (10_000, 5_000, false),
    ] {
        row(tenancies, nodes, constrained);
    }
}

fn row(tenancies: usize, nodes: usize, constrained: bool) {
    let shape = EstateShape {
        constrained,
        running: 1.0,
        ..EstateShape::new(tenancies, nodes)
    };
    let (running, fresh) = running_and_fresh(estate(shape));
    let estate = Estate::from_snapshot(&running).expect("valid estate");
    let before = running_packing(&estate).active_nodes();
    let lower_bound = lower_bound_nodes(&estate, &running_packing(&estate));
    let fresh = Estate::from_snapshot(&fresh).expect("valid estate");
    let fresh_active = plan(
        &fresh,
        PlanOptions {
            heuristic: Heuristic::DotProduct,
            consolidate: false,
            improve: true,
            thresholds: Thresholds::default(),
        },
    )
    .summary
    .active_nodes;
    let targets = consolidation_targets(&estate);
    let greedy = measure(&estate, |p| {
        consolidate::consolidate(p, &targets, Thresholds::default())
    });
    let repacked = measure(&estate, |p| repack(p, &targets, Thresholds::default()));
    let kind = if constrained {
        "constrained"
    } else {
        "unconstrained"
    };
    let per_freed =
        |(active, moves): (usize, usize)| moves as f64 / (before - active).max(1) as f64;
    let floor = fewest_moves(&estate, repacked.0);
    println!(
        "| {kind} | {} | {nodes} | {before} | {fresh_active} | {lower_bound} | {} | {} | {:.2} | {:.1} | {} | {} | {:.2} | {:.2} | {:.1} | {:.3} |",
        running.tenancies.len(),
        greedy.0,
        greedy.1,
        per_freed((greedy.0, greedy.1)),
        greedy.2,
        repacked.0,
        repacked.1,
        per_freed((repacked.0, repacked.1)),
        per_freed((repacked.0, floor)),
        repacked.2,
        repacked.0 as f64 / fresh_active.max(1) as f64,
    );
}

/// Runs a consolidation on the running estate RUNS times: (active after, replicas moved,
/// median ms).
fn measure(
    estate: &Estate,
    consolidation: impl Fn(&mut colo_engine::pack::Packing) -> Vec<Move>,
) -> (usize, usize, f64) {
    let mut times = Vec::new();
    let mut result = (0, 0);
    for _ in 0..RUNS {
        let mut packing = running_packing(estate);
        let start = Instant::now();
        let moves = consolidation(&mut packing);
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        let moved = moves.iter().map(|m| m.replicas as usize).sum();
        result = (packing.active_nodes(), moved);
    }
    times.sort_by(f64::total_cmp);
    (result.0, result.1, times[RUNS / 2])
}

/// The fewest replicas any consolidation to `keep` nodes must move: all but those already on
/// the `keep` nodes holding the most.
fn fewest_moves(estate: &Estate, keep: usize) -> usize {
    let packing = running_packing(estate);
    let mut on: Vec<usize> = (0..estate.nodes.len())
        .map(|n| packing.replicas_on(n) as usize)
        .collect();
    on.sort_unstable_by(|a, b| b.cmp(a));
    on.iter().skip(keep).sum()
}
