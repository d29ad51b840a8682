//! Synthetic estates for tests, benchmarks and examples: agencies of very different sizes,
//! several sites and regions, one cluster accredited SECRET, mixed cpu-heavy and memory-heavy
//! work, and measured use far below requests, as in real server rooms.
//!
//! Deterministic: the same `EstateShape` always gives the same snapshot.

use std::collections::BTreeMap;

use colo_api::{
    AgencySpec, Classification, CostSpec, PowerSpec, Quantity, Resilience, Resources,
    SharedClusterSpec, Sizing, TenancySpec, Workload,
};

use crate::estate::{Estate, Res};
use crate::snapshot::{
    API_VERSION, AgencyEntry, ClusterEntry, EstateSnapshot, KIND, Metadata, NodeEntry, Observed,
    ObservedAssignment, PowerState, TenancyEntry,
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EstateShape {
    pub tenancies: usize,
    pub nodes: usize,
    pub seed: u64,
    /// Classifications, regions, DualSite and pins; false gives one flat pool (for packing bounds).
    pub constrained: bool,
    /// Share of tenancies already running (with observed assignments, spread as a
    /// least-allocated scheduler would), for consolidation.
    pub running: f64,
}

impl EstateShape {
    pub fn new(tenancies: usize, nodes: usize) -> Self {
        EstateShape {
            tenancies,
            nodes,
            seed: 42,
            constrained: true,
            running: 0.0,
        }
    }
}

/// splitmix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

const SITES: [(&str, &str); 3] = [
    ("north-dc", "uk-north"),
    ("south-dc", "uk-south"),
    ("west-dc", "uk-south"),
];

pub fn estate(shape: EstateShape) -> EstateSnapshot {
    let mut rng = Rng(shape.seed);
    let clusters = clusters(&mut rng, shape);
    let (agencies, tenancies) = tenancies(&mut rng, shape);
    let mut snapshot = EstateSnapshot {
        api_version: API_VERSION.into(),
        kind: KIND.into(),
        agencies,
        clusters,
        tenancies,
    };
    if shape.running > 0.0 {
        run_some(&mut rng, &mut snapshot, shape.running);
    }
    snapshot
}

fn clusters(rng: &mut Rng, shape: EstateShape) -> Vec<ClusterEntry> {
    let count = (shape.nodes / 500).clamp(3, 12).min(shape.nodes.max(1));
    let mut out = Vec::new();
    for c in 0..count {
        let (site, region) = if shape.constrained {
            SITES[c % SITES.len()]
        } else {
            ("one-dc", "uk")
        };
        // Every third cluster has the larger machines, so nodes are not all alike.
        let (cores, memory_gib) = if c % 3 == 2 { (64, 256) } else { (32, 128) };
        let classification = match (shape.constrained, c) {
            (false, _) => Classification::Secret,
            (true, 0) => Classification::Secret,
            (true, c) if c % 2 == 1 => Classification::OfficialSensitive,
            _ => Classification::Official,
        };
        let name = format!("{}-{}", site.trim_end_matches("-dc"), c + 1);
        let nodes = (0..shape.nodes)
            .filter(|n| n % count == c)
            .map(|n| NodeEntry {
                name: format!("{name}-n{n:05}"),
                capacity: Resources {
                    cpu: Quantity::new(cores.to_string()),
                    memory: Quantity::new(format!("{memory_gib}Gi")),
                },
                usage: Some(Resources {
                    cpu: Quantity::from_cpu_millis(rng.range(300, 1000)),
                    memory: Quantity::from_bytes(rng.range(1, 4) << 30),
                }),
                pods: None,
                other_pods: None,
                power_state: if n % 17 == 16 {
                    PowerState::Standby
                } else {
                    PowerState::On
                },
            })
            .collect();
        out.push(ClusterEntry {
            metadata: Metadata {
                name,
                namespace: None,
            },
            spec: SharedClusterSpec {
                site: site.into(),
                region: region.into(),
                classification,
                kubeconfig_secret_ref: None,
                prometheus: None,
                power: Some(PowerSpec {
                    pue: Some(1.2 + 0.05 * (c % 5) as f64),
                    max_watts: Some(if cores == 64 { 450.0 } else { 330.0 }),
                    idle_watts: None,
                    standby_watts: None,
                    energy_price_per_kwh: Some(0.20 + 0.02 * (c % 4) as f64),
                    carbon_grams_per_kwh: Some(150.0 + 25.0 * (c % 4) as f64),
                }),
                cost: Some(CostSpec {
                    per_node_hour: None,
                    capital_per_node: Some(9000.0 * cores as f64 / 32.0),
                    lifetime_years: Some(5.0),
                }),
                headroom: Some(0.2),
                cordoned: false,
            },
            nodes,
            unavailable: None,
        });
    }
    out
}

/// A kind of work: cpu millis range, memory MiB range, and how common it is (percent).
type Kind = ((u64, u64), (u64, u64), u64);

const KINDS: [Kind; 4] = [
    ((250, 1000), (256, 2048), 35),   // web front ends
    ((500, 2000), (1024, 4096), 35),  // APIs
    ((2000, 8000), (2048, 8192), 15), // batch: cpu-heavy
    ((500, 2000), (8192, 32768), 15), // caches and databases: memory-heavy
];

fn tenancies(rng: &mut Rng, shape: EstateShape) -> (Vec<AgencyEntry>, Vec<TenancyEntry>) {
    let agency_count = (shape.tenancies / 50).clamp(3, 400);
    // Zipf-like sizes: agency i gets weight 1/(i+1), so a few are large and most are small.
    let weights: Vec<f64> = (0..agency_count).map(|i| 1.0 / (i + 1) as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut clearance = vec![Classification::Official; agency_count];
    let mut tenancies = Vec::new();
    for i in 0..shape.tenancies {
        let mut pick = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * total;
        let mut agency = 0;
        while agency + 1 < agency_count && pick > weights[agency] {
            pick -= weights[agency];
            agency += 1;
        }
        let classification = if !shape.constrained {
            Classification::Official
        } else {
            match rng.below(100) {
                0..=69 => Classification::Official,
                70..=94 => Classification::OfficialSensitive,
                _ => Classification::Secret,
            }
        };
        clearance[agency] = clearance[agency].max(classification);
        // SECRET work is accredited on one cluster only, so it runs SingleSite.
        let dual = shape.constrained && classification != Classification::Secret && rng.chance(0.3);
        let measured = rng.chance(0.5);
        let mut workloads = Vec::new();
        let mut usage = BTreeMap::new();
        for w in 0..rng.range(1, 2) {
            let (workload, used) = workload(rng, w, dual);
            usage.insert(workload.name.clone(), used);
            workloads.push(workload);
        }
        let regions = regions(rng, shape, dual);
        tenancies.push(TenancyEntry {
            metadata: Metadata {
                name: format!("t{i:05}"),
                namespace: Some(format!("agency-{agency:03}")),
            },
            spec: TenancySpec {
                agency: format!("agency-{agency:03}"),
                classification,
                regions,
                resilience: if dual {
                    Resilience::DualSite
                } else {
                    Resilience::SingleSite
                },
                sizing: if measured {
                    Sizing::Measured
                } else {
                    Sizing::Requested
                },
                cluster: None,
                workloads,
                egress: Vec::new(),
            },
            observed: Some(Observed {
                usage,
                ..Default::default()
            }),
        });
    }
    let agencies = agency_entries(&clearance);
    (agencies, tenancies)
}

/// One workload of a generated tenancy (`w` its index), and its measured use per replica.
fn workload(rng: &mut Rng, w: u64, dual: bool) -> (Workload, Resources) {
    let mut roll = rng.below(100);
    let ((c0, c1), (m0, m1), _) = *KINDS
        .iter()
        .find(|(_, _, share)| {
            let hit = roll < *share;
            roll = roll.saturating_sub(*share);
            hit
        })
        .unwrap_or(&KINDS[0]);
    let cpu = rng.range(c0, c1) / 50 * 50;
    let mem = rng.range(m0, m1) / 64 * 64;
    let replicas = if dual {
        rng.range(2, 4)
    } else {
        rng.range(1, 3)
    };
    let name = format!("w{w}");
    // Real rooms use 10–40% of what they reserve.
    let used = rng.range(10, 40);
    let usage = Resources {
        cpu: Quantity::from_cpu_millis((cpu * used / 100).max(10)),
        memory: Quantity::from_bytes((mem * used / 100).max(16) << 20),
    };
    let workload = Workload {
        name,
        image: "registry.example.gov.uk/app:1".into(),
        replicas: replicas as i32,
        cpu: Quantity::from_cpu_millis(cpu.max(50)),
        memory: Quantity::from_bytes(mem.max(64) << 20),
        ports: Vec::new(),
        env: Vec::new(),
        pod_annotations: BTreeMap::new(),
        service_account_token: false,
    };
    (workload, usage)
}

/// Residency limits; uk-north has one site, so DualSite work is only ever held to uk-south.
fn regions(rng: &mut Rng, shape: EstateShape, dual: bool) -> Vec<String> {
    if shape.constrained && rng.chance(0.2) {
        vec![
            if dual {
                "uk-south"
            } else {
                SITES[rng.below(2) as usize].1
            }
            .to_string(),
        ]
    } else {
        Vec::new()
    }
}

/// The agencies of a generated estate, each cleared for what its tenancies need.
fn agency_entries(clearance: &[Classification]) -> Vec<AgencyEntry> {
    (0..clearance.len())
        .map(|a| AgencyEntry {
            metadata: Metadata {
                name: format!("agency-{a:03}"),
                namespace: None,
            },
            spec: AgencySpec {
                display_name: format!("Agency {a}"),
                cost_centre: format!("CC-{a:04}"),
                namespaces: vec![format!("agency-{a:03}")],
                groups: Vec::new(),
                max_classification: clearance[a],
                budget: None,
                standalone: None,
                quote: None,
            },
        })
        .collect()
}

/// Marks a share of tenancies as running where a least-allocated scheduler would have put
/// them: spread thin over many nodes, which is what consolidation then has to undo.
fn run_some(rng: &mut Rng, snapshot: &mut EstateSnapshot, share: f64) {
    let estate = Estate::from_snapshot(snapshot).expect("generated estates are valid");
    let mut free: Vec<Res> = estate.nodes.iter().map(|n| n.room).collect();
    for (t, tenancy) in estate.tenancies.iter().enumerate() {
        if !rng.chance(share) {
            continue;
        }
        let eligible: Vec<usize> = (0..estate.clusters.len())
            .filter(|&c| crate::constraints::exclusion(&estate, tenancy, c).is_none())
            .collect();
        if eligible.is_empty() {
            continue;
        }
        let first = eligible[rng.below(eligible.len() as u64) as usize];
        let second = eligible
            .iter()
            .copied()
            .find(|&c| estate.clusters[c].site != estate.clusters[first].site);
        if tenancy.dual_site && second.is_none() {
            continue;
        }
        let mut placed = Vec::new();
        let mut trial = free.clone();
        let mut ok = true;
        for (w, workload) in tenancy.workloads.iter().enumerate() {
            for r in 0..workload.replicas {
                let cluster = if tenancy.dual_site && r % 2 == 1 {
                    second.unwrap_or(first)
                } else {
                    first
                };
                let best = estate.clusters[cluster]
                    .nodes
                    .clone()
                    .filter(|&n| !estate.nodes[n].standby && trial[n].holds(workload.demand))
                    .max_by_key(|&n| {
                        (
                            trial[n].cpu / 10 + trial[n].mem / (10 << 20),
                            std::cmp::Reverse(n),
                        )
                    });
                match best {
                    Some(n) => {
                        trial[n] -= workload.demand;
                        placed.push((w, n));
                    }
                    None => ok = false,
                }
            }
        }
        if !ok {
            continue;
        }
        free = trial;
        let mut assignments: Vec<ObservedAssignment> = Vec::new();
        for (w, n) in placed {
            let node = &estate.nodes[n];
            let cluster = &estate.clusters[node.cluster].name;
            match assignments
                .iter_mut()
                .find(|a| a.workload == tenancy.workloads[w].name && a.node == node.name)
            {
                Some(a) => a.replicas += 1,
                None => assignments.push(ObservedAssignment {
                    workload: tenancy.workloads[w].name.clone(),
                    cluster: cluster.clone(),
                    node: node.name.clone(),
                    replicas: 1,
                }),
            }
        }
        if let Some(observed) = snapshot.tenancies[t].observed.as_mut() {
            observed.assignments = assignments;
        }
    }
}

/// Of a generated estate with running tenancies: those that run (the generator leaves out
/// what did not fit), and the same work with nothing running, for a fresh plan to compare with.
pub fn running_and_fresh(mut snapshot: EstateSnapshot) -> (EstateSnapshot, EstateSnapshot) {
    snapshot.tenancies.retain(|t| {
        t.observed
            .as_ref()
            .is_some_and(|o| !o.assignments.is_empty())
    });
    let mut fresh = snapshot.clone();
    for o in fresh
        .tenancies
        .iter_mut()
        .filter_map(|t| t.observed.as_mut())
    {
        o.assignments.clear();
    }
    (snapshot, fresh)
}
