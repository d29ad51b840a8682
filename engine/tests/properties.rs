//! Properties every plan keeps, on generated estates of every shape.

use std::collections::BTreeMap;

use colo_engine::constraints::{exclusion, per_site_limit};
use colo_engine::estate::Res;
use colo_engine::generate::{EstateShape, estate};
use colo_engine::{Estate, EstateSnapshot, Heuristic, Plan, PlanOptions, plan};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn shapes() -> impl Strategy<Value = EstateShape> {
    (
        any::<u64>(),
        1usize..120,
        3usize..25,
        any::<bool>(),
        prop_oneof![Just(0.0), Just(0.5), Just(1.0)],
    )
        .prop_map(
            |(seed, tenancies, nodes, constrained, running)| EstateShape {
                tenancies,
                nodes,
                seed,
                constrained,
                running,
            },
        )
}

fn heuristics() -> impl Strategy<Value = Heuristic> {
    prop::sample::select(Heuristic::ALL.to_vec())
}

fn options(heuristic: Heuristic, consolidate: bool) -> PlanOptions {
    PlanOptions {
        heuristic,
        consolidate,
        ..PlanOptions::default()
    }
}

/// Node index by "cluster/node".
fn node_index(estate: &Estate) -> BTreeMap<String, usize> {
    estate
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("{}/{}", estate.clusters[n.cluster].name, n.name), i))
        .collect()
}

fn tenancy_index(estate: &Estate) -> BTreeMap<&str, usize> {
    estate
        .tenancies
        .iter()
        .enumerate()
        .map(|(i, t)| (t.key.as_str(), i))
        .collect()
}

/// (tenancy, workload, node) -> replicas, from the plan's assignments.
fn placement(estate: &Estate, plan: &Plan) -> BTreeMap<(usize, usize, usize), u32> {
    let nodes = node_index(estate);
    let tenancies = tenancy_index(estate);
    let mut out = BTreeMap::new();
    for a in &plan.assignments {
        let t = tenancies[a.tenancy.as_str()];
        let w = estate.tenancies[t]
            .workloads
            .iter()
            .position(|w| w.name == a.workload)
            .unwrap();
        *out.entry((t, w, nodes[&format!("{}/{}", a.cluster, a.node)]))
            .or_default() += a.replicas;
    }
    out
}

/// Every hard constraint of the SPEC, on one state of the estate.
fn check_state(
    estate: &Estate,
    state: &BTreeMap<(usize, usize, usize), u32>,
) -> Result<(), String> {
    let mut used = vec![Res::ZERO; estate.nodes.len()];
    let mut sites: BTreeMap<(usize, usize), BTreeMap<usize, u32>> = BTreeMap::new();
    for (&(t, w, n), &r) in state {
        let tenancy = &estate.tenancies[t];
        used[n] += tenancy.workloads[w].demand.times(r);
        let c = estate.nodes[n].cluster;
        if let Some(why) = exclusion(estate, tenancy, c) {
            return Err(format!(
                "{} on {}: {why}",
                tenancy.key, estate.clusters[c].name
            ));
        }
        if tenancy.classification > estate.agencies[tenancy.agency].clearance {
            return Err(format!(
                "{} placed above its agency's clearance",
                tenancy.key
            ));
        }
        *sites
            .entry((t, w))
            .or_default()
            .entry(estate.clusters[c].site)
            .or_default() += r;
    }
    for (n, node) in estate.nodes.iter().enumerate() {
        // Written out rather than Res::holds, so a fault there cannot hide here.
        if used[n].cpu > node.room.cpu || used[n].mem > node.room.mem {
            return Err(format!(
                "node {} over its room: {:?} > {:?}",
                node.name, used[n], node.room
            ));
        }
    }
    for ((t, w), per_site) in sites {
        let tenancy = &estate.tenancies[t];
        if !tenancy.dual_site {
            continue;
        }
        let replicas = tenancy.workloads[w].replicas;
        if per_site.len() < 2 || per_site.values().any(|&r| r > per_site_limit(replicas)) {
            return Err(format!(
                "{} {}: DualSite spread broken: {per_site:?}",
                tenancy.key, tenancy.workloads[w].name
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn plans_honour_every_hard_constraint_and_capacity(shape in shapes(), h in heuristics(), consolidate in any::<bool>()) {
        let estate = Estate::from_snapshot(&estate(shape)).unwrap();
        let plan = plan(&estate, options(h, consolidate));
        check_state(&estate, &placement(&estate, &plan)).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn replicas_are_conserved(shape in shapes(), h in heuristics(), consolidate in any::<bool>()) {
        let estate = Estate::from_snapshot(&estate(shape)).unwrap();
        let plan = plan(&estate, options(h, consolidate));
        let mut counted: BTreeMap<(&str, &str), u32> = BTreeMap::new();
        for a in &plan.assignments {
            *counted.entry((a.tenancy.as_str(), a.workload.as_str())).or_default() += a.replicas;
        }
        for u in &plan.unplaced {
            *counted.entry((u.tenancy.as_str(), u.workload.as_str())).or_default() += u.replicas;
        }
        for t in &estate.tenancies {
            for w in &t.workloads {
                prop_assert_eq!(counted.get(&(t.key.as_str(), w.name.as_str())).copied(), Some(w.replicas), "{} {}", t.key, w.name);
            }
        }
    }

    #[test]
    fn the_same_input_always_gives_the_same_plan(shape in shapes(), h in heuristics(), consolidate in any::<bool>()) {
        let snapshot = estate(shape);
        let first = plan(&Estate::from_snapshot(&snapshot).unwrap(), options(h, consolidate));
        // Through YAML and back, as `colo snapshot | colo plan` would.
        let reread = EstateSnapshot::from_yaml(&snapshot.to_yaml()).unwrap();
        let second = plan(&Estate::from_snapshot(&reread).unwrap(), options(h, consolidate));
        prop_assert_eq!(first, second);
    }

    #[test]
    fn consolidation_never_adds_nodes_and_every_step_is_valid(shape in shapes(), h in heuristics()) {
        let shape = EstateShape { running: 1.0, ..shape };
        // Only what runs (the generator leaves out what did not fit, and a plan would place
        // that on nodes it wakes, which is not consolidation's doing).
        let (running, _) = colo_engine::generate::running_and_fresh(estate(shape));
        let estate = Estate::from_snapshot(&running).unwrap();
        let plan = plan(&estate, PlanOptions { thresholds: colo_engine::consolidate::Thresholds::FREE, ..options(h, true) });
        prop_assert!(plan.summary.active_nodes <= plan.summary.active_nodes_before);
        // Replay the moves on what runs now, checking each make-before-break step.
        let nodes = node_index(&estate);
        let tenancies = tenancy_index(&estate);
        let mut state: BTreeMap<(usize, usize, usize), u32> = BTreeMap::new();
        for (t, tenancy) in estate.tenancies.iter().enumerate() {
            for p in &tenancy.observed {
                *state.entry((t, p.workload, p.node)).or_default() += p.replicas;
            }
        }
        check_state(&estate, &state).map_err(TestCaseError::fail)?;
        for m in &plan.moves {
            let t = tenancies[m.tenancy.as_str()];
            let w = estate.tenancies[t].workloads.iter().position(|w| w.name == m.workload).unwrap();
            let (from, to) = (nodes[&m.from], nodes[&m.to]);
            for _ in 0..m.replicas {
                // The new copy exists before the old one goes: check capacity with both.
                *state.entry((t, w, to)).or_default() += 1;
                let mut during = state.clone();
                let old = during.get_mut(&(t, w, from)).ok_or_else(|| TestCaseError::fail(format!("move from an empty place: {m:?}")))?;
                *old -= 1;
                if *old == 0 { during.remove(&(t, w, from)); }
                check_state(&estate, &during).map_err(|e| TestCaseError::fail(format!("after {m:?}: {e}")))?;
                state = during;
            }
        }
        let planned = placement(&estate, &plan);
        let running: BTreeMap<_, _> = planned.into_iter().filter(|((t, _, _), _)| !estate.tenancies[*t].observed.is_empty()).collect();
        prop_assert_eq!(state, running, "moves applied to what runs give the plan's assignments");
    }

    #[test]
    fn energy_and_cost_are_conserved(shape in shapes(), h in heuristics()) {
        let estate = Estate::from_snapshot(&estate(shape)).unwrap();
        let plan = plan(&estate, options(h, false));
        let s = &plan.summary;
        let agencies: f64 = plan.agencies.iter().map(|a| a.kwh_per_month).sum();
        let cost: f64 = plan.agencies.iter().map(|a| a.cost_per_month).sum();
        // Agencies plus spare nodes make the estate (4-decimal rounding per figure).
        let slack = 1e-3 * (plan.agencies.len() + 2) as f64;
        prop_assert!((agencies + s.spare_kwh_per_month - s.shared_kwh_per_month).abs() < slack || plan.assignments.is_empty());
        prop_assert!((cost + s.spare_cost_per_month - s.shared_cost_per_month).abs() < slack || plan.assignments.is_empty());
    }

    #[test]
    fn the_snapshot_reader_never_panics_on_garbage(text in "\\PC{0,400}") {
        let _ = colo_engine::plan_yaml(&text, PlanOptions::default());
    }

    #[test]
    fn the_snapshot_reader_never_panics_on_damaged_snapshots(cut in 0usize..4000, at in 0usize..4000, byte in any::<u8>()) {
        let text = estate(EstateShape::new(5, 6)).to_yaml();
        let mut bytes = text.into_bytes();
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] = byte;
            bytes.truncate(cut.max(1).min(bytes.len()));
        }
        let _ = colo_engine::plan_yaml(&String::from_utf8_lossy(&bytes), PlanOptions::default());
    }
}

/// A tenancy an agency could get past admission: names, replicas, classification and pins
/// as the CRD allows, requests anywhere from 1m to the per-replica bounds (and past them,
/// for the ones that slipped in before the bounds existed), pins to clusters that may not
/// exist, measured usage of any size.
fn admissible_tenancy(
    agencies: Vec<String>,
    clusters: Vec<String>,
) -> impl Strategy<Value = colo_engine::snapshot::TenancyEntry> {
    let quantity = prop_oneof![
        (1u64..=4_096_000).prop_map(|m| format!("{m}m")),
        (1u64..=64 << 40).prop_map(|b| b.to_string()),
        Just("10P".to_string()),
        Just("8Ei".to_string()),
        Just("1e-9".to_string()),
        Just("4097".to_string()),
    ];
    let workload = (
        "[a-z]{1,8}",
        1i32..=1000,
        quantity.clone(),
        quantity.clone(),
        prop::option::of(quantity.clone()),
    );
    (
        "[a-z]{1,12}",
        prop::sample::select(agencies),
        prop::option::of(prop::sample::select(
            clusters
                .into_iter()
                .chain(["no-such-cluster".to_string()])
                .collect::<Vec<_>>(),
        )),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(workload, 1..5),
    )
        .prop_map(|(name, agency, cluster, dual, measured, workloads)| {
            let mut usage = BTreeMap::new();
            let workloads: Vec<serde_json::Value> = workloads
                .into_iter()
                .map(|(w, replicas, cpu, memory, used)| {
                    if let Some(u) = used {
                        usage.insert(w.clone(), serde_json::json!({"cpu": u, "memory": u}));
                    }
                    serde_json::json!({"name": w, "image": "i", "replicas": if dual { replicas.max(2) } else { replicas },
                                       "cpu": cpu, "memory": memory})
                })
                .collect();
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "namespace": format!("ns-{agency}")},
                "spec": {"agency": agency, "classification": "OFFICIAL",
                         "resilience": if dual { "DualSite" } else { "SingleSite" },
                         "sizing": if measured { "Measured" } else { "Requested" },
                         "cluster": cluster, "workloads": workloads},
                "observed": {"usage": usage}
            }))
            .unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The live operator's promise: hostile or careless tenancies among good ones cause no
    /// panic, and every good tenancy is still planned as if they were not there.
    #[test]
    fn hostile_tenancies_are_refused_alone(
        seed in any::<u64>(),
        extra in 1usize..8,
    ) {
        let mut snapshot = estate(EstateShape { seed, ..EstateShape::new(30, 12) });
        let good = Estate::from_snapshot(&snapshot).unwrap();
        let agencies: Vec<String> = snapshot.agencies.iter().map(|a| a.metadata.name.clone()).collect();
        let clusters: Vec<String> = snapshot.clusters.iter().map(|c| c.metadata.name.clone()).collect();
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let rng = proptest::test_runner::TestRng::from_seed(
            proptest::test_runner::RngAlgorithm::ChaCha,
            &bytes,
        );
        let mut runner = proptest::test_runner::TestRunner::new_with_rng(ProptestConfig::default(), rng);
        for n in 0..extra {
            let mut t = admissible_tenancy(agencies.clone(), clusters.clone())
                .new_tree(&mut runner)
                .unwrap()
                .current();
            t.metadata.name = format!("hostile-{n}-{}", t.metadata.name);
            snapshot.tenancies.push(t);
        }
        let (estate, refused) = Estate::from_snapshot_lenient(&snapshot);
        for t in &good.tenancies {
            prop_assert!(estate.tenancies.iter().any(|e| e.key == t.key), "{} left out", t.key);
        }
        for r in &refused {
            let key = r.tenancy.as_deref().unwrap_or_default();
            prop_assert!(key.contains("/hostile-"), "a good object refused: {r:?}");
            prop_assert!(!r.field.is_empty() && !r.problem.is_empty(), "{r:?}");
        }
        let planned = plan(&estate, PlanOptions::default());
        for t in &good.tenancies {
            prop_assert!(planned.decisions.iter().any(|d| d.tenancy == t.key), "{} has no decision", t.key);
        }
    }
}

proptest! {
    /// A decision's explanation agrees with itself: the clusters it chose are never among
    /// those it says it did not choose, and a tenancy it could not place names no cluster.
    #[test]
    fn explanations_never_contradict_the_decision(shape in shapes(), h in heuristics()) {
        let estate = Estate::from_snapshot(&estate(shape)).unwrap();
        let plan = plan(&estate, options(h, false));
        for d in &plan.decisions {
            for r in &d.excluded {
                prop_assert!(!d.clusters.contains(&r.cluster), "{} chosen and rejected: {d:?}", r.cluster);
            }
            use colo_engine::plan::DecisionOutcome::*;
            match d.outcome {
                Placed => for c in &d.clusters {
                    prop_assert!(d.reason.contains(c.as_str()), "{c} chosen but not named: {}", d.reason);
                },
                Running => {}
                Unplaced | TooLarge => {
                    prop_assert!(d.clusters.is_empty(), "unplaced but placed on {:?}", d.clusters);
                }
            }
        }
    }
}
