//! The hostile-object campaign: alongside good tenancies of several agencies, each thing a
//! careless or hostile agency (or a strange estate) can do. Every good tenancy still runs;
//! each hostile object ends refused by the API server, `Rejected` or `Pending` with a reason
//! naming the field; the accounting ledger keeps ticking throughout; and after the hostile
//! objects are deleted nothing of theirs is left in any member cluster.
//!
//! Its own test binary: it adds nodes to the members and deletes an Agency. e2e/operator.sh
//! runs the operator with `--revocation-grace-seconds 10`, so revocations happen in seconds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use colo_e2e::*;

const RUNNING: Duration = Duration::from_secs(120);

fn tenancy(ns: &str, name: &str, agency: &str, cpu: &str, memory: &str) -> Tenancy {
    Tenancy::new(ns, name, agency).workload(Workload::new("api", 1, cpu, memory))
}

fn phase_and_why(ns: &str, name: &str) -> (String, String) {
    let t = get_json(HUB, &["-n", ns, "get", "tenancy", name]);
    (
        t["status"]["phase"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        t["status"]["explanation"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

fn wait_explained(ns: &str, name: &str, phase: &str, words: &[&str]) -> String {
    wait_until(
        &format!("{ns}/{name} {phase} naming {words:?}"),
        Duration::from_secs(90),
        || {
            let (p, why) = phase_and_why(ns, name);
            if p == phase && words.iter().all(|w| why.contains(w)) {
                Ok(why)
            } else {
                Err(format!("{p}: {why}"))
            }
        },
    )
}

/// Colo's Deployments of a tenancy in one member cluster.
fn deployments_of(cluster: &str, ns: &str, name: &str) -> Vec<String> {
    let selector = format!("colo.dev/tenancy={name},colo.dev/tenancy-namespace={ns}");
    kubectl_ok(
        cluster,
        &["get", "deployments", "-A", "-l", &selector, "-o", "name"],
    )
    .split_whitespace()
    .map(str::to_string)
    .collect()
}

fn cluster_of(ns: &str, name: &str) -> String {
    let t = get_json(HUB, &["-n", ns, "get", "tenancy", name]);
    t["status"]["placements"][0]["cluster"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Samples the ledger's `until` from the operator's metrics until stopped.
struct LedgerWatch {
    samples: Arc<Mutex<Vec<(Instant, f64)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LedgerWatch {
    fn start() -> Self {
        let samples: Arc<Mutex<Vec<(Instant, f64)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, halt) = (samples.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                let body = colo_metrics();
                if let Some(v) = body
                    .lines()
                    .find_map(|l| l.strip_prefix("colo_ledger_until_timestamp_seconds "))
                    .and_then(|v| v.trim().parse::<f64>().ok())
                {
                    s.lock().unwrap().push((Instant::now(), v));
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        LedgerWatch {
            samples,
            stop,
            thread: Some(thread),
        }
    }

    /// The longest time the ledger did not move, and whether it ever went back.
    fn finish(mut self) -> (Duration, bool, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        let samples = self.samples.lock().unwrap().clone();
        let mut longest = Duration::ZERO;
        let mut went_back = false;
        let mut since = samples.first().map(|s| s.0);
        for pair in samples.windows(2) {
            went_back |= pair[1].1 < pair[0].1;
            if pair[1].1 > pair[0].1 {
                since = Some(pair[1].0);
            } else if let Some(t) = since {
                longest = longest.max(pair[1].0 - t);
            }
        }
        (longest, went_back, samples.len())
    }
}

/// Two nodes of the same name, one in each member: names are the members' own.
struct TwinNodes;
impl TwinNodes {
    fn add() -> Self {
        for cluster in MEMBERS {
            apply_yaml(
                cluster,
                "apiVersion: v1\nkind: Node\nmetadata:\n  name: colo-twin\n  annotations: {kwok.x-k8s.io/node: fake}\n  labels: {type: kwok}\nstatus:\n  allocatable: {cpu: \"8\", memory: 32Gi, pods: \"110\"}\n  capacity: {cpu: \"8\", memory: 32Gi, pods: \"110\"}\n",
            );
        }
        TwinNodes
    }
}
impl Drop for TwinNodes {
    fn drop(&mut self) {
        for cluster in MEMBERS {
            kubectl(cluster, &["delete", "node", "colo-twin", "--wait=false"]);
        }
    }
}

#[test]
fn no_single_object_stops_the_estate() {
    colo_is_running();
    let ledger = LedgerWatch::start();
    let _twins = TwinNodes::add();
    let (a, a_ns) = new_agency("good-a", "OFFICIAL");
    let (b, b_ns) = new_agency("good-b", "OFFICIAL");
    let (c, c_ns) = new_agency("doomed", "OFFICIAL");

    // Good tenancies, one exact to the milli-core; and the hostile ones beside them.
    tenancy(&a_ns, "exact", &a, "1275m", "100Mi").apply();
    tenancy(&b_ns, "plain", &b, "250m", "256Mi").apply();
    tenancy(&c_ns, "revoked", &c, "100m", "64Mi").apply();
    tenancy(&b_ns, "moved", &b, "100m", "64Mi").apply();
    tenancy(&a_ns, "pinned", &a, "100m", "64Mi")
        .pinned("west-9")
        .apply();
    tenancy(&a_ns, "giant", &a, "4096", "1Gi").apply();

    // Refused at admission, with the field named: sizes past any server, a moved agency.
    for (cpu, memory, field) in [
        ("10P", "1Gi", "spec.workloads[0].cpu"),
        ("1", "8Ei", "spec.workloads[0].memory"),
    ] {
        let run = kubectl_with_input(
            HUB,
            &["apply", "-f", "-"],
            Some(&tenancy(&a_ns, "huge", &a, cpu, memory).yaml()),
        );
        assert!(!run.ok, "{cpu}/{memory} admitted");
        assert!(run.stderr.contains(field), "{}", run.stderr);
        assert!(run.stderr.contains("at most"), "{}", run.stderr);
    }

    let exact = wait_phase(&a_ns, "exact", "Running", RUNNING);
    assert_eq!(exact["status"]["placements"][0]["requests"]["cpu"], "1275m");
    let cluster = exact["status"]["placements"][0]["cluster"]
        .as_str()
        .unwrap();
    let requests = kubectl_ok(
        cluster,
        &[
            "-n",
            &format!("colo-{a}"),
            "get",
            "deployment",
            "exact-api",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].resources.requests.cpu}",
        ],
    );
    assert_eq!(
        requests, "1275m",
        "the member asks exactly what the user wrote"
    );
    wait_phase(&b_ns, "plain", "Running", RUNNING);
    wait_phase(&c_ns, "revoked", "Running", RUNNING);
    wait_phase(&b_ns, "moved", "Running", RUNNING);
    wait_explained(&a_ns, "pinned", "Pending", &["spec.cluster", "west-9"]);
    wait_explained(
        &a_ns,
        "giant",
        "Pending",
        &["asks 4096 cores", "more than any node it may use"],
    );

    // A forged status is refused by the API server (only the operator writes status), and
    // nothing goes to the would-be forged cluster.
    let real = cluster_of(&b_ns, "plain");
    let forged = MEMBERS.iter().find(|m| **m != real).unwrap().to_string();
    let forge =
        format!(r#"[{{"op":"replace","path":"/status/placements/0/cluster","value":"{forged}"}}]"#);
    let run = kubectl(
        HUB,
        &[
            "-n",
            &b_ns,
            "patch",
            "tenancy",
            "plain",
            "--subresource=status",
            "--type=json",
            "-p",
            &forge,
        ],
    );
    assert!(
        !run.ok && run.stderr.contains("written by Colo's operator only"),
        "a forged status was not refused: {}",
        run.stderr
    );
    assert_eq!(cluster_of(&b_ns, "plain"), real);
    assert!(
        deployments_of(&forged, &b_ns, "plain").is_empty(),
        "a copy on the forged cluster"
    );
    assert_eq!(deployments_of(&real, &b_ns, "plain").len(), 1);

    // A squatter: an Agency listing a namespace another already owns.
    let squatter = unique_name("squatter");
    apply_yaml(HUB, &Agency::new(&squatter, &[&b_ns]).groups(&[]).yaml());
    // Its tenancy there is refused by the API server: the namespace's label names its owner.
    let squat = tenancy(&b_ns, "squat", &squatter, "100m", "64Mi").yaml();
    let run = kubectl_with_input(HUB, &["apply", "-f", "-"], Some(&squat));
    assert!(
        !run.ok
            && run
                .stderr
                .contains(&format!("belongs to agency {b}, not {squatter}")),
        "the squatter's tenancy was not refused: {}",
        run.stderr
    );
    wait_until(
        "the squatter told who owns it",
        Duration::from_secs(30),
        || {
            let ag = get_json(HUB, &["get", "agency", &squatter]);
            let c = ag["status"]["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "NamespacesOwned").cloned());
            match c {
                Some(c)
                    if c["status"] == "False"
                        && c["message"].as_str().unwrap_or("").contains(&b) =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        },
    );

    // Through all of the above, every good tenancy kept running.
    for (ns, name) in [
        (&a_ns, "exact"),
        (&b_ns, "plain"),
        (&b_ns, "moved"),
        (&c_ns, "revoked"),
    ] {
        assert_eq!(phase_and_why(ns, name).0, "Running", "{ns}/{name}");
    }

    // spec.agency is fixed.
    let moved = kubectl(
        HUB,
        &[
            "-n",
            &b_ns,
            "patch",
            "tenancy",
            "moved",
            "--type=merge",
            "-p",
            &format!(r#"{{"spec":{{"agency":"{a}"}}}}"#),
        ],
    );
    assert!(
        !moved.ok && moved.stderr.contains("spec.agency"),
        "{}",
        moved.stderr
    );

    // Revocation: a namespace taken from an Agency; then an Agency deleted.
    let where_moved = cluster_of(&b_ns, "moved");
    kubectl_ok(
        HUB,
        &[
            "patch",
            "agency",
            &b,
            "--type=merge",
            "-p",
            &format!(r#"{{"spec":{{"namespaces":["{b_ns}-elsewhere"]}}}}"#),
        ],
    );
    wait_explained(
        &b_ns,
        "moved",
        "Rejected",
        &["is not in agency", "removed at"],
    );
    wait_explained(&b_ns, "moved", "Rejected", &["were removed from"]);
    assert!(deployments_of(&where_moved, &b_ns, "moved").is_empty());
    let events = kubectl_ok(
        HUB,
        &[
            "-n",
            &b_ns,
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=moved,reason=Revoked",
            "-o",
            "name",
        ],
    );
    assert!(!events.trim().is_empty(), "an Event says it was revoked");

    let doomed_at = cluster_of(&c_ns, "revoked");
    kubectl_ok(HUB, &["delete", "agency", &c, "--timeout=60s"]);
    wait_until(
        "the deleted agency's member namespace gone",
        Duration::from_secs(60),
        || {
            let run = kubectl(
                &doomed_at,
                &[
                    "get",
                    "namespace",
                    &format!("colo-{c}"),
                    "-o",
                    "jsonpath={.status.phase}",
                ],
            );
            if run.stderr.contains("NotFound") {
                Ok(())
            } else {
                Err(run.stdout)
            }
        },
    );
    wait_explained(
        &c_ns,
        "revoked",
        "Rejected",
        &["spec.agency", "does not exist"],
    );

    // The good tenancy untouched by all this still runs, and the ledger never stopped.
    assert_eq!(phase_and_why(&a_ns, "exact").0, "Running");
    let (stalled, went_back, samples) = ledger.finish();
    assert!(samples > 10, "the ledger was sampled ({samples})");
    assert!(!went_back, "the ledger never goes back");
    assert!(
        stalled < Duration::from_secs(20),
        "the ledger stood still for {stalled:?}"
    );

    // Deleting the hostile ones leaves nothing behind in any member.
    for (ns, name) in [
        (&a_ns, "pinned"),
        (&a_ns, "giant"),
        (&b_ns, "moved"),
        (&c_ns, "revoked"),
        (&b_ns, "plain"),
        (&a_ns, "exact"),
    ] {
        kubectl_ok(HUB, &["-n", ns, "delete", "tenancy", name, "--timeout=60s"]);
        for cluster in MEMBERS {
            assert!(
                deployments_of(cluster, ns, name).is_empty(),
                "{ns}/{name} left on {cluster}"
            );
        }
    }
    kubectl_ok(HUB, &["delete", "agency", &squatter, "--timeout=60s"]);
}
