//! `sizing: Measured` on a running tenancy: once it has run for its clusters' measurement
//! window, each workload's requests follow measured p95 × 1.2, never above what was asked.
//! The decision is the engine's (`colo_engine::sizing`); this step is a pure function of the
//! tenancy, its clusters, its placements and the usage measured in them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use colo_api::{
    Phase, Placement, Quantity, Resources, SharedCluster, Sizing, Tenancy, WorkloadSizing,
};
use colo_engine::sizing::{FLOOR, Size, differs, measured_size};

use crate::k8s::keys::TenancyKey;
use crate::k8s::status::true_since;
use crate::observe::WorkloadUsage;

/// When `sizing: Measured` may resize a running workload (the size itself is the engine's
/// one rule, `colo_engine::sizing`, which the planner's demand follows too).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rules {
    /// A request is lowered only on usage with at least this many samples in the window.
    pub min_samples: u32,
}

/// The sizes a tenancy's placements should carry now.
#[derive(Clone, Debug, Default, PartialEq)]
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

/// Reviews the sizes of `placements`; `usage` is the latest measured usage in each cluster
/// the tenancy is placed in (None where that cluster's metrics are not fresh).
pub fn review(
    tenancy: &Tenancy,
    clusters: &[SharedCluster],
    placements: &[Placement],
    usage: &BTreeMap<String, Option<std::sync::Arc<WorkloadUsage>>>,
    rules: Rules,
    now: DateTime<Utc>,
) -> Review {
    let key = TenancyKey::of(tenancy);
    let in_use: Vec<&str> = placements.iter().map(|p| p.cluster.as_str()).collect();
    let (measured, samples, all_fresh) = measured_per_workload(tenancy, &key, placements, usage);
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
        let waits = waiting
            .clone()
            .or_else(|| too_few(samples.get(&w.name).copied(), rules));
        let (asked, size, basis) = size_workload(w, placements, &measured, waits.as_deref());
        if size != applied_size(w, placements) {
            review.changes.push(format!(
                "{}: {} → {}",
                w.name,
                show(applied_size(w, placements)),
                show(size)
            ));
        }
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

/// Why a workload's usage is not enough to size it by: none of its pods measured yet (as
/// right after a resize rolled out new pods, whose series start afresh), or too few samples.
/// Either way its size stays as applied: it never swings back to what was asked meanwhile.
fn too_few(samples: Option<u32>, rules: Rules) -> Option<String> {
    match samples {
        None => Some("no usage of its pods measured yet".into()),
        Some(n) if n < rules.min_samples => Some(format!(
            "only {n} samples of its usage in the window (needs {})",
            rules.min_samples
        )),
        Some(_) => None,
    }
}

/// Per workload, measured usage and samples.
type PerWorkload<T> = BTreeMap<String, T>;

/// A workload's p95 is the highest seen in any of its clusters, its samples the fewest; it
/// counts as measured only when every cluster it runs in has fresh metrics (the last value).
fn measured_per_workload(
    tenancy: &Tenancy,
    key: &TenancyKey,
    placements: &[Placement],
    usage: &BTreeMap<String, Option<std::sync::Arc<WorkloadUsage>>>,
) -> (PerWorkload<(i64, i64)>, PerWorkload<u32>, bool) {
    let mut measured: PerWorkload<(i64, i64)> = BTreeMap::new();
    let mut samples: PerWorkload<u32> = BTreeMap::new();
    let mut all_fresh = true;
    for w in &tenancy.spec.workloads {
        for p in placements.iter().filter(|p| p.workload == w.name) {
            let Some(u) = usage.get(&p.cluster).and_then(Option::as_ref) else {
                all_fresh = false;
                continue;
            };
            if let Some(m) = u.get(&(key.clone(), w.name.clone())) {
                let e = measured.entry(w.name.clone()).or_default();
                *e = (e.0.max(m.usage.0), e.1.max(m.usage.1));
                let n = samples.entry(w.name.clone()).or_insert(m.samples);
                *n = (*n).min(m.samples);
            }
        }
    }
    (measured, samples, all_fresh)
}

fn asked_size(w: &colo_api::Workload) -> Size {
    size_of(&Resources {
        cpu: w.cpu.clone(),
        memory: w.memory.clone(),
    })
}

/// What the workload requests in its member clusters now.
fn applied_size(w: &colo_api::Workload, placements: &[Placement]) -> Size {
    placements
        .iter()
        .find(|p| p.workload == w.name)
        .and_then(|p| p.requests.as_ref())
        .map(size_of)
        .unwrap_or_else(|| asked_size(w))
}

/// (asked, size to apply, basis) of one workload; `waiting` says why the review waits.
fn size_workload(
    w: &colo_api::Workload,
    placements: &[Placement],
    measured: &BTreeMap<String, (i64, i64)>,
    waiting: Option<&str>,
) -> (Size, Size, String) {
    let asked = asked_size(w);
    let applied = applied_size(w, placements);
    let (size, basis) = match waiting {
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
            let decided = measured_size(asked, p95, applied, FLOOR);
            let size = if decided.changed {
                decided.size
            } else {
                applied
            };
            (size, decided.basis)
        }
    };
    (asked, size, basis)
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
    let running_since = true_since(&status.conditions, "Available");
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

#[cfg(test)]
#[path = "resize_tests.rs"]
mod tests;
