//! The engine's resource arithmetic: CPU, memory and pod slots as saturating integers.

use std::ops::{Add, AddAssign, Sub, SubAssign};

use colo_api::{Quantity, Resources};

/// CPU in milli-cores, memory in bytes and pods (kubelet's `maxPods`: a node of 110 pod slots
/// takes no 111th pod however small). Signed: a node's room can be overdrawn by what already
/// runs there. Arithmetic saturates: no snapshot, however large, overflows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Res {
    pub cpu: i64,
    pub mem: i64,
    pub pods: i64,
}

/// Pod slots of a node whose snapshot does not say (kubelet's default `maxPods`).
pub const DEFAULT_MAX_PODS: u32 = 110;

impl Res {
    pub const ZERO: Res = Res {
        cpu: 0,
        mem: 0,
        pods: 0,
    };

    /// Cpu and memory, no pod slots (a demand of this is not a pod: see `one_pod`).
    pub fn new(cpu: i64, mem: i64) -> Self {
        Res { cpu, mem, pods: 0 }
    }

    /// The same, taking one pod slot: what one replica asks of a node.
    pub fn one_pod(self) -> Res {
        Res { pods: 1, ..self }
    }

    pub fn times(self, n: u32) -> Res {
        Res {
            cpu: self.cpu.saturating_mul(n as i64),
            mem: self.mem.saturating_mul(n as i64),
            pods: self.pods.saturating_mul(n as i64),
        }
    }

    /// True when `demand` fits in this room in every resource.
    pub fn holds(self, demand: Res) -> bool {
        demand.cpu <= self.cpu && demand.mem <= self.mem && demand.pods <= self.pods
    }

    pub fn min(self, other: Res) -> Res {
        Res {
            cpu: self.cpu.min(other.cpu),
            mem: self.mem.min(other.mem),
            pods: self.pods.min(other.pods),
        }
    }

    pub fn max(self, other: Res) -> Res {
        Res {
            cpu: self.cpu.max(other.cpu),
            mem: self.mem.max(other.mem),
            pods: self.pods.max(other.pods),
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
            cpu: self.cpu.saturating_add(o.cpu),
            mem: self.mem.saturating_add(o.mem),
            pods: self.pods.saturating_add(o.pods),
        }
    }
}
impl Sub for Res {
    type Output = Res;
    fn sub(self, o: Res) -> Res {
        Res {
            cpu: self.cpu.saturating_sub(o.cpu),
            mem: self.mem.saturating_sub(o.mem),
            pods: self.pods.saturating_sub(o.pods),
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

/// `2 cores, 1 GiB`, `1.25 cores, 512 MiB`: sizes as people read them.
pub fn amount(r: Res) -> String {
    let cores = if r.cpu % 1000 == 0 {
        format!("{}", r.cpu / 1000)
    } else {
        let text = format!("{:.3}", r.cpu as f64 / 1000.0);
        text.trim_end_matches('0').to_string()
    };
    let unit = if r.cpu == 1000 { "core" } else { "cores" };
    const GIB: i64 = 1 << 30;
    let memory = if r.mem >= GIB {
        let text = format!("{:.1}", r.mem as f64 / GIB as f64);
        format!("{} GiB", text.trim_end_matches(".0"))
    } else {
        format!("{} MiB", (r.mem.max(0) as u64).div_ceil(1 << 20))
    };
    format!("{cores} {unit}, {memory}")
}

/// The estate's biggest node in each resource: what sizes are measured against.
pub fn reference_capacity(estate: &super::Estate) -> Res {
    estate
        .nodes
        .iter()
        .fold(Res::new(1, 1), |r, n| r.max(n.capacity))
}

/// Sort key for "decreasing size": the larger of a demand's cpu and memory shares of the
/// reference node, in parts per million.
pub fn size_key(reference: Res, demand: Res) -> i64 {
    let share = |v: i64, of: i64| (v as i128 * 1_000_000 / of.max(1) as i128) as i64;
    share(demand.cpu, reference.cpu).max(share(demand.mem, reference.mem))
}
