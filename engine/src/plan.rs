//! `plan`: the engine's one entry point. Snapshot in, plan out, every decision with its reasons.
//!
//! Order of work: take what runs as it is; with `consolidate`, empty what can be emptied; place
//! the new tenancies, largest first; re-pack the emptiest nodes the new ones opened; account.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::accounting;
use crate::consolidate::{self, Thresholds};
use crate::constraints::refusal;
use crate::estate::{Estate, Res};
use crate::pack::{Heuristic, Packing};
use crate::place::{self, Outcome, Placer};
use crate::repack;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlanOptions {
    pub heuristic: Heuristic,
    /// Re-pack the running estate (moves), not only place new tenancies.
    pub consolidate: bool,
    /// Re-pack the emptiest nodes after greedy placement of new tenancies.
    pub improve: bool,
    pub thresholds: Thresholds,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            heuristic: Heuristic::DotProduct,
            consolidate: false,
            improve: true,
            thresholds: Thresholds::default(),
        }
    }
}

/// The SPEC's Plan, plus `decisions` (why each tenancy is where it is) and a few summary extras.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub assignments: Vec<Assignment>,
    pub unplaced: Vec<Unplaced>,
    pub moves: Vec<PlannedMove>,
    pub summary: Summary,
    pub agencies: Vec<AgencyFigures>,
    pub decisions: Vec<Decision>,
    pub clusters: Vec<ClusterFigures>,
}

/// Per cluster after the plan (beyond the SPEC's shape; `colo plan` prints it as a table).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterFigures {
    pub cluster: String,
    pub site: String,
    pub active_nodes: usize,
    pub total_nodes: usize,
    /// Requested (planned) cpu over the capacity of its active nodes.
    pub requested_cpu_ratio: f64,
    /// Measured cpu (tenancies and system) over the capacity of its active nodes.
    pub measured_cpu_ratio: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    pub tenancy: String,
    pub workload: String,
    pub cluster: String,
    pub site: String,
    pub node: String,
    pub replicas: u32,
    /// Per-replica demand used (and requested in the member cluster).
    pub cpu_millis: i64,
    pub memory_bytes: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unplaced {
    pub tenancy: String,
    pub workload: String,
    pub replicas: u32,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedMove {
    pub tenancy: String,
    pub workload: String,
    /// `cluster/node`.
    pub from: String,
    pub to: String,
    pub replicas: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub active_nodes: usize,
    pub lower_bound_nodes: usize,
    pub clusters_used: usize,
    pub shared_k_wh_per_month: f64,
    pub standalone_k_wh_per_month: f64,
    // Beyond the SPEC's summary:
    pub total_nodes: usize,
    pub active_nodes_before: usize,
    pub replicas_placed: u64,
    pub replicas_unplaced: u64,
    pub shared_cost_per_month: f64,
    pub standalone_cost_per_month: f64,
    pub unattributed_k_wh_per_month: f64,
    /// Nodes with no tenancy, in standby: energy and cost not billed to any agency.
    pub spare_k_wh_per_month: f64,
    pub spare_cost_per_month: f64,
    pub heuristic: String,
    /// With `--consolidate`: what emptying nodes saves and what its moves cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consolidation: Option<ConsolidationFigures>,
}

/// A consolidation priced: the saving recurs each month, the disruption is paid once.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsolidationFigures {
    pub nodes_freed: usize,
    /// The nodes emptied, as `cluster/node`, in estate order.
    #[serde(default)]
    pub freed_nodes: Vec<String>,
    /// Clusters whose every node is then empty (they were not before).
    #[serde(default)]
    pub clusters_freed: Vec<String>,
    /// Idle energy of the freed nodes above standby, a month.
    #[serde(default)]
    pub k_wh_saved_per_month: f64,
    pub replicas_moved: u64,
    /// Idle power of the freed nodes above standby, a month.
    pub saving_per_month: f64,
    pub carbon_kg_saved_per_month: f64,
    /// Replicas moved × the disruption cost per move, once.
    pub disruption_cost: f64,
    pub horizon_months: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgencyFigures {
    pub agency: String,
    pub cost_per_month: f64,
    pub standalone_cost_per_month: f64,
    pub k_wh_per_month: f64,
    pub standalone_k_wh_per_month: f64,
    pub carbon_kg_per_month: f64,
    pub standalone_carbon_kg_per_month: f64,
    // Beyond the SPEC's figures:
    pub cost_centre: String,
    pub savings_per_month: f64,
    /// Of `kWhPerMonth`, the agency's pro-rata share of energy no one uses directly.
    pub unattributed_k_wh_per_month: f64,
    pub standalone_servers: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub tenancy: String,
    pub outcome: DecisionOutcome,
    pub clusters: Vec<String>,
    pub reason: String,
    pub rejected: Vec<Rejection>,
}

/// What became of a tenancy in a plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionOutcome {
    /// Placed by this plan.
    Placed,
    /// Already running, kept where it is.
    #[default]
    Running,
    /// No room that its constraints allow, now.
    Unplaced,
    /// A replica is larger than every node it may use: no room will ever be freed for it.
    #[serde(rename = "tooLarge")]
    TooLarge,
}

impl std::fmt::Display for DecisionOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DecisionOutcome::Placed => "placed",
            DecisionOutcome::Running => "running",
            DecisionOutcome::Unplaced => "unplaced",
            DecisionOutcome::TooLarge => "too large",
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    pub cluster: String,
    pub reason: String,
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
            .filter(|&c| refusal(estate, &estate.tenancies[t], c).is_none())
            .collect();
        clusters.sort_by_key(|&c| preference[c]);
        clusters
    };
    (0..estate.tenancies.len())
        .map(|t| (!estate.tenancies[t].observed.is_empty()).then(|| eligible(t)))
        .collect()
}

/// The saving of the nodes a consolidation freed and the disruption of its moves.
fn priced(
    packing: &Packing,
    was_on: &[bool],
    moves: &[consolidate::Move],
    thresholds: Thresholds,
) -> ConsolidationFigures {
    let freed: Vec<usize> = (0..was_on.len())
        .filter(|&n| was_on[n] && packing.replicas_on(n) == 0)
        .collect();
    let (kwh, cost, grams) = freed.iter().fold((0.0, 0.0, 0.0), |(k, c, g), &n| {
        let (kwh, cost, grams) = packing.wake_energy(n);
        (k + kwh, c + cost, g + grams)
    });
    let estate = packing.estate;
    let clusters_freed = estate
        .clusters
        .iter()
        .filter(|c| {
            let mut nodes = c.nodes.clone();
            nodes.clone().any(|n| was_on[n]) && nodes.all(|n| packing.replicas_on(n) == 0)
        })
        .map(|c| c.name.clone())
        .collect();
    let replicas_moved: u64 = moves.iter().map(|m| m.replicas as u64).sum();
    ConsolidationFigures {
        nodes_freed: freed.len(),
        freed_nodes: freed.iter().map(|&n| node_path(estate, n)).collect(),
        clusters_freed,
        k_wh_saved_per_month: round(kwh),
        replicas_moved,
        saving_per_month: round(cost),
        carbon_kg_saved_per_month: round(grams / 1000.0),
        disruption_cost: round(replicas_moved as f64 * thresholds.disruption_cost_per_move),
        horizon_months: thresholds.horizon_months,
    }
}

/// Plans the estate. Pure: the same estate and options always give the same plan.
pub fn plan(estate: &Estate, options: PlanOptions) -> Plan {
    let mut packing = running_packing(estate);
    let running: Vec<usize> = (0..estate.tenancies.len())
        .filter(|&t| !estate.tenancies[t].observed.is_empty())
        .collect();
    let active_before = packing.active_nodes();
    let mut moves = Vec::new();
    let mut consolidation = None;
    if options.consolidate {
        let targets = consolidation_targets(estate);
        let was_on: Vec<bool> = (0..estate.nodes.len())
            .map(|n| packing.replicas_on(n) > 0)
            .collect();
        moves = repack::repack(&mut packing, &targets, options.thresholds);
        consolidation = Some(priced(&packing, &was_on, &moves, options.thresholds));
    }

    let reference = place::reference_capacity(estate);
    let mut fresh: Vec<usize> = (0..estate.tenancies.len())
        .filter(|&t| estate.tenancies[t].observed.is_empty())
        .collect();
    let size = |t: usize| {
        estate.tenancies[t]
            .workloads
            .iter()
            .map(|w| place::size_key(reference, w.demand))
            .max()
            .unwrap_or(0)
    };
    fresh.sort_by(|&a, &b| {
        size(b)
            .cmp(&size(a))
            .then(estate.tenancies[a].key.cmp(&estate.tenancies[b].key))
    });
    let mut outcomes: Vec<Option<Outcome>> = vec![None; estate.tenancies.len()];
    place_all(&mut packing, options.heuristic, &fresh, &mut outcomes);
    if options.improve {
        improve(&mut packing);
        // The re-pack may have made room for what did not fit the first time.
        let retry: Vec<usize> = fresh
            .iter()
            .copied()
            .filter(|&t| matches!(outcomes[t], Some(Outcome::Unplaced { .. })))
            .collect();
        if !retry.is_empty()
            && place_all(&mut packing, options.heuristic, &retry, &mut outcomes) > 0
        {
            improve(&mut packing);
        }
    }
    let mut unplaced = Vec::new();
    let mut decisions: Vec<Option<Decision>> = outcomes
        .into_iter()
        .enumerate()
        .map(|(t, o)| o.map(|o| decision(estate, t, o, &mut unplaced)))
        .collect();
    for &t in &running {
        let clusters = clusters_of(estate, &packing.placed[t]);
        let reason = if options.consolidate {
            "running; re-packed where that saved enough"
        } else {
            "running; stays where it is"
        };
        decisions[t] = Some(Decision {
            tenancy: estate.tenancies[t].key.clone(),
            outcome: DecisionOutcome::Running,
            clusters,
            reason: reason.into(),
            rejected: Vec::new(),
        });
    }
    for (t, d) in decisions.iter_mut().enumerate() {
        if let Some(d) = d.as_mut().filter(|d| d.outcome == DecisionOutcome::Placed) {
            // Re-packing may have emptied a cluster the tenancy was first put in.
            d.clusters = clusters_of(estate, &packing.placed[t]);
        }
    }
    let mut decisions: Vec<Decision> = decisions.into_iter().flatten().collect();
    decisions.sort_by(|a, b| a.tenancy.cmp(&b.tenancy));

    unplaced.sort_by(|a, b| (&a.tenancy, &a.workload).cmp(&(&b.tenancy, &b.workload)));
    let assignments = assignments(estate, &packing);
    let moves = moves
        .iter()
        .map(|m| {
            let t = &estate.tenancies[m.tenancy];
            PlannedMove {
                tenancy: t.key.clone(),
                workload: t.workloads[m.workload].name.clone(),
                from: node_path(estate, m.from),
                to: node_path(estate, m.to),
                replicas: m.replicas,
            }
        })
        .collect();
    let (agencies, month) = figures(estate, &packing);
    let clusters_used: BTreeSet<&str> = assignments.iter().map(|a| a.cluster.as_str()).collect();
    let replicas_placed: u64 = assignments.iter().map(|a| a.replicas as u64).sum();
    let summary = Summary {
        active_nodes: packing.active_nodes(),
        lower_bound_nodes: lower_bound_nodes(estate, &packing),
        clusters_used: clusters_used.len(),
        shared_k_wh_per_month: round(month.total.kwh),
        standalone_k_wh_per_month: round(
            agencies.iter().map(|a| a.standalone_k_wh_per_month).sum(),
        ),
        total_nodes: estate.nodes.len(),
        active_nodes_before: active_before,
        replicas_placed,
        replicas_unplaced: unplaced.iter().map(|u: &Unplaced| u.replicas as u64).sum(),
        shared_cost_per_month: round(month.total.cost),
        standalone_cost_per_month: round(
            agencies.iter().map(|a| a.standalone_cost_per_month).sum(),
        ),
        unattributed_k_wh_per_month: round(month.unattributed.kwh),
        spare_k_wh_per_month: round(month.spare.kwh),
        spare_cost_per_month: round(month.spare.cost),
        heuristic: options.heuristic.name().into(),
        consolidation,
    };
    let clusters = cluster_figures(estate, &packing);
    Plan {
        assignments,
        unplaced,
        moves,
        summary,
        agencies,
        decisions,
        clusters,
    }
}

fn cluster_figures(estate: &Estate, packing: &Packing) -> Vec<ClusterFigures> {
    let mut requested = vec![0i64; estate.nodes.len()];
    let mut used = vec![0i64; estate.nodes.len()];
    for (t, tenancy) in estate.tenancies.iter().enumerate() {
        for p in &packing.placed[t] {
            let w = &tenancy.workloads[p.workload];
            requested[p.node] += w.demand.cpu * p.replicas as i64;
            used[p.node] += w.cpu_use() * p.replicas as i64;
        }
    }
    estate
        .clusters
        .iter()
        .map(|c| {
            let active: Vec<usize> = c
                .nodes
                .clone()
                .filter(|&n| packing.replicas_on(n) > 0)
                .collect();
            let capacity: i64 = active.iter().map(|&n| estate.nodes[n].capacity.cpu).sum();
            let ratio = |v: i64| {
                if capacity > 0 {
                    round(v as f64 / capacity as f64)
                } else {
                    0.0
                }
            };
            ClusterFigures {
                cluster: c.name.clone(),
                site: estate.sites[c.site].clone(),
                active_nodes: active.len(),
                total_nodes: c.nodes.len(),
                requested_cpu_ratio: ratio(active.iter().map(|&n| requested[n]).sum()),
                measured_cpu_ratio: ratio(
                    active
                        .iter()
                        .map(|&n| used[n] + estate.nodes[n].system_usage.cpu)
                        .sum(),
                ),
            }
        })
        .collect()
}

fn decision(estate: &Estate, t: usize, outcome: Outcome, unplaced: &mut Vec<Unplaced>) -> Decision {
    let tenancy = &estate.tenancies[t];
    let rejections = |rejected: Vec<(usize, String)>| {
        rejected
            .into_iter()
            .map(|(c, reason)| Rejection {
                cluster: estate.clusters[c].name.clone(),
                reason,
            })
            .collect::<Vec<_>>()
    };
    match outcome {
        Outcome::Placed {
            clusters,
            why,
            rejected,
        } => Decision {
            tenancy: tenancy.key.clone(),
            outcome: DecisionOutcome::Placed,
            clusters: clusters
                .iter()
                .map(|&c| estate.clusters[c].name.clone())
                .collect(),
            reason: why,
            rejected: rejections(rejected),
        },
        Outcome::Unplaced {
            reason,
            rejected,
            too_large,
        } => {
            let rejected = rejections(rejected);
            let detail = rejected
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
                rejected,
            }
        }
    }
}

fn clusters_of(estate: &Estate, placed: &[crate::estate::Placed]) -> Vec<String> {
    let set: BTreeSet<&str> = placed
        .iter()
        .map(|p| estate.cluster_of(p.node).name.as_str())
        .collect();
    set.into_iter().map(String::from).collect()
}

fn node_path(estate: &Estate, node: usize) -> String {
    format!(
        "{}/{}",
        estate.cluster_of(node).name,
        estate.nodes[node].name
    )
}

fn assignments(estate: &Estate, packing: &Packing) -> Vec<Assignment> {
    let mut out = Vec::new();
    for (t, tenancy) in estate.tenancies.iter().enumerate() {
        for p in &packing.placed[t] {
            let w = &tenancy.workloads[p.workload];
            let cluster = estate.cluster_of(p.node);
            out.push(Assignment {
                tenancy: tenancy.key.clone(),
                workload: w.name.clone(),
                cluster: cluster.name.clone(),
                site: estate.sites[cluster.site].clone(),
                node: estate.nodes[p.node].name.clone(),
                replicas: p.replicas,
                cpu_millis: w.demand.cpu,
                memory_bytes: w.demand.mem,
            });
        }
    }
    out.sort();
    out
}

/// SPEC: per resource (cpu, memory, pod slots), the fewest nodes whose usable room, largest
/// first, could hold the total demand; the largest of the three.
pub fn lower_bound_nodes(estate: &Estate, packing: &Packing) -> usize {
    let mut demand = Res::ZERO;
    for (t, tenancy) in estate.tenancies.iter().enumerate() {
        for p in &packing.placed[t] {
            demand += tenancy.workloads[p.workload].demand.times(p.replicas);
        }
    }
    let fewest = |mut room: Vec<i64>, total: i64| {
        room.sort_unstable_by(|a, b| b.cmp(a));
        let mut sum = 0;
        for (i, r) in room.iter().enumerate() {
            if sum >= total {
                return i;
            }
            sum += (*r).max(0);
        }
        if sum >= total {
            room.len()
        } else {
            room.len() + 1
        }
    };
    let cpu = fewest(
        estate.nodes.iter().map(|n| n.room.cpu).collect(),
        demand.cpu,
    );
    let mem = fewest(
        estate.nodes.iter().map(|n| n.room.mem).collect(),
        demand.mem,
    );
    let pods = fewest(
        estate.nodes.iter().map(|n| n.room.pods).collect(),
        demand.pods,
    );
    cpu.max(mem).max(pods)
}

fn figures(estate: &Estate, packing: &Packing) -> (Vec<AgencyFigures>, accounting::EstateMonth) {
    let accounted = accounting::accounted(estate, &packing.placed, accounting::Peak::Requests);
    let mut figures = Vec::new();
    for (a, agency) in estate.agencies.iter().enumerate() {
        let month = &accounted.agencies[a];
        let (shared, standalone) = (month.shared, month.standalone);
        figures.push(AgencyFigures {
            agency: agency.name.clone(),
            cost_per_month: round(shared.cost),
            standalone_cost_per_month: round(standalone.cost),
            k_wh_per_month: round(shared.kwh),
            standalone_k_wh_per_month: round(standalone.kwh),
            carbon_kg_per_month: round(shared.carbon_kg),
            standalone_carbon_kg_per_month: round(standalone.carbon_kg),
            cost_centre: agency.cost_centre.clone(),
            savings_per_month: round(standalone.cost - shared.cost),
            unattributed_k_wh_per_month: round(month.unattributed_share.kwh),
            standalone_servers: month.standalone_servers,
        });
    }
    (figures, accounted)
}

/// Four decimals: enough for kWh and money, and free of float noise in diffs.
fn round(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}
