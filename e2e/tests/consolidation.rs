//! Consolidation in the live estate. On the third site (west-1, joined for this test, which no
//! other test leaves work on), tenancies of 12 cores pinned there are placed one by one, two
//! to a node, and every other one deleted: each node is left half used (spread thin,
//! consolidation off meanwhile). Then:
//! - `propose`: Colo proposes a ConsolidationPlan whose figures are those `colo plan
//!   --consolidate` gives on a `colo snapshot` of the same moment; approved, it executes with an
//!   invariant checker sampling every member (no workload ever loses its available replica),
//!   at most one tenancy of an agency moving at a time; the nodes it empties are cordoned and
//!   labelled standby, counted as standby by `kubectl get shc`, and the accounted energy falls;
//!   `/api/v1/consolidation` lists it with what it saved;
//! - a change to the estate while a plan executes supersedes the rest of it: moves under way
//!   finish, the others are skipped, nodes it did not empty are uncordoned;
//! - `auto` approves only above its threshold: a plan saving less stays proposed, and is
//!   approved and executed once the threshold is below its saving;
//! - work with no room on running nodes wakes a standby node (uncordoned, an Event says so);
//! - a tenancy that went to west-1 while north-1 was cordoned is brought back across clusters
//!   (new copy available before the old goes), freeing west-1 whole;
//! - when someone else's workload takes the room the moves needed, each move is rolled back
//!   alone after its timeout, its old replica serving throughout, and the plan ends `Failed`
//!   with its nodes schedulable again;
//! - `approved: false` while it executes pauses a plan (the move under way ends, no other
//!   starts, its nodes stay cordoned), and deleting it uncordons the nodes it drained.
//!
//! Its own test binary: it restarts the operator with consolidation settings and changes
//! which nodes are schedulable. Each scenario above is a test of its own that can fail alone;
//! they share one set-up (`scenario`) and run one at a time (they share west-1 and the
//! operator); after each, every node is schedulable again, west-1 is out of the hub and the
//! operator runs with its usual settings (consolidation off).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use colo_e2e::*;
use serde_json::Value;

const SITE: &str = THIRD_SITE;

/// west-1 joined for the test; afterwards, whatever happens: the test's tenancies deleted,
/// Colo's cordons lifted, the operator restarted with consolidation off, west-1 taken out of
/// the hub.
struct Restore(String);

impl Restore {
    fn join(ns: &str) -> Restore {
        let file = repo().join("examples/21-third-site.yaml");
        kubectl_ok(HUB, &["apply", "-f", file.to_str().unwrap()]);
        wait_until("west-1 Ready", Duration::from_secs(90), || {
            let c = get_json(HUB, &["get", "sharedcluster", SITE]);
            let conditions = c["status"]["conditions"].as_array().cloned();
            let ready = conditions
                .unwrap_or_default()
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            if ready {
                Ok(())
            } else {
                Err(format!("{}", c["status"]))
            }
        });
        Restore(ns.to_string())
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        let all = [
            "-n",
            &self.0,
            "delete",
            "tenancies",
            "--all",
            "--wait=true",
            "--timeout=120s",
        ];
        let _ = kubectl(HUB, &all);
        for member in MEMBERS {
            cordon_cluster(member, false);
        }
        let _ = kubectl(SITE, &["delete", "namespace", "filler", "--wait=false"]);
        wake_all();
        operator_with("restart", &[]);
        let _ = kubectl(HUB, &["delete", "sharedcluster", SITE, "--timeout=60s"]);
    }
}

/// No tenancy left on the estate (gone from the members too) and every node schedulable.
/// Consolidation re-packs the whole estate, so what earlier tests left (the examples, say,
/// with `sizing: Measured` re-sizing under way) would change what is planned and when.
fn fresh_start() {
    let all = [
        "delete",
        "tenancies",
        "--all",
        "--all-namespaces",
        "--wait=true",
        "--timeout=180s",
    ];
    kubectl_ok(HUB, &all);
    wake_all();
}

/// Lifts Colo's cordons in every member.
fn wake_all() {
    for member in MEMBERS.iter().chain([&SITE]) {
        let nodes = kubectl(
            member,
            &["get", "nodes", "-l", "colo.dev/standby", "-o", "name"],
        );
        for node in nodes.stdout.lines() {
            let _ = kubectl(member, &["uncordon", node]);
            let _ = kubectl(member, &["label", node, "colo.dev/standby-"]);
        }
    }
}

/// Restarts the operator with consolidation `mode`, a minimum saving of 1, one move per
/// agency at a time, moves rolled back after 120 s (unless `extra` says otherwise).
fn restart(mode: &str, extra: &str) {
    let mut args =
        format!("--consolidation-min-monthly-saving 1 --consolidation-moves-per-agency 1 {extra}");
    if !extra.contains("--consolidation-move-timeout-seconds") {
        args.push_str(" --consolidation-move-timeout-seconds 120");
    }
    operator_with(
        "restart",
        &[
            ("COLO_CONSOLIDATION_MODE", mode),
            ("COLO_CONSOLIDATION_ARGS", &args),
        ],
    );
}

/// A tenancy of one 12-core replica pinned to west-1: two fit a node (kube-scheduler's 32
/// cores, and Colo's 80% headroom), three do not.
fn tenancy_yaml(ns: &str, agency: &str, name: &str) -> String {
    Tenancy::new(ns, name, agency)
        .pinned(SITE)
        .workload(Workload::new("api", 1, "12", "4Gi"))
        .yaml()
}

/// Starts afresh (no tenancy of the test, every node schedulable), places eight tenancies one
/// by one (two to a node) and deletes every other one: four nodes are left half used.
/// Returns the names kept.
fn spread(ns: &str, agency: &str, prefix: &str) -> Vec<String> {
    fresh_start();
    let names: Vec<String> = (0..8).map(|i| format!("{prefix}{i}")).collect();
    for name in &names {
        apply_yaml(HUB, &tenancy_yaml(ns, agency, name));
        wait_phase(ns, name, "Running", Duration::from_secs(90));
    }
    let gone: Vec<&str> = names
        .iter()
        .skip(1)
        .step_by(2)
        .map(String::as_str)
        .collect();
    let mut args = vec!["-n", ns, "delete", "tenancy", "--wait=true"];
    args.extend(&gone);
    kubectl_ok(HUB, &args);
    names.into_iter().step_by(2).collect()
}

fn plan_names() -> BTreeSet<String> {
    get_json(HUB, &["get", "consolidationplans"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn plan(name: &str) -> Value {
    get_json(HUB, &["get", "consolidationplan", name])
}

/// Why the operator last said it made no plan (its log), for a failure to show.
fn why_no_plan() -> String {
    let log = estate_dir().join("logs/colo-operator.log");
    let log = std::fs::read_to_string(log).unwrap_or_default();
    let last = log
        .lines()
        .rev()
        .find(|l| l.contains("no consolidation plan"));
    last.unwrap_or("(the operator's log says nothing)")
        .to_string()
}

/// Waits for a plan not in `known`, in state `state`.
fn new_plan(known: &BTreeSet<String>, state: &str) -> Value {
    wait_until(
        &format!("a new {state} ConsolidationPlan"),
        Duration::from_secs(120),
        || {
            let items = get_json(HUB, &["get", "consolidationplans"]);
            let items = items["items"].as_array().cloned().unwrap_or_default();
            items
                .into_iter()
                .find(|p| {
                    !known.contains(p["metadata"]["name"].as_str().unwrap_or_default())
                        && p["status"]["state"] == state
                })
                .ok_or_else(|| format!("plans: {:?}; {}", plan_names(), why_no_plan()))
        },
    )
}

fn approve(name: &str) {
    kubectl_ok(
        HUB,
        &[
            "patch",
            "consolidationplan",
            name,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"approved":true}}"#,
        ],
    );
}

fn steps_in(plan: &Value, state: &str) -> usize {
    let steps = plan["status"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    steps.iter().filter(|s| s["state"] == state).count()
}

/// Follows a plan until it is final; checks meanwhile that no agency has more than one tenancy
/// moving. Returns the final plan and the progress texts seen.
fn follow(name: &str) -> (Value, BTreeSet<String>) {
    let mut progress = BTreeSet::new();
    let plan = wait_until(
        &format!("plan {name} final"),
        Duration::from_secs(300),
        || {
            let p = plan(name);
            let mut moving: BTreeMap<String, usize> = BTreeMap::new();
            for s in p["status"]["steps"].as_array().cloned().unwrap_or_default() {
                if s["state"] == "Moving" {
                    *moving.entry(s["agency"].to_string()).or_default() += 1;
                }
            }
            assert!(
                moving.values().all(|&n| n <= 1),
                "more than one move per agency: {moving:?}"
            );
            if let Some(text) = p["status"]["progress"].as_str() {
                progress.insert(text.to_string());
            }
            match p["status"]["state"].as_str() {
                Some("Done" | "Superseded" | "Failed") => Ok(p),
                other => Err(format!("{other:?}: {}", p["status"]["message"])),
            }
        },
    );
    (plan, progress)
}

fn metric(name: &str) -> f64 {
    let text = colo_metrics();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

/// The estate's accounted energy per accounted second, over at least 15 s of ledger.
fn accounted_watts() -> f64 {
    let start = (
        metric("colo_estate_energy_joules_total"),
        metric("colo_ledger_until_timestamp_seconds"),
    );
    let end = wait_until("15 s more of ledger", Duration::from_secs(60), || {
        let until = metric("colo_ledger_until_timestamp_seconds");
        if until >= start.1 + 15.0 {
            Ok((metric("colo_estate_energy_joules_total"), until))
        } else {
            Err(format!("ledger until {until}"))
        }
    });
    (end.0 - start.0) / (end.1 - start.1)
}

/// The accounted energy per second once two windows in a row agree within 2% (what was
/// deleted before has left the measurements).
fn steady_watts() -> f64 {
    let mut last = accounted_watts();
    wait_until("steady accounted energy", Duration::from_secs(180), || {
        let now = accounted_watts();
        let steady = (now - last).abs() <= 0.02 * last.abs();
        last = now;
        if steady {
            Ok(now)
        } else {
            Err(format!("{last:.0} J/s"))
        }
    })
}

fn node(cluster: &str, name: &str) -> Value {
    get_json(cluster, &["get", "node", name])
}

fn split(path: &str) -> (&str, &str) {
    path.split_once('/').unwrap()
}

fn standby_count(cluster: &str) -> i64 {
    get_json(HUB, &["get", "sharedcluster", cluster])["status"]["nodes"]["standby"]
        .as_i64()
        .unwrap_or(0)
}

/// The plan's figures are those of `colo plan --consolidate` on a `colo snapshot` now.
fn matches_offline(proposed: &Value) {
    let snapshot = repo().join("target/e2e-consolidation-snapshot.yaml");
    std::fs::write(&snapshot, colo(&["snapshot"])).unwrap();
    let path = snapshot.to_str().unwrap();
    let args = [
        "plan",
        "--snapshot",
        path,
        "--consolidate",
        "--output",
        "json",
    ];
    let offline: Value = serde_json::from_str(&colo(&args)).unwrap();
    let figures = &offline["summary"]["consolidation"];
    let status = &proposed["status"];
    assert_eq!(
        status["nodesToFree"], figures["freedNodes"],
        "{status}\n{figures}"
    );
    assert_eq!(status["moveCount"], figures["replicasMoved"]);
    assert_eq!(status["moves"], offline["moves"]);
    assert_eq!(status["monthlyCostSaved"], figures["savingPerMonth"]);
    assert_eq!(status["monthlyKWhSaved"], figures["kWhSavedPerMonth"]);
}

/// Every node the plan freed is cordoned, labelled standby and empty, and counted by the
/// SharedCluster's status.
fn freed_are_standby(done: &Value) {
    let freed = done["status"]["nodesToFree"].as_array().unwrap().clone();
    assert_eq!(
        done["status"]["nodesFreed"].as_u64().unwrap() as usize,
        freed.len()
    );
    for path in &freed {
        let (cluster, name) = split(path.as_str().unwrap());
        let n = node(cluster, name);
        assert_eq!(
            n["metadata"]["labels"]["colo.dev/standby"], "true",
            "{path}"
        );
        assert_eq!(n["spec"]["unschedulable"], true, "{path}");
        let on_it = format!("spec.nodeName={name}");
        let args = [
            "get",
            "pods",
            "-A",
            "-l",
            "colo.dev/agency",
            "--field-selector",
            &on_it,
            "-o",
            "name",
        ];
        let pods = kubectl_ok(cluster, &args);
        assert!(pods.trim().is_empty(), "{path} still runs {pods}");
    }
    let mut per_cluster: BTreeMap<&str, i64> = BTreeMap::new();
    for path in &freed {
        *per_cluster
            .entry(split(path.as_str().unwrap()).0)
            .or_default() += 1;
    }
    for (cluster, count) in per_cluster {
        wait_until(
            &format!("kubectl get shc {cluster} counts {count} standby"),
            Duration::from_secs(60),
            || {
                let standby = standby_count(cluster);
                if standby >= count {
                    Ok(())
                } else {
                    Err(format!("{standby} standby"))
                }
            },
        );
    }
}

/// Proposed, compared with the offline engine, approved and executed with the invariant
/// checker running; the accounted energy falls by what the plan said.
fn propose_and_execute(ns: &str, alive: &[String]) {
    let known = plan_names();
    restart("propose", "");
    let proposed = new_plan(&known, "Proposed");
    let name = proposed["metadata"]["name"].as_str().unwrap().to_string();
    matches_offline(&proposed);
    assert!(
        proposed["status"]["nodesFreed"].as_i64().unwrap() >= 1,
        "{}",
        proposed["status"]
    );
    let get = kubectl_ok(HUB, &["get", "cpl", &name]);
    assert!(
        get.contains("Proposed") && get.contains("NODES FREED"),
        "{get}"
    );
    let before = steady_watts();
    let checker = invariants::start(ns, &[SITE]);
    let approved_at = Instant::now();
    approve(&name);
    let (done, progress) = follow(&name);
    let done_at = Instant::now();
    let samples = checker.finish();
    eprintln!(
        "consolidation: plan {name} moved {} replicas and freed {} nodes in {:.1} s after approval",
        done["status"]["movesDone"],
        done["status"]["nodesFreed"],
        (done_at - approved_at).as_secs_f64()
    );
    assert_eq!(done["status"]["state"], "Done", "{}", done["status"]);
    assert!(
        progress.iter().any(|p| p.starts_with("Executing ")),
        "{progress:?}"
    );
    assert!(
        samples.longest_gap() < Duration::from_secs(5),
        "the checker missed too much"
    );
    for t in alive {
        let fewest = samples.fewest_available(t, "api", approved_at, done_at);
        assert!(
            fewest >= 1,
            "{t} had {fewest} available replicas during the plan"
        );
    }
    freed_are_standby(&done);
    // Measured usage lags a move by a rate window: the fall is waited for.
    let saved_watts = done["status"]["monthlyKWhSaved"].as_f64().unwrap() * 1000.0 / 730.0;
    let speed = 60.0;
    wait_until(
        "the accounted energy falls",
        Duration::from_secs(180),
        || {
            let after = accounted_watts();
            if before - after > 0.5 * saved_watts * speed {
                Ok(())
            } else {
                Err(format!(
                    "{before:.0} → {after:.0} J/s; the plan saves {saved_watts:.0} W (× {speed})"
                ))
            }
        },
    );
    let listed = colo_json("/api/v1/consolidation");
    let rows = listed["plans"].as_array().unwrap();
    let row = rows.iter().find(|p| p["name"] == name.as_str());
    let row = row.unwrap_or_else(|| panic!("{name} not listed: {listed}"));
    assert_eq!(row["state"], "Done");
    let saved = listed["savedPerMonth"].as_f64().unwrap();
    assert!(
        saved >= row["monthlyCostSaved"].as_f64().unwrap(),
        "{listed}"
    );
}

/// A change to the estate (a new tenancy) while a plan executes supersedes the rest of it.
fn superseded_by_a_change(ns: &str, agency: &str) {
    let known = plan_names();
    restart("propose", "");
    let plan_now = new_plan(&known, "Proposed");
    let name = plan_now["metadata"]["name"].as_str().unwrap().to_string();
    assert!(
        steps_in(&plan_now, "Waiting") >= 1,
        "{}",
        plan_now["status"]
    );
    approve(&name);
    let waiting = wait_until("a move under way", Duration::from_secs(60), || {
        let p = plan(&name);
        match steps_in(&p, "Moving") >= 1 {
            true => Ok(steps_in(&p, "Waiting")),
            false => Err(format!("{}", p["status"])),
        }
    });
    apply_yaml(HUB, &tenancy_yaml(ns, agency, "late"));
    let (superseded, _) = follow(&name);
    let status = &superseded["status"];
    assert_eq!(status["state"], "Superseded", "{status}");
    if waiting > 0 {
        assert!(steps_in(&superseded, "Skipped") >= 1, "{status}");
    }
    assert!(
        steps_in(&superseded, "Done") >= 1,
        "the move under way finishes: {status}"
    );
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("estate changed"),
        "{status}"
    );
    for path in status["nodesToFree"].as_array().unwrap() {
        let (cluster, name) = split(path.as_str().unwrap());
        let n = node(cluster, name);
        let standby = n["metadata"]["labels"]["colo.dev/standby"] == "true";
        let schedulable = n["spec"]["unschedulable"] != true;
        assert!(
            standby != schedulable,
            "{path}: standby {standby}, schedulable {schedulable}"
        );
    }
    wait_phase(ns, "late", "Running", Duration::from_secs(60));
}

/// `auto` leaves a plan below its threshold proposed, and approves it once above.
fn auto_acts_above_its_threshold() {
    let known = plan_names();
    restart("auto", "--consolidation-auto-approve-saving 1000000");
    let proposed = new_plan(&known, "Proposed");
    let name = proposed["metadata"]["name"].as_str().unwrap().to_string();
    assert_eq!(
        proposed["spec"]["approved"], false,
        "auto approved below its threshold"
    );
    restart("auto", "--consolidation-auto-approve-saving 1");
    let (done, _) = follow(&name);
    assert_eq!(plan(&name)["spec"]["approved"], true);
    assert_eq!(done["status"]["state"], "Done", "{}", done["status"]);
}

/// With every running node of west-1 full, a new tenancy wakes a standby node.
fn pending_work_wakes_a_standby_node(ns: &str, agency: &str) {
    restart("off", "");
    let sleeping = labelled(SITE, "colo.dev/standby=true");
    assert!(!sleeping.is_empty(), "no standby node after a plan");
    // Pinned tenancies one at a time until one finds no room on the running nodes.
    let mut woken: Vec<String> = Vec::new();
    let mut waker = String::new();
    for i in 0..8 {
        waker = format!("waker{i}");
        apply_yaml(HUB, &tenancy_yaml(ns, agency, &waker));
        wait_phase(ns, &waker, "Running", Duration::from_secs(90));
        let still = labelled(SITE, "colo.dev/standby=true");
        woken = sleeping.difference(&still).cloned().collect();
        if !woken.is_empty() {
            break;
        }
    }
    let still = labelled(SITE, "colo.dev/standby=true");
    assert_eq!(
        woken.len(),
        1,
        "fewest woken: standby {sleeping:?} → {still:?}"
    );
    assert_ne!(
        node(SITE, &woken[0])["spec"]["unschedulable"],
        true,
        "{} still cordoned",
        woken[0]
    );
    let about = format!("involvedObject.name={waker},reason=WokeNode");
    let args = [
        "-n",
        ns,
        "get",
        "events",
        "--field-selector",
        &about,
        "-o",
        "jsonpath={.items[*].message}",
    ];
    let events = kubectl_ok(HUB, &args);
    assert!(
        events.contains(woken[0].as_str()),
        "no WokeNode event naming {}: {events:?}",
        woken[0]
    );
}

fn cordon_cluster(cluster: &str, cordoned: bool) {
    let patch = format!(r#"{{"spec":{{"cordoned":{cordoned}}}}}"#);
    let run = kubectl(
        HUB,
        &[
            "patch",
            "sharedcluster",
            cluster,
            "--type",
            "merge",
            "-p",
            &patch,
        ],
    );
    // Also called while a failed test unwinds, where a second panic would hide the first.
    assert!(run.ok || std::thread::panicking(), "{}", run.stderr);
}

/// A tenancy (small enough for a node north-1 already runs) that went to west-1 while north-1
/// was cordoned (for maintenance) is brought back to north-1 by a plan, across clusters: its
/// new copy available before the old one goes, and west-1 freed whole.
fn brought_home_across_clusters(ns: &str, agency: &str) {
    restart("off", "");
    fresh_start();
    // Work already running on north-1 for home to join (an empty node is no saving).
    Tenancy::new(ns, "anchor", agency)
        .pinned("north-1")
        .workload(Workload::new("api", 1, "1", "1Gi"))
        .apply();
    wait_phase(ns, "anchor", "Running", Duration::from_secs(90));
    cordon_cluster("north-1", true);
    Tenancy::new(ns, "home", agency)
        .regions(&["uk-north", "uk-west"])
        .workload(Workload::new("api", 1, "2", "4Gi"))
        .apply();
    let placed = wait_phase(ns, "home", "Running", Duration::from_secs(90));
    cordon_cluster("north-1", false);
    assert_eq!(
        placed["status"]["placements"][0]["cluster"], SITE,
        "{}",
        placed["status"]
    );
    let known = plan_names();
    restart("propose", "");
    let proposed = new_plan(&known, "Proposed");
    let name = proposed["metadata"]["name"].as_str().unwrap().to_string();
    let steps = proposed["status"]["steps"].as_array().unwrap();
    let step = steps
        .iter()
        .find(|s| s["tenancy"] == format!("{ns}/home").as_str());
    let step = step.unwrap_or_else(|| panic!("home does not move: {}", proposed["status"]));
    assert_eq!(step["before"], serde_json::json!({"west-1/api": 1}));
    assert_eq!(step["after"], serde_json::json!({"north-1/api": 1}));
    let freed = proposed["status"]["clustersFreed"].as_array().unwrap();
    assert!(freed.iter().any(|c| c == SITE), "{}", proposed["status"]);
    // Asked in the order the work moves: west-1, then north-1.
    let checker = invariants::start_in_order(ns, &[SITE, "north-1"]);
    let approved_at = Instant::now();
    approve(&name);
    let (done, _) = follow(&name);
    let samples = checker.finish();
    assert_eq!(done["status"]["state"], "Done", "{}", done["status"]);
    let fewest = samples.fewest_available("home", "api", approved_at, Instant::now());
    assert!(
        fewest >= 1,
        "home had {fewest} available replicas while it moved"
    );
    assert_eq!(samples.moves("home"), 1, "moved once");
    let now = get_json(HUB, &["-n", ns, "get", "tenancy", "home"]);
    assert_eq!(
        now["status"]["placements"][0]["cluster"], "north-1",
        "{}",
        now["status"]
    );
    assert_eq!(
        outage::copies(SITE, ns, "home"),
        0,
        "the old copy is gone from west-1"
    );
}

/// Someone else's workload takes the room the moves needed (after the plan was made): each
/// move times out and is rolled back alone, its old replica serving throughout, and the
/// nodes it could not empty are schedulable again.
fn a_move_that_cannot_complete_is_rolled_back(ns: &str, agency: &str) {
    restart("off", "");
    let alive = spread(ns, agency, "d");
    let known = plan_names();
    restart("propose", "--consolidation-move-timeout-seconds 20");
    let proposed = new_plan(&known, "Proposed");
    let name = proposed["metadata"]["name"].as_str().unwrap().to_string();
    kubectl_ok(SITE, &["create", "namespace", "filler"]);
    let filler = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: filler, namespace: filler}\nspec:\n  replicas: 4\n  selector: {matchLabels: {app: filler}}\n  template:\n    metadata: {labels: {app: filler}}\n    spec:\n      containers: [{name: c, image: i, resources: {requests: {cpu: '20'}}}]\n";
    apply_yaml(SITE, filler);
    kubectl_ok(
        SITE,
        &[
            "-n",
            "filler",
            "rollout",
            "status",
            "deployment/filler",
            "--timeout=60s",
        ],
    );
    let checker = invariants::start(ns, &[SITE]);
    let approved_at = Instant::now();
    approve(&name);
    let (failed, _) = follow(&name);
    let samples = checker.finish();
    let _ = kubectl(SITE, &["delete", "namespace", "filler", "--wait=false"]);
    let status = &failed["status"];
    let steps = status["steps"].as_array().unwrap();
    let ours: Vec<&Value> = steps
        .iter()
        .filter(|s| {
            s["tenancy"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{ns}/"))
        })
        .collect();
    assert!(!ours.is_empty(), "{status}");
    assert!(ours.iter().all(|s| s["state"] == "RolledBack"), "{status}");
    assert!(
        status["movesRolledBack"].as_i64().unwrap() >= ours.len() as i64,
        "{status}"
    );
    if ours.len() == steps.len() {
        assert_eq!(status["state"], "Failed", "nothing moved: {status}");
    }
    for t in &alive {
        let fewest = samples.fewest_available(t, "api", approved_at, Instant::now());
        assert!(
            fewest >= 1,
            "{t} had {fewest} available replicas during the rollback"
        );
    }
    for path in status["nodesToFree"].as_array().unwrap() {
        let (cluster, node_name) = split(path.as_str().unwrap());
        assert_ne!(
            node(cluster, node_name)["spec"]["unschedulable"],
            true,
            "{path} left cordoned"
        );
    }
}

/// `approved: false` on an executing plan pauses it (the move under way ends, none other
/// starts, its nodes stay cordoned); deleting it then uncordons the nodes it drained. Someone
/// else's workload holds the room, so no move can complete and none would start unseen.
fn paused_then_deleted(ns: &str, agency: &str) {
    restart("off", "");
    spread(ns, agency, "e");
    let known = plan_names();
    restart("propose", "--consolidation-move-timeout-seconds 20");
    let proposed = new_plan(&known, "Proposed");
    let name = proposed["metadata"]["name"].as_str().unwrap().to_string();
    assert!(
        steps_in(&proposed, "Waiting") >= 2,
        "{}",
        proposed["status"]
    );
    kubectl_ok(SITE, &["create", "namespace", "filler"]);
    let filler = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: filler, namespace: filler}\nspec:\n  replicas: 4\n  selector: {matchLabels: {app: filler}}\n  template:\n    metadata: {labels: {app: filler}}\n    spec:\n      containers: [{name: c, image: i, resources: {requests: {cpu: '20'}}}]\n";
    apply_yaml(SITE, filler);
    let rollout = [
        "-n",
        "filler",
        "rollout",
        "status",
        "deployment/filler",
        "--timeout=60s",
    ];
    kubectl_ok(SITE, &rollout);
    approve(&name);
    wait_until("a move under way", Duration::from_secs(60), || {
        let p = plan(&name);
        match steps_in(&p, "Moving") {
            0 => Err(format!("{}", p["status"])),
            _ => Ok(()),
        }
    });
    let unapprove = r#"{"spec":{"approved":false}}"#;
    kubectl_ok(
        HUB,
        &["patch", "cpl", &name, "--type=merge", "-p", unapprove],
    );
    let paused = wait_until(
        "paused, the move under way over",
        Duration::from_secs(90),
        || {
            let p = plan(&name);
            match (p["status"]["state"].as_str(), steps_in(&p, "Moving")) {
                (Some("Paused"), 0) => Ok(p),
                other => Err(format!("{other:?}: {}", p["status"]["message"])),
            }
        },
    );
    assert!(
        steps_in(&paused, "Waiting") >= 1,
        "a move started while paused: {}",
        paused["status"]
    );
    let message = paused["status"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("paused (spec.approved is false)"),
        "{message}"
    );
    let draining = labelled(SITE, "colo.dev/standby=draining");
    assert!(
        !draining.is_empty(),
        "a paused plan keeps its nodes cordoned"
    );
    kubectl_ok(
        HUB,
        &["delete", "cpl", &name, "--wait=true", "--timeout=60s"],
    );
    let left = labelled(SITE, "colo.dev/standby=draining");
    assert!(left.is_empty(), "cordoned by a deleted plan: {left:?}");
    for path in paused["status"]["nodesToFree"].as_array().unwrap() {
        let (cluster, node_name) = split(path.as_str().unwrap());
        assert_ne!(
            node(cluster, node_name)["spec"]["unschedulable"],
            true,
            "{path}"
        );
    }
    let _ = kubectl(SITE, &["delete", "namespace", "filler", "--wait=false"]);
}

fn labelled(cluster: &str, selector: &str) -> BTreeSet<String> {
    let names = kubectl_ok(cluster, &["get", "nodes", "-l", selector, "-o", "name"]);
    names
        .lines()
        .map(|l| l.trim_start_matches("node/").to_string())
        .collect()
}

/// One scenario at a time: they share west-1 and the operator's settings. A scenario that
/// fails leaves the lock poisoned; the next one takes it all the same (its own set-up starts
/// afresh).
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The set-up every scenario shares: its own agency, west-1 joined (the operator runs with
/// consolidation off, as every scenario leaves it), and, dropped last, everything put back. Fields drop in order: the restore before the lock.
struct Scenario {
    agency: String,
    ns: String,
    _restore: Restore,
    _lock: std::sync::MutexGuard<'static, ()>,
}

fn scenario(prefix: &str) -> Scenario {
    let lock = one_at_a_time();
    colo_is_running();
    let (agency, ns) = new_agency(prefix, "OFFICIAL");
    let restore = Restore::join(&ns);
    Scenario {
        agency,
        ns,
        _restore: restore,
        _lock: lock,
    }
}

#[test]
fn a_tenancy_is_brought_home_across_clusters() {
    let s = scenario("home");
    brought_home_across_clusters(&s.ns, &s.agency);
}

#[test]
fn a_spread_estate_is_consolidated_make_before_break() {
    let s = scenario("consolidate");
    let alive = spread(&s.ns, &s.agency, "a");
    propose_and_execute(&s.ns, &alive);
}

#[test]
fn a_change_to_the_estate_supersedes_a_plan() {
    let s = scenario("supersede");
    spread(&s.ns, &s.agency, "b");
    superseded_by_a_change(&s.ns, &s.agency);
}

/// Auto approval, then the standby nodes its plan left are woken for work with no room.
#[test]
fn auto_approves_above_its_threshold_and_new_work_wakes_a_standby_node() {
    let s = scenario("auto");
    spread(&s.ns, &s.agency, "c");
    auto_acts_above_its_threshold();
    pending_work_wakes_a_standby_node(&s.ns, &s.agency);
}

#[test]
fn a_move_that_cannot_complete_is_rolled_back_alone() {
    let s = scenario("rollback");
    a_move_that_cannot_complete_is_rolled_back(&s.ns, &s.agency);
}

#[test]
fn a_plan_paused_then_deleted_leaves_its_nodes_schedulable() {
    let s = scenario("pause");
    paused_then_deleted(&s.ns, &s.agency);
}
