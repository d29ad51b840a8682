//! Consolidation: the re-pack of a running estate, choosing the nodes to drain as a set, not
//! one by one (the greedy re-pack of a fresh placement is `consolidate`).
//!
//! Nodes are ranked for draining: the least room per idle watt first (the big, efficient
//! machines stay on), then nodes of the least loaded clusters (so whole clusters can go), then
//! those with the fewest replicas (fewest moves), then the least used; last of all, the nodes
//! kept for work that cannot go just anywhere (a cluster's only-here work, a site's DualSite
//! replicas). The longest prefix of that ranking whose replicas all fit on the nodes left is
//! found by bisection: its replicas are re-placed the most constrained first (one cluster,
//! then DualSite), then the largest, best fit, onto nodes that stay on, each move
//! make-before-break. Then the next nodes are tried one at a time, where replicas moved a
//! moment ago may move again (only when that frees a node). A node is drained only when it
//! pays: its monthly saving, less the one-off disruption of its moves spread over the
//! horizon, is at least the minimum monthly saving (`Thresholds::pays`).
//!
//! Moves only ever land on nodes that stay on, so replaying them in order never needs a node
//! that is not running, and each move's target has room for the new copy while the old runs.

use crate::consolidate::{Move, Targets, Thresholds, move_one, target, undo};
use crate::estate::Res;
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
    let watts = |n: usize| estate.cluster_of(n).power.server.idle_watts.max(1.0);
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
    // The nodes a cluster must keep for work that may run nowhere else go last.
    let reserved = reserved(packing, targets, &ranked);
    let (last, first): (Vec<usize>, Vec<usize>) =
        ranked.into_iter().partition(|n| reserved.contains(n));
    first.into_iter().chain(last).collect()
}

/// Nodes kept for work that cannot go just anywhere: per cluster, enough of its nodes to
/// hold the work that may run in no other cluster; per site, enough to hold the DualSite
/// replicas there (a spread lets each go only where its workload has room under its limit).
/// The last in `ranked` (most worth keeping) are chosen, with a fifth to spare.
fn reserved(packing: &Packing, targets: Targets, ranked: &[usize]) -> Vec<usize> {
    let estate = packing.estate;
    let mut cluster_need = vec![Res::ZERO; estate.clusters.len()];
    let mut site_need = vec![Res::ZERO; estate.sites.len()];
    for (t, placed) in packing.placed.iter().enumerate() {
        let Some(clusters) = targets[t].as_deref() else {
            continue;
        };
        for p in placed {
            let demand = estate.tenancies[t].workloads[p.workload]
                .demand
                .times(p.replicas);
            if let [only] = clusters {
                cluster_need[*only] += demand;
            } else if estate.tenancies[t].dual_site {
                site_need[estate.cluster_of(p.node).site] += demand;
            }
        }
    }
    let enough = |held: Res, need: Res| {
        let spare = |h: i64, n: i64| h.saturating_mul(5) >= n.saturating_mul(6);
        spare(held.cpu, need.cpu) && spare(held.mem, need.mem) && spare(held.pods, need.pods)
    };
    let mut cluster_held = vec![Res::ZERO; estate.clusters.len()];
    let mut site_held = vec![Res::ZERO; estate.sites.len()];
    let mut out = Vec::new();
    for &n in ranked.iter().rev() {
        let (c, site) = (estate.nodes[n].cluster, estate.cluster_of(n).site);
        let short =
            !enough(cluster_held[c], cluster_need[c]) || !enough(site_held[site], site_need[site]);
        if short {
            cluster_held[c] += estate.nodes[n].room;
            site_held[site] += estate.nodes[n].room;
            out.push(n);
        }
    }
    out
}

/// The largest of a node's used shares of cpu, memory and pod slots.
fn used(packing: &Packing, n: usize) -> f64 {
    let (free, room) = (packing.free(n), packing.estate.nodes[n].room);
    let share = |f: i64, r: i64| {
        if r > 0 {
            1.0 - f as f64 / r as f64
        } else {
            1.0
        }
    };
    share(free.cpu, room.cpu)
        .max(share(free.mem, room.mem))
        .max(share(free.pods, room.pods))
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
        share(d.cpu, room.cpu)
            .max(share(d.mem, room.mem))
            .max(share(d.pods, room.pods))
    };
    // The most constrained first (one cluster, then a DualSite spread, then by how few
    // clusters it may use), then the largest.
    let choices = |&(t, _, _): &(usize, usize, usize)| {
        let clusters = targets[t].as_ref().map_or(0, Vec::len);
        let class = match (clusters, estate.tenancies[t].dual_site) {
            (0 | 1, _) => 0,
            (_, true) => 1,
            _ => 2,
        };
        (class, clusters)
    };
    replicas.sort_by(|a, b| {
        choices(a)
            .cmp(&choices(b))
            .then(size(b).total_cmp(&size(a)))
            .then(a.cmp(b))
    });
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
