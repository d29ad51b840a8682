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
        let too_few = samples
            .get(&w.name)
            .filter(|&&n| n < rules.min_samples)
            .map(|n| {
                format!(
                    "only {n} samples of its usage in the window (needs {})",
                    rules.min_samples
                )
            });
        let waits = waiting.clone().or(too_few);
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
mod tests {
    use super::*;
    use crate::observe::summarise::Measured;
    use chrono::TimeZone;

    const MI: i64 = 1 << 20;

    fn tenancy(sizing: &str, running_since: Option<&str>) -> Tenancy {
        let mut status = serde_json::json!({});
        if let Some(t) = running_since {
            status = serde_json::json!({"phase": "Running", "conditions": [
                {"type": "Available", "status": "True", "reason": "Available", "message": "",
                 "lastTransitionTime": t}]});
        }
        serde_json::from_value(serde_json::json!({
            "apiVersion": "colo.dev/v1alpha1", "kind": "Tenancy",
            "metadata": {"name": "lean", "namespace": "ns"},
            "spec": {"agency": "a", "classification": "OFFICIAL", "sizing": sizing, "workloads": [
                {"name": "api", "image": "i", "replicas": 2, "cpu": "500m", "memory": "512Mi"}]},
            "status": status
        }))
        .unwrap()
    }

    fn cluster(window: Option<&str>) -> SharedCluster {
        let prometheus = window.map(|w| serde_json::json!({"url": "http://p", "window": w}));
        serde_json::from_value(serde_json::json!({
            "apiVersion": "colo.dev/v1alpha1", "kind": "SharedCluster",
            "metadata": {"name": "north-1"},
            "spec": {"site": "s", "region": "r", "classification": "OFFICIAL",
                     "prometheus": prometheus}
        }))
        .unwrap()
    }

    fn placements(cpu: &str, memory: &str) -> Vec<Placement> {
        vec![Placement {
            cluster: "north-1".into(),
            site: "s".into(),
            workload: "api".into(),
            replicas: 2,
            requests: Some(Resources {
                cpu: Quantity::new(cpu),
                memory: Quantity::new(memory),
            }),
        }]
    }

    const RULES: Rules = Rules { min_samples: 20 };

    type UsageIn = BTreeMap<String, Option<std::sync::Arc<WorkloadUsage>>>;

    fn sampled(cpu: i64, mem: i64, samples: u32) -> UsageIn {
        let key = (TenancyKey::new("ns", "lean"), "api".to_string());
        let measured = Measured {
            usage: (cpu, mem),
            samples,
        };
        BTreeMap::from([(
            "north-1".to_string(),
            Some(std::sync::Arc::new(BTreeMap::from([(key, measured)]))),
        )])
    }

    fn usage(cpu: i64, mem: i64) -> UsageIn {
        sampled(cpu, mem, 60)
    }

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, h, m, 0).unwrap()
    }

    #[test]
    fn measured_sizing_waits_for_the_window_then_follows_p95() {
        let t = tenancy("Measured", Some("2026-11-27T12:00:00Z"));
        let clusters = [cluster(Some("2m"))];
        let early = review(
            &t,
            &clusters,
            &placements("500m", "512Mi"),
            &usage(100, 100 * MI),
            RULES,
            at(12, 1),
        );
        assert!(early.changes.is_empty());
        assert!(
            early.sizing[0]
                .basis
                .contains("the measurement window ends at 2026-11-27T12:02:00Z")
        );
        let late = review(
            &t,
            &clusters,
            &placements("500m", "512Mi"),
            &usage(100, 100 * MI),
            RULES,
            at(12, 3),
        );
        assert_eq!(late.changes, ["api: 500m/512Mi → 120m/120Mi"]);
        assert_eq!(
            late.placements[0].requests.as_ref().unwrap().cpu.as_str(),
            "120m"
        );
        assert_eq!(late.sizing[0].applied.memory.as_str(), "120Mi");
        assert_eq!(late.measured["api"].memory.as_str(), "100Mi");
    }

    #[test]
    fn stale_metrics_or_no_prometheus_keep_the_size() {
        let t = tenancy("Measured", Some("2026-11-27T12:00:00Z"));
        let stale = BTreeMap::from([("north-1".to_string(), None)]);
        let r = review(
            &t,
            &[cluster(Some("2m"))],
            &placements("500m", "512Mi"),
            &stale,
            RULES,
            at(13, 0),
        );
        assert!(r.changes.is_empty());
        assert!(
            r.sizing[0].basis.contains("not fresh"),
            "{}",
            r.sizing[0].basis
        );
        let r = review(
            &t,
            &[cluster(None)],
            &placements("500m", "512Mi"),
            &usage(1, 1),
            RULES,
            at(13, 0),
        );
        assert!(
            r.sizing[0].basis.contains("has no Prometheus"),
            "{}",
            r.sizing[0].basis
        );
    }

    #[test]
    fn too_few_samples_or_too_little_use_never_lower_below_the_rules() {
        let t = tenancy("Measured", Some("2026-11-27T12:00:00Z"));
        let clusters = [cluster(Some("2m"))];
        let few = sampled(100, 100 * MI, 5);
        let r = review(
            &t,
            &clusters,
            &placements("500m", "512Mi"),
            &few,
            RULES,
            at(13, 0),
        );
        assert!(r.changes.is_empty());
        assert!(
            r.sizing[0].basis.contains("only 5 samples"),
            "{}",
            r.sizing[0].basis
        );
        let idle = usage(2, MI);
        let r = review(
            &t,
            &clusters,
            &placements("500m", "512Mi"),
            &idle,
            RULES,
            at(13, 0),
        );
        assert_eq!(r.changes, ["api: 500m/512Mi → 50m/64Mi"]);
        assert!(r.sizing[0].basis.contains("floor"), "{}", r.sizing[0].basis);
    }

    #[test]
    fn requested_sizing_only_reports_what_was_measured() {
        let t = tenancy("Requested", Some("2026-11-27T12:00:00Z"));
        let r = review(
            &t,
            &[cluster(Some("2m"))],
            &placements("500m", "512Mi"),
            &usage(100, 100 * MI),
            RULES,
            at(13, 0),
        );
        assert!(r.sizing.is_empty() && r.changes.is_empty());
        assert_eq!(r.measured["api"].cpu.as_str(), "100m");
    }

    /// A measured tenancy with p95 `cpu`/`mem` as the planner counts it: placed already with
    /// requests `applied` (on n1), or placed now when `applied` is None.
    fn planned(cpu: u64, mem: u64, applied: Option<(u64, u64)>) -> Placement {
        let observed = match applied {
            Some((c, m)) => format!(
                ", requests: {{api: {{cpu: {c}m, memory: '{m}'}}}}, assignments: [{{workload: api, cluster: north-1, node: n1, replicas: 2}}]"
            ),
            None => String::new(),
        };
        let snapshot = format!(
            "apiVersion: colo.dev/v1alpha1\nkind: EstateSnapshot\nagencies:\n- metadata: {{name: a}}\n  spec: {{displayName: A, costCentre: C, namespaces: [ns], maxClassification: OFFICIAL}}\nclusters:\n- metadata: {{name: north-1}}\n  spec: {{site: s, region: r, classification: OFFICIAL}}\n  nodes: [{{name: n1, capacity: {{cpu: '32', memory: 128Gi}}}}]\ntenancies:\n- metadata: {{name: lean, namespace: ns}}\n  spec: {{agency: a, classification: OFFICIAL, sizing: Measured, workloads: [{{name: api, image: i, replicas: 2, cpu: 500m, memory: 512Mi}}]}}\n  observed: {{usage: {{api: {{cpu: {cpu}m, memory: '{mem}'}}}}{observed}}}\n"
        );
        let snapshot: colo_engine::snapshot::EstateSnapshot =
            serde_yaml_ng::from_str(&snapshot).unwrap();
        let estate = colo_engine::Estate::from_snapshot(&snapshot).unwrap();
        let plan = colo_engine::plan(&estate, colo_engine::PlanOptions::default());
        let a = &plan.assignments[0];
        Placement {
            cluster: a.cluster.clone(),
            site: a.site.clone(),
            workload: a.workload.clone(),
            replicas: a.replicas as i32,
            requests: Some(resources(a.cpu_millis as u64, a.memory_bytes as u64)),
        }
    }

    fn requests(p: &Placement) -> (u64, u64) {
        let r = p.requests.as_ref().unwrap();
        (r.cpu.cpu_millis().unwrap(), r.memory.bytes().unwrap())
    }

    proptest::proptest! {
        /// Placed now, a workload is applied with the planner's demand, and the operator's
        /// review keeps it there.
        #[test]
        fn a_new_placement_is_applied_at_the_planners_demand(
            cpu in 1u64..700, mem in 1u64..(700 << 20)
        ) {
            let placed = vec![planned(cpu, mem, None)];
            let t = tenancy("Measured", Some("2026-11-27T12:00:00Z"));
            let r = review(&t, &[cluster(Some("2m"))], &placed, &usage(cpu as i64, mem as i64), RULES, at(13, 0));
            proptest::prop_assert!(r.changes.is_empty(), "{:?}", r.changes);
            proptest::prop_assert_eq!(requests(&r.placements[0]), requests(&placed[0]));
        }

        /// Placed before at any size the operator applied (as asked while its window runs, or
        /// lowered since, within or outside the resize band), a workload is counted by the
        /// planner at exactly that size, whatever its p95 now: what kube-scheduler counts.
        #[test]
        fn a_placed_workload_is_counted_as_applied(
            cpu in 1u64..700, mem in 1u64..(700 << 20),
            applied_cpu in 50u64..=500, applied_mib in 64u64..=512,
            window_passed in proptest::bool::ANY,
        ) {
            let applied = (applied_cpu, applied_mib << 20);
            let counted = planned(cpu, mem, Some(applied));
            proptest::prop_assert_eq!(requests(&counted), applied);
            // The operator's review starts from that size: it keeps it, or resizes it (and
            // the next snapshot counts the new size, as the state holds it).
            let placed = vec![counted];
            let t = tenancy("Measured", Some("2026-11-27T12:00:00Z"));
            let now = if window_passed { at(13, 0) } else { at(12, 1) };
            let r = review(&t, &[cluster(Some("2m"))], &placed, &usage(cpu as i64, mem as i64), RULES, now);
            if !window_passed {
                proptest::prop_assert!(r.changes.is_empty(), "{:?}", r.changes);
            }
        }
    }
}
