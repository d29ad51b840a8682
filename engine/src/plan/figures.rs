//! A plan's figures: per cluster, per agency (energy, cost and carbon, shared and standalone),
//! the saving of a consolidation, the assignments as placed, the summary and the lower bound.

use std::collections::BTreeSet;

use super::output::*;
use crate::accounting;
use crate::consolidate::{self, Thresholds};
use crate::estate::{Estate, Res};
use crate::pack::Packing;

/// The saving of the nodes a consolidation freed and the disruption of its moves.
pub(super) fn priced(
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
        kwh_saved_per_month: round(kwh),
        replicas_moved,
        saving_per_month: round(cost),
        carbon_kg_saved_per_month: round(grams / 1000.0),
        disruption_cost: round(replicas_moved as f64 * thresholds.disruption_cost_per_move),
        horizon_months: thresholds.horizon_months,
    }
}

/// Per cluster: active nodes and the cpu requested and measured on them.
pub(super) fn clusters(estate: &Estate, packing: &Packing) -> Vec<ClusterFigures> {
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

fn node_path(estate: &Estate, node: usize) -> String {
    format!(
        "{}/{}",
        estate.cluster_of(node).name,
        estate.nodes[node].name
    )
}

pub(super) fn assignments(estate: &Estate, packing: &Packing) -> Vec<Assignment> {
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

/// Per agency, shared against standalone, and the estate's month.
pub(super) fn agencies(
    estate: &Estate,
    packing: &Packing,
) -> (Vec<AgencyFigures>, accounting::EstateMonth) {
    let accounted = accounting::accounted(estate, &packing.placed, accounting::Peak::Requests);
    let mut figures = Vec::new();
    for (a, agency) in estate.agencies.iter().enumerate() {
        let month = &accounted.agencies[a];
        let (shared, standalone) = (month.shared, month.standalone);
        figures.push(AgencyFigures {
            agency: agency.name.clone(),
            cost_per_month: round(shared.cost),
            standalone_cost_per_month: round(standalone.cost),
            kwh_per_month: round(shared.kwh),
            standalone_kwh_per_month: round(standalone.kwh),
            carbon_kg_per_month: round(shared.carbon_kg),
            standalone_carbon_kg_per_month: round(standalone.carbon_kg),
            cost_centre: agency.cost_centre.clone(),
            savings_per_month: round(standalone.cost - shared.cost),
            unattributed_kwh_per_month: round(month.unattributed_share.kwh),
            standalone_servers: month.standalone_servers,
        });
    }
    (figures, accounted)
}

/// Four decimals: enough for kWh and money, and free of float noise in diffs.
pub(super) fn round(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// A move of the re-pack, by names.
pub(super) fn planned(estate: &Estate, m: &consolidate::Move) -> PlannedMove {
    let t = &estate.tenancies[m.tenancy];
    PlannedMove {
        tenancy: t.key.clone(),
        workload: t.workloads[m.workload].name.clone(),
        from: node_path(estate, m.from),
        to: node_path(estate, m.to),
        replicas: m.replicas,
    }
}

/// The plan's summary (its consolidation figures are the caller's).
pub(super) fn summary(
    plan: &Plan,
    packing: &Packing,
    month: &accounting::EstateMonth,
    active_before: usize,
    options: PlanOptions,
) -> Summary {
    let estate = packing.estate;
    let clusters_used: BTreeSet<&str> = plan
        .assignments
        .iter()
        .map(|a| a.cluster.as_str())
        .collect();
    let standalone = |f: fn(&AgencyFigures) -> f64| round(plan.agencies.iter().map(f).sum());
    Summary {
        active_nodes: packing.active_nodes(),
        lower_bound_nodes: lower_bound_nodes(estate, packing),
        clusters_used: clusters_used.len(),
        shared_kwh_per_month: round(month.total.kwh),
        standalone_kwh_per_month: standalone(|a| a.standalone_kwh_per_month),
        total_nodes: estate.nodes.len(),
        active_nodes_before: active_before,
        replicas_placed: plan.assignments.iter().map(|a| a.replicas as u64).sum(),
        replicas_unplaced: plan.unplaced.iter().map(|u| u.replicas as u64).sum(),
        shared_cost_per_month: round(month.total.cost),
        standalone_cost_per_month: standalone(|a| a.standalone_cost_per_month),
        unattributed_kwh_per_month: round(month.unattributed.kwh),
        spare_kwh_per_month: round(month.spare.kwh),
        spare_cost_per_month: round(month.spare.cost),
        heuristic: options.heuristic.name().into(),
        consolidation: None,
    }
}
