//! What an agency's tenancies request per cluster: the ResourceQuota Colo sets on the
//! agency's member namespace. Every placement that may hold pods counts (the effective one
//! and the previous), and a tenancy a consolidation moves has room for one surge replica of
//! each workload (`moves`).

use std::collections::BTreeMap;

use super::{State, lock};

/// CPU (milli-cores) and memory (bytes) requested.
pub type Requests = (i64, i64);

impl State {
    /// Per cluster, what the agency's tenancies request there (its quota), with room for one
    /// more replica of each workload of a tenancy a consolidation moves.
    pub fn quotas(&self, agency: &str) -> BTreeMap<String, Requests> {
        let mut quotas: BTreeMap<String, Requests> = BTreeMap::new();
        for record in lock(&self.tenancies)
            .values()
            .filter(|r| r.agency == agency)
        {
            let mut surge: BTreeMap<(&str, &str), Requests> = BTreeMap::new();
            for p in record.holding() {
                let Some(r) = &p.requests else { continue };
                let one = (
                    r.cpu.cpu_millis().unwrap_or(0) as i64,
                    r.memory.bytes().unwrap_or(0) as i64,
                );
                let e = quotas.entry(p.cluster.clone()).or_default();
                *e = (
                    e.0 + one.0 * p.replicas as i64,
                    e.1 + one.1 * p.replicas as i64,
                );
                if record.move_open() {
                    let s = surge.entry((&p.cluster, &p.workload)).or_default();
                    *s = (s.0.max(one.0), s.1.max(one.1));
                }
            }
            for ((cluster, _), one) in surge {
                let e = quotas.entry(cluster.to_string()).or_default();
                *e = (e.0 + one.0, e.1 + one.1);
            }
        }
        quotas
    }
}
