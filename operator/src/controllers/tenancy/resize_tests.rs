//! The resize review's rules, case by case: the window, stale metrics, samples, the floor, and
//! the planner and the review agreeing on one size.

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
    // Right after a resize rolled out new pods, none of them is measured yet: the size
    // stays as applied rather than swinging back to what was asked (and rolling again).
    let resized = placements("120m", "120Mi");
    let unmeasured = BTreeMap::from([(
        "north-1".to_string(),
        Some(std::sync::Arc::new(WorkloadUsage::new())),
    )]);
    let r = review(&t, &clusters, &resized, &unmeasured, RULES, at(13, 0));
    assert!(r.changes.is_empty(), "{:?}", r.changes);
    assert_eq!(r.placements, resized);
    assert_eq!(r.sizing[0].applied.memory.as_str(), "120Mi");
    assert!(
        r.sizing[0]
            .basis
            .contains("no usage of its pods measured yet"),
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
