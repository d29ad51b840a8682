//! `plan`: the engine's one entry point. Snapshot in, plan out, every decision with its reasons.
//!
//! Order of work: take what runs as it is; with `consolidate`, empty what can be emptied; place
//! the new tenancies, largest first; re-pack the emptiest nodes the new ones opened; account.

mod decisions;
mod figures;
mod output;

use std::collections::BTreeSet;

use crate::consolidate::{self, Thresholds};
use crate::constraints::exclusion;
use crate::estate::Estate;
use crate::pack::{Heuristic, Packing};
use crate::place::{self, Outcome, Placer};
use crate::repack;
pub use figures::lower_bound_nodes;
pub use output::*;

/// Plans the estate. Pure: the same estate and options always give the same plan.
pub fn plan(estate: &Estate, options: PlanOptions) -> Plan {
    let mut packing = running_packing(estate);
    let active_before = packing.active_nodes();
    let mut moves = Vec::new();
    let mut consolidation = None;
    if options.consolidate {
        let was_on: Vec<bool> = (0..estate.nodes.len())
            .map(|n| packing.replicas_on(n) > 0)
            .collect();
        let targets = consolidation_targets(estate);
        moves = repack::repack(&mut packing, &targets, options.thresholds);
        consolidation = Some(figures::priced(
            &packing,
            &was_on,
            &moves,
            options.thresholds,
        ));
    }
    let outcomes = place_new(&mut packing, options);
    let (decisions, unplaced) = decisions::of(&packing, outcomes, options.consolidate);
    let (agencies, month) = figures::agencies(estate, &packing);
    let mut plan = Plan {
        assignments: figures::assignments(estate, &packing),
        unplaced,
        moves: moves.iter().map(|m| figures::planned(estate, m)).collect(),
        summary: Summary::default(),
        agencies,
        decisions,
        clusters: figures::clusters(estate, &packing),
    };
    plan.summary = figures::summary(&plan, &packing, &month, active_before, options);
    plan.summary.consolidation = consolidation;
    plan
}

/// Places the tenancies not running yet, largest first (then by name), and with `improve`
/// re-packs the nodes they opened and tries again those that did not fit.
fn place_new(packing: &mut Packing, options: PlanOptions) -> Vec<Option<Outcome>> {
    let estate = packing.estate;
    let reference = crate::estate::reference_capacity(estate);
    let mut fresh: Vec<usize> = (0..estate.tenancies.len())
        .filter(|&t| estate.tenancies[t].observed.is_empty())
        .collect();
    let size = |t: usize| {
        estate.tenancies[t]
            .workloads
            .iter()
            .map(|w| crate::estate::size_key(reference, w.demand))
            .max()
            .unwrap_or(0)
    };
    fresh.sort_by(|&a, &b| {
        size(b)
            .cmp(&size(a))
            .then(estate.tenancies[a].key.cmp(&estate.tenancies[b].key))
    });
    let mut outcomes: Vec<Option<Outcome>> = vec![None; estate.tenancies.len()];
    place_all(packing, options.heuristic, &fresh, &mut outcomes);
    if options.improve {
        improve(packing);
        // The re-pack may have made room for what did not fit the first time.
        let retry: Vec<usize> = fresh
            .iter()
            .copied()
            .filter(|&t| matches!(outcomes[t], Some(Outcome::Unplaced { .. })))
            .collect();
        if !retry.is_empty() && place_all(packing, options.heuristic, &retry, &mut outcomes) > 0 {
            improve(packing);
        }
    }
    outcomes
}
/// Places `tenancies` in order, recording each outcome; returns how many were placed.
fn place_all(
    packing: &mut Packing,
    heuristic: Heuristic,
    tenancies: &[usize],
    outcomes: &mut [Option<Outcome>],
) -> usize {
    let mut placer = Placer::new(packing, heuristic);
    let mut placed = 0;
    for &t in tenancies {
        let outcome = placer.place(t);
        placed += matches!(outcome, Outcome::Placed { .. }) as usize;
        outcomes[t] = Some(outcome);
    }
    placed
}

/// Re-packs new tenancies within the clusters they were placed in: empty the emptiest nodes,
/// then even out nodes full in one resource only and empty what that made room for.
fn improve(packing: &mut Packing) {
    let estate = packing.estate;
    let targets: Vec<Option<Vec<usize>>> = (0..estate.tenancies.len())
        .map(|t| {
            if !estate.tenancies[t].observed.is_empty() {
                return None;
            }
            let used: BTreeSet<usize> = packing.placed[t]
                .iter()
                .map(|p| estate.nodes[p.node].cluster)
                .collect();
            Some(used.into_iter().collect())
        })
        .collect();
    consolidate::consolidate(packing, &targets, Thresholds::FREE);
    for _ in 0..2 {
        if consolidate::rebalance(packing, &targets) == 0 {
            break;
        }
        consolidate::consolidate(packing, &targets, Thresholds::FREE);
    }
}

/// The estate as it runs: every observed assignment in place.
pub fn running_packing(estate: &Estate) -> Packing<'_> {
    let mut packing = Packing::new(estate);
    for (t, tenancy) in estate.tenancies.iter().enumerate() {
        for p in &tenancy.observed {
            for _ in 0..p.replicas {
                packing.put(p.node, tenancy.workloads[p.workload].demand);
            }
            packing.record(t, p.workload, p.node, p.replicas);
        }
    }
    packing.commit();
    packing
}

/// What each running tenancy may move to in a consolidation (the clusters it is eligible for,
/// most preferred first); None for a tenancy not running.
pub fn consolidation_targets(estate: &Estate) -> Vec<Option<Vec<usize>>> {
    let preference = place::cluster_preference(estate);
    let eligible = |t: usize| -> Vec<usize> {
        let mut clusters: Vec<usize> = (0..estate.clusters.len())
            .filter(|&c| exclusion(estate, &estate.tenancies[t], c).is_none())
            .collect();
        clusters.sort_by_key(|&c| preference[c]);
        clusters
    };
    (0..estate.tenancies.len())
        .map(|t| (!estate.tenancies[t].observed.is_empty()).then(|| eligible(t)))
        .collect()
}
