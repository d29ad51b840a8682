//! The estate as the engine works on it: the snapshot checked, resolved and indexed.
//!
//! Everything a decision needs is computed here once (usable room per node, demand per replica,
//! prices with their defaults), so that placement is plain arithmetic on integers.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Add, AddAssign, Sub, SubAssign};

use colo_api::{Classification, Quantity, Resilience, Resources, Sizing};

use crate::model::{PowerModel, StandaloneModel};
use crate::snapshot::{EstateSnapshot, PowerState, SnapshotError};

/// CPU in milli-cores and memory in bytes. Signed: a node's room can be overdrawn by what
/// already runs there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Res {
    pub cpu: i64,
    pub mem: i64,
}

impl Res {
    pub const ZERO: Res = Res { cpu: 0, mem: 0 };

    pub fn new(cpu: i64, mem: i64) -> Self {
        Res { cpu, mem }
    }

    pub fn times(self, n: u32) -> Res {
        Res {
            cpu: self.cpu * n as i64,
            mem: self.mem * n as i64,
        }
    }

    /// True when `demand` fits in this room in every resource.
    pub fn holds(self, demand: Res) -> bool {
        demand.cpu <= self.cpu && demand.mem <= self.mem
    }

    pub fn min(self, other: Res) -> Res {
        Res {
            cpu: self.cpu.min(other.cpu),
            mem: self.mem.min(other.mem),
        }
    }

    pub fn max(self, other: Res) -> Res {
        Res {
            cpu: self.cpu.max(other.cpu),
            mem: self.mem.max(other.mem),
        }
    }

    pub fn to_resources(self) -> Resources {
        Resources {
            cpu: Quantity::from_cpu_millis(self.cpu.max(0) as u64),
            memory: Quantity::from_bytes(self.mem.max(0) as u64),
        }
    }
}

impl Add for Res {
    type Output = Res;
    fn add(self, o: Res) -> Res {
        Res {
            cpu: self.cpu + o.cpu,
            mem: self.mem + o.mem,
        }
    }
}
impl Sub for Res {
    type Output = Res;
    fn sub(self, o: Res) -> Res {
        Res {
            cpu: self.cpu - o.cpu,
            mem: self.mem - o.mem,
        }
    }
}
impl AddAssign for Res {
    fn add_assign(&mut self, o: Res) {
        *self = *self + o;
    }
}
impl SubAssign for Res {
    fn sub_assign(&mut self, o: Res) {
        *self = *self - o;
    }
}

/// `sizing: Measured` asks for measured p95 × this, never more than was requested.
pub const MEASURED_SIZING_MARGIN: f64 = 1.2;
/// Fraction of each node never planned, when a cluster does not say.
pub const DEFAULT_HEADROOM: f64 = 0.2;

#[derive(Clone, Debug)]
pub struct Estate {
    pub agencies: Vec<Agency>,
    pub clusters: Vec<Cluster>,
    pub nodes: Vec<Node>,
    pub tenancies: Vec<Tenancy>,
    /// Site names; `Cluster::site` indexes this.
    pub sites: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Agency {
    pub name: String,
    pub cost_centre: String,
    pub clearance: Classification,
    pub standalone: StandaloneModel,
}

#[derive(Clone, Debug)]
pub struct Cluster {
    pub name: String,
    pub site: usize,
    pub region: String,
    pub classification: Classification,
    pub cordoned: bool,
    pub headroom: f64,
    pub power: PowerModel,
    /// Node cost per hour, whether rented or capital spread over its lifetime.
    pub node_cost_per_hour: f64,
    /// Indices into `Estate::nodes`.
    pub nodes: std::ops::Range<usize>,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub cluster: usize,
    pub capacity: Res,
    /// Measured p95 of what is not a tenancy.
    pub system_usage: Res,
    /// `(1 - headroom) × capacity - system usage`: what tenancies may be planned into.
    pub room: Res,
    pub standby: bool,
}

#[derive(Clone, Debug)]
pub struct Tenancy {
    /// `namespace/name`.
    pub key: String,
    pub agency: usize,
    pub classification: Classification,
    pub regions: Vec<String>,
    pub dual_site: bool,
    pub pinned: Option<usize>,
    pub workloads: Vec<Workload>,
    /// Where its replicas run now (empty for a new tenancy).
    pub observed: Vec<Placed>,
}

#[derive(Clone, Debug)]
pub struct Workload {
    pub name: String,
    pub replicas: u32,
    pub request: Res,
    /// Measured p95 per replica, when there is history.
    pub usage: Option<Res>,
    /// What one replica is planned (and requested in the member cluster) at.
    pub demand: Res,
}

impl Workload {
    /// The CPU a replica is taken to burn: measured when known, else what it reserved.
    pub fn cpu_use(&self) -> i64 {
        self.usage.map_or(self.demand.cpu, |u| u.cpu)
    }
}

/// Replicas of one workload on one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Placed {
    pub workload: usize,
    pub node: usize,
    pub replicas: u32,
}

impl Estate {
    /// Checks a snapshot and resolves it; every problem names where it is.
    pub fn from_snapshot(snapshot: &EstateSnapshot) -> Result<Estate, SnapshotError> {
        Builder::default().build(snapshot)
    }

    pub fn cluster_of(&self, node: usize) -> &Cluster {
        &self.clusters[self.nodes[node].cluster]
    }

    pub fn total_replicas(&self) -> u64 {
        self.tenancies
            .iter()
            .flat_map(|t| &t.workloads)
            .map(|w| w.replicas as u64)
            .sum()
    }
}

fn invalid(at: impl Into<String>, problem: impl Into<String>) -> SnapshotError {
    SnapshotError::Invalid {
        at: at.into(),
        problem: problem.into(),
    }
}

fn parse_res(r: &Resources, at: &str) -> Result<Res, SnapshotError> {
    let cpu = r
        .cpu
        .cpu_millis()
        .map_err(|e| invalid(format!("{at}.cpu"), e.to_string()))?;
    let mem = r
        .memory
        .bytes()
        .map_err(|e| invalid(format!("{at}.memory"), e.to_string()))?;
    Ok(Res::new(cpu as i64, mem as i64))
}

fn check_name(name: &str, at: &str) -> Result<(), SnapshotError> {
    if name.is_empty() || name.len() > 253 {
        return Err(invalid(at, "a name must have 1 to 253 characters"));
    }
    Ok(())
}

#[derive(Default)]
struct Builder {
    agencies: BTreeMap<String, usize>,
    clusters: BTreeMap<String, usize>,
    nodes: BTreeMap<(usize, String), usize>,
    sites: BTreeMap<String, usize>,
}

impl Builder {
    fn build(mut self, s: &EstateSnapshot) -> Result<Estate, SnapshotError> {
        let mut estate = Estate {
            agencies: Vec::new(),
            clusters: Vec::new(),
            nodes: Vec::new(),
            tenancies: Vec::new(),
            sites: Vec::new(),
        };
        for (i, a) in s.agencies.iter().enumerate() {
            let at = format!("agencies[{i}]");
            check_name(&a.metadata.name, &format!("{at}.metadata.name"))?;
            if self.agencies.insert(a.metadata.name.clone(), i).is_some() {
                return Err(invalid(
                    &at,
                    format!("a second agency named {:?}", a.metadata.name),
                ));
            }
            estate.agencies.push(Agency {
                name: a.metadata.name.clone(),
                cost_centre: a.spec.cost_centre.clone(),
                clearance: a.spec.max_classification,
                standalone: StandaloneModel::from_spec(a.spec.standalone.as_ref()),
            });
        }
        let mut node_names = BTreeMap::new();
        for (i, c) in s.clusters.iter().enumerate() {
            let at = format!("clusters[{i}]");
            check_name(&c.metadata.name, &format!("{at}.metadata.name"))?;
            if self.clusters.insert(c.metadata.name.clone(), i).is_some() {
                return Err(invalid(
                    &at,
                    format!("a second cluster named {:?}", c.metadata.name),
                ));
            }
            let headroom = c.spec.headroom.unwrap_or(DEFAULT_HEADROOM);
            if !(0.0..0.95).contains(&headroom) {
                return Err(invalid(
                    format!("{at}.spec.headroom"),
                    format!("{headroom} is not in [0, 0.95)"),
                ));
            }
            let next_site = self.sites.len();
            let site = *self.sites.entry(c.spec.site.clone()).or_insert(next_site);
            if site == estate.sites.len() {
                estate.sites.push(c.spec.site.clone());
            }
            let power = PowerModel::from_spec(c.spec.power.as_ref());
            let first = estate.nodes.len();
            for (j, n) in c.nodes.iter().enumerate() {
                let nat = format!("{at}.nodes[{j}]");
                check_name(&n.name, &format!("{nat}.name"))?;
                if let Some(other) = node_names.insert(n.name.clone(), c.metadata.name.clone()) {
                    return Err(invalid(
                        &nat,
                        format!(
                            "node {:?} is already in cluster {other:?}; node names must be unique across the estate",
                            n.name
                        ),
                    ));
                }
                let capacity = parse_res(&n.capacity, &format!("{nat}.capacity"))?;
                let system_usage = match &n.usage {
                    Some(u) => parse_res(u, &format!("{nat}.usage"))?,
                    None => Res::ZERO,
                };
                let plannable = Res::new(
                    ((1.0 - headroom) * capacity.cpu as f64).floor() as i64,
                    ((1.0 - headroom) * capacity.mem as f64).floor() as i64,
                );
                self.nodes.insert((i, n.name.clone()), estate.nodes.len());
                estate.nodes.push(Node {
                    name: n.name.clone(),
                    cluster: i,
                    capacity,
                    system_usage,
                    room: plannable - system_usage,
                    standby: n.power_state == PowerState::Standby,
                });
            }
            estate.clusters.push(Cluster {
                name: c.metadata.name.clone(),
                site,
                region: c.spec.region.clone(),
                classification: c.spec.classification,
                cordoned: c.spec.cordoned,
                headroom,
                power,
                node_cost_per_hour: crate::model::node_cost_per_hour(c.spec.cost.as_ref()),
                nodes: first..estate.nodes.len(),
            });
        }
        let mut keys = BTreeSet::new();
        for (i, t) in s.tenancies.iter().enumerate() {
            let tenancy = self.tenancy(i, t, &mut keys)?;
            estate.tenancies.push(tenancy);
        }
        Ok(estate)
    }

    fn tenancy(
        &self,
        i: usize,
        t: &crate::snapshot::TenancyEntry,
        keys: &mut BTreeSet<String>,
    ) -> Result<Tenancy, SnapshotError> {
        let namespace = t.metadata.namespace.clone().unwrap_or_default();
        let key = format!("{namespace}/{}", t.metadata.name);
        let at = format!("tenancies[{i}] ({key})");
        if namespace.is_empty() {
            return Err(invalid(
                format!("{at}.metadata.namespace"),
                "a tenancy needs a namespace",
            ));
        }
        check_name(&t.metadata.name, &format!("{at}.metadata.name"))?;
        if !keys.insert(key.clone()) {
            return Err(invalid(&at, format!("a second tenancy {key}")));
        }
        let spec = &t.spec;
        let agency = *self.agencies.get(&spec.agency).ok_or_else(|| {
            invalid(
                format!("{at}.spec.agency"),
                format!("no agency named {:?} in the snapshot", spec.agency),
            )
        })?;
        let pinned = match &spec.cluster {
            Some(name) => Some(*self.clusters.get(name).ok_or_else(|| {
                invalid(
                    format!("{at}.spec.cluster"),
                    format!("no cluster named {name:?} in the snapshot"),
                )
            })?),
            None => None,
        };
        if spec.workloads.is_empty() {
            return Err(invalid(
                format!("{at}.spec.workloads"),
                "a tenancy needs at least one workload",
            ));
        }
        let dual_site = spec.resilience == Resilience::DualSite;
        let observed = t.observed.clone().unwrap_or_default();
        let mut workloads = Vec::new();
        let mut names = BTreeSet::new();
        for (j, w) in spec.workloads.iter().enumerate() {
            let wat = format!("{at}.spec.workloads[{j}]");
            if !names.insert(w.name.as_str()) {
                return Err(invalid(
                    &wat,
                    format!("a second workload named {:?}", w.name),
                ));
            }
            if w.replicas < 1 || (dual_site && w.replicas < 2) {
                let least = if dual_site { "2 (DualSite)" } else { "1" };
                return Err(invalid(
                    format!("{wat}.replicas"),
                    format!("{} is below {least}", w.replicas),
                ));
            }
            let request = parse_res(
                &Resources {
                    cpu: w.cpu.clone(),
                    memory: w.memory.clone(),
                },
                &wat,
            )?;
            if request.cpu <= 0 || request.mem <= 0 {
                return Err(invalid(&wat, "cpu and memory must be positive"));
            }
            let usage = match observed.usage.get(&w.name) {
                Some(u) => Some(parse_res(u, &format!("{at}.observed.usage.{}", w.name))?),
                None => None,
            };
            let demand = match (spec.sizing, usage) {
                (Sizing::Measured, Some(u)) => Res::new(
                    ((u.cpu as f64 * MEASURED_SIZING_MARGIN).ceil() as i64).max(1),
                    ((u.mem as f64 * MEASURED_SIZING_MARGIN).ceil() as i64).max(1),
                )
                .min(request),
                _ => request,
            };
            workloads.push(Workload {
                name: w.name.clone(),
                replicas: w.replicas as u32,
                request,
                usage,
                demand,
            });
        }
        for name in observed.usage.keys() {
            if !names.contains(name.as_str()) {
                return Err(invalid(
                    format!("{at}.observed.usage"),
                    format!("no workload named {name:?}"),
                ));
            }
        }
        let mut placed = Vec::new();
        for (j, a) in observed.assignments.iter().enumerate() {
            let aat = format!("{at}.observed.assignments[{j}]");
            let workload = spec
                .workloads
                .iter()
                .position(|w| w.name == a.workload)
                .ok_or_else(|| {
                    invalid(
                        format!("{aat}.workload"),
                        format!("no workload named {:?}", a.workload),
                    )
                })?;
            let cluster = *self.clusters.get(&a.cluster).ok_or_else(|| {
                invalid(
                    format!("{aat}.cluster"),
                    format!("no cluster named {:?}", a.cluster),
                )
            })?;
            let node = *self.nodes.get(&(cluster, a.node.clone())).ok_or_else(|| {
                invalid(
                    format!("{aat}.node"),
                    format!("no node {:?} in cluster {:?}", a.node, a.cluster),
                )
            })?;
            if a.replicas < 1 {
                return Err(invalid(
                    format!("{aat}.replicas"),
                    format!("{} is below 1", a.replicas),
                ));
            }
            placed.push(Placed {
                workload,
                node,
                replicas: a.replicas as u32,
            });
        }
        Ok(Tenancy {
            key,
            agency,
            classification: spec.classification,
            regions: spec.regions.clone(),
            dual_site,
            pinned,
            workloads,
            observed: placed,
        })
    }
}
