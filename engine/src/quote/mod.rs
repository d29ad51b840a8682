//! A quote for a prospective agency, from its own server room's inventory, with the engine and
//! model that will later bill it: each server becomes a replica sized as `sizing: Measured`
//! sizes one (its p95 × the same margin); the work is planned onto the estate (nothing is
//! applied); its month on the shared estate is accounted twice, at the average and at the p95
//! utilisation the inventory states, against its own room now at the same two utilisations.
//! The worked example: docs/quote.md.

pub mod bill;
pub mod csv;
pub mod inventory;
pub mod onboard;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::estate::{Estate, Res};
use crate::model::{self, ServerPower};
use crate::plan::{DecisionOutcome, Plan, PlanOptions, plan};
use crate::sizing::MEASURED_SIZING_MARGIN;
use crate::snapshot::{EstateSnapshot, PowerState};
pub use inventory::{Inventory, InventoryError, Needs, Room, ServerGroup};

/// Facility energy, cost and carbon of a month.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Month {
    #[serde(rename = "kWh")]
    pub kwh: f64,
    pub cost: f64,
    pub carbon_kg: f64,
}

/// One server group as it would run: a replica per server.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SizedGroup {
    pub name: String,
    pub servers: u32,
    pub replicas: u32,
    pub cpu_per_replica: f64,
    #[serde(rename = "memoryGiBPerReplica")]
    pub memory_gib_per_replica: f64,
    /// Exactly as planned (the manifests ask for this).
    #[serde(skip)]
    pub demand: Res,
}

/// Replicas of one server group on one node of the shared estate.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupAssignment {
    pub group: String,
    pub cluster: String,
    pub site: String,
    pub node: String,
    pub replicas: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Quote {
    pub agency: String,
    pub fits: bool,
    /// One sentence: fits where, or why not.
    pub verdict: String,
    pub sizing: Vec<SizedGroup>,
    pub placements: Vec<GroupAssignment>,
    pub clusters: Vec<String>,
    pub sites: Vec<String>,
    /// Standby nodes the placement would wake (`cluster/node`).
    pub nodes_to_wake: Vec<String>,
    /// What stops it fitting, or keeps it from clusters it might have used.
    pub limits: Vec<String>,
    /// A month on the shared estate at the stated average utilisation, and at the p95.
    pub shared: Month,
    pub shared_at_p95: Month,
    /// CPU the work uses on average, cores (the inventory's average utilisation).
    pub average_cores: f64,
    /// A month in its own room now, at the same two utilisations.
    pub standalone: Month,
    pub standalone_at_p95: Month,
    pub saving_per_month: f64,
    /// The saving's range over the two utilisations.
    pub saving_low: f64,
    pub saving_high: f64,
    pub saving_percent: f64,
    pub assumptions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuoteError {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error("the estate snapshot: {0}")]
    Snapshot(String),
}

/// The namespace the quoted tenancy is planned in (nothing is applied).
const QUOTE_NAMESPACE: &str = "colo-quote";

/// Quotes `inventory` on the estate `snapshot` (the live one, or a file).
pub fn quote(snapshot: &EstateSnapshot, inventory: &Inventory) -> Result<Quote, QuoteError> {
    let key = format!("{QUOTE_NAMESPACE}/{}", inventory.agency);
    let with_quote = add_prospect(snapshot, inventory)?;
    let (mut estate, refusals) = Estate::from_snapshot_lenient(&with_quote);
    if let Some(r) = refusals.iter().find(|r| r.tenancy.as_deref() == Some(&key)) {
        return Err(InventoryError {
            at: "servers".into(),
            problem: format!("{}: {}", r.field, r.problem),
        }
        .into());
    }
    let t = estate.tenancies.iter().position(|t| t.key == key);
    let t = t.ok_or_else(|| QuoteError::Snapshot(refusal_of_agency(&refusals)))?;
    let sized = sizing(inventory, &estate.tenancies[t].workloads);
    // At the p95 (what the sizing assumes); then the same demand at the average.
    let at_p95 = plan(&estate, PlanOptions::default());
    for (w, group) in estate.tenancies[t]
        .workloads
        .iter_mut()
        .zip(&inventory.servers)
    {
        w.usage = Some(per_server(group, Level::Average));
    }
    let at_average = plan(&estate, PlanOptions::default());
    Ok(answer(
        snapshot,
        inventory,
        &key,
        sized,
        [&at_average, &at_p95],
    ))
}

/// The snapshot with the prospective agency and its work as a new tenancy.
fn add_prospect(
    snapshot: &EstateSnapshot,
    inventory: &Inventory,
) -> Result<EstateSnapshot, QuoteError> {
    let agency = &inventory.agency;
    if snapshot.agencies.iter().any(|a| &a.metadata.name == agency) {
        let why =
            format!("{agency:?} is already an agency on this estate: quote under another name");
        return Err(InventoryError {
            at: "agency".into(),
            problem: why,
        }
        .into());
    }
    let needs = &inventory.needs;
    let display = inventory
        .display_name
        .clone()
        .unwrap_or_else(|| agency.clone());
    let agency_yaml = serde_json::json!({
        "metadata": {"name": agency},
        "spec": {"displayName": display, "costCentre": "quote", "namespaces": [QUOTE_NAMESPACE],
                 "maxClassification": needs.classification},
    });
    let workloads: Vec<serde_json::Value> = inventory.servers.iter().enumerate().map(|(i, g)| {
        let asked = per_server(g, Level::Whole);
        serde_json::json!({"name": workload_name(i), "image": "quote", "replicas": replicas(g, needs),
                           "cpu": format!("{}m", asked.cpu), "memory": format!("{}Mi", asked.mem >> 20)})
    }).collect();
    let usage: BTreeMap<String, serde_json::Value> = inventory.servers.iter().enumerate().map(|(i, g)| {
        let p95 = per_server(g, Level::P95);
        (workload_name(i), serde_json::json!({"cpu": format!("{}m", p95.cpu), "memory": format!("{}Mi", p95.mem >> 20)}))
    }).collect();
    let tenancy_yaml = serde_json::json!({
        "metadata": {"name": agency, "namespace": QUOTE_NAMESPACE},
        "spec": {"agency": agency, "classification": needs.classification, "regions": needs.regions,
                 "resilience": needs.resilience, "sizing": "Measured", "workloads": workloads},
        "observed": {"usage": usage},
    });
    let mut out = snapshot.clone();
    let bad = |e: serde_json::Error| QuoteError::Snapshot(e.to_string());
    out.agencies
        .push(serde_json::from_value(agency_yaml).map_err(bad)?);
    out.tenancies
        .push(serde_json::from_value(tenancy_yaml).map_err(bad)?);
    Ok(out)
}

fn refusal_of_agency(refusals: &[crate::estate::Refusal]) -> String {
    let first = refusals.iter().find(|r| r.tenancy.is_none());
    first.map_or_else(
        || "the quoted work could not be planned".into(),
        |r| format!("{} {}: {}", r.at, r.field, r.problem),
    )
}

fn workload_name(i: usize) -> String {
    format!("{WORKLOAD_PREFIX}{}", i + 1)
}

const WORKLOAD_PREFIX: &str = "group-";

/// `reason` with each workload it names (`group-3`) as the server group's name, in one pass
/// over it: a name is written once where the workload was, never read again (a group named
/// `group-1group-1` cannot multiply itself), so the text grows by the names' length at most.
fn group_names(reason: &str, inventory: &Inventory) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut rest = reason;
    while let Some(at) = rest.find(WORKLOAD_PREFIX) {
        out.push_str(&rest[..at]);
        let after = &rest[at + WORKLOAD_PREFIX.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let group = after[..digits]
            .parse::<usize>()
            .ok()
            .and_then(|n| inventory.servers.get(n.checked_sub(1)?));
        match group {
            Some(g) => out.push_str(&format!("{:?}", g.name)),
            None => out.push_str(&rest[at..at + WORKLOAD_PREFIX.len() + digits]),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// A DualSite need runs at least two replicas of every group (one per site).
fn replicas(g: &ServerGroup, needs: &Needs) -> u32 {
    match needs.resilience {
        colo_api::Resilience::DualSite => g.count.max(2),
        _ => g.count,
    }
}

#[derive(Clone, Copy)]
enum Level {
    /// The server's whole size (what it is asked for, never exceeded).
    Whole,
    P95,
    Average,
}

/// One server's cores (milli) and memory (bytes, whole MiB) at a level of its utilisation.
fn per_server(g: &ServerGroup, level: Level) -> Res {
    let (cpu, mem) = match level {
        Level::Whole => (100.0, 100.0),
        Level::P95 => (g.cpu_p95_percent, g.memory_p95_percent),
        Level::Average => (g.cpu_average_percent, g.memory_average_percent),
    };
    let millis = (g.cores * cpu * 10.0).ceil().max(1.0) as i64;
    let mib = (g.memory_gib * 1024.0 * mem / 100.0).ceil().max(1.0) as i64;
    Res::new(millis, mib << 20)
}

/// The agency's own room for a month at a level of utilisation.
fn standalone(inventory: &Inventory, level: Level) -> Month {
    let room = &inventory.room;
    let own = model::Room {
        pue: room.pue.unwrap_or(model::STANDALONE_PUE),
        price_per_kwh: room
            .energy_price_per_kwh
            .unwrap_or(model::ENERGY_PRICE_PER_KWH),
        carbon_grams_per_kwh: room
            .carbon_grams_per_kwh
            .unwrap_or(model::CARBON_GRAMS_PER_KWH),
    };
    let mut month = Month::default();
    for g in &inventory.servers {
        let server =
            ServerPower::resolve(g.idle_watts, g.max_watts, model::STANDALONE_IDLE_FRACTION);
        let u = match level {
            Level::Average => g.cpu_average_percent,
            _ => g.cpu_p95_percent,
        } / 100.0;
        let n = g.count as f64;
        let hardware = g
            .hardware_cost_per_year
            .unwrap_or(model::STANDALONE_SERVER_CAPITAL / model::LIFETIME_YEARS);
        let m = own.month(n * server.watts(u), n * hardware / 12.0);
        month.kwh += m.kwh;
        month.cost += m.cost;
        month.carbon_kg += m.carbon_kg;
    }
    rounded(month)
}

fn rounded(m: Month) -> Month {
    let r = |v: f64| (v * 100.0).round() / 100.0;
    Month {
        kwh: r(m.kwh),
        cost: r(m.cost),
        carbon_kg: r(m.carbon_kg),
    }
}

/// The agency's month in a plan.
fn shared(plan: &Plan, agency: &str) -> Month {
    let figures = plan.agencies.iter().find(|a| a.agency == agency);
    rounded(figures.map_or_else(Month::default, |a| Month {
        kwh: a.kwh_per_month,
        cost: a.cost_per_month,
        carbon_kg: a.carbon_kg_per_month,
    }))
}

fn answer(
    snapshot: &EstateSnapshot,
    inventory: &Inventory,
    key: &str,
    sizing: Vec<SizedGroup>,
    [at_average, at_p95]: [&Plan; 2],
) -> Quote {
    let where_ = placement(snapshot, inventory, key, at_p95);
    let (shared_avg, shared_p95) = (
        shared(at_average, &inventory.agency),
        shared(at_p95, &inventory.agency),
    );
    let (alone_avg, alone_p95) = (
        standalone(inventory, Level::Average),
        standalone(inventory, Level::P95),
    );
    let saving = alone_avg.cost - shared_avg.cost;
    let other = alone_p95.cost - shared_p95.cost;
    let money = |v: f64| (v * 100.0).round() / 100.0;
    Quote {
        agency: inventory.agency.clone(),
        fits: where_.fits,
        verdict: where_.verdict,
        sizing,
        placements: where_.placements,
        clusters: where_.clusters,
        sites: where_.sites,
        nodes_to_wake: where_.wake,
        limits: where_.limits,
        shared: shared_avg,
        shared_at_p95: shared_p95,
        average_cores: average_cores(inventory),
        standalone: alone_avg,
        standalone_at_p95: alone_p95,
        saving_per_month: money(saving),
        saving_low: money(saving.min(other)),
        saving_high: money(saving.max(other)),
        saving_percent: if alone_avg.cost > 0.0 {
            (saving / alone_avg.cost * 1000.0).round() / 10.0
        } else {
            0.0
        },
        assumptions: assumptions(inventory),
    }
}

/// Cores in use on average: every replica at its server's average CPU.
fn average_cores(inventory: &Inventory) -> f64 {
    let cores: f64 = inventory
        .servers
        .iter()
        .map(|g| replicas(g, &inventory.needs) as f64 * g.cores * g.cpu_average_percent / 100.0)
        .sum();
    (cores * 1000.0).round() / 1000.0
}

/// Each group as the engine plans it: its workload's replicas and per-replica demand.
fn sizing(inventory: &Inventory, workloads: &[crate::estate::Workload]) -> Vec<SizedGroup> {
    let gib = (1u64 << 30) as f64;
    inventory
        .servers
        .iter()
        .zip(workloads)
        .map(|(g, w)| SizedGroup {
            name: g.name.clone(),
            servers: g.count,
            replicas: w.replicas,
            cpu_per_replica: w.demand.cpu as f64 / 1000.0,
            memory_gib_per_replica: (w.demand.mem as f64 / gib * 1000.0).round() / 1000.0,
            demand: w.demand,
        })
        .collect()
}

struct Where {
    fits: bool,
    verdict: String,
    placements: Vec<GroupAssignment>,
    clusters: Vec<String>,
    sites: Vec<String>,
    wake: Vec<String>,
    limits: Vec<String>,
}

/// Where the plan put the quoted work, what it wakes, and what limited it.
fn placement(snapshot: &EstateSnapshot, inventory: &Inventory, key: &str, plan: &Plan) -> Where {
    let group = |workload: &str| {
        let i: usize = workload.trim_start_matches("group-").parse().unwrap_or(1);
        inventory.servers[i - 1].name.clone()
    };
    // Reasons name workloads; the agency knows its server groups.
    let named = |reason: &str| group_names(reason, inventory);
    let standby: BTreeSet<String> = snapshot
        .clusters
        .iter()
        .flat_map(|c| c.nodes.iter().map(move |n| (c, n)))
        .filter(|(_, n)| n.power_state == PowerState::Standby)
        .map(|(c, n)| format!("{}/{}", c.metadata.name, n.name))
        .collect();
    let mine: Vec<_> = plan
        .assignments
        .iter()
        .filter(|a| a.tenancy == key)
        .collect();
    let placements: Vec<GroupAssignment> = mine
        .iter()
        .map(|a| GroupAssignment {
            group: group(&a.workload),
            cluster: a.cluster.clone(),
            site: a.site.clone(),
            node: a.node.clone(),
            replicas: a.replicas,
        })
        .collect();
    let clusters: BTreeSet<String> = mine.iter().map(|a| a.cluster.clone()).collect();
    let sites: BTreeSet<String> = mine.iter().map(|a| a.site.clone()).collect();
    let wake: BTreeSet<String> = mine
        .iter()
        .map(|a| format!("{}/{}", a.cluster, a.node))
        .filter(|n| standby.contains(n))
        .collect();
    let decision = plan.decisions.iter().find(|d| d.tenancy == key);
    let fits = decision.is_some_and(|d| d.outcome == DecisionOutcome::Placed);
    let mut limits: Vec<String> = plan
        .unplaced
        .iter()
        .filter(|u| u.tenancy == key)
        .map(|u| {
            format!(
                "{}: {} replicas: {}",
                group(&u.workload),
                u.replicas,
                named(&u.reason)
            )
        })
        .collect();
    if let Some(d) = decision {
        limits.extend(
            d.excluded
                .iter()
                .map(|r| format!("{}: {}", r.cluster, named(&r.reason))),
        );
    }
    let verdict = match decision {
        Some(_) if fits => format!(
            "fits: {} replicas on {} ({}), waking {} standby node(s)",
            placements.iter().map(|p| p.replicas).sum::<u32>(),
            clusters.iter().cloned().collect::<Vec<_>>().join(", "),
            sites.iter().cloned().collect::<Vec<_>>().join(", "),
            wake.len()
        ),
        Some(d) => format!("does not fit ({}): {}", d.outcome, named(&d.reason)),
        None => "does not fit: the work could not be planned".into(),
    };
    Where {
        fits,
        verdict,
        placements,
        clusters: clusters.into_iter().collect(),
        sites: sites.into_iter().collect(),
        wake: wake.into_iter().collect(),
        limits,
    }
}

/// Every figure the quote assumes, with its source.
fn assumptions(inventory: &Inventory) -> Vec<String> {
    let room = &inventory.room;
    let said = |v: Option<f64>, default: f64, source: &str| match v {
        Some(v) => format!("{v} (the inventory)"),
        None => format!("{default} ({source})"),
    };
    vec![
        format!(
            "Each server is a replica sized at its p95 × {MEASURED_SIZING_MARGIN} (the margin of `sizing: Measured`), never above the server; placed as the operator would place it, nothing applied."
        ),
        "The shared month is the engine's accounting: dynamic energy of the CPU used, idle energy and node cost by share of reservation, each cluster's PUE, price and carbon (docs/energy-model.md).".into(),
        format!(
            "Own room: PUE {}; price {} a kWh; carbon {} g a kWh.",
            said(room.pue, model::STANDALONE_PUE, "LBNL: small server rooms measure 1.5–2.1"),
            said(room.energy_price_per_kwh, model::ENERGY_PRICE_PER_KWH, "default, UK non-domestic 2024"),
            said(room.carbon_grams_per_kwh, model::CARBON_GRAMS_PER_KWH, "UK government GHG conversion factors 2024"),
        ),
        format!(
            "Servers without watts: {} W at full load, idle {}% of it (Barroso & Hölzle 2007); without a hardware cost: {} a year ({} over {} years).",
            model::MAX_WATTS,
            model::STANDALONE_IDLE_FRACTION * 100.0,
            model::STANDALONE_SERVER_CAPITAL / model::LIFETIME_YEARS,
            model::STANDALONE_SERVER_CAPITAL,
            model::LIFETIME_YEARS
        ),
        "The range: both rooms at the stated average CPU, and both at the stated p95 (if the average was underestimated).".into(),
    ]
}

#[cfg(test)]
mod tests;
