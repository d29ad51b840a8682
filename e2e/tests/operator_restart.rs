//! The operator killed mid-way (SIGKILL, reconciles in flight) and restarted: nothing is
//! duplicated, lost or orphaned. Its own test binary, so no other test runs while it is down.

use std::collections::BTreeMap;
use std::time::Duration;

use colo_e2e::*;

#[test]
fn the_operator_killed_midway_and_restarted_leaves_no_duplicate_lost_or_orphaned_object() {
    colo_is_running();
    let (agency, ns) = new_agency("crash", "OFFICIAL");
    let tenancy = |name: &str, replicas: i32| {
        let t = Tenancy::new(&ns, name, &agency)
            .dual_site()
            .workload(Workload::new("api", replicas, "100m", "64Mi"))
            .workload(Workload::new("web", 2, "50m", "32Mi"));
        format!("---\n{}", t.yaml())
    };
    let before: String = (0..3).map(|i| tenancy(&format!("before-{i}"), 2)).collect();
    apply_yaml(HUB, &before);
    for i in 0..3 {
        wait_phase(
            &ns,
            &format!("before-{i}"),
            "Running",
            Duration::from_secs(90),
        );
    }
    // Ten more, and the operator killed while it works on them.
    let during: String = (0..10)
        .map(|i| tenancy(&format!("during-{i}"), 2 + i % 3))
        .collect();
    apply_yaml(HUB, &during);
    std::thread::yield_now();
    operator("kill");
    // While it is down, one running tenancy is deleted: its finalizer holds it until Colo is back.
    kubectl_ok(
        HUB,
        &["-n", &ns, "delete", "tenancy", "before-0", "--wait=false"],
    );
    operator("start");

    for i in 0..10 {
        wait_phase(
            &ns,
            &format!("during-{i}"),
            "Running",
            Duration::from_secs(120),
        );
    }
    wait_until("before-0 deleted", Duration::from_secs(60), || {
        let run = kubectl(HUB, &["-n", &ns, "get", "tenancy", "before-0"]);
        if run.stderr.contains("NotFound") {
            Ok(())
        } else {
            Err(run.stdout + &run.stderr)
        }
    });
    // What the hub asks for: (tenancy, workload) -> replicas, and where each tenancy is placed.
    let tenancies = get_json(HUB, &["-n", &ns, "get", "tenancies"]);
    let mut asked: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut placed_in: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in tenancies["items"].as_array().unwrap() {
        let name = t["metadata"]["name"].as_str().unwrap().to_string();
        for w in t["spec"]["workloads"].as_array().unwrap() {
            asked.insert(
                (name.clone(), w["name"].as_str().unwrap().into()),
                w["replicas"].as_i64().unwrap(),
            );
        }
        for p in t["status"]["placements"].as_array().unwrap() {
            placed_in
                .entry(name.clone())
                .or_default()
                .push(p["cluster"].as_str().unwrap().into());
        }
    }
    assert_eq!(
        asked.len(),
        12 * 2,
        "twelve tenancies left, two workloads each"
    );
    // What the members run.
    let mut running: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut seen = Vec::new();
    for cluster in MEMBERS {
        let deployments = get_json(
            cluster,
            &["-n", &format!("colo-{agency}"), "get", "deployments"],
        );
        for d in deployments["items"].as_array().unwrap() {
            let labels = &d["metadata"]["labels"];
            let tenancy = labels["colo.dev/tenancy"].as_str().unwrap().to_string();
            let workload = labels["colo.dev/workload"].as_str().unwrap().to_string();
            assert!(
                asked.contains_key(&(tenancy.clone(), workload.clone())),
                "orphan on {cluster}: {tenancy}/{workload}"
            );
            assert!(
                placed_in
                    .get(&tenancy)
                    .is_some_and(|cs| cs.iter().any(|c| c == cluster)),
                "{tenancy} runs on {cluster} where it is not placed"
            );
            let replicas = d["spec"]["replicas"].as_i64().unwrap();
            seen.push(format!("{cluster}: {tenancy}/{workload} x{replicas}"));
            *running.entry((tenancy, workload)).or_default() += replicas;
        }
    }
    assert_eq!(
        running, asked,
        "every replica asked for runs once: none duplicated, none lost; placed: {placed_in:?}; seen: {seen:?}"
    );
}
