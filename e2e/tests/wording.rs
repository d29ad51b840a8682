//! What users read: a missing kubeconfig Secret, a replica larger than every node, and a
//! `sizing: Measured` workload with nothing measured, each with the words a user sees; and
//! then every condition and Event Colo wrote during the whole e2e run is a sentence for a
//! person, with no program debug output in it.
//!
//! Its own test binary, run after the others (cargo runs test binaries by name): it adds a
//! SharedCluster and a node for a while, and reads what all the others left.

use std::time::Duration;

use colo_e2e::*;

/// Fragments only a program's debug output contains (the operator's own list, `k8s::plain`).
const NOT_FOR_PEOPLE: &[&str] = include!("../../operator/src/k8s/not_for_people.in");

fn condition(object: &serde_json::Value, type_: &str) -> serde_json::Value {
    object["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned())
        .unwrap_or_default()
}

/// Deletes the test's SharedCluster and node however the test ends.
struct Cleanup;
impl Drop for Cleanup {
    fn drop(&mut self) {
        kubectl(
            HUB,
            &["delete", "sharedcluster", "west-9", "--ignore-not-found"],
        );
        kubectl(
            "north-1",
            &["delete", "node", "colo-big", "--ignore-not-found"],
        );
    }
}

#[test]
fn users_read_sentences_that_say_what_to_do() {
    colo_is_running();
    let _cleanup = Cleanup;

    // A SharedCluster whose kubeconfig Secret is missing.
    apply_yaml(
        HUB,
        "apiVersion: colo.dev/v1alpha1\nkind: SharedCluster\nmetadata: {name: west-9}\nspec:\n  site: west-dc\n  region: uk-west\n  classification: OFFICIAL\n  kubeconfigSecretRef: {name: west-9-kubeconfig}\n",
    );
    let ready = wait_until("west-9 not Ready", Duration::from_secs(60), || {
        let c = condition(&get_json(HUB, &["get", "sharedcluster", "west-9"]), "Ready");
        if c["status"] == "False" {
            Ok(c)
        } else {
            Err(format!("{c}"))
        }
    });
    // Colo may read only the Secrets the chart lists (members.kubeconfigSecrets): one that is
    // not listed is, to it, forbidden rather than missing, and the sentence says both fixes.
    assert_eq!(
        ready["message"],
        "kubeconfig Secret colo-system/west-9-kubeconfig is not one Colo may read: create it in colo-system and add its name to the chart's members.kubeconfigSecrets (helm upgrade … --reuse-values), or correct spec.kubeconfigSecretRef"
    );

    // A tenancy placed meanwhile says why not west-9: unreachable, not "has no nodes".
    let (agency, ns) = new_agency("words", "OFFICIAL");
    let tenancy = |name: &str, cpu: &str, memory: &str| {
        Tenancy::new(&ns, name, &agency).workload(Workload::new("api", 1, cpu, memory))
    };
    tenancy("small", "100m", "64Mi").apply();
    let t = wait_phase(&ns, "small", "Running", Duration::from_secs(90));
    let why = t["status"]["explanation"].as_str().unwrap();
    assert!(
        why.contains(
            "not west-9: unreachable (kubeconfig Secret colo-system/west-9-kubeconfig is not one Colo may read"
        ),
        "{why}"
    );
    assert!(!why.contains("has no nodes"), "{why}");
    let chosen = t["status"]["clusters"].as_str().unwrap().to_string();
    assert!(
        !why.contains(&format!("not {chosen}:")),
        "the chosen cluster is not among the rejected: {why}"
    );
    // (west-9 stays until the end: a member without its Secret holds no delete up.)

    // A tenancy that never ran anywhere, deleted: no "removed from every member" Event.
    tenancy("never", "100m", "64Mi").pinned("nowhere-1").apply();
    let never = wait_phase(&ns, "never", "Pending", Duration::from_secs(60));
    assert_eq!(
        condition(&never, "Placed")["reason"],
        "ClusterNotFound",
        "{never}"
    );
    kubectl_ok(HUB, &["-n", &ns, "delete", "tenancy", "never"]);

    // A replica larger than every node: it says what the largest node has, and waits for
    // nodes; a node big enough arriving places it.
    tenancy("huge", "100", "1Gi").apply();
    let huge = wait_phase(&ns, "huge", "Pending", Duration::from_secs(60));
    let placed = condition(&huge, "Placed");
    assert_eq!(placed["reason"], "TooLarge", "{placed}");
    let message = placed["message"].as_str().unwrap();
    assert!(message.contains("asks 100 cores, 1 GiB"), "{message}");
    assert!(
        message.contains("the largest") && message.contains("has 32 cores, 128 GiB allocatable"),
        "{message}"
    );
    apply_yaml(
        "north-1",
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: colo-big\n  annotations: {kwok.x-k8s.io/node: fake}\n  labels: {type: kwok}\nstatus:\n  allocatable: {cpu: \"256\", memory: 1Ti, pods: \"110\"}\n  capacity: {cpu: \"256\", memory: 1Ti, pods: \"110\"}\n",
    );
    let placed = wait_phase(&ns, "huge", "Running", Duration::from_secs(90));
    assert_eq!(placed["status"]["clusters"], "north-1");
    kubectl_ok(HUB, &["-n", &ns, "delete", "tenancy", "huge"]);
    kubectl_ok("north-1", &["delete", "node", "colo-big"]);

    // `sizing: Measured` with nothing used: after the window, held at the floor, and the
    // status says which rule decided.
    tenancy("idle", "1", "2Gi").measured().apply();
    wait_phase(&ns, "idle", "Running", Duration::from_secs(90));
    let sizing = wait_until("idle held at the floor", Duration::from_secs(300), || {
        let t = get_json(HUB, &["-n", &ns, "get", "tenancy", "idle"]);
        let s = t["status"]["sizing"][0].clone();
        if s["applied"]["cpu"] == "50m" {
            Ok(s)
        } else {
            Err(format!("{s}"))
        }
    });
    assert_eq!(sizing["applied"]["memory"], "64Mi", "{sizing}");
    assert!(
        sizing["basis"].as_str().unwrap().contains("floor"),
        "{sizing}"
    );

    // Every condition and Event Colo wrote in this whole run reads as a sentence.
    let mut seen = Vec::new();
    for kind in ["tenancies", "sharedclusters", "agencies"] {
        let list = get_json(HUB, &["get", kind, "-A"]);
        for o in list["items"].as_array().unwrap() {
            let name = o["metadata"]["name"].as_str().unwrap_or_default();
            for c in o["status"]["conditions"].as_array().into_iter().flatten() {
                seen.push((
                    format!("{kind}/{name} {}", c["type"]),
                    c["message"].as_str().unwrap_or_default().to_string(),
                ));
            }
            if let Some(e) = o["status"]["explanation"].as_str() {
                seen.push((format!("{kind}/{name} explanation"), e.to_string()));
            }
        }
    }
    let events = get_json(HUB, &["get", "events", "-A"]);
    for e in events["items"].as_array().unwrap() {
        if e["reportingComponent"] == "colo" || e["source"]["component"] == "colo" {
            let what = format!("event {} of {}", e["reason"], e["involvedObject"]["name"]);
            seen.push((what, e["message"].as_str().unwrap_or_default().to_string()));
        }
    }
    assert!(seen.len() > 50, "a whole run's worth read: {}", seen.len());
    // One Event per transition: a step retried or re-seen is not told twice. (Running may
    // repeat honestly: Degraded and back.)
    let mut repeated = Vec::new();
    for e in events["items"].as_array().unwrap() {
        let count = e["count"].as_u64().unwrap_or(1);
        let once = [
            "Rejected",
            "Unplaced",
            "Placed",
            "Resized",
            "Revoked",
            "CleanedUp",
        ];
        if once.iter().any(|r| e["reason"] == *r) && count > 1 {
            let o = &e["involvedObject"];
            repeated.push(format!(
                "{} ×{count} on {}/{}: {}",
                e["reason"], o["namespace"], o["name"], e["message"]
            ));
        }
        let cleaned_never = e["reason"] == "CleanedUp"
            && e["involvedObject"]["name"] == "never"
            && e["involvedObject"]["namespace"] == ns.as_str();
        assert!(
            !cleaned_never,
            "a clean-up Event for a tenancy that never ran: {e}"
        );
    }
    assert!(
        repeated.is_empty(),
        "Events told twice:\n{}",
        repeated.join("\n")
    );
    let raw: Vec<String> = seen
        .iter()
        .filter(|(_, text)| NOT_FOR_PEOPLE.iter().any(|f| text.contains(f)))
        .map(|(what, text)| format!("{what}: {text}"))
        .collect();
    assert!(
        raw.is_empty(),
        "debug output where people read:\n{}",
        raw.join("\n")
    );
    kubectl_ok(HUB, &["-n", &ns, "delete", "tenancy", "small", "idle"]);
}
