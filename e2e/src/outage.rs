//! Helpers for tests that take a member cluster down: freeze its API server (SIGSTOP, as when
//! a site's network goes), read SharedCluster conditions, count Colo's copies in a member.

use std::process::Command;
use std::time::Duration;

use crate::*;
use colo_api::Classification;

/// Freezes a member's API server; thaws it however the test ends.
pub struct Frozen(String);

impl Frozen {
    pub fn freeze(member: &str) -> Frozen {
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
pub fn delete(ns: &str, names: &[&str]) {
    let mut args = vec!["-n", ns, "delete", "tenancy", "--timeout=60s"];
    args.extend(names);
    kubectl_ok(HUB, &args);
}

pub fn condition(object: &serde_json::Value, type_: &str) -> serde_json::Value {
    object["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned())
        .unwrap_or_default()
}

pub fn shc(cluster: &str) -> serde_json::Value {
    get_json(HUB, &["get", "sharedcluster", cluster])
}

/// Waits until a member's `type_` condition has `status`; returns the condition.
pub fn wait_condition(cluster: &str, type_: &str, status: &str, within: u64) -> serde_json::Value {
    let what = format!("{cluster} {type_}={status}");
    wait_until(&what, Duration::from_secs(within), || {
        let c = condition(&shc(cluster), type_);
        if c["status"] == status {
            Ok(c)
        } else {
            Err(format!("{c}"))
        }
    })
}

/// Colo's Deployments of a tenancy in a member.
pub fn copies(member: &str, ns: &str, tenancy: &str) -> usize {
    let selector = format!("colo.dev/tenancy={tenancy},colo.dev/tenancy-namespace={ns}");
    let run = member_deployments(member, &selector, "name", "10s");
    assert!(run.ok, "{}", run.stderr);
    run.stdout.lines().count()
}

pub fn no_copies_left(member: &str, ns: &str, tenancy: &str) {
    let what = format!("{ns}/{tenancy}'s copies gone from {member}");
    wait_until(&what, Duration::from_secs(60), || {
        match copies(member, ns, tenancy) {
            0 => Ok(()),
            n => Err(format!("{n} left")),
        }
    });
}

pub fn clusters_of(ns: &str, name: &str) -> String {
    let t = get_json(HUB, &["-n", ns, "get", "tenancy", name]);
    t["status"]["clusters"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// An OFFICIAL-SENSITIVE tenancy: only north-1 and south-1 are accredited for it, so it has
/// no third site. With no `regions` it is DualSite; with some, a SingleSite one confined to
/// them.
pub fn sensitive_yaml(ns: &str, agency: &str, name: &str, regions: &[&str]) -> String {
    let t = Tenancy::new(ns, name, agency).classification(Classification::OfficialSensitive);
    match regions {
        [] => t
            .dual_site()
            .workload(Workload::new("api", 2, "100m", "64Mi")),
        some => t
            .regions(some)
            .workload(Workload::new("api", 1, "100m", "64Mi")),
    }
    .yaml()
}

/// Waits until a DualSite tenancy is `Degraded` saying its lost half cannot be placed again;
/// returns its `Available` message.
pub fn wait_stranded(ns: &str, name: &str) -> String {
    let stranded = "its replicas on the lost site cannot be placed again";
    let what = format!("{ns}/{name} Degraded, saying why");
    wait_until(&what, Duration::from_secs(60), || {
        let t = get_json(HUB, &["-n", ns, "get", "tenancy", name]);
        let said = condition(&t, "Available")["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if t["status"]["phase"] == "Degraded" && said.contains(stranded) {
            Ok(said)
        } else {
            Err(format!("{}", t["status"]))
        }
    })
}
