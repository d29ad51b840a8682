//! Quote benchmark: how long a quote takes and how large its answer is, from the example
//! inventory to the largest one Colo takes (1,000 groups of 63-character names that are the
//! quote's own workload names over and over, 10,000 servers), on the example estate. The
//! operator's time budget for one quote (20 s) is set against these. Figures go to
//! docs/benchmarks.md.
//!
//!   cargo bench -p colo-engine --bench quote
//!
//! Times are medians of 7 runs, one core (the engine is single-threaded).

use std::time::Instant;

use colo_engine::EstateSnapshot;
use colo_engine::quote::inventory::{MAX_GROUPS, MAX_NAME, MAX_SERVERS};
use colo_engine::quote::{Inventory, Needs, Room, ServerGroup, quote};

const RUNS: usize = 7;

fn example(path: &str) -> String {
    let path = format!("{}/../examples/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

/// `groups` groups of `servers / groups` servers each, named with the quote's own workload
/// names (`group-1group-1…`) up to `name` characters.
fn inventory(groups: usize, servers: u64, name: usize) -> Inventory {
    let names = |i: usize| {
        let text = format!("g{i}-") + &"group-1".repeat(name / 7 + 1);
        text.chars().take(name).collect::<String>()
    };
    Inventory {
        agency: "prospect".into(),
        display_name: None,
        room: Room::default(),
        needs: Needs {
            classification: colo_api::Classification::Official,
            regions: vec![],
            resilience: colo_api::Resilience::DualSite,
        },
        servers: (0..groups)
            .map(|i| ServerGroup {
                name: names(i),
                count: (servers / groups as u64).max(1) as u32,
                cores: 4.0,
                memory_gib: 16.0,
                cpu_average_percent: 10.0,
                cpu_p95_percent: 30.0,
                memory_average_percent: 40.0,
                memory_p95_percent: 50.0,
                idle_watts: None,
                max_watts: None,
                hardware_cost_per_year: Some(1200.0),
            })
            .collect(),
    }
}

fn row(what: &str, estate: &EstateSnapshot, inv: &Inventory) {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        let q = quote(estate, inv).expect("quoted");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        bytes = serde_json::to_string(&q).unwrap().len();
    }
    times.sort_by(f64::total_cmp);
    let servers: u64 = inv.servers.iter().map(|s| u64::from(s.count)).sum();
    println!(
        "| {what} | {} | {servers} | {:.1} | {:.1} |",
        inv.servers.len(),
        times[RUNS / 2],
        bytes as f64 / 1024.0
    );
}

fn main() {
    let estate = EstateSnapshot::from_yaml(&example("snapshots/local-estate.yaml")).unwrap();
    println!("| inventory | groups | servers | quote ms (median of {RUNS}) | answer KiB |");
    println!("|---|---|---|---|---|");
    let fenland = Inventory::from_yaml(&example("quote/fenland-council.yaml")).unwrap();
    row("examples/quote/fenland-council.yaml", &estate, &fenland);
    row(
        "100 groups, names of 63",
        &estate,
        &inventory(100, 1_000, MAX_NAME),
    );
    row(
        "the largest taken: 1,000 groups, names of 63",
        &estate,
        &inventory(MAX_GROUPS, MAX_SERVERS, MAX_NAME),
    );
}
