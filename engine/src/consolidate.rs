//! The greedy re-pack: empty nodes one at a time (the emptiest first, whole clusters first) by
//! moving their replicas onto nodes that are already on, only where the saving pays for the
//! disruption; and rebalancing nodes full in one resource only. It improves a fresh placement
//! (with no threshold: greedy packing leaves a tail of half-empty nodes). The consolidation
//! of a running estate chooses its nodes as a set instead (`repack`). Moving a node's replicas
//! off it is *draining* it (docs/glossary.md).

use crate::constraints::per_site_limit;
use crate::estate::Res;
use crate::pack::{Heuristic, Packing};

/// One replica (or several) of a workload moving from one node to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Move {
    pub tenancy: usize,
    pub workload: usize,
    pub from: usize,
    pub to: usize,
    pub replicas: u32,
}

/// When emptying a node pays: its saving recurs every month, its moves' disruption is paid
/// once, so the two are compared over a horizon.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// A node is emptied only if, over the horizon, its saving beats the disruption of its
    /// moves by at least this much a month.
    pub min_monthly_saving: f64,
    /// What moving one replica costs, once, in the same money (restarts, a brief loss of
    /// capacity).
    pub disruption_cost_per_move: f64,
    /// Months over which a node's saving is set against its one-off disruption.
    pub horizon_months: f64,
}

impl Thresholds {
    /// For re-packing a plan nothing runs on yet: every freed node counts.
    pub const FREE: Thresholds = Thresholds {
        min_monthly_saving: 0.0,
        disruption_cost_per_move: 0.0,
        horizon_months: 1.0,
    };

    /// True when freeing a node that saves `monthly_saving` by moving `replicas` pays:
    /// (saving × horizon − disruption) / horizon ≥ the minimum monthly saving.
    pub fn pays(&self, monthly_saving: f64, replicas: u32) -> bool {
        let horizon = self.horizon_months.max(f64::MIN_POSITIVE);
        let disruption = replicas as f64 * self.disruption_cost_per_move;
        monthly_saving - disruption / horizon >= self.min_monthly_saving
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            min_monthly_saving: 5.0,
            disruption_cost_per_move: 1.0,
            horizon_months: 3.0,
        }
    }
}

/// What each tenancy may move to: eligible clusters in preference order, or None if it stays.
pub type Targets<'a> = &'a [Option<Vec<usize>>];

/// Empties as many nodes as it can; returns the moves in the order they are to be made.
pub fn consolidate(packing: &mut Packing, targets: Targets, thresholds: Thresholds) -> Vec<Move> {
    let estate = packing.estate;
    let mut active_in_cluster = vec![0usize; estate.clusters.len()];
    for n in 0..estate.nodes.len() {
        if packing.replicas_on(n) > 0 {
            active_in_cluster[estate.nodes[n].cluster] += 1;
        }
    }
    // Emptiest clusters first (so whole clusters can go), then the emptiest nodes.
    let mut candidates: Vec<usize> = (0..estate.nodes.len())
        .filter(|&n| packing.replicas_on(n) > 0)
        .collect();
    let used = |n: usize| {
        let (cpu, mem) = used_shares(packing.free(n), estate.nodes[n].room);
        cpu.max(mem)
    };
    candidates.sort_by(|&a, &b| {
        let key = |n: usize| {
            (
                active_in_cluster[estate.nodes[n].cluster],
                packing.replicas_on(n),
            )
        };
        key(a)
            .cmp(&key(b))
            .then(used(a).total_cmp(&used(b)))
            .then(estate.nodes[a].name.cmp(&estate.nodes[b].name))
    });
    let mut received = vec![false; estate.nodes.len()];
    let mut moves = Vec::new();
    let mut emptied = Vec::new();
    for node in candidates {
        if received[node] || packing.replicas_on(node) == 0 {
            continue;
        }
        if !thresholds.pays(packing.wake_cost(node).0, packing.replicas_on(node)) {
            continue;
        }
        if let Some(drained) = drain(packing, node, targets) {
            for m in &drained {
                received[m.to] = true;
            }
            moves.extend(drained);
            emptied.push(node);
        }
    }
    // Closed only while the pass ran (nothing moves back in); later work may wake them.
    for node in emptied {
        packing.close(node, false);
    }
    moves
}

/// Moves every replica off `node` onto open nodes, or changes nothing and returns None.
fn drain(packing: &mut Packing, node: usize, targets: Targets) -> Option<Vec<Move>> {
    let residents: Vec<(usize, usize)> = packing.workloads_on(node).to_vec();
    if residents.iter().any(|&(t, _)| targets[t].is_none()) {
        return None;
    }
    packing.close(node, true);
    let mark = packing.mark();
    let mut done: Vec<Move> = Vec::new();
    let mut ok = true;
    'residents: for &(t, w) in &residents {
        for _ in 0..packing.replicas_of(t, w, node) {
            let Some(to) = target(packing, t, w, node, targets[t].as_deref().unwrap_or(&[])) else {
                ok = false;
                break 'residents;
            };
            move_one(packing, &mut done, (t, w), node, to);
        }
    }
    if ok {
        packing.commit();
        return Some(done);
    }
    undo(packing, &done, mark);
    packing.close(node, false);
    None
}

/// Moves one replica of workload `w` of tenancy `t`, make-before-break (the new copy is placed
/// before the old one goes), adding it to the last move of `done` when that is the same one.
pub(crate) fn move_one(
    packing: &mut Packing,
    done: &mut Vec<Move>,
    (t, w): (usize, usize),
    from: usize,
    to: usize,
) {
    let demand = packing.estate.tenancies[t].workloads[w].demand;
    packing.put(to, demand);
    packing.record(t, w, to, 1);
    packing.take(from, demand);
    packing.unrecord(t, w, from, 1);
    match done.last_mut() {
        Some(m) if (m.tenancy, m.workload, m.from, m.to) == (t, w, from, to) => m.replicas += 1,
        _ => done.push(Move {
            tenancy: t,
            workload: w,
            from,
            to,
            replicas: 1,
        }),
    }
}

/// Takes back `done` (newest first) and everything journalled since `mark`.
pub(crate) fn undo(packing: &mut Packing, done: &[Move], mark: usize) {
    for m in done.iter().rev() {
        packing.unrecord(m.tenancy, m.workload, m.to, m.replicas);
        packing.record(m.tenancy, m.workload, m.from, m.replicas);
    }
    packing.rollback(mark);
}

/// The open node one replica of (t, w) moves to: its own cluster first, then the others it may
/// use, keeping any DualSite spread valid at every step.
/// Best fit whatever the placement heuristic: filling the fullest node that fits leaves the
/// others free to be emptied (first fit and alignment spread moves out and free fewer nodes).
pub(crate) fn target(
    packing: &Packing,
    t: usize,
    w: usize,
    from: usize,
    clusters: &[usize],
) -> Option<usize> {
    let estate = packing.estate;
    let tenancy = &estate.tenancies[t];
    let workload = &tenancy.workloads[w];
    let home = estate.nodes[from].cluster;
    let order = std::iter::once(home).chain(clusters.iter().copied().filter(|&c| c != home));
    for c in order {
        if !clusters.contains(&c) {
            continue;
        }
        if tenancy.dual_site && !spread_holds(packing, t, w, estate.nodes[from].cluster, c) {
            continue;
        }
        if let Some(node) = packing.choose_open(c, workload.demand, Heuristic::BestFit, from) {
            return Some(node);
        }
    }
    None
}

/// Would moving one replica of (t, w) from cluster `from` to cluster `to` keep the spread?
/// During the move both copies exist, so the target site must stay within its limit.
fn spread_holds(packing: &Packing, t: usize, w: usize, from: usize, to: usize) -> bool {
    let estate = packing.estate;
    let (from_site, to_site) = (estate.clusters[from].site, estate.clusters[to].site);
    if from_site == to_site {
        return true;
    }
    let limit = per_site_limit(estate.tenancies[t].workloads[w].replicas);
    let mut counts = packing.site_counts(t, w);
    let at = |counts: &[(usize, u32)], s: usize| {
        counts.iter().find(|(x, _)| *x == s).map_or(0, |(_, c)| *c)
    };
    if at(&counts, to_site) + 1 > limit {
        return false;
    }
    for (s, c) in counts.iter_mut() {
        if *s == from_site {
            *c -= 1;
        }
    }
    if at(&counts, to_site) == 0 {
        counts.push((to_site, 1));
    }
    counts.iter().filter(|(_, c)| *c > 0).count() >= 2
}

/// Shares of a node's room in use, (cpu, memory); a node with no room counts as full.
fn used_shares(free: Res, room: Res) -> (f64, f64) {
    let used = |f: i64, r: i64| {
        if r > 0 {
            1.0 - f as f64 / r as f64
        } else {
            1.0
        }
    };
    (used(free.cpu, room.cpu), used(free.mem, room.mem))
}

/// How lopsided a node is: share of its room used in memory minus that in cpu.
fn lean_of(free: Res, room: Res) -> f64 {
    let (cpu, mem) = used_shares(free, room);
    mem - cpu
}

fn lean(packing: &Packing, node: usize) -> f64 {
    lean_of(packing.free(node), packing.estate.nodes[node].room)
}

/// Greedy packing fills some nodes in memory and others in cpu, leaving room of one kind
/// nobody can use. Swapping a memory-heavy replica on the first kind for a cpu-heavy one on
/// the second evens both out, after which `consolidate` can empty more nodes. Only replicas
/// that may move, within one cluster (so every spread is kept). Returns the swaps made.
pub fn rebalance(packing: &mut Packing, targets: Targets) -> usize {
    const LOPSIDED: f64 = 0.1;
    const PARTNERS: usize = 64;
    let estate = packing.estate;
    let mut swaps = 0;
    for c in 0..estate.clusters.len() {
        let movable = |t: usize| targets[t].as_ref().is_some_and(|cs| cs.contains(&c));
        let mut open: Vec<(f64, usize)> = packing
            .open_nodes(c)
            .iter()
            .map(|&n| (lean(packing, n), n))
            .collect();
        open.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let memory_full: Vec<usize> = open
            .iter()
            .filter(|(l, _)| *l > LOPSIDED)
            .map(|&(_, n)| n)
            .collect();
        let cpu_full: Vec<usize> = open
            .iter()
            .rev()
            .filter(|(l, _)| *l < -LOPSIDED)
            .map(|&(_, n)| n)
            .take(PARTNERS)
            .collect();
        for &a in &memory_full {
            for &b in &cpu_full {
                if lean(packing, a) <= LOPSIDED {
                    break;
                }
                if lean(packing, b) >= -LOPSIDED {
                    continue;
                }
                let Some((ta, wa, tb, wb)) = best_swap(packing, a, b, &movable) else {
                    continue;
                };
                let (da, db) = (
                    estate.tenancies[ta].workloads[wa].demand,
                    estate.tenancies[tb].workloads[wb].demand,
                );
                packing.take(a, da);
                packing.unrecord(ta, wa, a, 1);
                packing.take(b, db);
                packing.unrecord(tb, wb, b, 1);
                packing.put(a, db);
                packing.record(tb, wb, a, 1);
                packing.put(b, da);
                packing.record(ta, wa, b, 1);
                swaps += 1;
            }
        }
    }
    packing.commit();
    swaps
}

/// The swap of one replica on `a` with one on `b` that evens both nodes out the most.
fn best_swap(
    packing: &Packing,
    a: usize,
    b: usize,
    movable: &dyn Fn(usize) -> bool,
) -> Option<(usize, usize, usize, usize)> {
    let estate = packing.estate;
    let (fa, fb) = (packing.free(a), packing.free(b));
    let (ra, rb) = (estate.nodes[a].room, estate.nodes[b].room);
    let before = lean_of(fa, ra).abs() + lean_of(fb, rb).abs();
    let mut best: Option<(f64, (usize, usize, usize, usize))> = None;
    for &(ta, wa) in packing.workloads_on(a) {
        if !movable(ta) {
            continue;
        }
        let da = estate.tenancies[ta].workloads[wa].demand;
        for &(tb, wb) in packing.workloads_on(b) {
            if !movable(tb) {
                continue;
            }
            let db = estate.tenancies[tb].workloads[wb].demand;
            if da.mem <= db.mem || db.cpu <= da.cpu {
                continue;
            }
            let (na, nb) = (fa + da - db, fb + db - da);
            if na.cpu < 0 || na.mem < 0 || nb.cpu < 0 || nb.mem < 0 {
                continue;
            }
            let gain = before - (lean_of(na, ra).abs() + lean_of(nb, rb).abs());
            if gain > 1e-6 && best.is_none_or(|(g, _)| gain > g) {
                best = Some((gain, (ta, wa, tb, wb)));
            }
        }
    }
    best.map(|(_, swap)| swap)
}
