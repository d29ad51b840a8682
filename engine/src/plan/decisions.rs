//! A plan's decision per tenancy: placed (where, why, and why not elsewhere), unplaced or too
//! large (with the replicas left over), or running (where it stays or was re-packed to).

use std::collections::BTreeSet;

use super::output::*;
use crate::estate::Estate;
use crate::pack::Packing;
use crate::place::Outcome;

/// Every tenancy's decision, by name, and the replicas left unplaced: new tenancies by their
/// outcome, running ones where they are after the plan (re-packed, with `consolidate`).
pub(super) fn of(
    packing: &Packing,
    outcomes: Vec<Option<Outcome>>,
    consolidate: bool,
) -> (Vec<Decision>, Vec<Unplaced>) {
    let estate = packing.estate;
    let mut unplaced = Vec::new();
    let mut decisions: Vec<Option<Decision>> = outcomes
        .into_iter()
        .enumerate()
        .map(|(t, o)| o.map(|o| decision(estate, t, o, &mut unplaced)))
        .collect();
    let reason = if consolidate {
        "running; re-packed where that saved enough"
    } else {
        "running; stays where it is"
    };
    for (t, d) in decisions.iter_mut().enumerate() {
        if !estate.tenancies[t].observed.is_empty() {
            *d = Some(Decision {
                tenancy: estate.tenancies[t].key.clone(),
                outcome: DecisionOutcome::Running,
                clusters: Vec::new(),
                reason: reason.into(),
                excluded: Vec::new(),
            });
        }
        // Where it is after the plan: re-packing may have emptied a cluster it was first
        // put in.
        let placed = |d: &&mut Decision| {
            matches!(
                d.outcome,
                DecisionOutcome::Placed | DecisionOutcome::Running
            )
        };
        if let Some(d) = d.as_mut().filter(placed) {
            d.clusters = clusters_of(estate, &packing.placed[t]);
        }
    }
    let mut decisions: Vec<Decision> = decisions.into_iter().flatten().collect();
    decisions.sort_by(|a, b| a.tenancy.cmp(&b.tenancy));
    unplaced.sort_by(|a, b| (&a.tenancy, &a.workload).cmp(&(&b.tenancy, &b.workload)));
    (decisions, unplaced)
}

fn decision(estate: &Estate, t: usize, outcome: Outcome, unplaced: &mut Vec<Unplaced>) -> Decision {
    let tenancy = &estate.tenancies[t];
    let exclusions = |excluded: Vec<(usize, String)>| {
        excluded
            .into_iter()
            .map(|(c, reason)| Exclusion {
                cluster: estate.clusters[c].name.clone(),
                reason,
            })
            .collect::<Vec<_>>()
    };
    match outcome {
        Outcome::Placed {
            clusters,
            why,
            excluded,
        } => Decision {
            tenancy: tenancy.key.clone(),
            outcome: DecisionOutcome::Placed,
            clusters: clusters
                .iter()
                .map(|&c| estate.clusters[c].name.clone())
                .collect(),
            reason: why,
            excluded: exclusions(excluded),
        },
        Outcome::Unplaced {
            reason,
            excluded,
            too_large,
        } => {
            let excluded = exclusions(excluded);
            let detail = excluded
                .iter()
                .map(|r| format!("{}: {}", r.cluster, r.reason))
                .collect::<Vec<_>>()
                .join("; ");
            let full = if detail.is_empty() {
                reason.clone()
            } else {
                format!("{reason} ({detail})")
            };
            for w in &tenancy.workloads {
                unplaced.push(Unplaced {
                    tenancy: tenancy.key.clone(),
                    workload: w.name.clone(),
                    replicas: w.replicas,
                    reason: full.clone(),
                });
            }
            Decision {
                tenancy: tenancy.key.clone(),
                outcome: if too_large {
                    DecisionOutcome::TooLarge
                } else {
                    DecisionOutcome::Unplaced
                },
                clusters: Vec::new(),
                reason,
                excluded,
            }
        }
    }
}

pub(super) fn clusters_of(estate: &Estate, placed: &[crate::estate::Assigned]) -> Vec<String> {
    let set: BTreeSet<&str> = placed
        .iter()
        .map(|p| estate.cluster_of(p.node).name.as_str())
        .collect();
    set.into_iter().map(String::from).collect()
}
