//! Placement decisions on small hand-written estates: each hard constraint, sizing, standby
//! nodes, consolidation thresholds, and the reasons given.

use colo_engine::consolidate::Thresholds;
use colo_engine::{Plan, PlanOptions, plan_yaml};

/// Three clusters in two sites: north-1 (OFFICIAL, cheap), south-1 (SECRET), south-2 (cordoned).
fn estate(tenancies: &str) -> String {
    format!(
        r#"
apiVersion: colo.dev/v1alpha1
kind: EstateSnapshot
agencies:
- metadata: {{name: dvla}}
  spec: {{displayName: DVLA, costCentre: D1, namespaces: [dvla], maxClassification: SECRET}}
- metadata: {{name: small}}
  spec: {{displayName: Small, costCentre: S1, namespaces: [small], maxClassification: OFFICIAL}}
clusters:
- metadata: {{name: north-1}}
  spec: {{site: north-dc, region: uk-north, classification: OFFICIAL-SENSITIVE, power: {{energyPricePerKWh: 0.20}}}}
  nodes:
  - {{name: n1, capacity: {{cpu: "16", memory: 64Gi}}, usage: {{cpu: "11", memory: 4Gi}}}}
  - {{name: n2, capacity: {{cpu: "16", memory: 64Gi}}}}
  - {{name: n3, capacity: {{cpu: "16", memory: 64Gi}}, powerState: Standby}}
- metadata: {{name: south-1}}
  spec: {{site: south-dc, region: uk-south, classification: SECRET, power: {{energyPricePerKWh: 0.30}}}}
  nodes:
  - {{name: s1, capacity: {{cpu: "16", memory: 64Gi}}}}
  - {{name: s2, capacity: {{cpu: "16", memory: 64Gi}}}}
- metadata: {{name: south-2}}
  spec: {{site: south-dc, region: uk-south, classification: SECRET, cordoned: true}}
  nodes:
  - {{name: c1, capacity: {{cpu: "16", memory: 64Gi}}}}
tenancies:
{tenancies}
"#
    )
}

fn tenancy(name: &str, extra: &str, workloads: &str) -> String {
    format!(
        "- metadata: {{name: {name}, namespace: dvla}}\n  spec:\n    agency: dvla\n    classification: OFFICIAL\n{extra}    workloads:\n{workloads}"
    )
}

fn run(tenancies: &str, options: PlanOptions) -> Plan {
    plan_yaml(&estate(tenancies), options).unwrap_or_else(|e| panic!("{e}"))
}

fn clusters_of<'p>(plan: &'p Plan, tenancy: &str) -> Vec<&'p str> {
    let mut c: Vec<&str> = plan
        .assignments
        .iter()
        .filter(|a| a.tenancy == tenancy)
        .map(|a| a.cluster.as_str())
        .collect();
    c.sort();
    c.dedup();
    c
}

#[test]
fn secret_work_goes_only_where_it_is_accredited_and_says_why_not_elsewhere() {
    let t = tenancy(
        "vault",
        "",
        "    - {name: api, image: i, replicas: 2, cpu: 1, memory: 1Gi}\n",
    )
    .replace("classification: OFFICIAL", "classification: SECRET");
    let plan = run(&t, PlanOptions::default());
    assert_eq!(clusters_of(&plan, "dvla/vault"), ["south-1"]);
    let d = &plan.decisions[0];
    let why = |c: &str| {
        d.excluded
            .iter()
            .find(|r| r.cluster == c)
            .map(|r| r.reason.as_str())
            .unwrap_or("")
    };
    assert!(
        why("north-1").contains("accredited to OFFICIAL-SENSITIVE only"),
        "{d:?}"
    );
    assert!(why("south-2").contains("cordoned"), "{d:?}");
    assert!(d.reason.contains("south-1"), "{d:?}");
}

#[test]
fn dual_site_splits_replicas_with_no_site_above_half() {
    let t = tenancy(
        "web",
        "    resilience: DualSite\n",
        "    - {name: web, image: i, replicas: 3, cpu: 1, memory: 1Gi}\n",
    );
    let plan = run(&t, PlanOptions::default());
    let per_site = |site: &str| {
        plan.assignments
            .iter()
            .filter(|a| a.site == site)
            .map(|a| a.replicas)
            .sum::<u32>()
    };
    assert_eq!(per_site("north-dc") + per_site("south-dc"), 3);
    assert!(
        per_site("north-dc") >= 1 && per_site("south-dc") >= 1,
        "{:?}",
        plan.assignments
    );
    assert!(per_site("north-dc") <= 2 && per_site("south-dc") <= 2);
    assert!(
        plan.decisions[0].reason.contains("either site can be lost"),
        "{:?}",
        plan.decisions[0]
    );
}

#[test]
fn regions_and_pins_are_hard() {
    let t = tenancy(
        "local",
        "    regions: [uk-south]\n",
        "    - {name: a, image: i, replicas: 1, cpu: 1, memory: 1Gi}\n",
    ) + "\n"
        + &tenancy(
            "pinned",
            "    cluster: south-1\n",
            "    - {name: a, image: i, replicas: 1, cpu: 1, memory: 1Gi}\n",
        );
    let plan = run(&t, PlanOptions::default());
    assert_eq!(clusters_of(&plan, "dvla/local"), ["south-1"]);
    assert_eq!(clusters_of(&plan, "dvla/pinned"), ["south-1"]);
    let local = plan
        .decisions
        .iter()
        .find(|d| d.tenancy == "dvla/local")
        .unwrap();
    assert!(
        local
            .excluded
            .iter()
            .any(|r| r.cluster == "north-1" && r.reason.contains("outside the tenancy's regions"))
    );
}

#[test]
fn measured_use_steers_nodes_and_sizing() {
    // n1 is busy with system pods (11 of 16 cores measured): a 4-core replica does not fit
    // there within headroom (0.8 × 16 - 11 = 1.8), so it lands on n2.
    let t = tenancy(
        "batch",
        "",
        "    - {name: job, image: i, replicas: 1, cpu: 4, memory: 4Gi}\n",
    );
    let plan = run(&t, PlanOptions::default());
    assert_eq!(plan.assignments[0].node, "n2");
    // Measured sizing asks for p95 × 1.2, never more than requested.
    let measured = tenancy(
        "lean",
        "    sizing: Measured\n",
        "    - {name: api, image: i, replicas: 1, cpu: 2, memory: 2Gi}\n",
    ) + "\n  observed:\n    usage: {api: {cpu: 250m, memory: 3Gi}}\n";
    let plan = run(&measured, PlanOptions::default());
    assert_eq!(plan.assignments[0].cpu_millis, 300, "250m × 1.2");
    assert_eq!(
        plan.assignments[0].memory_bytes,
        2 << 30,
        "3Gi × 1.2 is above the 2Gi asked: capped"
    );
}

#[test]
fn standby_nodes_are_woken_last_and_overflow_is_unplaced_with_a_reason() {
    // 9 cores fit per 16-core node within headroom (12.8); north-1 has n2 free and n3 asleep.
    let t = tenancy(
        "big",
        "",
        "    - {name: a, image: i, replicas: 1, cpu: 9, memory: 1Gi}\n",
    ) + "\n"
        + &tenancy(
            "huge",
            "",
            "    - {name: a, image: i, replicas: 1, cpu: 15, memory: 1Gi}\n",
        );
    let plan = run(&t, PlanOptions::default());
    let big: Vec<_> = plan
        .assignments
        .iter()
        .filter(|a| a.tenancy == "dvla/big")
        .collect();
    assert_eq!(big[0].node, "n2", "running node before standby");
    let huge = plan
        .unplaced
        .iter()
        .find(|u| u.tenancy == "dvla/huge")
        .expect("15 cores fits nowhere");
    // Larger than any node can ever hold: told as such, with the largest node's room.
    assert!(
        huge.reason.contains("more than any node it may use") && huge.reason.contains("12.8 cores"),
        "{}",
        huge.reason
    );
}

#[test]
fn a_cordoned_node_keeps_its_replicas_and_takes_nothing_new() {
    // n1 is being drained by a plan (cordoned, one 6-core replica on it): it is the best fit
    // for a 6-core replica, but new work goes to n2, and once n2 is full it is not woken.
    let estate = |tenancies: &str| {
        format!(
            r#"
apiVersion: colo.dev/v1alpha1
kind: EstateSnapshot
agencies:
- metadata: {{name: dvla}}
  spec: {{displayName: DVLA, costCentre: D1, namespaces: [dvla], maxClassification: OFFICIAL}}
clusters:
- metadata: {{name: north-1}}
  spec: {{site: north-dc, region: uk-north, classification: OFFICIAL}}
  nodes:
  - {{name: n1, capacity: {{cpu: "16", memory: 64Gi}}, powerState: Cordoned}}
  - {{name: n2, capacity: {{cpu: "16", memory: 64Gi}}}}
tenancies:
{tenancies}
"#
        )
    };
    let six = "    - {name: a, image: i, replicas: 1, cpu: 6, memory: 1Gi}\n";
    let moving = tenancy("moving", "", six)
        + "\n  observed:\n    assignments: [{workload: a, cluster: north-1, node: n1, replicas: 1}]\n";
    let new = |name: &str| tenancy(name, "", six);
    let ts = [moving, new("first"), new("second"), new("third")].join("\n");
    let plan = plan_yaml(&estate(&ts), PlanOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let on = |t: &str| {
        plan.assignments
            .iter()
            .filter(|a| a.tenancy == format!("dvla/{t}"))
            .map(|a| a.node.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(on("moving"), ["n1"], "what runs there stays");
    assert_eq!(on("first"), ["n2"]);
    assert_eq!(on("second"), ["n2"]);
    // 12.8 cores plannable on n2: a third 6-core replica has nowhere to go.
    assert!(on("third").is_empty(), "{:?}", plan.assignments);
    assert_eq!(plan.unplaced[0].tenancy, "dvla/third");
}

#[test]
fn work_above_the_agencys_clearance_is_not_placed() {
    let t = "- metadata: {name: leak, namespace: small}\n  spec:\n    agency: small\n    classification: SECRET\n    workloads:\n    - {name: a, image: i, replicas: 1, cpu: 1, memory: 1Gi}\n";
    let plan = run(t, PlanOptions::default());
    assert!(plan.assignments.is_empty());
    assert!(
        plan.unplaced[0].reason.contains("cleared to OFFICIAL only"),
        "{}",
        plan.unplaced[0].reason
    );
}

#[test]
fn consolidation_moves_only_when_the_saving_pays_for_the_disruption() {
    // Two half-empty running nodes in north-1: one can take the other's replica.
    let t = tenancy(
        "a",
        "",
        "    - {name: w, image: i, replicas: 1, cpu: 1, memory: 1Gi}\n",
    ) + "\n  observed:\n    assignments: [{workload: w, cluster: north-1, node: n2, replicas: 1}]\n"
        + &tenancy(
            "b",
            "",
            "    - {name: w, image: i, replicas: 1, cpu: 1, memory: 1Gi}\n",
        )
        + "\n  observed:\n    assignments: [{workload: w, cluster: south-1, node: s1, replicas: 1}]\n"
        + &tenancy(
            "c",
            "",
            "    - {name: w, image: i, replicas: 1, cpu: 1, memory: 1Gi}\n",
        )
        + "\n  observed:\n    assignments: [{workload: w, cluster: north-1, node: n1, replicas: 1}]\n";
    let eager = run(
        &t,
        PlanOptions {
            consolidate: true,
            ..PlanOptions::default()
        },
    );
    assert!(
        eager.summary.active_nodes < eager.summary.active_nodes_before,
        "{:?}",
        eager.moves
    );
    assert!(!eager.moves.is_empty());
    // The plan says both sides of the bargain.
    let priced = eager.summary.consolidation.clone().expect("priced");
    let moved: u64 = eager.moves.iter().map(|m| m.replicas as u64).sum();
    assert_eq!(priced.replicas_moved, moved);
    assert_eq!(priced.disruption_cost, moved as f64 * 1.0);
    assert_eq!(
        priced.nodes_freed,
        eager.summary.active_nodes_before - eager.summary.active_nodes
    );
    assert!(priced.saving_per_month > 0.0, "{priced:?}");
    let demanding = Thresholds {
        min_monthly_saving: 1000.0,
        ..Thresholds::default()
    };
    let stingy = run(
        &t,
        PlanOptions {
            consolidate: true,
            thresholds: demanding,
            ..PlanOptions::default()
        },
    );
    assert!(
        stingy.moves.is_empty(),
        "no node saves 1000 a month: {:?}",
        stingy.moves
    );
    assert_eq!(
        stingy.summary.active_nodes,
        stingy.summary.active_nodes_before
    );
}

#[test]
fn a_thinly_spread_estate_is_consolidated_to_near_a_fresh_plan() {
    use colo_engine::generate::{EstateShape, estate, running_and_fresh};
    use colo_engine::{Estate, plan};
    for constrained in [false, true] {
        // Every tenancy running where a least-allocated scheduler put it: 201 of 213 nodes on.
        let shape = EstateShape {
            constrained,
            running: 1.0,
            ..EstateShape::new(300, 213)
        };
        let (running, fresh) = running_and_fresh(estate(shape));
        let options = PlanOptions {
            consolidate: true,
            ..PlanOptions::default()
        };
        let consolidated = plan(&Estate::from_snapshot(&running).unwrap(), options).summary;
        let fresh = plan(
            &Estate::from_snapshot(&fresh).unwrap(),
            PlanOptions::default(),
        )
        .summary;
        assert!(consolidated.active_nodes_before > 150, "{consolidated:?}");
        assert!(
            consolidated.active_nodes as f64 <= 1.1 * fresh.active_nodes as f64,
            "constrained {constrained}: consolidated to {} nodes; a fresh plan needs {}",
            consolidated.active_nodes,
            fresh.active_nodes
        );
    }
}

#[test]
fn a_node_takes_no_more_pods_than_its_slots() {
    // Nodes of 16 cores with 4 pod slots, 2 of them taken by system pods: 3 tiny replicas
    // fit one node in cpu and memory, but not in pods, so a second node is used.
    let slots = ", pods: 4, otherPods: 2}";
    let snapshot = estate(&tenancy(
        "many",
        "    cluster: south-1\n",
        "    - {name: w, image: i, replicas: 3, cpu: 10m, memory: 16Mi}\n",
    ))
    .replace(
        "- {name: s1, capacity: {cpu: \"16\", memory: 64Gi}}",
        &format!("- {{name: s1, capacity: {{cpu: \"16\", memory: 64Gi}}{slots}"),
    )
    .replace(
        "- {name: s2, capacity: {cpu: \"16\", memory: 64Gi}}",
        &format!("- {{name: s2, capacity: {{cpu: \"16\", memory: 64Gi}}{slots}"),
    );
    assert_eq!(snapshot.matches("otherPods: 2").count(), 2);
    let plan = plan_yaml(&snapshot, PlanOptions::default()).unwrap();
    let on = |node: &str| -> u32 {
        plan.assignments
            .iter()
            .filter(|a| a.node == node)
            .map(|a| a.replicas)
            .sum()
    };
    let (s1, s2) = (on("s1"), on("s2"));
    assert_eq!(s1 + s2, 3, "{:?}", plan.assignments);
    assert!(
        s1 <= 2 && s2 <= 2,
        "a node over its pod slots: {:?}",
        plan.assignments
    );
    // Without the limits, one node takes all three.
    let unlimited = plan_yaml(&snapshot.replace(slots, "}"), PlanOptions::default()).unwrap();
    assert_eq!(unlimited.summary.active_nodes, 1);
}
