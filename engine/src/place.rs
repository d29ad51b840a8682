//! Placing new tenancies: which cluster (or, for DualSite, which pair of sites), then which nodes.
//!
//! Each candidate cluster is tried on the live packing and rolled back; the best by
//! (nodes opened, energy cost, carbon, cluster preference) wins. Every exclusion keeps its reason.

use crate::constraints::{clearance_exclusion, exclusion, per_site_limit};
use crate::estate::{Estate, Res, amount, reference_capacity, size_key};
use crate::pack::{Heuristic, Packing};

/// One replica going to one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Put {
    pub workload: usize,
    pub node: usize,
}

/// The result of trying a cluster for (part of) a tenancy.
#[derive(Clone, Debug)]
struct Trial {
    cluster: usize,
    opened: usize,
    /// Capacity of the nodes opened, in parts per million of the reference node: between two
    /// trials that open as many nodes, the bigger nodes leave room for more (fewer nodes overall).
    opened_size: i64,
    cost: f64,
    carbon: f64,
    puts: Vec<Put>,
}

impl Trial {
    fn key(&self, preference: &[usize]) -> (usize, i64, i64, i64, usize) {
        // Rounded to a thousandth so float noise never decides; then the cluster preference.
        let rank = preference[self.cluster];
        let cost = (self.cost * 1000.0).round() as i64;
        (
            self.opened,
            -self.opened_size,
            cost,
            (self.carbon * 1000.0).round() as i64,
            rank,
        )
    }
}

/// How a tenancy was placed, or why not.
#[derive(Clone, Debug)]
pub enum Outcome {
    Placed {
        clusters: Vec<usize>,
        why: String,
        excluded: Vec<(usize, String)>,
    },
    Unplaced {
        reason: String,
        excluded: Vec<(usize, String)>,
        /// A replica is larger than every node the tenancy may use: it never fits until its
        /// spec or the estate's nodes change (not merely until room is freed).
        too_large: bool,
    },
}

/// Cluster preference: cheapest marginal energy per core first (price × PUE × dynamic watts
/// per core), then lowest carbon, then name. Returns each cluster's rank.
pub fn cluster_preference(estate: &Estate) -> Vec<usize> {
    let mut order: Vec<usize> = (0..estate.clusters.len()).collect();
    let per_core = |c: usize| {
        let cl = &estate.clusters[c];
        let cores = cl
            .nodes
            .clone()
            .map(|n| estate.nodes[n].capacity.cpu)
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let room = &cl.power.room;
        let watts = cl.power.server.dynamic_watts() * room.pue / cores;
        (
            watts * room.price_per_kwh,
            watts * room.carbon_grams_per_kwh,
        )
    };
    order.sort_by(|&a, &b| {
        let (ca, ga) = per_core(a);
        let (cb, gb) = per_core(b);
        ca.total_cmp(&cb)
            .then(ga.total_cmp(&gb))
            .then(estate.clusters[a].name.cmp(&estate.clusters[b].name))
    });
    let mut rank = vec![0; order.len()];
    for (i, c) in order.into_iter().enumerate() {
        rank[c] = i;
    }
    rank
}

pub struct Placer<'p, 'e> {
    pub packing: &'p mut Packing<'e>,
    pub heuristic: Heuristic,
    /// Rank of each cluster (lower is preferred).
    pub preference: Vec<usize>,
    /// Clusters in preference order.
    pub by_preference: Vec<usize>,
    reference: Res,
}

impl<'p, 'e> Placer<'p, 'e> {
    pub fn new(packing: &'p mut Packing<'e>, heuristic: Heuristic) -> Self {
        let preference = cluster_preference(packing.estate);
        let mut by_preference: Vec<usize> = (0..preference.len()).collect();
        by_preference.sort_by_key(|&c| preference[c]);
        let reference = reference_capacity(packing.estate);
        Placer {
            packing,
            heuristic,
            preference,
            by_preference,
            reference,
        }
    }

    /// Places every replica of tenancy `t`, or none of them.
    pub fn place(&mut self, t: usize) -> Outcome {
        let estate = self.packing.estate;
        let tenancy = &estate.tenancies[t];
        if let Some(reason) = clearance_exclusion(estate, tenancy) {
            return Outcome::Unplaced {
                reason,
                excluded: Vec::new(),
                too_large: false,
            };
        }
        let mut excluded = Vec::new();
        let mut eligible = Vec::new();
        for &c in &self.by_preference {
            match exclusion(estate, tenancy, c) {
                Some(why) => excluded.push((c, why)),
                None => eligible.push(c),
            }
        }
        if eligible.is_empty() {
            return Outcome::Unplaced {
                reason: "no cluster meets the tenancy's constraints".into(),
                excluded,
                too_large: false,
            };
        }
        if let Some(reason) = too_large(estate, tenancy, &eligible) {
            return Outcome::Unplaced {
                reason,
                excluded,
                too_large: true,
            };
        }
        if tenancy.dual_site {
            self.place_dual_site(t, &eligible, excluded)
        } else {
            self.place_single_site(t, &eligible, excluded)
        }
    }

    fn place_single_site(
        &mut self,
        t: usize,
        eligible: &[usize],
        mut excluded: Vec<(usize, String)>,
    ) -> Outcome {
        let all = |w: &crate::estate::Workload| w.replicas;
        let mut best: Option<Trial> = None;
        let mut tried = Vec::new();
        let mut untried = Vec::new();
        for (i, &c) in eligible.iter().enumerate() {
            match self.trial(t, c, &all) {
                Ok(trial) => {
                    let done = trial.opened == 0;
                    if best
                        .as_ref()
                        .is_none_or(|b| trial.key(&self.preference) < b.key(&self.preference))
                    {
                        if let Some(old) = best.replace(trial) {
                            tried.push(old);
                        }
                    } else {
                        tried.push(trial);
                    }
                    // Nothing beats fitting on already-active nodes of the cheapest cluster.
                    if done {
                        untried.extend_from_slice(&eligible[i + 1..]);
                        break;
                    }
                }
                Err(why) => excluded.push((c, why)),
            }
        }
        let Some(best) = best else {
            return Outcome::Unplaced {
                reason: "no eligible cluster has room".into(),
                excluded,
                too_large: false,
            };
        };
        for other in tried {
            excluded.push((other.cluster, self.worse(&other, &best)));
        }
        let chosen = &self.packing.estate.clusters[best.cluster].name;
        for c in untried {
            excluded.push((
                c,
                format!(
                    "dearer energy per core than {chosen}, where it fits on nodes already running"
                ),
            ));
        }
        let why = self.why(&best);
        self.commit(t, &best.puts);
        Outcome::Placed {
            clusters: vec![best.cluster],
            why,
            excluded,
        }
    }

    fn place_dual_site(
        &mut self,
        t: usize,
        eligible: &[usize],
        mut excluded: Vec<(usize, String)>,
    ) -> Outcome {
        let estate = self.packing.estate;
        let site = |c: usize| estate.clusters[c].site;
        let mut sites: Vec<usize> = eligible.iter().map(|&c| site(c)).collect();
        sites.sort();
        sites.dedup();
        if sites.len() < 2 {
            let only = sites.first().map_or("none", |&s| estate.sites[s].as_str());
            return Outcome::Unplaced {
                reason: format!(
                    "DualSite needs clusters in two sites; the eligible ones are all in {only}"
                ),
                excluded,
                too_large: false,
            };
        }
        // The larger half (ceil) at one site, the rest at another: no site above ceil(r/2).
        let larger = |w: &crate::estate::Workload| per_site_limit(w.replicas);
        let smaller = |w: &crate::estate::Workload| w.replicas - per_site_limit(w.replicas);
        let mut halves = Vec::new();
        for &c in eligible {
            match (self.trial(t, c, &larger), self.trial(t, c, &smaller)) {
                (Ok(big), Ok(small)) => halves.push((big, small)),
                (Err(why), _) | (_, Err(why)) => excluded.push((c, why)),
            }
        }
        let best = self.cheapest_pair(&halves);
        let Some((big, small)) = best else {
            return Outcome::Unplaced {
                reason: "DualSite needs room in two sites; only one site has room".into(),
                excluded,
                too_large: false,
            };
        };
        let (big, small) = (big.clone(), small.clone());
        for (b, _) in &halves {
            if b.cluster != big.cluster && b.cluster != small.cluster {
                excluded.push((
                    b.cluster,
                    "another pair of sites was cheaper or needed fewer nodes".into(),
                ));
            }
        }
        let why = format!(
            "split over {} ({}) and {} ({}) so that either site can be lost; {}",
            estate.clusters[big.cluster].name,
            estate.sites[site(big.cluster)],
            estate.clusters[small.cluster].name,
            estate.sites[site(small.cluster)],
            opened_phrase(big.opened + small.opened)
        );
        self.commit(t, &big.puts);
        self.commit(t, &small.puts);
        Outcome::Placed {
            clusters: vec![big.cluster, small.cluster],
            why,
            excluded,
        }
    }

    /// Of every (larger half, smaller half) at two different sites, the cheapest pair: fewest
    /// nodes opened, then least energy and carbon, then the most preferred clusters.
    fn cheapest_pair<'a>(&self, halves: &'a [(Trial, Trial)]) -> Option<(&'a Trial, &'a Trial)> {
        let estate = self.packing.estate;
        let site = |c: usize| estate.clusters[c].site;
        let mut best: Option<(&Trial, &Trial)> = None;
        let key = |a: &Trial, b: &Trial| {
            let (ka, kb) = (a.key(&self.preference), b.key(&self.preference));
            (
                ka.0 + kb.0,
                ka.1.saturating_add(kb.1),
                ka.2.saturating_add(kb.2),
                ka.3.saturating_add(kb.3),
                ka.4.min(kb.4),
                ka.4.max(kb.4),
            )
        };
        for (big, _) in halves {
            for (_, small) in halves {
                if site(big.cluster) == site(small.cluster) {
                    continue;
                }
                if best.is_none_or(|(a, b)| key(big, small) < key(a, b)) {
                    best = Some((big, small));
                }
            }
        }
        best
    }

    /// Tries `replicas(w)` replicas of each workload of `t` on cluster `c`, then rolls back.
    fn trial(
        &mut self,
        t: usize,
        c: usize,
        replicas: &dyn Fn(&crate::estate::Workload) -> u32,
    ) -> Result<Trial, String> {
        let estate = self.packing.estate;
        let tenancy = &estate.tenancies[t];
        let mark = self.packing.mark();
        let mut trial = Trial {
            cluster: c,
            opened: 0,
            opened_size: 0,
            cost: 0.0,
            carbon: 0.0,
            puts: Vec::new(),
        };
        let mut order: Vec<usize> = (0..tenancy.workloads.len()).collect();
        order.sort_by_key(|&w| {
            std::cmp::Reverse(size_key(self.reference, tenancy.workloads[w].demand))
        });
        let mut failure = None;
        'workloads: for w in order {
            let workload = &tenancy.workloads[w];
            for _ in 0..replicas(workload) {
                let found = match self.packing.may_fit(c, workload.demand) {
                    true => self.packing.choose(c, workload.demand, self.heuristic),
                    false => None,
                };
                let Some(node) = found else {
                    self.packing.refresh_most_free(c);
                    failure = Some(self.no_room(c, workload.demand, &workload.name));
                    break 'workloads;
                };
                if self.packing.replicas_on(node) == 0 {
                    trial.opened += 1;
                    trial.opened_size += size_key(self.reference, estate.nodes[node].room);
                    let (cost, carbon) = self.packing.wake_cost(node);
                    trial.cost += cost;
                    trial.carbon += carbon;
                }
                let (cost, carbon) = self.packing.dynamic_cost(node, workload.cpu_use());
                trial.cost += cost;
                trial.carbon += carbon;
                self.packing.put(node, workload.demand);
                trial.puts.push(Put { workload: w, node });
            }
        }
        self.packing.rollback(mark);
        match failure {
            Some(why) => Err(why),
            None => Ok(trial),
        }
    }

    fn commit(&mut self, t: usize, puts: &[Put]) {
        let demand = |w: usize| self.packing.estate.tenancies[t].workloads[w].demand;
        for p in puts {
            self.packing.put(p.node, demand(p.workload));
            self.packing.record(t, p.workload, p.node, 1);
        }
        self.packing.commit();
    }

    fn why(&self, best: &Trial) -> String {
        let estate = self.packing.estate;
        let c = &estate.clusters[best.cluster];
        format!(
            "on {} ({}): {}, at the lowest energy cost ({:.2}/month for this tenancy at {} per kWh, PUE {})",
            c.name,
            estate.sites[c.site],
            opened_phrase(best.opened),
            best.cost,
            c.power.room.price_per_kwh,
            c.power.room.pue
        )
    }

    fn worse(&self, other: &Trial, best: &Trial) -> String {
        if other.opened > best.opened {
            format!("would power on {} more node(s)", other.opened - best.opened)
        } else {
            format!(
                "costlier energy ({:.2} vs {:.2} per month)",
                other.cost, best.cost
            )
        }
    }
}

fn opened_phrase(opened: usize) -> String {
    match opened {
        0 => "fits on nodes already running".into(),
        1 => "needs 1 more node powered on".into(),
        n => format!("needs {n} more nodes powered on"),
    }
}

impl Placer<'_, '_> {
    /// No node of cluster `c` has room for `demand` now: and the most any node has, where.
    fn no_room(&self, c: usize, demand: Res, workload: &str) -> String {
        let estate = self.packing.estate;
        let most = estate.clusters[c]
            .nodes
            .clone()
            .filter(|&n| !estate.nodes[n].standby)
            .max_by_key(|&n| size_key(self.reference, self.packing.free(n).max(Res::ZERO)));
        let mut text = format!(
            "no node has room for a replica of {workload} ({}) within headroom",
            amount(demand)
        );
        if let Some(n) = most {
            let free = self.packing.free(n).max(Res::ZERO);
            text.push_str(&format!(
                "; the most free is {} on {}",
                amount(free),
                estate.nodes[n].name
            ));
        }
        text
    }
}

/// When a replica of some workload is larger than every node the tenancy may use (even an
/// empty one): what it asks and what the largest node has.
fn too_large(
    estate: &Estate,
    tenancy: &crate::estate::Tenancy,
    eligible: &[usize],
) -> Option<String> {
    let nodes: Vec<usize> = eligible
        .iter()
        .flat_map(|&c| estate.clusters[c].nodes.clone())
        .collect();
    let reference = reference_capacity(estate);
    let w = tenancy
        .workloads
        .iter()
        .find(|w| !nodes.iter().any(|&n| estate.nodes[n].room.holds(w.demand)))?;
    let largest = nodes
        .iter()
        .copied()
        .max_by_key(|&n| size_key(reference, estate.nodes[n].capacity))?;
    let node = &estate.nodes[largest];
    Some(format!(
        "a replica of {} asks {}, more than any node it may use can hold: the largest, {}/{}, has {} allocatable ({} after headroom and system use)",
        w.name,
        amount(w.demand),
        estate.clusters[node.cluster].name,
        node.name,
        amount(node.capacity),
        amount(node.room.max(Res::ZERO))
    ))
}
