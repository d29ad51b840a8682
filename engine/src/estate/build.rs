//! Reading a snapshot into the estate: each agency, cluster, node and tenancy checked and
//! resolved, every problem named by where it is (strict: the first refuses the snapshot;
//! lenient: the object is left out and refused on its own).

use std::collections::{BTreeMap, BTreeSet};

use colo_api::quantity::{MAX_CPU_MILLIS, MAX_MEMORY_BYTES};
use colo_api::{Quantity, Resilience, Resources, Sizing};

use super::*;
use crate::model::{PowerModel, StandaloneModel};
use crate::snapshot::{EstateSnapshot, PowerState, SnapshotError};

/// The demand of a `sizing: Measured` replica with measured use `usage`: the one rule of
/// `sizing` (what the operator applies), in the estate's units.
fn measured_demand(request: Res, usage: Res) -> Res {
    let size = |r: Res| crate::sizing::Size {
        cpu_millis: r.cpu.max(0) as u64,
        memory_bytes: r.mem.max(0) as u64,
    };
    let sized = crate::sizing::demand(size(request), size(usage));
    Res::new(sized.cpu_millis as i64, sized.memory_bytes as i64)
}

pub(super) fn invalid(at: impl Into<String>, problem: impl Into<String>) -> SnapshotError {
    SnapshotError::Invalid {
        at: at.into(),
        problem: problem.into(),
    }
}

/// A problem with a field of the object being built: (field, problem).
type Problem = (String, String);

fn problem(field: impl Into<String>, text: impl Into<String>) -> Problem {
    (field.into(), text.into())
}

/// Milli-cores and bytes, within what the engine's integers hold.
fn parse_res(r: &Resources, field: &str) -> Result<Res, Problem> {
    let join = |name: &str| {
        if field.is_empty() {
            name.to_string()
        } else {
            format!("{field}.{name}")
        }
    };
    let cpu = r
        .cpu
        .cpu_millis()
        .map_err(|e| problem(join("cpu"), e.to_string()))?;
    let mem = r
        .memory
        .bytes()
        .map_err(|e| problem(join("memory"), e.to_string()))?;
    let fits = |v: u64, name: &str, q: &Quantity| {
        i64::try_from(v).map_err(|_| problem(join(name), format!("{q} is too large")))
    };
    Ok(Res::new(
        fits(cpu, "cpu", &r.cpu)?,
        fits(mem, "memory", &r.memory)?,
    ))
}

/// The per-replica request of a workload, checked against what one replica may ask for.
pub fn workload_request(cpu: &Quantity, memory: &Quantity) -> Result<Res, Problem> {
    let request = parse_res(
        &Resources {
            cpu: cpu.clone(),
            memory: memory.clone(),
        },
        "",
    )?;
    if request.cpu <= 0 {
        return Err(problem("cpu", format!("{cpu} is not positive")));
    }
    if request.mem <= 0 {
        return Err(problem("memory", format!("{memory} is not positive")));
    }
    if request.cpu as u64 > MAX_CPU_MILLIS {
        return Err(problem(
            "cpu",
            format!("{cpu} is more than one replica may ask for: at most 4096 cores"),
        ));
    }
    if request.mem as u64 > MAX_MEMORY_BYTES {
        return Err(problem(
            "memory",
            format!("{memory} is more than one replica may ask for: at most 64Ti"),
        ));
    }
    Ok(request)
}

fn check_name(name: &str, field: &str) -> Result<(), Problem> {
    if name.is_empty() || name.len() > 253 {
        return Err(problem(field, "a name must have 1 to 253 characters"));
    }
    Ok(())
}

#[derive(Default)]
pub(super) struct Builder {
    agencies: BTreeMap<String, usize>,
    clusters: BTreeMap<String, usize>,
    nodes: BTreeMap<(usize, String), usize>,
    sites: BTreeMap<String, usize>,
    refused: Vec<Refusal>,
    lenient: bool,
}

impl Builder {
    /// Keeps `result`, or records its problem: refused (lenient) or the error (strict).
    fn keep<T>(
        &mut self,
        result: Result<T, Problem>,
        at: &str,
        tenancy: Option<&str>,
    ) -> Result<Option<T>, SnapshotError> {
        match result {
            Ok(v) => Ok(Some(v)),
            Err((field, problem)) => {
                let refusal = Refusal {
                    tenancy: tenancy.map(str::to_string),
                    at: at.to_string(),
                    field,
                    problem,
                };
                if !self.lenient {
                    return Err(refusal.to_error());
                }
                self.refused.push(refusal);
                Ok(None)
            }
        }
    }

    pub(super) fn build(
        mut self,
        s: &EstateSnapshot,
        lenient: bool,
    ) -> Result<(Estate, Vec<Refusal>), SnapshotError> {
        self.lenient = lenient;
        let mut estate = Estate {
            agencies: Vec::new(),
            clusters: Vec::new(),
            nodes: Vec::new(),
            tenancies: Vec::new(),
            sites: Vec::new(),
        };
        for (i, a) in s.agencies.iter().enumerate() {
            let at = format!("agencies[{i}]");
            let agency = self.agency(a, estate.agencies.len());
            if let Some(agency) = self.keep(agency, &at, None)? {
                estate.agencies.push(agency);
            }
        }
        for (i, c) in s.clusters.iter().enumerate() {
            let at = format!("clusters[{i}]");
            let cluster = self.cluster(c, estate.clusters.len(), &mut estate);
            if let Some(mut cluster) = self.keep(cluster, &at, None)? {
                cluster.nodes = self.nodes(c, &at, cluster.headroom, &mut estate)?;
                estate.clusters.push(cluster);
            }
        }
        let mut keys = BTreeSet::new();
        for (i, t) in s.tenancies.iter().enumerate() {
            let key = format!(
                "{}/{}",
                t.metadata.namespace.clone().unwrap_or_default(),
                t.metadata.name
            );
            let at = format!("tenancies[{i}] ({key})");
            let tenancy = self.tenancy(t, &key, &mut keys);
            if let Some(tenancy) = self.keep(tenancy, &at, Some(&key))? {
                estate.tenancies.push(tenancy);
            }
        }
        Ok((estate, self.refused))
    }

    fn agency(
        &mut self,
        a: &crate::snapshot::AgencyEntry,
        index: usize,
    ) -> Result<Agency, Problem> {
        check_name(&a.metadata.name, "metadata.name")?;
        if self.agencies.contains_key(&a.metadata.name) {
            return Err(problem(
                "",
                format!("a second agency named {:?}", a.metadata.name),
            ));
        }
        self.agencies.insert(a.metadata.name.clone(), index);
        Ok(Agency {
            name: a.metadata.name.clone(),
            cost_centre: a.spec.cost_centre.clone(),
            clearance: a.spec.max_classification,
            standalone: StandaloneModel::from_spec(a.spec.standalone.as_ref()),
        })
    }

    /// The cluster without its nodes (they follow, in `nodes`).
    fn cluster(
        &mut self,
        c: &crate::snapshot::ClusterEntry,
        index: usize,
        estate: &mut Estate,
    ) -> Result<Cluster, Problem> {
        check_name(&c.metadata.name, "metadata.name")?;
        if self.clusters.contains_key(&c.metadata.name) {
            return Err(problem(
                "",
                format!("a second cluster named {:?}", c.metadata.name),
            ));
        }
        let headroom = c.spec.headroom.unwrap_or(DEFAULT_HEADROOM);
        if !(0.0..0.95).contains(&headroom) {
            return Err(problem(
                "spec.headroom",
                format!("{headroom} is not in [0, 0.95)"),
            ));
        }
        self.clusters.insert(c.metadata.name.clone(), index);
        let next_site = self.sites.len();
        let site = *self.sites.entry(c.spec.site.clone()).or_insert(next_site);
        if site == estate.sites.len() {
            estate.sites.push(c.spec.site.clone());
        }
        Ok(Cluster {
            name: c.metadata.name.clone(),
            site,
            region: c.spec.region.clone(),
            classification: c.spec.classification,
            cordoned: c.spec.cordoned,
            headroom,
            unavailable: c.unavailable.clone(),
            power: PowerModel::from_spec(c.spec.power.as_ref()),
            node_cost_per_hour: crate::model::node_cost_per_hour(c.spec.cost.as_ref()),
            nodes: 0..0,
        })
    }

    /// The nodes of the cluster about to be added, appended to the estate: which they are.
    fn nodes(
        &mut self,
        c: &crate::snapshot::ClusterEntry,
        at: &str,
        headroom: f64,
        estate: &mut Estate,
    ) -> Result<std::ops::Range<usize>, SnapshotError> {
        let index = estate.clusters.len();
        let first = estate.nodes.len();
        for (j, n) in c.nodes.iter().enumerate() {
            let node = self.node(n, index, headroom);
            if let Some(node) = self.keep(node, &format!("{at}.nodes[{j}]"), None)? {
                self.nodes
                    .insert((index, n.name.clone()), estate.nodes.len());
                estate.nodes.push(node);
            }
        }
        Ok(first..estate.nodes.len())
    }

    fn node(
        &self,
        n: &crate::snapshot::NodeEntry,
        cluster: usize,
        headroom: f64,
    ) -> Result<Node, Problem> {
        check_name(&n.name, "name")?;
        // Node names are the member's own: unique within a cluster, not across the estate.
        if self.nodes.contains_key(&(cluster, n.name.clone())) {
            return Err(problem(
                "name",
                format!("a second node named {:?} in this cluster", n.name),
            ));
        }
        let capacity = parse_res(&n.capacity, "capacity")?;
        let system_usage = match &n.usage {
            Some(u) => parse_res(u, "usage")?,
            None => Res::ZERO,
        };
        // Pod slots are a hard limit, not a load: no headroom; other pods take theirs.
        let pods = n.pods.unwrap_or(DEFAULT_MAX_PODS) as i64;
        let capacity = Res { pods, ..capacity };
        let system_usage = Res {
            pods: n.other_pods.unwrap_or(0) as i64,
            ..system_usage
        };
        let plannable = Res {
            cpu: ((1.0 - headroom) * capacity.cpu as f64).floor() as i64,
            mem: ((1.0 - headroom) * capacity.mem as f64).floor() as i64,
            pods,
        };
        Ok(Node {
            name: n.name.clone(),
            cluster,
            capacity,
            system_usage,
            room: plannable - system_usage,
            standby: n.power_state == PowerState::Standby,
            closed: n.power_state == PowerState::Cordoned,
        })
    }

    fn tenancy(
        &self,
        t: &crate::snapshot::TenancyEntry,
        key: &str,
        keys: &mut BTreeSet<String>,
    ) -> Result<Tenancy, Problem> {
        if t.metadata
            .namespace
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        {
            return Err(problem("metadata.namespace", "a tenancy needs a namespace"));
        }
        check_name(&t.metadata.name, "metadata.name")?;
        if !keys.insert(key.to_string()) {
            return Err(problem("", format!("a second tenancy {key}")));
        }
        let spec = &t.spec;
        let agency = *self.agencies.get(&spec.agency).ok_or_else(|| {
            problem(
                "spec.agency",
                format!("no agency named {:?} in the snapshot", spec.agency),
            )
        })?;
        let pinned = match &spec.cluster {
            Some(name) => Some(*self.clusters.get(name).ok_or_else(|| {
                problem(
                    "spec.cluster",
                    format!("no cluster named {name:?} in the snapshot"),
                )
            })?),
            None => None,
        };
        let observed = t.observed.clone().unwrap_or_default();
        let workloads = self.workloads(spec, &observed)?;
        let placed = self.observed_assignments(spec, &observed)?;
        Ok(Tenancy {
            key: key.to_string(),
            agency,
            classification: spec.classification,
            regions: spec.regions.clone(),
            dual_site: spec.resilience == Resilience::DualSite,
            pinned,
            workloads,
            observed: placed,
        })
    }

    fn workloads(
        &self,
        spec: &colo_api::TenancySpec,
        observed: &crate::snapshot::Observed,
    ) -> Result<Vec<Workload>, Problem> {
        if spec.workloads.is_empty() {
            return Err(problem(
                "spec.workloads",
                "a tenancy needs at least one workload",
            ));
        }
        let dual_site = spec.resilience == Resilience::DualSite;
        let mut workloads = Vec::new();
        let mut names = BTreeSet::new();
        for (j, w) in spec.workloads.iter().enumerate() {
            let wat = format!("spec.workloads[{j}]");
            if !names.insert(w.name.as_str()) {
                return Err(problem(
                    &wat,
                    format!("a second workload named {:?}", w.name),
                ));
            }
            if w.replicas < 1 || (dual_site && w.replicas < 2) {
                let least = if dual_site { "2 (DualSite)" } else { "1" };
                return Err(problem(
                    format!("{wat}.replicas"),
                    format!("{} is below {least}", w.replicas),
                ));
            }
            let request = workload_request(&w.cpu, &w.memory)
                .map_err(|(field, p)| problem(format!("{wat}.{field}"), p))?;
            // Measured usage past what any replica may ask for is a broken measurement.
            let most = Res::new(MAX_CPU_MILLIS as i64, MAX_MEMORY_BYTES as i64);
            let usage = match observed.usage.get(&w.name) {
                Some(u) => Some(parse_res(u, &format!("observed.usage.{}", w.name))?.min(most)),
                None => None,
            };
            let applied = match observed.requests.get(&w.name) {
                Some(r) => {
                    Some(parse_res(r, &format!("observed.requests.{}", w.name))?.min(request))
                }
                None => None,
            };
            // As applied when it is (the size kube-scheduler counts), else the size a new
            // placement would be applied with: the one rule of `sizing`.
            let demand = match (spec.sizing, applied, usage) {
                (Sizing::Measured, Some(a), _) => a,
                (Sizing::Measured, None, Some(u)) => measured_demand(request, u),
                _ => request,
            }
            .one_pod();
            workloads.push(Workload {
                name: w.name.clone(),
                replicas: w.replicas as u32,
                request,
                usage,
                demand,
            });
        }
        for (field, keys) in [
            ("observed.usage", observed.usage.keys().collect::<Vec<_>>()),
            ("observed.requests", observed.requests.keys().collect()),
        ] {
            if let Some(name) = keys.iter().find(|n| !names.contains(n.as_str())) {
                return Err(problem(field, format!("no workload named {name:?}")));
            }
        }
        Ok(workloads)
    }

    fn observed_assignments(
        &self,
        spec: &colo_api::TenancySpec,
        observed: &crate::snapshot::Observed,
    ) -> Result<Vec<Assigned>, Problem> {
        let mut placed = Vec::new();
        for (j, a) in observed.assignments.iter().enumerate() {
            let aat = format!("observed.assignments[{j}]");
            let workload = spec
                .workloads
                .iter()
                .position(|w| w.name == a.workload)
                .ok_or_else(|| {
                    problem(
                        format!("{aat}.workload"),
                        format!("no workload named {:?}", a.workload),
                    )
                })?;
            let cluster = *self.clusters.get(&a.cluster).ok_or_else(|| {
                problem(
                    format!("{aat}.cluster"),
                    format!("no cluster named {:?}", a.cluster),
                )
            })?;
            let node = *self.nodes.get(&(cluster, a.node.clone())).ok_or_else(|| {
                problem(
                    format!("{aat}.node"),
                    format!("no node {:?} in cluster {:?}", a.node, a.cluster),
                )
            })?;
            if a.replicas < 1 {
                return Err(problem(
                    format!("{aat}.replicas"),
                    format!("{} is below 1", a.replicas),
                ));
            }
            placed.push(Assigned {
                workload,
                node,
                replicas: a.replicas as u32,
            });
        }
        Ok(placed)
    }
}
