//! The slips campaign: what a careless platform engineer does by mistake, done for real as the
//! platform role (`--as platform-pat --as-group colo-platform`) on the local estate, each
//! followed by its revert:
//!
//! 1. an agency's clearance lowered below its running tenancy, then restored;
//! 2. another agency's namespace typed into an Agency's `spec.namespaces`, then removed; and a
//!    namespace's `colo.dev/agency` label set to the wrong agency, then set back;
//! 3. an Agency named after a namespace Colo did not make (`system`, or one that exists in a
//!    member without Colo's labels), created and deleted.
//!
//! Throughout, every tenancy the slip does not concern stays Running (an invariant checker
//! samples their Deployments in every member), every SharedCluster stays Ready, and every
//! tenancy a slip hurt is Running again within 90 s of the revert, with an `Accepted` Event
//! saying why it is back. e2e/operator.sh runs the operator with `--revocation-grace-seconds 10`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use colo_e2e::outage::condition;
use colo_e2e::*;

const RUNNING: Duration = Duration::from_secs(120);
const BACK: Duration = Duration::from_secs(90);

/// kubectl as the platform team.
fn platform(args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--as=platform-pat", "--as-group=colo-platform"]);
    kubectl_ok(HUB, &all)
}

fn tenancy(ns: &str, name: &str, agency: &str, classification: Classification) -> Tenancy {
    Tenancy::new(ns, name, agency)
        .classification(classification)
        .workload(Workload::new("api", 2, "100m", "64Mi"))
}

fn phase(ns: &str, name: &str) -> (String, String) {
    let t = get_json(HUB, &["-n", ns, "get", "tenancy", name]);
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    (
        text(&t["status"]["phase"]),
        text(&t["status"]["explanation"]),
    )
}

fn wait_rejected(ns: &str, name: &str, words: &[&str]) -> String {
    wait_until(
        &format!("{ns}/{name} Rejected naming {words:?}"),
        Duration::from_secs(60),
        || match phase(ns, name) {
            (p, why) if p == "Rejected" && words.iter().all(|w| why.contains(w)) => Ok(why),
            other => Err(format!("{other:?}")),
        },
    )
}

/// Waits for a tenancy a slip hurt to be Running again within 90 s of the revert, with the
/// Event that says it is back from `cause`; returns how long it took.
fn back_running(ns: &str, name: &str, reverted: Instant, cause: &str) -> Duration {
    wait_phase(ns, name, "Running", BACK);
    let took = reverted.elapsed();
    assert!(
        took <= BACK,
        "{ns}/{name} Running {took:?} after the revert"
    );
    let field = format!("involvedObject.name={name},reason=Accepted");
    let args = ["-n", ns, "get", "events", "--field-selector", &field];
    wait_until("the Accepted Event", Duration::from_secs(30), || {
        let events = get_json(HUB, &args);
        let said = |e: &serde_json::Value| {
            let note = e["message"]
                .as_str()
                .or(e["note"].as_str())
                .unwrap_or_default();
            note.starts_with("accepted again") && note.contains(cause)
        };
        let items = events["items"].as_array().cloned().unwrap_or_default();
        match items.iter().any(said) {
            true => Ok(()),
            false => Err(format!("no Accepted Event naming {cause:?}: {events}")),
        }
    });
    took
}

/// No copy of a tenancy left in any member.
fn copies(ns: &str, name: &str) -> usize {
    let selector = format!("colo.dev/tenancy={name},colo.dev/tenancy-namespace={ns}");
    MEMBERS
        .iter()
        .map(|m| {
            kubectl_ok(
                m,
                &["get", "deployments", "-A", "-l", &selector, "-o", "name"],
            )
            .lines()
            .count()
        })
        .sum()
}

/// Samples every SharedCluster's Ready condition until stopped; returns what was not Ready.
struct ReadyWatch {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
    thread: JoinHandle<()>,
}

impl ReadyWatch {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let (stopping, noted) = (stop.clone(), Arc::clone(&seen));
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                let clusters = get_json(HUB, &["get", "sharedclusters"]);
                for c in clusters["items"].as_array().into_iter().flatten() {
                    let ready = condition(c, "Ready");
                    if ready["status"] != "True" {
                        let name = c["metadata"]["name"].as_str().unwrap_or_default();
                        noted.lock().unwrap().push(format!("{name}: {ready}"));
                    }
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        });
        ReadyWatch { stop, seen, thread }
    }

    fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the watch thread");
        Arc::try_unwrap(self.seen).unwrap().into_inner().unwrap()
    }
}

fn agency_condition(agency: &str, type_: &str) -> serde_json::Value {
    condition(&get_json(HUB, &["get", "agency", agency]), type_)
}

#[test]
fn every_slip_of_the_platform_role_is_undone_by_its_revert() {
    colo_is_running();
    let (flip, flip_ns) = new_agency("flip", "OFFICIAL-SENSITIVE");
    let (typo, typo_ns) = new_agency("typo", "OFFICIAL");
    let (calm, calm_ns) = new_agency("calm", "OFFICIAL");
    tenancy(&flip_ns, "svc", &flip, Classification::OfficialSensitive).apply();
    tenancy(&typo_ns, "svc", &typo, Classification::Official).apply();
    tenancy(&calm_ns, "svc", &calm, Classification::Official).apply();
    for ns in [&flip_ns, &typo_ns, &calm_ns] {
        wait_phase(ns, "svc", "Running", RUNNING);
    }
    let ready = ReadyWatch::start();
    let bystanders = [
        invariants::start(&typo_ns, &MEMBERS),
        invariants::start(&calm_ns, &MEMBERS),
    ];
    let started = Instant::now();

    let took = clearance_lowered_then_restored(&flip, &flip_ns);
    println!("slip 1 (clearance): Running again {took:?} after the revert");
    let took = namespace_claimed_then_given_back(&typo, &flip, &flip_ns);
    println!("slip 2 (namespace list): {took:?}");
    let took = namespace_relabelled_then_set_back(&typo, &flip, &flip_ns);
    println!("slip 2 (namespace label): Running again {took:?} after the revert");
    names_colo_did_not_make();

    let ended = Instant::now();
    for (checker, ns) in bystanders.into_iter().zip([&typo_ns, &calm_ns]) {
        let samples = checker.finish();
        let fewest = samples.fewest_available("svc", "api", started, ended);
        assert_eq!(fewest, 2, "{ns}/svc lost replicas during the campaign");
        assert!(
            samples.longest_gap() < Duration::from_secs(5),
            "{:?}",
            samples.longest_gap()
        );
    }
    let not_ready = ready.finish();
    assert!(
        not_ready.is_empty(),
        "a SharedCluster left Ready: {not_ready:?}"
    );
    for (ns, agency) in [(&flip_ns, &flip), (&typo_ns, &typo), (&calm_ns, &calm)] {
        kubectl_ok(HUB, &["-n", ns, "delete", "tenancy", "svc", "--wait=true"]);
        kubectl_ok(HUB, &["delete", "agency", agency, "--wait=true"]);
    }
}

/// Slip 1: the clearance lowered below a running tenancy's classification (it is Rejected, and
/// after the grace its copies go), then restored: Running again, without anyone touching it.
fn clearance_lowered_then_restored(agency: &str, ns: &str) -> Duration {
    let clearance = |level: &str| {
        let patch = format!(r#"{{"spec":{{"maxClassification":"{level}"}}}}"#);
        platform(&["patch", "agency", agency, "--type=merge", "-p", &patch]);
    };
    clearance("OFFICIAL");
    wait_rejected(ns, "svc", &["above agency", "clearance OFFICIAL"]);
    wait_rejected(ns, "svc", &["were removed from"]);
    assert_eq!(copies(ns, "svc"), 0, "revoked copies left in a member");
    clearance("OFFICIAL-SENSITIVE");
    back_running(ns, "svc", Instant::now(), "clearance OFFICIAL")
}

/// Slip 2: another agency's namespace typed into an Agency's list. The label says whose it
/// is, so the owner's tenancy is never touched; the typo gets a False condition naming the
/// owner, and no binding there. Returns how long the owner's tenancy was watched.
fn namespace_claimed_then_given_back(typo: &str, owner: &str, owner_ns: &str) -> Duration {
    let since = Instant::now();
    let own = get_json(HUB, &["get", "agency", typo])["spec"]["namespaces"].clone();
    let mut claimed = own.as_array().unwrap().clone();
    claimed.push(owner_ns.into());
    let patch = serde_json::json!({"spec": {"namespaces": claimed}}).to_string();
    platform(&["patch", "agency", typo, "--type=merge", "-p", &patch]);
    let owned = wait_until(
        "the typo told whose namespace it is",
        Duration::from_secs(30),
        || {
            let c = agency_condition(typo, "NamespacesOwned");
            let says = c["message"].as_str().unwrap_or_default();
            match c["status"] == "False" && says.contains(&format!("labelled for agency {owner}")) {
                true => Ok(c),
                false => Err(c.to_string()),
            }
        },
    );
    assert_eq!(owned["reason"], "NamespaceNotOwned", "{owned}");
    // Watched for more than a revocation's grace (10 s): the owner's tenancy and people are
    // untouched throughout (sampled every second, not slept through).
    let checker = invariants::start(owner_ns, &MEMBERS);
    let from = Instant::now();
    while from.elapsed() < Duration::from_secs(25) {
        assert_eq!(
            phase(owner_ns, "svc").0,
            "Running",
            "the typo hurt its owner"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let samples = checker.finish();
    assert_eq!(
        samples.fewest_available("svc", "api", from, Instant::now()),
        2
    );
    assert_eq!(phase(owner_ns, "svc").0, "Running");
    let bindings = kubectl_ok(HUB, &["-n", owner_ns, "get", "rolebindings", "-o", "name"]);
    assert!(
        bindings.contains(&format!("colo-agency-{owner}")),
        "{bindings}"
    );
    assert!(
        !bindings.contains(&format!("colo-agency-{typo}")),
        "{bindings}"
    );
    let patch = serde_json::json!({"spec": {"namespaces": own}}).to_string();
    platform(&["patch", "agency", typo, "--type=merge", "-p", &patch]);
    wait_until(
        "the typo owns its own again",
        Duration::from_secs(30),
        || {
            let c = agency_condition(typo, "NamespacesOwned");
            match c["status"] == "True" {
                true => Ok(()),
                false => Err(c.to_string()),
            }
        },
    );
    since.elapsed()
}

/// Slip 2 again, at its source of truth: the namespace labelled for the wrong agency (by a
/// cluster administrator: the platform role has no rights on namespaces, by design). Its
/// tenancy is Rejected saying whose the label says (after the grace, revoked); the label set
/// back, it is Running again.
fn namespace_relabelled_then_set_back(wrong: &str, owner: &str, ns: &str) -> Duration {
    let label = |agency: &str| {
        let l = format!("colo.dev/agency={agency}");
        kubectl_ok(HUB, &["label", "namespace", ns, &l, "--overwrite"]);
    };
    label(wrong);
    wait_rejected(ns, "svc", &[&format!("labelled for agency {wrong}")]);
    wait_rejected(ns, "svc", &["were removed from"]);
    assert_eq!(copies(ns, "svc"), 0, "revoked copies left in a member");
    label(owner);
    back_running(
        ns,
        "svc",
        Instant::now(),
        &format!("labelled for agency {wrong}"),
    )
}

/// Slip 3: an Agency named after a namespace Colo did not make. `system` (Colo's own namespace
/// in every member) is refused by the API server; one whose namespace exists in a member
/// without Colo's labels gets nothing written there, and deleting it deletes nothing there.
fn names_colo_did_not_make() {
    let system = Agency::new("system", &["system"]).groups(&[]).yaml();
    let args = [
        "apply",
        "-f",
        "-",
        "--as=platform-pat",
        "--as-group=colo-platform",
    ];
    let run = kubectl_with_input(HUB, &args, Some(&system));
    assert!(!run.ok && run.stderr.contains("reserved"), "{}", run.stderr);
    let squat = unique_name("squat");
    let theirs = format!("colo-{squat}");
    // Someone else's namespace on north-1, holding their work.
    kubectl_ok(MEMBERS[0], &["create", "namespace", &theirs]);
    kubectl_ok(
        MEMBERS[0],
        &[
            "-n",
            &theirs,
            "create",
            "configmap",
            "theirs",
            "--from-literal=a=b",
        ],
    );
    let namespace = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {squat}, labels: {{colo.dev/agency: {squat}}}}}\n"
    );
    apply_yaml(HUB, &namespace);
    let agency = Agency::new(&squat, &[&squat]).groups(&[]).yaml();
    let made = kubectl_with_input(HUB, &args, Some(&agency));
    assert!(
        made.ok,
        "the platform role made the Agency: {}",
        made.stderr
    );
    tenancy(&squat, "svc", &squat, Classification::Official)
        .pinned(MEMBERS[0])
        .apply();
    wait_until(
        "Colo says it will not write there",
        Duration::from_secs(60),
        || match phase(&squat, "svc") {
            (p, why)
                if p == "Pending"
                    && why.contains(&format!(
                        "namespace {theirs} exists and was not made by Colo"
                    )) =>
            {
                Ok(())
            }
            other => Err(format!("{other:?}")),
        },
    );
    let ns = get_json(MEMBERS[0], &["get", "namespace", &theirs]);
    let labels = ns["metadata"]["labels"].to_string();
    assert!(
        !labels.contains("colo.dev/agency"),
        "Colo labelled it: {labels}"
    );
    kubectl_ok(
        HUB,
        &[
            "-n",
            &squat,
            "delete",
            "tenancy",
            "svc",
            "--wait=true",
            "--timeout=60s",
        ],
    );
    platform(&["delete", "agency", &squat, "--wait=true", "--timeout=60s"]);
    let left = kubectl_ok(
        MEMBERS[0],
        &["-n", &theirs, "get", "configmap", "theirs", "-o", "name"],
    );
    assert_eq!(
        left.trim(),
        "configmap/theirs",
        "their namespace was emptied"
    );
    for member in MEMBERS {
        let sa = kubectl(
            member,
            &[
                "-n",
                "colo-system",
                "get",
                "serviceaccount",
                "colo-operator",
            ],
        );
        assert!(
            sa.ok,
            "{member}: Colo's own identity is gone: {}",
            sa.stderr
        );
    }
    kubectl_ok(
        MEMBERS[0],
        &["delete", "namespace", &theirs, "--wait=false"],
    );
    kubectl_ok(HUB, &["delete", "namespace", &squat, "--wait=false"]);
}
