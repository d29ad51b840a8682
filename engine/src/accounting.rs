//! The monthly model: what a placement costs in energy, money and carbon, per agency, shared
//! and standalone. Totals are conserved: agencies plus what no agency uses add up to the estate.
//!
//! Per active node: `P = idle + (max - idle) × u`, u = CPU in use / capacity. The dynamic part
//! goes to agencies by their share of CPU in use (system pods' share is unattributed); the idle
//! part by their share of reservation `max(request, use)` (the mean of the cpu and memory
//! shares); node cost the same way. Unattributed energy and cost of a cluster's active nodes
//! (unreserved idle room, system pods) is then spread over its agencies pro rata, and reported
//! on its own line. Nodes with no tenancy are spare capacity, in standby: the platform's line.
//! Facility energy is IT energy × PUE; carbon is energy × grid intensity.

use crate::estate::{Assigned, Estate, Res};
use crate::model::{self, HOURS_PER_MONTH, Monthly, Usage};

/// What one agency runs on one node.
#[derive(Clone, Copy, Debug, Default)]
pub struct Load {
    pub agency: usize,
    /// CPU in use, milli-cores.
    pub cpu_use: i64,
    /// `max(request, use)` per resource.
    pub reserved: Res,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgencyMonth {
    pub shared: Monthly,
    /// The part of `shared` that is the agency's pro-rata share of what no one uses.
    pub unattributed_share: Monthly,
    pub standalone: Monthly,
    /// What the agency reserves (cores, GiB) and uses on average (modelled as its p95 or request).
    pub peak: Usage,
    pub average: Usage,
    pub standalone_servers: u32,
    /// The energy part of `shared.cost` (the rest is node cost): gives the agency's grid price.
    pub energy_cost: f64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct EstateMonth {
    pub agencies: Vec<AgencyMonth>,
    pub total: Monthly,
    /// Unused idle, system pods, standby nodes: before it is spread over agencies.
    pub unattributed: Monthly,
    /// Left with no agency to carry it (a cluster, and estate, where no agency runs anything).
    pub unassigned: Monthly,
    /// Nodes with no tenancy (standby, spare capacity): the platform's, on a line of its own
    /// rather than billed to agencies for room they do not use.
    pub spare: Monthly,
}

const GIB: f64 = (1u64 << 30) as f64;

/// What an agency's standalone room is sized for at its peak.
#[derive(Clone, Copy, Debug)]
pub enum Peak<'a> {
    /// The requests it reserves (a plan: what it would buy servers for).
    Requests,
    /// Its measured peak so far, per agency (live accounting: the highest it was measured
    /// using this month, and at least what it is measured using now).
    Measured(&'a [Usage]),
}

/// A month of the estate with each tenancy where `placed[tenancy]` puts it: shared figures
/// per agency and its standalone counterfactual (from its `peak`, and its average, what it
/// uses: measured p95 where known, else its demand).
pub fn accounted(estate: &Estate, placed: &[Vec<Assigned>], sized_for: Peak) -> EstateMonth {
    let mut loads: Vec<Vec<Load>> = vec![Vec::new(); estate.nodes.len()];
    let mut peak = vec![Usage::default(); estate.agencies.len()];
    let mut average = vec![Usage::default(); estate.agencies.len()];
    // Only what was measured counts towards a measured peak (not requests standing in for it).
    let mut measured = vec![Usage::default(); estate.agencies.len()];
    for (t, tenancy) in estate.tenancies.iter().enumerate() {
        let a = tenancy.agency;
        for p in &placed[t] {
            let w = &tenancy.workloads[p.workload];
            let cpu_use = w.cpu_use().saturating_mul(p.replicas as i64);
            let reserved = w.demand.max(w.usage.unwrap_or(Res::ZERO)).times(p.replicas);
            match loads[p.node].iter_mut().find(|l| l.agency == a) {
                Some(l) => {
                    l.cpu_use = l.cpu_use.saturating_add(cpu_use);
                    l.reserved += reserved;
                }
                None => loads[p.node].push(Load {
                    agency: a,
                    cpu_use,
                    reserved,
                }),
            }
            let r = p.replicas as f64;
            peak[a].cores += w.request.cpu as f64 / 1000.0 * r;
            peak[a].memory_gib += w.request.mem as f64 / GIB * r;
            let used = w.usage.unwrap_or(w.demand);
            average[a].cores += used.cpu as f64 / 1000.0 * r;
            average[a].memory_gib += used.mem as f64 / GIB * r;
            if let Some(u) = w.usage {
                measured[a].cores += u.cpu as f64 / 1000.0 * r;
                measured[a].memory_gib += u.mem as f64 / GIB * r;
            }
        }
    }
    let placed_anything: Vec<bool> = peak.iter().map(|p| p.cores > 0.0).collect();
    if let Peak::Measured(seen) = sized_for {
        for (a, p) in peak.iter_mut().enumerate() {
            let seen = seen.get(a).copied().unwrap_or_default();
            p.cores = seen.cores.max(measured[a].cores);
            p.memory_gib = seen.memory_gib.max(measured[a].memory_gib);
        }
    }
    let mut out = month(estate, &loads);
    for (a, agency) in estate.agencies.iter().enumerate() {
        let month = &mut out.agencies[a];
        month.peak = peak[a];
        month.average = average[a];
        let shared = month.shared;
        // Like for like: the standalone room pays the grid prices of the clusters it left.
        let price = agency
            .standalone
            .price_per_kwh
            .unwrap_or(if shared.kwh > 0.0 {
                month.energy_cost / shared.kwh
            } else {
                model::ENERGY_PRICE_PER_KWH
            });
        let carbon = agency
            .standalone
            .carbon_grams_per_kwh
            .unwrap_or(if shared.kwh > 0.0 {
                shared.carbon_kg * 1000.0 / shared.kwh
            } else {
                model::CARBON_GRAMS_PER_KWH
            });
        if placed_anything[a] {
            month.standalone = agency
                .standalone
                .monthly(peak[a], average[a], price, carbon);
            month.standalone_servers = agency.standalone.servers(peak[a], average[a]);
        }
    }
    out
}

/// Projects a month of the estate with `loads[node]` running on each node. A node with no
/// load is taken to be in standby (that is what consolidation frees it for).
pub fn month(estate: &Estate, loads: &[Vec<Load>]) -> EstateMonth {
    let agencies = estate.agencies.len();
    let mut out = EstateMonth {
        agencies: vec![AgencyMonth::default(); agencies],
        ..Default::default()
    };
    let mut cluster_attributed = vec![vec![Monthly::default(); agencies]; estate.clusters.len()];
    let mut cluster_unattributed = vec![Monthly::default(); estate.clusters.len()];
    for (n, node) in estate.nodes.iter().enumerate() {
        let cluster = &estate.clusters[node.cluster];
        let p = &cluster.power;
        let to_month = |watts: f64, node_cost_share: f64| {
            let machine = node_cost_share * cluster.node_cost_per_hour * HOURS_PER_MONTH;
            p.room.month(watts, machine)
        };
        let here = &loads[n];
        if here.is_empty() {
            out.spare += to_month(p.standby_watts, 1.0);
            continue;
        }
        let capacity = node.capacity;
        let tenant_cpu: i64 = here.iter().map(|l| l.cpu_use).sum();
        let total_cpu = tenant_cpu + node.system_usage.cpu;
        let u = total_cpu as f64 / capacity.cpu.max(1) as f64;
        let dynamic = p.server.dynamic_watts() * u.clamp(0.0, 1.0);
        let share = |r: Res| {
            let c = r.cpu as f64 / capacity.cpu.max(1) as f64;
            let m = r.mem as f64 / capacity.mem.max(1) as f64;
            (c + m) / 2.0
        };
        // Over-committed nodes scale reservation shares down so they never exceed the node.
        let reserved_total: f64 = here.iter().map(|l| share(l.reserved)).sum();
        let scale = if reserved_total > 1.0 {
            1.0 / reserved_total
        } else {
            1.0
        };
        let mut given = Monthly::default();
        for l in here {
            let cpu_part = if total_cpu > 0 {
                l.cpu_use as f64 / total_cpu as f64
            } else {
                0.0
            };
            let reserved = share(l.reserved) * scale;
            let m = to_month(
                dynamic * cpu_part + p.server.idle_watts * reserved,
                reserved,
            );
            cluster_attributed[node.cluster][l.agency] += m;
            given += m;
        }
        let whole = to_month(p.server.idle_watts + dynamic, 1.0);
        cluster_unattributed[node.cluster] += Monthly {
            kwh: whole.kwh - given.kwh,
            cost: whole.cost - given.cost,
            carbon_kg: whole.carbon_kg - given.carbon_kg,
        };
    }
    let prices: Vec<f64> = estate
        .clusters
        .iter()
        .map(|c| c.power.room.price_per_kwh)
        .collect();
    spread(
        &mut out,
        &cluster_attributed,
        &cluster_unattributed,
        &prices,
    );
    out
}

/// Adds each cluster's attributed figures to its agencies, and its unattributed pool pro rata
/// to their energy there; a cluster no agency uses spreads over the whole estate.
fn spread(
    out: &mut EstateMonth,
    attributed: &[Vec<Monthly>],
    unattributed: &[Monthly],
    prices: &[f64],
) {
    let agencies = out.agencies.len();
    let mut estate_pool = Monthly::default();
    let mut estate_weights = vec![0.0; agencies];
    for (c, pool) in unattributed.iter().enumerate() {
        out.unattributed += *pool;
        let weight: f64 = attributed[c].iter().map(|m| m.kwh).sum();
        for (a, m) in attributed[c].iter().enumerate() {
            out.agencies[a].shared += *m;
            out.agencies[a].energy_cost += m.kwh * prices[c];
            estate_weights[a] += m.kwh;
            if weight > 0.0 {
                let part = pool.scaled(m.kwh / weight);
                out.agencies[a].shared += part;
                out.agencies[a].unattributed_share += part;
                out.agencies[a].energy_cost += part.kwh * prices[c];
            }
        }
        if weight <= 0.0 {
            estate_pool += *pool;
        }
    }
    let total_weight: f64 = estate_weights.iter().sum();
    for (a, w) in estate_weights.iter().enumerate() {
        if total_weight > 0.0 {
            let part = estate_pool.scaled(w / total_weight);
            let price =
                out.agencies[a].energy_cost / out.agencies[a].shared.kwh.max(f64::MIN_POSITIVE);
            out.agencies[a].shared += part;
            out.agencies[a].unattributed_share += part;
            out.agencies[a].energy_cost += part.kwh * price;
        }
    }
    if total_weight <= 0.0 {
        out.unassigned = estate_pool;
    }
    for a in &out.agencies {
        out.total += a.shared;
    }
    out.total += out.unassigned;
    out.total += out.spare;
}
