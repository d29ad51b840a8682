//! SharedCluster status as the platform team reads it, and placement when a cluster's
//! Prometheus is unreachable. Its own test binary: it changes a shared cluster for a while,
//! and cargo runs test binaries one after another.

use std::time::Duration;

use colo_e2e::*;

fn condition(shc: &serde_json::Value, type_: &str) -> serde_json::Value {
    shc["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned())
        .unwrap_or_default()
}

#[test]
fn shared_cluster_status_reports_health_size_load_and_power() {
    colo_is_running();
    let shc = wait_until("north-1 status measured", Duration::from_secs(60), || {
        let shc = get_json(HUB, &["get", "sharedcluster", "north-1"]);
        if shc["status"]["powerWatts"].is_number() {
            Ok(shc)
        } else {
            Err(format!("status: {}", shc["status"]))
        }
    });
    for type_ in ["Reachable", "MetricsFresh", "Ready"] {
        assert_eq!(condition(&shc, type_)["status"], "True", "{type_}: {shc}");
    }
    let status = &shc["status"];
    let active = status["nodes"]["active"].as_i64().unwrap();
    assert!(active > 0, "{status}");
    for field in ["capacity", "requested", "measured"] {
        assert!(status[field]["cpu"].is_string(), "{field}: {status}");
        assert!(status[field]["memory"].is_string(), "{field}: {status}");
    }
    // Every active node draws at least its idle power (examples: 82.5 W, a quarter of 330 W).
    let watts = status["powerWatts"].as_f64().unwrap();
    let idle = 82.5 * active as f64;
    assert!(
        watts >= idle && watts <= 330.0 * active as f64 + 10.0 * 64.0,
        "{watts} W for {active} active nodes"
    );
}

/// Puts south-1's Prometheus URL back however the test ends.
struct RestoreSouth;
impl Drop for RestoreSouth {
    fn drop(&mut self) {
        let clusters = repo().join("examples/20-shared-clusters.yaml");
        kubectl_ok(HUB, &["apply", "-f", clusters.to_str().unwrap()]);
    }
}

#[test]
fn without_prometheus_placement_falls_back_to_requests_and_says_so() {
    colo_is_running();
    let _restore = RestoreSouth;
    kubectl_ok(
        HUB,
        &[
            "patch",
            "sharedcluster",
            "south-1",
            "--type=merge",
            "-p",
            r#"{"spec":{"prometheus":{"url":"http://127.0.0.10:9"}}}"#,
        ],
    );
    let fresh = wait_until(
        "south-1 MetricsFresh False",
        Duration::from_secs(60),
        || {
            let shc = get_json(HUB, &["get", "sharedcluster", "south-1"]);
            let c = condition(&shc, "MetricsFresh");
            if c["status"] == "False" {
                Ok(c)
            } else {
                Err(format!("{c}"))
            }
        },
    );
    let message = fresh["message"].as_str().unwrap();
    assert!(
        message.contains("placement falls back to requests"),
        "{message}"
    );
    assert!(
        message.contains("127.0.0.10:9"),
        "names the Prometheus: {message}"
    );

    let (agency, ns) = new_agency("dark", "OFFICIAL");
    Tenancy::new(&ns, "pinned", &agency)
        .pinned("south-1")
        .workload(Workload::new("api", 1, "100m", "64Mi"))
        .apply();
    let t = wait_phase(&ns, "pinned", "Running", Duration::from_secs(90));
    let why = t["status"]["explanation"].as_str().unwrap();
    assert!(
        why.contains("measured usage unavailable for south-1")
            && why.contains("placed there by requests"),
        "{why}"
    );
    kubectl_ok(HUB, &["-n", &ns, "delete", "tenancy", "pinned"]);
    drop(_restore);
    wait_until(
        "south-1 MetricsFresh again",
        Duration::from_secs(60),
        || {
            let shc = get_json(HUB, &["get", "sharedcluster", "south-1"]);
            let c = condition(&shc, "MetricsFresh");
            if c["status"] == "True" {
                Ok(())
            } else {
                Err(format!("{c}"))
            }
        },
    );
}
