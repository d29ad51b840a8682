//! `summary.lowerBoundNodes` against the SPEC's definition, computed here again from the plan's
//! own output and the snapshot's text alone (not the engine's estate): for cpu, memory and pod
//! slots, the fewest nodes whose usable room (`⌊(1 - headroom) × capacity⌋ - usage`; slots:
//! `pods - otherPods`, 110 when absent), taken largest first, hold the demand the plan placed
//! (each assignment's per-replica `cpuMillis`/`memoryBytes` times its replicas, one slot per
//! replica); the largest of the three. Generated estates of several sizes and shapes.

use colo_engine::estate::Estate;
use colo_engine::generate::{EstateShape, estate};
use colo_engine::plan::{Plan, PlanOptions, plan};
use colo_engine::snapshot::EstateSnapshot;

/// The fewest of `room` (largest first) whose sum reaches `total`; one more than there are
/// when all of them do not.
fn fewest(mut room: Vec<i64>, total: i64) -> usize {
    room.sort_unstable_by(|a, b| b.cmp(a));
    let mut sum = 0i64;
    for (taken, r) in room.iter().enumerate() {
        if sum >= total {
            return taken;
        }
        sum += (*r).max(0);
    }
    room.len() + usize::from(sum < total)
}

/// Usable room per node in cpu millis, memory bytes and pod slots, read from the snapshot.
fn rooms(snapshot: &EstateSnapshot) -> (Vec<i64>, Vec<i64>, Vec<i64>) {
    let (mut cpu, mut mem, mut pods) = (Vec::new(), Vec::new(), Vec::new());
    for c in &snapshot.clusters {
        let keep = 1.0 - c.spec.headroom.unwrap_or(0.2);
        for n in &c.nodes {
            let used_cpu = n.usage.as_ref().map_or(0, |u| u.cpu.cpu_millis().unwrap());
            let used_mem = n.usage.as_ref().map_or(0, |u| u.memory.bytes().unwrap());
            let cap_cpu = n.capacity.cpu.cpu_millis().unwrap() as f64;
            let cap_mem = n.capacity.memory.bytes().unwrap() as f64;
            cpu.push((keep * cap_cpu).floor() as i64 - used_cpu as i64);
            mem.push((keep * cap_mem).floor() as i64 - used_mem as i64);
            pods.push(n.pods.unwrap_or(110) as i64 - n.other_pods.unwrap_or(0) as i64);
        }
    }
    (cpu, mem, pods)
}

fn independent_bound(snapshot: &EstateSnapshot, plan: &Plan) -> usize {
    let sum = |f: &dyn Fn(&colo_engine::plan::Assignment) -> i64| -> i64 {
        plan.assignments
            .iter()
            .map(|a| f(a) * a.replicas as i64)
            .sum()
    };
    let (cpu, mem, pods) = rooms(snapshot);
    fewest(cpu, sum(&|a| a.cpu_millis))
        .max(fewest(mem, sum(&|a| a.memory_bytes)))
        .max(fewest(pods, sum(&|_| 1)))
}

fn check(shape: EstateShape, consolidate: bool) {
    check_snapshot(shape, estate(shape), consolidate);
}

fn check_snapshot(shape: EstateShape, snapshot: EstateSnapshot, consolidate: bool) {
    let estate = Estate::from_snapshot(&snapshot).expect("a generated estate is valid");
    let options = PlanOptions {
        consolidate,
        ..PlanOptions::default()
    };
    let plan = plan(&estate, options);
    assert!(!plan.assignments.is_empty(), "{shape:?}: nothing placed");
    let expected = independent_bound(&snapshot, &plan);
    assert_eq!(
        plan.summary.lower_bound_nodes, expected,
        "{shape:?} (consolidate {consolidate}): the plan's lower bound against the SPEC's"
    );
    assert!(
        plan.summary.active_nodes >= expected,
        "{shape:?}: {} active nodes, below the bound {expected}: the bound is not a bound",
        plan.summary.active_nodes
    );
}

#[test]
fn the_lower_bound_is_the_specs_on_constrained_estates_of_several_sizes() {
    for (tenancies, nodes) in [(40, 20), (300, 150), (1000, 480), (3000, 1440)] {
        check(EstateShape::new(tenancies, nodes), false);
    }
}

#[test]
fn the_lower_bound_is_the_specs_on_flat_pools_and_on_running_estates_consolidated() {
    let flat = EstateShape {
        constrained: false,
        ..EstateShape::new(1000, 500)
    };
    check(flat, false);
    let running = EstateShape {
        running: 0.6,
        seed: 7,
        ..EstateShape::new(1000, 480)
    };
    check(running, true);
    check(running, false);
}

#[test]
fn pod_slots_count_where_they_bind() {
    let shape = EstateShape::new(300, 150);
    let mut snapshot = estate(shape);
    for (i, n) in snapshot
        .clusters
        .iter_mut()
        .flat_map(|c| c.nodes.iter_mut())
        .enumerate()
    {
        n.pods = Some(if i % 2 == 0 { 8 } else { 14 });
        n.other_pods = Some(2);
    }
    let estate = Estate::from_snapshot(&snapshot).unwrap();
    let plan = plan(&estate, PlanOptions::default());
    let (cpu, _, pods) = rooms(&snapshot);
    let replicas: i64 = plan.assignments.iter().map(|a| a.replicas as i64).sum();
    let cpu_demand: i64 = plan
        .assignments
        .iter()
        .map(|a| a.cpu_millis * a.replicas as i64)
        .sum();
    assert!(
        fewest(pods, replicas) > fewest(cpu, cpu_demand),
        "the case is meant to be bound by pod slots"
    );
    check_snapshot(shape, snapshot, false);
}

#[test]
fn more_demand_than_the_estate_holds_is_one_node_more_than_it_has() {
    assert_eq!(fewest(vec![5, 3], 9), 3);
    assert_eq!(fewest(vec![5, 3], 8), 2);
    assert_eq!(fewest(vec![3, 5], 5), 1, "largest first");
    assert_eq!(
        fewest(vec![-2, 4], 4),
        1,
        "a node over its room gives nothing"
    );
    assert_eq!(fewest(vec![], 0), 0);
}
