//! Placement benchmark: plan time, peak memory and packing quality of each heuristic on
//! generated estates, and consolidation time. Figures go to docs/benchmarks.md.
//!
//!   cargo bench -p colo-engine --bench plan              # the full table (several minutes)
//!   cargo bench -p colo-engine --bench plan -- --quick   # 1k and 10k tenancies only
//!
//! Each measurement runs in a fresh child process, so its peak RSS (VmHWM) is its own; times
//! are medians of 5 runs, one core (the engine is single-threaded).

use std::process::Command;
use std::time::Instant;

use colo_engine::consolidate::Thresholds;
use colo_engine::generate::{EstateShape, estate};
use colo_engine::{Estate, Heuristic, PlanOptions, plan};

const RUNS: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("--one") {
        return one(&args[1..]);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let sizes: &[(usize, usize)] = if quick {
        &[(1_000, 500), (10_000, 5_000)]
    } else {
        &[
            (1_000, 500),
            (1_000, 5_000),
            (10_000, 500),
            (10_000, 5_000),
            (50_000, 500),
            (50_000, 5_000),
        ]
    };
    println!(
        "| estate | tenancies | nodes | heuristic | improve | plan ms (median of {RUNS}) | peak RSS MiB | active | lower bound | active/LB | unplaced replicas |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for &(tenancies, nodes) in sizes {
        for constrained in [false, true] {
            for heuristic in Heuristic::ALL {
                for improve in [false, true] {
                    let mode = if improve { "improve" } else { "greedy" };
                    row(tenancies, nodes, constrained, heuristic.name(), mode);
                }
            }
        }
    }
    println!();
    println!(
        "| consolidation | tenancies | nodes | heuristic | ms (median of {RUNS}) | peak RSS MiB | active before | active after | moves |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for heuristic in [Heuristic::FirstFit, Heuristic::DotProduct] {
        row(10_000, 5_000, true, heuristic.name(), "consolidate");
    }
}

fn row(tenancies: usize, nodes: usize, constrained: bool, heuristic: &str, mode: &str) {
    let mut results: Vec<Vec<String>> = (0..RUNS)
        .map(|_| {
            let out = Command::new(std::env::current_exe().expect("own path"))
                .args([
                    "--one",
                    &tenancies.to_string(),
                    &nodes.to_string(),
                    &constrained.to_string(),
                    heuristic,
                    mode,
                ])
                .output()
                .expect("child runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(String::from)
                .collect()
        })
        .collect();
    results.sort_by(|a, b| {
        a[0].parse::<f64>()
            .unwrap()
            .total_cmp(&b[0].parse::<f64>().unwrap())
    });
    let median = &results[RUNS / 2];
    let kind = if constrained {
        "constrained"
    } else {
        "unconstrained"
    };
    if mode == "consolidate" {
        println!(
            "| {kind} | {tenancies} | {nodes} | {heuristic} | {} | {} | {} | {} | {} |",
            median[0], median[1], median[5], median[2], median[6]
        );
    } else {
        let ratio = median[2].parse::<f64>().unwrap() / median[3].parse::<f64>().unwrap().max(1.0);
        println!(
            "| {kind} | {tenancies} | {nodes} | {heuristic} | {mode} | {} | {} | {} | {} | {ratio:.3} | {} |",
            median[0], median[1], median[2], median[3], median[4]
        );
    }
}

/// One measurement: prints `ms peak_mib active lower_bound unplaced active_before moves`.
fn one(args: &[String]) {
    let tenancies: usize = args[0].parse().expect("tenancies");
    let nodes: usize = args[1].parse().expect("nodes");
    let constrained: bool = args[2].parse().expect("constrained");
    let heuristic: Heuristic = args[3].parse().expect("heuristic");
    let mode = args[4].as_str();
    let running = if mode == "consolidate" { 1.0 } else { 0.0 };
    let snapshot = estate(EstateShape {
        tenancies,
        nodes,
        seed: 42,
        constrained,
        running,
    });
    let estate = Estate::from_snapshot(&snapshot).expect("valid estate");
    drop(snapshot);
    let options = PlanOptions {
        heuristic,
        consolidate: mode == "consolidate",
        improve: mode != "greedy",
        thresholds: Thresholds::default(),
    };
    let start = Instant::now();
    let plan = plan(&estate, options);
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let s = &plan.summary;
    println!(
        "{ms:.1} {} {} {} {} {} {}",
        peak_rss_mib(),
        s.active_nodes,
        s.lower_bound_nodes,
        s.replicas_unplaced,
        s.active_nodes_before,
        plan.moves.len()
    );
}

fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}
