//! A site goes dark: north-1's API server is frozen (SIGSTOP: connections hang, as when a
//! site's network goes). Colo must say so within a bounded time, keep placing on what is left,
//! not count the dark replicas, let tenancies be deleted anywhere, start and serve while the
//! member is dark, and, when it answers again, remove there what was deleted meanwhile.
//!
//! Its own test binary: freezing a member would upset tests running beside it.

use std::process::Command;
use std::time::{Duration, Instant};

use colo_e2e::*;

/// Freezes a member's API server; thaws it however the test ends.
struct Frozen(String);

impl Frozen {
    fn freeze(member: &str) -> Frozen {
        let pidfile = estate_dir().join(format!("pids/{member}-kube-apiserver.pid"));
        let pid = std::fs::read_to_string(&pidfile)
            .unwrap_or_else(|e| panic!("{}: {e}", pidfile.display()))
            .trim()
            .to_string();
        signal("STOP", &pid);
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal("CONT", &self.0);
    }
}

fn signal(name: &str, pid: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), pid])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{name} {pid}");
}

/// Deletes tenancies, each delete finished within a minute.
fn delete(ns: &str, names: &[&str]) {
    let mut args = vec!["-n", ns, "delete", "tenancy", "--timeout=60s"];
    args.extend(names);
    kubectl_ok(HUB, &args);
}

fn condition(object: &serde_json::Value, type_: &str) -> serde_json::Value {
    object["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned())
        .unwrap_or_default()
}

fn reachable(cluster: &str) -> serde_json::Value {
    condition(
        &get_json(HUB, &["get", "sharedcluster", cluster]),
        "Reachable",
    )
}

/// Colo's Deployments of a tenancy in a member.
fn copies(member: &str, ns: &str, tenancy: &str) -> usize {
    let selector = format!("colo.dev/tenancy={tenancy},colo.dev/tenancy-namespace={ns}");
    let run = kubectl(
        member,
        &[
            "get",
            "deployments",
            "-A",
            "-l",
            &selector,
            "-o",
            "name",
            "--request-timeout=10s",
        ],
    );
    assert!(run.ok, "{}", run.stderr);
    run.stdout.lines().count()
}

#[test]
fn a_dark_site_is_seen_worked_around_and_cleaned_on_return() {
    colo_is_running();
    let (agency, ns) = new_agency("flood", "OFFICIAL");
    let tenancy = |name: &str, pin: &str| {
        let pin = match pin {
            "" => String::new(),
            c => format!("  cluster: {c}\n"),
        };
        format!(
            "apiVersion: colo.dev/v1alpha1\nkind: Tenancy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  agency: {agency}\n  classification: OFFICIAL\n{pin}  workloads:\n  - {{name: api, image: i, replicas: 1, cpu: 100m, memory: 64Mi}}\n"
        )
    };
    // `mover` is free to go anywhere; north-1 has the cheaper energy, so it starts there.
    apply_yaml(HUB, &tenancy("mover", ""));
    apply_yaml(HUB, &tenancy("lost", "north-1"));
    apply_yaml(HUB, &tenancy("gone", "north-1"));
    apply_yaml(HUB, &tenancy("stay", "south-1"));
    for name in ["mover", "lost", "gone", "stay"] {
        wait_phase(&ns, name, "Running", Duration::from_secs(90));
    }
    let mover = get_json(HUB, &["-n", &ns, "get", "tenancy", "mover"]);
    assert_eq!(
        mover["status"]["clusters"], "north-1",
        "{}",
        mover["status"]
    );
    assert_eq!(copies("north-1", &ns, "gone"), 1);

    // The flood.
    let frozen = Frozen::freeze("north-1");
    let dark = Instant::now();
    let seen = wait_until("north-1 Reachable=False", Duration::from_secs(60), || {
        let c = reachable("north-1");
        if c["status"] == "False" {
            Ok(c)
        } else {
            Err(format!("{c}"))
        }
    });
    let detected = dark.elapsed();
    eprintln!("site loss: north-1 Reachable=False after {detected:.1?}");
    assert!(
        detected < Duration::from_secs(45),
        "seen in {detected:?}; the defaults promise about 30 s"
    );
    let message = seen["message"].as_str().unwrap();
    assert!(
        message.contains("the API server has not answered for 20 s"),
        "{message}"
    );

    // Its tenancy is Degraded, saying why; nothing new is placed there.
    let lost = wait_phase(&ns, "lost", "Degraded", Duration::from_secs(60));
    let available = condition(&lost, "Available");
    assert!(
        available["message"]
            .as_str()
            .unwrap()
            .contains("north-1: the API server has not answered"),
        "{available}"
    );
    apply_yaml(HUB, &tenancy("fresh", ""));
    let fresh = wait_phase(&ns, "fresh", "Running", Duration::from_secs(90));
    assert_eq!(fresh["status"]["clusters"], "south-1");
    let why = fresh["status"]["explanation"].as_str().unwrap();
    assert!(why.contains("not north-1: unreachable"), "{why}");

    // After the failover grace (30 s here), the free SingleSite tenancy runs on south-1; the
    // pinned one cannot move and stays Degraded.
    let moved = wait_until("mover Running on south-1", Duration::from_secs(120), || {
        let t = get_json(HUB, &["-n", &ns, "get", "tenancy", "mover"]);
        let s = &t["status"];
        if s["phase"] == "Running" && s["clusters"] == "south-1" {
            Ok(t)
        } else {
            Err(format!("{s}"))
        }
    });
    eprintln!(
        "site loss: SingleSite tenancy Running on south-1 {:.1?} after north-1 went dark",
        dark.elapsed()
    );
    let why = moved["status"]["explanation"].as_str().unwrap();
    assert!(why.contains("not north-1: unreachable"), "{why}");
    assert_eq!(copies("south-1", &ns, "mover"), 1);
    wait_phase(&ns, "lost", "Degraded", Duration::from_secs(5));

    // Deletes go through, here and there.
    delete(&ns, &["stay", "gone"]);
    assert_eq!(copies("south-1", &ns, "stay"), 0);

    // The operator starts and serves while north-1 is dark: a tenancy applied after the
    // restart is placed, on south-1, saying why not north-1.
    operator("restart");
    apply_yaml(HUB, &tenancy("later", ""));
    let later = wait_phase(&ns, "later", "Running", Duration::from_secs(90));
    assert_eq!(later["status"]["clusters"], "south-1");
    let why = later["status"]["explanation"].as_str().unwrap();
    assert!(why.contains("not north-1: unreachable"), "{why}");

    // The water goes down: north-1 answers, and what was deleted meanwhile goes there too.
    drop(frozen);
    wait_until("north-1 Reachable=True", Duration::from_secs(60), || {
        let c = reachable("north-1");
        if c["status"] == "True" {
            Ok(())
        } else {
            Err(format!("{c}"))
        }
    });
    wait_until(
        "the deleted tenancy's copy gone from north-1",
        Duration::from_secs(60),
        || match copies("north-1", &ns, "gone") {
            0 => Ok(()),
            n => Err(format!("{n} left")),
        },
    );
    wait_phase(&ns, "lost", "Running", Duration::from_secs(90));
    wait_until(
        "the moved tenancy's old copy gone from north-1",
        Duration::from_secs(60),
        || match copies("north-1", &ns, "mover") {
            0 => Ok(()),
            n => Err(format!("{n} left")),
        },
    );
    assert_eq!(
        copies("south-1", &ns, "mover"),
        1,
        "it stays where it moved"
    );
    assert_eq!(copies("north-1", &ns, "fresh"), 0, "nothing runs twice");
    assert_eq!(copies("south-1", &ns, "fresh"), 1);
    delete(&ns, &["lost", "fresh", "mover", "later"]);
}
