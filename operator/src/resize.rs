//! `sizing: Measured` on a running tenancy: once it has run for its clusters' measurement
//! window, each workload's requests follow measured p95 × 1.2, never above what was asked.
//! The decision is the engine's (`colo_engine::sizing`); this module gathers its inputs.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use colo_api::{
    Phase, Placement, Quantity, Resources, SharedCluster, Sizing, Tenancy, WorkloadSizing,
};
use colo_engine::sizing::{Size, differs, measured_size};

use crate::context::Context;

/// The sizes a tenancy's placements should carry now.
pub struct Review {
    /// The placements with each workload's requests as they should be applied.
    pub placements: Vec<Placement>,
    /// Measured p95 per replica, by workload (for status).
    pub measured: BTreeMap<String, Resources>,
    /// For `sizing: Measured` only: asked and applied per workload.
    pub sizing: Vec<WorkloadSizing>,
    /// Workloads whose requests change, as "api: 500m/1Gi → 144m/480Mi".
    pub changes: Vec<String>,
}

pub fn review(
    ctx: &Context,
    tenancy: &Tenancy,
    clusters: &[SharedCluster],
    placements: &[Placement],
    now: DateTime<Utc>,
) -> Review {
    let key = format!(
        "{}/{}",
        tenancy.metadata.namespace.as_deref().unwrap_or_default(),
        tenancy.metadata.name.as_deref().unwrap_or_default()
    );
    let in_use: Vec<&str> = placements.iter().map(|p| p.cluster.as_str()).collect();
    let usage = ctx.workload_usage.lock().expect("lock");
    // A workload's p95 is the highest seen in any of its clusters; it counts as measured
    // only when every cluster it runs in has fresh metrics.
    let mut measured: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut all_fresh = true;
    for w in &tenancy.spec.workloads {
        for cluster in placements
            .iter()
            .filter(|p| p.workload == w.name)
            .map(|p| &p.cluster)
        {
            match usage.get(cluster) {
                Some(u) => {
                    if let Some(&(cpu, mem)) = u.get(&(key.clone(), w.name.clone())) {
                        let e = measured.entry(w.name.clone()).or_default();
                        *e = (e.0.max(cpu), e.1.max(mem));
                    }
                }
                None => all_fresh = false,
            }
        }
    }
    drop(usage);
    // Status keeps the last figure while the new one is within the resize threshold, so
    // jitter in measurements does not rewrite every tenancy's status.
    let before = tenancy
        .status
        .as_ref()
        .map(|s| s.measured.clone())
        .unwrap_or_default();
    let mut review = Review {
        placements: placements.to_vec(),
        measured: measured
            .iter()
            .map(|(w, &(cpu, mem))| {
                let now = resources(cpu.max(0) as u64, mem.max(0) as u64);
                match before.get(w) {
                    Some(old) if !differs(size_of(old), size_of(&now)) => (w.clone(), old.clone()),
                    _ => (w.clone(), now),
                }
            })
            .collect(),
        sizing: Vec::new(),
        changes: Vec::new(),
    };
    if tenancy.spec.sizing != Sizing::Measured {
        return review;
    }
    let waiting = window_not_passed(tenancy, clusters, &in_use, all_fresh, now);
    for w in &tenancy.spec.workloads {
        let asked = size_of(&Resources {
            cpu: w.cpu.clone(),
            memory: w.memory.clone(),
        });
        let applied = placements
            .iter()
            .find(|p| p.workload == w.name)
            .and_then(|p| p.requests.as_ref())
            .map(size_of)
            .unwrap_or(asked);
        let (size, basis) = match &waiting {
            Some(why) if applied != asked => (
                applied,
                format!("measured p95 × 1.2; next review waits: {why}"),
            ),
            Some(why) => (applied, format!("as asked; review waits: {why}")),
            None => {
                let p95 = measured.get(&w.name).map(|&(cpu, mem)| Size {
                    cpu_millis: cpu.max(0) as u64,
                    memory_bytes: mem.max(0) as u64,
                });
                let decided = measured_size(asked, p95, applied);
                if decided.changed {
                    review.changes.push(format!(
                        "{}: {} → {}",
                        w.name,
                        show(applied),
                        show(decided.size)
                    ));
                    (decided.size, decided.basis)
                } else {
                    (applied, decided.basis)
                }
            }
        };
        for p in review
            .placements
            .iter_mut()
            .filter(|p| p.workload == w.name)
        {
            p.requests = Some(resources(size.cpu_millis, size.memory_bytes));
        }
        review.sizing.push(WorkloadSizing {
            workload: w.name.clone(),
            asked: resources(asked.cpu_millis, asked.memory_bytes),
            applied: resources(size.cpu_millis, size.memory_bytes),
            basis,
        });
    }
    review
}

/// Why the sizes stay as they are for now, or None once the window has passed everywhere.
fn window_not_passed(
    tenancy: &Tenancy,
    clusters: &[SharedCluster],
    in_use: &[&str],
    all_fresh: bool,
    now: DateTime<Utc>,
) -> Option<String> {
    let status = tenancy.status.clone().unwrap_or_default();
    let running_since = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Available" && c.status == "True")
        .and_then(|c| c.last_transition_time.as_deref())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let Some(since) = running_since.filter(|_| status.phase == Some(Phase::Running)) else {
        return Some("not yet running".into());
    };
    let mut window = std::time::Duration::ZERO;
    for c in clusters
        .iter()
        .filter(|c| in_use.contains(&c.metadata.name.as_deref().unwrap_or_default()))
    {
        match c.spec.prometheus.as_ref().and_then(|p| p.window_duration()) {
            Some(w) => window = window.max(w),
            None => {
                return Some(format!(
                    "as placed: {} has no Prometheus to measure with",
                    c.metadata.name.as_deref().unwrap_or_default()
                ));
            }
        }
    }
    let ends = since + chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    if now < ends {
        return Some(format!(
            "the measurement window ends at {}",
            ends.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    if !all_fresh {
        return Some("measured usage is not fresh in every cluster".into());
    }
    None
}

fn resources(cpu_millis: u64, memory_bytes: u64) -> Resources {
    Resources {
        cpu: Quantity::from_cpu_millis(cpu_millis),
        memory: Quantity::from_bytes(memory_bytes),
    }
}

fn size_of(r: &Resources) -> Size {
    Size {
        cpu_millis: r.cpu.cpu_millis().unwrap_or(0),
        memory_bytes: r.memory.bytes().unwrap_or(0),
    }
}

fn show(size: Size) -> String {
    let r = resources(size.cpu_millis, size.memory_bytes);
    format!("{}/{}", r.cpu.as_str(), r.memory.as_str())
}
