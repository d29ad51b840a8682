//! Colo's operator on the local estate, driven with kubectl as agencies and the platform team
//! would: placement by measured usage, what lands in member clusters, rejections, clean-up.

use std::time::Duration;

use colo_e2e::*;

const RUNNING: Duration = Duration::from_secs(90);

fn selector(namespace: &str, name: &str) -> String {
    format!("colo.dev/tenancy={name},colo.dev/tenancy-namespace={namespace}")
}

#[test]
fn a_tenancy_runs_on_a_member_with_every_object_the_spec_lists() {
    colo_is_running();
    let (agency, ns) = new_agency("ag", "OFFICIAL");
    Tenancy::new(&ns, "shop", &agency)
        .workload(
            Workload::new("web", 2, "250m", "256Mi")
                .image("registry.example.gov.uk/shop:1")
                .port(Some("http"), 8080)
                .env("MODE", "live"),
        )
        .workload(
            Workload::new("worker", 1, "500m", "512Mi")
                .image("registry.example.gov.uk/shop-worker:1"),
        )
        .apply();
    let t = wait_phase(&ns, "shop", "Running", RUNNING);
    let status = &t["status"];
    assert_eq!(status["observedGeneration"], t["metadata"]["generation"]);
    for condition in ["Accepted", "Placed", "Available"] {
        let c = status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == condition)
            .expect(condition);
        assert_eq!(c["status"], "True", "{condition}: {c}");
    }
    let explanation = status["explanation"].as_str().unwrap();
    assert!(
        explanation.starts_with("Placed on ") && explanation.contains("not "),
        "one sentence, why there and why not the others: {explanation}"
    );
    let cluster = status["placements"][0]["cluster"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(MEMBERS.contains(&cluster.as_str()));

    let member_ns = format!("colo-{agency}");
    let namespace = get_json(&cluster, &["get", "namespace", &member_ns]);
    let labels = &namespace["metadata"]["labels"];
    assert_eq!(labels["colo.dev/agency"], agency.as_str());
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "restricted");
    let quota = get_json(
        &cluster,
        &["-n", &member_ns, "get", "resourcequota", "colo-quota"],
    );
    assert_eq!(
        quota["spec"]["hard"]["requests.cpu"], "1",
        "2 × 250m + 500m"
    );
    assert_eq!(
        quota["spec"]["hard"]["requests.memory"], "1Gi",
        "2 × 256Mi + 512Mi"
    );
    kubectl_ok(
        &cluster,
        &["-n", &member_ns, "get", "limitrange", "colo-defaults"],
    );
    let policy = get_json(
        &cluster,
        &[
            "-n",
            &member_ns,
            "get",
            "networkpolicy",
            "colo-same-namespace-only",
        ],
    );
    assert_eq!(
        policy["spec"]["ingress"][0]["from"][0]["podSelector"],
        serde_json::json!({})
    );
    let binding = get_json(
        &cluster,
        &["-n", &member_ns, "get", "rolebinding", "colo-agency-view"],
    );
    assert_eq!(
        binding["subjects"][0]["name"],
        format!("{agency}-engineers")
    );
    let deployments = get_json(
        &cluster,
        &[
            "-n",
            &member_ns,
            "get",
            "deployments",
            "-l",
            &selector(&ns, "shop"),
        ],
    );
    let items = deployments["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "one Deployment per workload");
    for d in items {
        assert_eq!(d["metadata"]["labels"]["colo.dev/agency"], agency.as_str());
        assert_eq!(d["metadata"]["labels"]["colo.dev/tenancy"], "shop");
    }
    let web = items
        .iter()
        .find(|d| d["metadata"]["name"] == "shop-web")
        .expect("shop-web");
    assert_eq!(web["spec"]["replicas"], 2);
    assert_eq!(
        web["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"],
        "250m"
    );
    let service = get_json(&cluster, &["-n", &member_ns, "get", "service", "shop-web"]);
    assert_eq!(service["spec"]["ports"][0]["port"], 8080);
    assert!(
        kubectl(
            &cluster,
            &["-n", &member_ns, "get", "service", "shop-worker"]
        )
        .stderr
        .contains("NotFound"),
        "no Service without ports"
    );
    let pods = kubectl_ok(
        &cluster,
        &[
            "-n",
            &member_ns,
            "get",
            "pods",
            "-l",
            &selector(&ns, "shop"),
            "-o",
            "jsonpath={.items[*].status.phase}",
        ],
    );
    assert_eq!(
        pods.split_whitespace().filter(|p| *p == "Running").count(),
        3,
        "{pods}"
    );
    // kubectl-friendly: the printer columns show where it runs.
    let row = kubectl_ok(HUB, &["-n", &ns, "get", "tenancy", "shop", "--no-headers"]);
    assert!(row.contains("Running") && row.contains(&cluster), "{row}");
}

#[test]
fn dual_site_spreads_replicas_over_two_sites() {
    colo_is_running();
    let (agency, ns) = new_agency("dual", "OFFICIAL");
    Tenancy::new(&ns, "ha", &agency)
        .dual_site()
        .workload(Workload::new("api", 3, "100m", "64Mi"))
        .apply();
    let t = wait_phase(&ns, "ha", "Running", RUNNING);
    let mut per_site = std::collections::BTreeMap::new();
    for p in t["status"]["placements"].as_array().unwrap() {
        *per_site
            .entry(p["site"].as_str().unwrap().to_string())
            .or_insert(0) += p["replicas"].as_i64().unwrap();
    }
    assert_eq!(per_site.len(), 2, "two sites: {per_site:?}");
    assert!(
        per_site.values().all(|&n| (1..=2).contains(&n)),
        "no site above ceil(3/2): {per_site:?}"
    );
    let running: i64 = available_by_cluster(&ns, "ha", &agency)
        .iter()
        .map(|(_, n)| n)
        .sum();
    assert_eq!(running, 3);
}

#[test]
fn a_tenancy_outside_its_agencys_namespaces_or_clearance_is_rejected_with_the_reason() {
    colo_is_running();
    let (agency, ns) = new_agency("strict", "OFFICIAL");
    let stranger = unique_name("stranger");
    // Labelled with the agency, so the API server admits the tenancy; the Agency does not
    // list it, so the operator rejects it.
    apply_yaml(
        HUB,
        &format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {stranger}, labels: {{colo.dev/agency: {agency}}}}}\n"
        ),
    );
    Tenancy::new(&stranger, "squat", &agency)
        .workload(Workload::new("a", 1, "100m", "64Mi"))
        .apply();
    Tenancy::new(&ns, "secret", &agency)
        .classification(Classification::Secret)
        .workload(Workload::new("a", 1, "100m", "64Mi"))
        .apply();
    let squat = wait_phase(&stranger, "squat", "Rejected", Duration::from_secs(30));
    let why = squat["status"]["explanation"].as_str().unwrap();
    assert!(
        why.contains(&format!(
            "namespace {stranger} is not in agency {agency}'s spec.namespaces"
        )),
        "{why}"
    );
    let secret = wait_phase(&ns, "secret", "Rejected", Duration::from_secs(30));
    let why = secret["status"]["explanation"].as_str().unwrap();
    assert!(
        why.contains("spec.classification: SECRET is above") && why.contains("clearance OFFICIAL"),
        "{why}"
    );
    let accepted = secret["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Accepted")
        .unwrap()
        .clone();
    assert_eq!(accepted["status"], "False");
    let events = kubectl_ok(
        HUB,
        &[
            "-n",
            &ns,
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=secret",
            "-o",
            "jsonpath={.items[*].reason}",
        ],
    );
    assert!(events.contains("Rejected"), "an Event says so: {events}");
    for cluster in MEMBERS {
        let leftovers = kubectl_ok(
            cluster,
            &[
                "get",
                "deployments",
                "-A",
                "-l",
                &format!(
                    "colo.dev/tenancy in (squat,secret),colo.dev/tenancy-namespace in ({stranger},{ns})"
                ),
                "-o",
                "name",
            ],
        );
        assert!(
            leftovers.trim().is_empty(),
            "nothing materialised for rejected tenancies on {cluster}: {leftovers}"
        );
    }
}

#[test]
fn deleting_a_tenancy_cleans_every_member_cluster() {
    colo_is_running();
    let (agency, ns) = new_agency("gone", "OFFICIAL");
    Tenancy::new(&ns, "brief", &agency)
        .dual_site()
        .workload(Workload::new("api", 2, "100m", "64Mi").port(None, 80))
        .apply();
    Tenancy::new(&ns, "stays", &agency)
        .workload(Workload::new("api", 1, "200m", "64Mi"))
        .apply();
    wait_phase(&ns, "brief", "Running", RUNNING);
    let stays = wait_phase(&ns, "stays", "Running", RUNNING);
    kubectl_ok(
        HUB,
        &["-n", &ns, "delete", "tenancy", "brief", "--timeout=60s"],
    );
    for cluster in MEMBERS {
        let member_ns = format!("colo-{agency}");
        wait_until(
            &format!("{cluster} clean of brief"),
            Duration::from_secs(30),
            || {
                let left = kubectl_ok(
                    cluster,
                    &[
                        "-n",
                        &member_ns,
                        "get",
                        "deployments,services",
                        "-l",
                        &selector(&ns, "brief"),
                        "-o",
                        "name",
                    ],
                );
                if left.trim().is_empty() {
                    Ok(())
                } else {
                    Err(left)
                }
            },
        );
    }
    // The quota of the cluster where `stays` runs now holds only it.
    let cluster = stays["status"]["placements"][0]["cluster"]
        .as_str()
        .unwrap();
    let quota = get_json(
        cluster,
        &[
            "-n",
            &format!("colo-{agency}"),
            "get",
            "resourcequota",
            "colo-quota",
        ],
    );
    assert_eq!(quota["spec"]["hard"]["requests.cpu"], "200m");
}

#[test]
fn measured_usage_steers_placement_away_from_a_busy_member() {
    colo_is_running();
    // north-1 looks empty by requests (10m each) but its nodes are busy: 24 of 32 cores used.
    let legacy = unique_name("legacy");
    kubectl_ok("north-1", &["create", "namespace", &legacy]);
    let nodes = kubectl_ok(
        "north-1",
        &["get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"],
    );
    for node in nodes.split_whitespace() {
        apply_yaml(
            "north-1",
            &format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: old-{node}\n  namespace: {legacy}\n  annotations: {{kwok.x-k8s.io/usage-cpu: \"24\", kwok.x-k8s.io/usage-memory: 1Gi}}\nspec:\n  nodeName: {node}\n  containers: [{{name: app, image: legacy:1, resources: {{requests: {{cpu: 10m, memory: 16Mi}}}}}}]\n"
            ),
        );
    }
    wait_until(
        "Prometheus sees north-1 busy",
        Duration::from_secs(90),
        || {
            let q = format!(
                r#"min(quantile_over_time(0.95, sum by (node) (rate(container_cpu_usage_seconds_total{{cluster="north-1",namespace="{legacy}"}}[20s]))[2m:]))"#
            );
            let v = prometheus_query(&q)?
                .first()
                .and_then(|s| s["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()))
                .unwrap_or(0.0);
            if v > 20.0 {
                Ok(())
            } else {
                Err(format!("{v} cores"))
            }
        },
    );
    // Colo measures each cluster on its own cadence; its status says when it has seen this.
    wait_until("Colo sees north-1 busy", Duration::from_secs(90), || {
        let shc = get_json(HUB, &["get", "sharedcluster", "north-1"]);
        let cpu = shc["status"]["measuredCpu"].as_str().unwrap_or("0%");
        match cpu.trim_end_matches('%').parse::<f64>() {
            Ok(v) if v >= 50.0 => Ok(()),
            _ => Err(format!("measuredCpu {cpu}")),
        }
    });
    let (agency, ns) = new_agency("steer", "OFFICIAL");
    // north-1 is the cheaper site and would be chosen were it idle.
    Tenancy::new(&ns, "batch", &agency)
        .workload(Workload::new("job", 2, "3", "1Gi"))
        .apply();
    let t = wait_phase(&ns, "batch", "Running", RUNNING);
    kubectl_ok("north-1", &["delete", "namespace", &legacy, "--wait=false"]);
    let cluster = t["status"]["placements"][0]["cluster"].as_str().unwrap();
    let why = t["status"]["explanation"].as_str().unwrap();
    assert_eq!(
        cluster, "south-1",
        "measured use of north-1 leaves no room: {why}"
    );
    // Usually "no node has room"; while the p95 window fills, some nodes may still look idle.
    assert!(why.contains("not north-1: "), "{why}");
}

#[test]
fn measured_sizing_lowers_requests_to_p95_after_the_window() {
    colo_is_running();
    let (agency, ns) = new_agency("sized", "OFFICIAL");
    // Asks for 500m / 512Mi per replica, uses 100m / 100Mi (kwok simulates the usage).
    Tenancy::new(&ns, "lean", &agency)
        .measured()
        .workload(Workload::new("api", 2, "500m", "512Mi").uses("100m", "100Mi"))
        .apply();
    let t = wait_phase(&ns, "lean", "Running", RUNNING);
    let sizing = &t["status"]["sizing"][0];
    assert_eq!(sizing["workload"], "api");
    assert_eq!(sizing["asked"]["cpu"], "500m");
    assert_eq!(sizing["applied"]["cpu"], "500m", "{sizing}");
    assert!(
        sizing["basis"].as_str().unwrap().contains("review waits"),
        "{sizing}"
    );
    // The example clusters measure over 2m: after that, requests follow p95 × 1.2.
    let cpu_millis = |q: &serde_json::Value| {
        let s = q.as_str().unwrap_or_default();
        s.strip_suffix('m').map_or_else(
            || s.parse::<f64>().unwrap_or(0.0) * 1000.0,
            |m| m.parse().unwrap_or(0.0),
        ) as i64
    };
    let t = wait_until(
        "requests lowered to measured p95 × 1.2",
        Duration::from_secs(300),
        || {
            let t = get_json(HUB, &["-n", &ns, "get", "tenancy", "lean"]);
            let applied = &t["status"]["sizing"][0]["applied"];
            if cpu_millis(&applied["cpu"]) < 500 {
                Ok(t)
            } else {
                Err(format!("status.sizing: {}", t["status"]["sizing"]))
            }
        },
    );
    let sizing = &t["status"]["sizing"][0];
    let cpu = cpu_millis(&sizing["applied"]["cpu"]);
    assert!(
        (120..=135).contains(&cpu),
        "100m × 1.2 (p95 jitter): {sizing}"
    );
    assert_eq!(sizing["applied"]["memory"], "120Mi", "{sizing}");
    assert_eq!(sizing["asked"]["memory"], "512Mi");
    assert_eq!(t["status"]["measured"]["api"]["memory"], "100Mi");
    for p in t["status"]["placements"].as_array().unwrap() {
        assert_eq!(
            p["requests"], sizing["applied"],
            "placements carry the applied size"
        );
    }
    // The member Deployment and the agency's quota follow; the tenancy stays Running.
    let cluster = t["status"]["placements"][0]["cluster"].as_str().unwrap();
    let member_ns = format!("colo-{agency}");
    wait_until(
        "member Deployment requests lowered",
        Duration::from_secs(60),
        || {
            let requests = kubectl_ok(
                cluster,
                &[
                    "-n",
                    &member_ns,
                    "get",
                    "deployment",
                    "lean-api",
                    "-o",
                    "jsonpath={.spec.template.spec.containers[0].resources.requests.memory} {.status.availableReplicas}",
                ],
            );
            if requests == "120Mi 2" {
                Ok(())
            } else {
                Err(requests)
            }
        },
    );
    // The running pods themselves carry the new size: the rollout was not held back by the
    // quota (it holds old and new while the rollout runs).
    wait_until(
        "every running pod of lean asks the new size",
        Duration::from_secs(120),
        || {
            let pods = kubectl_ok(
                cluster,
                &[
                    "-n",
                    &member_ns,
                    "get",
                    "pods",
                    "-l",
                    &selector(&ns, "lean"),
                    "-o",
                    "jsonpath={range .items[*]}{.status.phase}={.spec.containers[0].resources.requests.memory} {end}",
                ],
            );
            let pods: Vec<&str> = pods.split_whitespace().collect();
            if pods.len() == 2 && pods.iter().all(|p| *p == "Running=120Mi") {
                Ok(())
            } else {
                Err(format!("{pods:?}"))
            }
        },
    );
    // Once the rollout has settled the quota holds the new size only.
    wait_until(
        "quota sums the applied size",
        Duration::from_secs(60),
        || {
            let quota = kubectl_ok(
                cluster,
                &[
                    "-n",
                    &member_ns,
                    "get",
                    "resourcequota",
                    "colo-quota",
                    "-o",
                    "jsonpath={.spec.hard.requests\\.memory}",
                ],
            );
            if quota == "240Mi" { Ok(()) } else { Err(quota) }
        },
    );
    wait_phase(&ns, "lean", "Running", RUNNING);
    let events = kubectl_ok(
        HUB,
        &[
            "-n",
            &ns,
            "get",
            "events",
            "--field-selector",
            "reason=Resized,involvedObject.name=lean",
            "-o",
            "jsonpath={.items[*].message}",
        ],
    );
    assert!(events.contains("api: 500m/512Mi → "), "{events}");
}

#[test]
fn a_running_tenancy_that_loses_replicas_is_degraded_with_the_members_reason() {
    colo_is_running();
    let (agency, ns) = new_agency("degr", "OFFICIAL");
    Tenancy::new(&ns, "svc", &agency)
        .workload(Workload::new("api", 2, "100m", "64Mi"))
        .apply();
    let t = wait_phase(&ns, "svc", "Running", RUNNING);
    let cluster = t["status"]["placements"][0]["cluster"].as_str().unwrap();
    let member_ns = format!("colo-{agency}");
    // Someone in the member shrinks the agency's quota and a pod goes: it cannot come back.
    kubectl_ok(
        cluster,
        &[
            "-n",
            &member_ns,
            "patch",
            "resourcequota",
            "colo-quota",
            "--type=merge",
            "-p",
            r#"{"spec":{"hard":{"requests.cpu":"100m"}}}"#,
        ],
    );
    let pod = kubectl_ok(
        cluster,
        &[
            "-n",
            &member_ns,
            "get",
            "pods",
            "-l",
            &selector(&ns, "svc"),
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ],
    );
    kubectl_ok(cluster, &["-n", &member_ns, "delete", "pod", &pod]);
    let t = wait_until(
        "Degraded with the member's reason",
        Duration::from_secs(90),
        || {
            let t = get_json(HUB, &["-n", &ns, "get", "tenancy", "svc"]);
            let available = t["status"]["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Available").cloned())
                .unwrap_or_default();
            let message = available["message"].as_str().unwrap_or_default();
            if t["status"]["phase"] == "Degraded" && message.contains("exceeded quota") {
                Ok(available)
            } else {
                Err(format!("phase {}: {message}", t["status"]["phase"]))
            }
        },
    );
    let message = t["message"].as_str().unwrap();
    assert!(
        message.starts_with("1 of 2 replicas available ("),
        "{message}"
    );
    assert!(message.contains(&format!("{cluster}: ")), "{message}");
    kubectl_ok(HUB, &["-n", &ns, "delete", "tenancy", "svc"]);
}

/// Available replicas of a tenancy's workload in each member cluster.
fn available_by_cluster(ns: &str, name: &str, agency: &str) -> Vec<(String, i64)> {
    MEMBERS
        .iter()
        .map(|cluster| {
            let out = kubectl_ok(
                cluster,
                &[
                    "-n",
                    &format!("colo-{agency}"),
                    "get",
                    "deployments",
                    "-l",
                    &selector(ns, name),
                    "-o",
                    "jsonpath={.items[*].status.availableReplicas}",
                ],
            );
            let n = out
                .split_whitespace()
                .filter_map(|n| n.parse::<i64>().ok())
                .sum();
            (cluster.to_string(), n)
        })
        .collect()
}

#[test]
fn a_move_is_make_before_break_and_an_image_edit_keeps_the_placement() {
    colo_is_running();
    let (agency, ns) = new_agency("mbb", "OFFICIAL");
    let pinned = |cluster: &str, image: &str| {
        Tenancy::new(&ns, "mover", &agency)
            .pinned(cluster)
            .workload(Workload::new("api", 2, "100m", "64Mi").image(image))
            .yaml()
    };
    apply_yaml(HUB, &pinned("north-1", "app:1"));
    wait_phase(&ns, "mover", "Running", RUNNING);

    // An image edit changes nothing placement depends on: same cluster, rolled in place.
    apply_yaml(HUB, &pinned("north-1", "app:2"));
    wait_until("the new image in north-1", Duration::from_secs(60), || {
        let image = kubectl_ok(
            "north-1",
            &[
                "-n",
                &format!("colo-{agency}"),
                "get",
                "deployment",
                "mover-api",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].image}",
            ],
        );
        if image == "app:2" { Ok(()) } else { Err(image) }
    });
    let t = wait_phase(&ns, "mover", "Running", RUNNING);
    assert_eq!(t["status"]["clusters"], "north-1");
    let placed_events = kubectl_ok(
        HUB,
        &[
            "-n",
            &ns,
            "get",
            "events",
            "--field-selector",
            "reason=Placed,involvedObject.name=mover",
            "-o",
            "name",
        ],
    );
    assert_eq!(
        placed_events.lines().count(),
        1,
        "placed once: {placed_events}"
    );

    // A move: the new copies are available before the old ones go; at every moment at least
    // the two replicas asked for are available somewhere.
    apply_yaml(HUB, &pinned("south-1", "app:2"));
    let started = std::time::Instant::now();
    let mut lowest = i64::MAX;
    loop {
        let by_cluster = available_by_cluster(&ns, "mover", &agency);
        let total: i64 = by_cluster.iter().map(|(_, n)| n).sum();
        lowest = lowest.min(total);
        let moved = by_cluster == [("north-1".to_string(), 0), ("south-1".to_string(), 2)];
        let north_gone = kubectl_ok(
            "north-1",
            &[
                "-n",
                &format!("colo-{agency}"),
                "get",
                "deployments",
                "-l",
                &selector(&ns, "mover"),
                "-o",
                "name",
            ],
        )
        .trim()
        .is_empty();
        if moved && north_gone {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not moved after 2 minutes: {by_cluster:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        lowest >= 2,
        "at some moment only {lowest} of 2 replicas were available"
    );
    let t = wait_phase(&ns, "mover", "Running", RUNNING);
    assert_eq!(t["status"]["clusters"], "south-1");
    kubectl_ok(HUB, &["-n", &ns, "delete", "tenancy", "mover"]);
}
