//! A site goes dark: a member's API server is frozen (SIGSTOP: connections hang, as when a
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
    // `mover` is free to go anywhere; the member it lands on is the one that goes dark
    // (which one depends on what earlier tests left running).
    apply_yaml(HUB, &tenancy("mover", ""));
    let mover = wait_phase(&ns, "mover", "Running", Duration::from_secs(90));
    let (dark_member, lit) = match mover["status"]["clusters"].as_str() {
        Some("north-1") => ("north-1", "south-1"),
        Some("south-1") => ("south-1", "north-1"),
        other => panic!("mover placed on {other:?}"),
    };
    apply_yaml(HUB, &tenancy("lost", dark_member));
    apply_yaml(HUB, &tenancy("gone", dark_member));
    apply_yaml(HUB, &tenancy("stay", lit));
    for name in ["lost", "gone", "stay"] {
        wait_phase(&ns, name, "Running", Duration::from_secs(90));
    }
    assert_eq!(copies(dark_member, &ns, "gone"), 1);

    // The flood.
    let frozen = Frozen::freeze(dark_member);
    let dark = Instant::now();
    let seen = wait_until(
        "the dark member Reachable=False",
        Duration::from_secs(60),
        || {
            let c = reachable(dark_member);
            if c["status"] == "False" {
                Ok(c)
            } else {
                Err(format!("{c}"))
            }
        },
    );
    let detected = dark.elapsed();
    eprintln!("site loss: {dark_member} Reachable=False after {detected:.1?}");
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
            .contains(&format!("{dark_member}: the API server has not answered")),
        "{available}"
    );
    apply_yaml(HUB, &tenancy("fresh", ""));
    let fresh = wait_phase(&ns, "fresh", "Running", Duration::from_secs(90));
    assert_eq!(fresh["status"]["clusters"], lit);
    let why = fresh["status"]["explanation"].as_str().unwrap();
    assert!(
        why.contains(&format!("not {dark_member}: unreachable")),
        "{why}"
    );

    // After the failover grace (30 s here), the free SingleSite tenancy runs on the other; the
    // pinned one cannot move and stays Degraded.
    let moved = wait_until(
        "mover Running on the other member",
        Duration::from_secs(120),
        || {
            let t = get_json(HUB, &["-n", &ns, "get", "tenancy", "mover"]);
            let s = &t["status"];
            if s["phase"] == "Running" && s["clusters"] == lit {
                Ok(t)
            } else {
                Err(format!("{s}"))
            }
        },
    );
    eprintln!(
        "site loss: SingleSite tenancy Running on {lit} {:.1?} after {dark_member} went dark",
        dark.elapsed()
    );
    let why = moved["status"]["explanation"].as_str().unwrap();
    assert!(
        why.contains(&format!("not {dark_member}: unreachable")),
        "{why}"
    );
    assert_eq!(copies(lit, &ns, "mover"), 1);
    wait_phase(&ns, "lost", "Degraded", Duration::from_secs(5));

    // Deletes go through, here and there.
    delete(&ns, &["stay", "gone"]);
    assert_eq!(copies(lit, &ns, "stay"), 0);

    // The operator starts and serves while a member is dark: a tenancy applied after the
    // restart is placed on the other, saying why not the dark one.
    operator("restart");
    apply_yaml(HUB, &tenancy("later", ""));
    let later = wait_phase(&ns, "later", "Running", Duration::from_secs(90));
    assert_eq!(later["status"]["clusters"], lit);
    let why = later["status"]["explanation"].as_str().unwrap();
    assert!(
        why.contains(&format!("not {dark_member}: unreachable")),
        "{why}"
    );

    // The water goes down: the member answers, and what was deleted meanwhile goes there too.
    drop(frozen);
    wait_until(
        "the dark member Reachable=True",
        Duration::from_secs(60),
        || {
            let c = reachable(dark_member);
            if c["status"] == "True" {
                Ok(())
            } else {
                Err(format!("{c}"))
            }
        },
    );
    wait_until(
        "the deleted tenancy's copy gone from the dark member",
        Duration::from_secs(60),
        || match copies(dark_member, &ns, "gone") {
            0 => Ok(()),
            n => Err(format!("{n} left")),
        },
    );
    wait_phase(&ns, "lost", "Running", Duration::from_secs(90));
    wait_until(
        "the moved tenancy's old copy gone from the dark member",
        Duration::from_secs(60),
        || match copies(dark_member, &ns, "mover") {
            0 => Ok(()),
            n => Err(format!("{n} left")),
        },
    );
    assert_eq!(copies(lit, &ns, "mover"), 1, "it stays where it moved");
    assert_eq!(copies(dark_member, &ns, "fresh"), 0, "nothing runs twice");
    assert_eq!(copies(lit, &ns, "fresh"), 1);
    delete(&ns, &["lost", "fresh", "mover", "later"]);
}
