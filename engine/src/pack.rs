//! The packing state and the per-replica node choice of each heuristic.
//!
//! `Packing` holds how much room each node has left and which replicas sit where. Tentative
//! placements are journalled so that a cluster can be tried and rolled back cheaply.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::estate::{Assigned, Estate, Res};

/// How a replica picks among the nodes it fits on. New nodes are opened only when no open one fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Heuristic {
    /// First-fit decreasing: the first open node, in the order they were opened.
    FirstFit,
    /// Best fit: the node left with the least normalised room (cpu + memory).
    BestFit,
    /// Dot-product alignment (Panigrahy et al. 2011): the node whose free room points the same
    /// way as the demand (largest cosine), so cpu-heavy and memory-heavy work interleave.
    DotProduct,
    /// L2 norm (Panigrahy et al. 2011): the node whose room after placing is smallest in L2.
    L2,
}

impl Heuristic {
    pub const ALL: [Heuristic; 4] = [
        Heuristic::FirstFit,
        Heuristic::BestFit,
        Heuristic::DotProduct,
        Heuristic::L2,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Heuristic::FirstFit => "first-fit",
            Heuristic::BestFit => "best-fit",
            Heuristic::DotProduct => "dot-product",
            Heuristic::L2 => "l2",
        }
    }
}

impl fmt::Display for Heuristic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Heuristic {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Heuristic::ALL
            .into_iter()
            .find(|h| h.name() == s)
            .ok_or_else(|| {
                format!("unknown heuristic {s:?}; one of first-fit, best-fit, dot-product, l2")
            })
    }
}

#[derive(Clone, Debug)]
pub struct Packing<'e> {
    pub estate: &'e Estate,
    free: Vec<Res>,
    count: Vec<u32>,
    /// 1 / capacity per resource, to compare nodes of different sizes.
    inv_capacity: Vec<(f64, f64)>,
    /// Per cluster: nodes holding at least one replica, in the order they were opened.
    open: Vec<Vec<usize>>,
    /// Per cluster: every node, in the order empty ones are opened.
    fresh: Vec<Vec<usize>>,
    /// Nodes that take nothing (being drained, or freed by consolidation).
    closed: Vec<bool>,
    journal: Vec<(usize, Res, bool)>,
    /// Per tenancy: where its replicas are, one entry per (workload, node).
    pub placed: Vec<Vec<Assigned>>,
    /// Per node: the (tenancy, workload) pairs with replicas there.
    on_node: Vec<Vec<(usize, usize)>>,
    /// Per cluster: at least the most free cpu and the most free memory of any node. Never
    /// below the truth (raised whenever room is given back), so a demand above it cannot fit
    /// anywhere there and a full cluster is refused without a scan.
    most_free: Vec<Res>,
}

impl<'e> Packing<'e> {
    pub fn new(estate: &'e Estate) -> Self {
        let n = estate.nodes.len();
        let inv = |v: i64| if v > 0 { 1.0 / v as f64 } else { 0.0 };
        let fresh = estate
            .clusters
            .iter()
            .map(|c| {
                let mut nodes: Vec<usize> = c.nodes.clone().collect();
                // Running nodes before standby ones, bigger before smaller, then by name.
                nodes.sort_by(|&a, &b| {
                    let (na, nb) = (&estate.nodes[a], &estate.nodes[b]);
                    let key = |n: &crate::estate::Node| (n.standby, std::cmp::Reverse(n.capacity));
                    key(na).cmp(&key(nb)).then(na.name.cmp(&nb.name))
                });
                nodes
            })
            .collect();
        Packing {
            estate,
            free: estate.nodes.iter().map(|n| n.room).collect(),
            count: vec![0; n],
            inv_capacity: estate
                .nodes
                .iter()
                .map(|n| (inv(n.capacity.cpu), inv(n.capacity.mem)))
                .collect(),
            open: vec![Vec::new(); estate.clusters.len()],
            fresh,
            closed: estate.nodes.iter().map(|n| n.closed).collect(),
            journal: Vec::new(),
            placed: vec![Vec::new(); estate.tenancies.len()],
            on_node: vec![Vec::new(); n],
            most_free: estate
                .clusters
                .iter()
                .map(|c| {
                    c.nodes
                        .clone()
                        .filter(|&n| !estate.nodes[n].closed)
                        .fold(Res::ZERO, |m, n| m.max(estate.nodes[n].room))
                })
                .collect(),
        }
    }

    /// False when no node of `cluster` can have room for `demand`.
    pub fn may_fit(&self, cluster: usize, demand: Res) -> bool {
        self.most_free[cluster].holds(demand)
    }

    /// Brings `most_free` of a cluster down to the truth (after a search found no room).
    pub fn refresh_most_free(&mut self, cluster: usize) {
        let estate = self.estate;
        self.most_free[cluster] = estate.clusters[cluster]
            .nodes
            .clone()
            .filter(|&n| !self.closed[n])
            .fold(Res::ZERO, |m, n| m.max(self.free[n]));
    }

    fn gave_back(&mut self, node: usize) {
        let c = self.estate.nodes[node].cluster;
        self.most_free[c] = self.most_free[c].max(self.free[node]);
    }

    pub fn replicas_on(&self, node: usize) -> u32 {
        self.count[node]
    }

    pub fn free(&self, node: usize) -> Res {
        self.free[node]
    }

    pub fn open_nodes(&self, cluster: usize) -> &[usize] {
        &self.open[cluster]
    }

    pub fn active_nodes(&self) -> usize {
        self.count.iter().filter(|&&c| c > 0).count()
    }

    /// Closes or reopens `node` to new replicas; a node the estate has cordoned stays closed.
    pub fn close(&mut self, node: usize, closed: bool) {
        let closed = closed || self.estate.nodes[node].closed;
        self.closed[node] = closed;
        if !closed {
            self.gave_back(node);
        }
    }

    /// Adds one replica of `demand` to `node` (may overdraw: observed state is taken as it is).
    pub fn put(&mut self, node: usize, demand: Res) {
        self.free[node] -= demand;
        if self.count[node] == 0 {
            self.open[self.estate.nodes[node].cluster].push(node);
        }
        self.count[node] += 1;
        self.journal.push((node, demand, true));
    }

    /// Removes one replica of `demand` from `node`.
    pub fn take(&mut self, node: usize, demand: Res) {
        self.free[node] += demand;
        self.gave_back(node);
        self.count[node] -= 1;
        if self.count[node] == 0 {
            self.forget_open(node);
        }
        self.journal.push((node, demand, false));
    }

    fn forget_open(&mut self, node: usize) {
        let open = &mut self.open[self.estate.nodes[node].cluster];
        if let Some(i) = open.iter().rposition(|&n| n == node) {
            open.remove(i);
        }
    }

    pub fn mark(&self) -> usize {
        self.journal.len()
    }

    /// Undoes every put and take since `mark`.
    pub fn rollback(&mut self, mark: usize) {
        while self.journal.len() > mark {
            let (node, demand, was_put) = self.journal.pop().expect("journal entry");
            if was_put {
                self.free[node] += demand;
                self.gave_back(node);
                self.count[node] -= 1;
                if self.count[node] == 0 {
                    self.forget_open(node);
                }
            } else {
                self.free[node] -= demand;
                if self.count[node] == 0 {
                    self.open[self.estate.nodes[node].cluster].push(node);
                }
                self.count[node] += 1;
            }
        }
    }

    /// Keeps what was done since the last commit.
    pub fn commit(&mut self) {
        self.journal.clear();
    }

    pub fn fits(&self, node: usize, demand: Res) -> bool {
        !self.closed[node] && self.free[node].holds(demand)
    }

    /// The node of `cluster` one replica of `demand` goes to, or None when nothing has room.
    pub fn choose(&self, cluster: usize, demand: Res, heuristic: Heuristic) -> Option<usize> {
        self.choose_open(cluster, demand, heuristic, usize::MAX)
            .or_else(|| self.first_fresh(cluster, demand))
    }

    /// Best open node of `cluster` (other than `except`) by the heuristic.
    pub fn choose_open(
        &self,
        cluster: usize,
        demand: Res,
        h: Heuristic,
        except: usize,
    ) -> Option<usize> {
        let mut best: Option<(f64, usize)> = None;
        for &node in &self.open[cluster] {
            if node == except || !self.fits(node, demand) {
                continue;
            }
            if h == Heuristic::FirstFit {
                return Some(node);
            }
            let score = self.score(h, node, demand);
            // Strictly better only: ties keep the earlier node, so plans are stable.
            if best.is_none_or(|(s, _)| score < s) {
                best = Some((score, node));
            }
        }
        best.map(|(_, node)| node)
    }

    fn first_fresh(&self, cluster: usize, demand: Res) -> Option<usize> {
        self.fresh[cluster]
            .iter()
            .copied()
            .find(|&n| self.count[n] == 0 && self.fits(n, demand))
    }

    /// Lower is better.
    fn score(&self, h: Heuristic, node: usize, d: Res) -> f64 {
        let (ic, im) = self.inv_capacity[node];
        let f = self.free[node];
        let (rc, rm) = ((f.cpu - d.cpu) as f64 * ic, (f.mem - d.mem) as f64 * im);
        match h {
            Heuristic::FirstFit => 0.0,
            // Pod slots count too: filling a node's slots with small replicas while its cpu
            // and memory sit free would strand them.
            Heuristic::BestFit => rc + rm + self.pods_left(node, d),
            Heuristic::L2 => rc * rc + rm * rm,
            Heuristic::DotProduct => {
                let (dc, dm) = (d.cpu as f64 * ic, d.mem as f64 * im);
                let (fc, fm) = (f.cpu as f64 * ic, f.mem as f64 * im);
                let norm = ((dc * dc + dm * dm) * (fc * fc + fm * fm)).sqrt();
                // Cosine of demand and free room; among equals, the fuller node.
                let cosine = if norm > 0.0 {
                    (dc * fc + dm * fm) / norm
                } else {
                    0.0
                };
                -cosine + 1e-3 * (rc + rm)
            }
        }
    }

    /// Share of a node's pod slots left after `d`.
    fn pods_left(&self, node: usize, d: Res) -> f64 {
        let slots = self.estate.nodes[node].capacity.pods.max(1);
        (self.free[node].pods - d.pods) as f64 / slots as f64
    }

    /// Records replicas of a workload of a tenancy on a node (merging with what is there).
    pub fn record(&mut self, tenancy: usize, workload: usize, node: usize, replicas: u32) {
        let placed = &mut self.placed[tenancy];
        match placed
            .iter_mut()
            .find(|p| p.workload == workload && p.node == node)
        {
            Some(p) => p.replicas += replicas,
            None => {
                placed.push(Assigned {
                    workload,
                    node,
                    replicas,
                });
                self.on_node[node].push((tenancy, workload));
            }
        }
    }

    /// The (tenancy, workload) pairs with replicas on `node`.
    pub fn workloads_on(&self, node: usize) -> &[(usize, usize)] {
        &self.on_node[node]
    }

    /// Replicas of one workload of a tenancy on one node.
    pub fn replicas_of(&self, tenancy: usize, workload: usize, node: usize) -> u32 {
        self.placed[tenancy]
            .iter()
            .find(|p| p.workload == workload && p.node == node)
            .map_or(0, |p| p.replicas)
    }

    pub fn unrecord(&mut self, tenancy: usize, workload: usize, node: usize, replicas: u32) {
        let placed = &mut self.placed[tenancy];
        if let Some(i) = placed
            .iter()
            .position(|p| p.workload == workload && p.node == node)
        {
            placed[i].replicas -= replicas;
            if placed[i].replicas == 0 {
                placed.remove(i);
                self.on_node[node].retain(|&pair| pair != (tenancy, workload));
            }
        }
    }

    /// Replicas of one workload per site.
    pub fn site_counts(&self, tenancy: usize, workload: usize) -> Vec<(usize, u32)> {
        let mut counts: Vec<(usize, u32)> = Vec::new();
        for p in self.placed[tenancy]
            .iter()
            .filter(|p| p.workload == workload)
        {
            let site = self.estate.cluster_of(p.node).site;
            match counts.iter_mut().find(|(s, _)| *s == site) {
                Some((_, c)) => *c += p.replicas,
                None => counts.push((site, p.replicas)),
            }
        }
        counts
    }

    /// Monthly energy cost of running `cpu_millis` more on `node` (dynamic power only).
    pub fn dynamic_cost(&self, node: usize, cpu_millis: i64) -> (f64, f64) {
        let n = &self.estate.nodes[node];
        let p = &self.estate.clusters[n.cluster].power;
        let share = cpu_millis as f64 * self.inv_capacity[node].0;
        let kwh = p.monthly_kwh(p.server.dynamic_watts() * share);
        (
            kwh * p.room.price_per_kwh,
            kwh * p.room.carbon_grams_per_kwh,
        )
    }

    /// Monthly energy cost of keeping `node` on rather than in standby (idle power).
    pub fn wake_cost(&self, node: usize) -> (f64, f64) {
        let (_, cost, grams) = self.wake_energy(node);
        (cost, grams)
    }

    /// Energy (kWh), cost and carbon (grams) a month of keeping `node` on rather than in
    /// standby.
    pub fn wake_energy(&self, node: usize) -> (f64, f64, f64) {
        let p = &self.estate.cluster_of(node).power;
        let kwh = p.monthly_kwh(p.server.idle_watts - p.standby_watts);
        (
            kwh,
            kwh * p.room.price_per_kwh,
            kwh * p.room.carbon_grams_per_kwh,
        )
    }
}
