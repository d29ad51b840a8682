//! Consolidation of a running estate by choosing the nodes to drain as a set, not one by one.
//!
//! Nodes are ranked for draining: the least room per idle watt first (the big, efficient
//! machines stay on), then nodes of the least loaded clusters (so whole clusters can go), then
//! those with the fewest replicas (fewest moves), then the least used. The longest prefix of
//! that ranking whose replicas all fit on the nodes left is found by bisection: its replicas
//! are re-placed largest first, best fit, onto nodes that stay on, each move
//! make-before-break. Then the next nodes are tried one at a time, where replicas moved a
//! moment ago may move again (only when that frees a node). A node is drained only when it
//! pays: its monthly saving, less the one-off disruption of its moves spread over the
//! horizon, is at least the minimum monthly saving (`Thresholds::pays`).
//!
//! Moves only ever land on nodes that stay on, so replaying them in order never needs a node
//! that is not running, and each move's target has room for the new copy while the old runs.

use crate::consolidate::{Move, Targets, Thresholds, move_one, target, undo};
use crate::pack::Packing;

/// Empties as many nodes as pays; returns the moves in the order they are to be made.
pub fn repack(packing: &mut Packing, targets: Targets, thresholds: Thresholds) -> Vec<Move> {
    let ranked = ranked(packing, targets, thresholds);
    // Bisection for the longest prefix that drains whole (drainable is near-monotone in it;
    // the one-by-one pass below picks up what bisection steps over).
    let (mut lo, mut hi) = (0, ranked.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        match drain_all(packing, &ranked[..mid], targets, false) {
            Some(_) => lo = mid,
            None => hi = mid - 1,
        }
    }
    let mut moves = drain_all(packing, &ranked[..lo], targets, true).unwrap_or_default();
    let mut emptied = ranked[..lo].to_vec();
    for &node in &ranked[lo..] {
        // It may have received replicas since it was ranked: does draining it still pay?
        if !pays(packing, node, thresholds) {
            continue;
        }
        if let Some(more) = drain_all(packing, &[node], targets, true) {
            moves.extend(more);
            emptied.push(node);
        }
    }
    // Closed only while the pass ran (nothing moves back in); later work may wake them.
    for node in emptied {
        packing.close(node, false);
    }
    moves
}

/// True when freeing `node` pays for moving the replicas on it now (`Thresholds::pays`).
fn pays(packing: &Packing, node: usize, thresholds: Thresholds) -> bool {
    thresholds.pays(packing.wake_cost(node).0, packing.replicas_on(node))
}

/// Active nodes worth draining, in the order they are to be drained.
fn ranked(packing: &Packing, targets: Targets, thresholds: Thresholds) -> Vec<usize> {
    let estate = packing.estate;
    let active: Vec<usize> = (0..estate.nodes.len())
        .filter(|&n| packing.replicas_on(n) > 0)
        .collect();
    let mut cluster_load = vec![0.0f64; estate.clusters.len()];
    for &n in &active {
        cluster_load[estate.nodes[n].cluster] += used(packing, n);
    }
    let mut ranked: Vec<usize> = active
        .into_iter()
        .filter(|&n| {
            let movable = packing
                .workloads_on(n)
                .iter()
                .all(|&(t, _)| targets[t].is_some());
            movable && pays(packing, n, thresholds)
        })
        .collect();
    let watts = |n: usize| estate.cluster_of(n).power.idle_watts.max(1.0);
    let room_per_watt = |n: usize| estate.nodes[n].room.cpu as f64 / watts(n);
    ranked.sort_by(|&a, &b| {
        let replicas = |n: usize| packing.replicas_on(n);
        let load = |n: usize| cluster_load[estate.nodes[n].cluster];
        room_per_watt(a)
            .total_cmp(&room_per_watt(b))
            .then(load(a).total_cmp(&load(b)))
            .then(replicas(a).cmp(&replicas(b)))
            .then(used(packing, a).total_cmp(&used(packing, b)))
            .then(estate.nodes[a].name.cmp(&estate.nodes[b].name))
    });
    ranked
}

/// The larger of a node's used shares of cpu and memory.
fn used(packing: &Packing, n: usize) -> f64 {
    let (free, room) = (packing.free(n), packing.estate.nodes[n].room);
    let share = |f: i64, r: i64| {
        if r > 0 {
            1.0 - f as f64 / r as f64
        } else {
            1.0
        }
    };
    share(free.cpu, room.cpu).max(share(free.mem, room.mem))
}

/// Moves every replica off `nodes` onto nodes that stay on, largest first, best fit. Keeps the
/// result when `keep` (the drained nodes stay closed) and returns the moves; otherwise, or
/// when something does not fit, changes nothing (None when it did not fit).
fn drain_all(
    packing: &mut Packing,
    nodes: &[usize],
    targets: Targets,
    keep: bool,
) -> Option<Vec<Move>> {
    let estate = packing.estate;
    let mut replicas: Vec<(usize, usize, usize)> = Vec::new();
    for &n in nodes {
        packing.close(n, true);
        for &(t, w) in packing.workloads_on(n) {
            for _ in 0..packing.replicas_of(t, w, n) {
                replicas.push((t, w, n));
            }
        }
    }
    let size = |&(t, w, n): &(usize, usize, usize)| {
        let d = estate.tenancies[t].workloads[w].demand;
        let room = estate.nodes[n].room;
        let share = |x: i64, r: i64| if r > 0 { x as f64 / r as f64 } else { 0.0 };
        share(d.cpu, room.cpu).max(share(d.mem, room.mem))
    };
    replicas.sort_by(|a, b| size(b).total_cmp(&size(a)).then(a.cmp(b)));
    let mark = packing.mark();
    let mut done: Vec<Move> = Vec::new();
    let mut fitted = true;
    for &(t, w, from) in &replicas {
        let clusters = targets[t].as_deref().unwrap_or(&[]);
        let Some(to) = target(packing, t, w, from, clusters) else {
            fitted = false;
            break;
        };
        move_one(packing, &mut done, (t, w), from, to);
    }
    if fitted && keep {
        packing.commit();
        return Some(done);
    }
    undo(packing, &done, mark);
    for &n in nodes {
        packing.close(n, false);
    }
    fitted.then_some(done)
}
