//! A site goes dark: a member's API server is frozen (SIGSTOP: connections hang, as when a
//! site's network goes). With a third site in the estate and an invariant checker sampling
//! every member throughout, Colo must say so within a bounded time; keep placing on what is
//! left; treat a member that comes back and goes dark again (flapping) as one outage; move
//! free SingleSite tenancies once after the grace and place a DualSite tenancy's lost half at
//! the third site, its other half serving all along; let tenancies be deleted; start and serve
//! while the member is dark; not bill the dark site's work while billing the survivors'; and,
//! when the member answers again, remove there what moved or was deleted meanwhile, and give
//! it new work only once it has settled.
//!
//! Its own test binary: freezing a member would upset tests running beside it. The operator
//! runs with a 45 s failover grace and 20 s settling time (e2e/operator.sh); the member
//! heartbeat keeps its production default of 20 s.

use std::time::{Duration, Instant};

use colo_e2e::outage::*;
use colo_e2e::*;

/// The third site, joined to the hub for this test and taken out of it afterwards.
struct ThirdSite;

impl ThirdSite {
    fn join() -> ThirdSite {
        let file = repo().join("examples/21-third-site.yaml");
        kubectl_ok(HUB, &["apply", "-f", file.to_str().unwrap()]);
        wait_until("west-1 Ready", Duration::from_secs(90), || {
            let c = condition(&shc(THIRD_SITE), "Ready");
            if c["status"] == "True" {
                Ok(())
            } else {
                Err(format!("{c}"))
            }
        });
        ThirdSite
    }
}

impl Drop for ThirdSite {
    fn drop(&mut self) {
        let _ = kubectl(
            HUB,
            &["delete", "sharedcluster", THIRD_SITE, "--timeout=60s"],
        );
    }
}

fn tenancy_yaml(ns: &str, agency: &str, name: &str, pin: &str, dual: bool) -> String {
    let mut t = Tenancy::new(ns, name, agency);
    if !pin.is_empty() {
        t = t.pinned(pin);
    }
    match dual {
        true => t
            .dual_site()
            .workload(Workload::new("api", 2, "100m", "64Mi")),
        false => t.workload(Workload::new("api", 1, "100m", "64Mi")),
    }
    .yaml()
}

/// A pinned tenancy that uses most of the half core it asks (kwok simulates it), so its bill
/// grows by a watt-hour every tick or two (a 100m idle one only every few minutes). Small
/// enough for a member that earlier tests left busy.
fn busy_yaml(ns: &str, agency: &str, pin: &str) -> String {
    Tenancy::new(ns, "work", agency)
        .pinned(pin)
        .workload(Workload::new("api", 1, "500m", "1Gi").uses("450m", "512Mi"))
        .yaml()
}

/// An agency's energy and cost so far, from the report API.
fn billed(agency: &str) -> (f64, f64) {
    let a = colo_json(&format!("/api/v1/agencies/{agency}"));
    (a["kWh"].as_f64().unwrap(), a["cost"].as_f64().unwrap())
}

/// Waits until an agency's accounted energy has grown past `than`; returns it.
fn billed_more(agency: &str, than: f64) -> (f64, f64) {
    wait_until(
        &format!("{agency} billed more"),
        Duration::from_secs(60),
        || {
            let b = billed(agency);
            if b.0 > than {
                Ok(b)
            } else {
                Err(format!("{b:?}"))
            }
        },
    )
}

#[test]
fn a_dark_site_is_seen_worked_around_and_cleaned_on_return() {
    colo_is_running();
    let (agency, ns) = new_agency("flood", "OFFICIAL");
    let t = |name: &str, pin: &str, dual: bool| tenancy_yaml(&ns, &agency, name, pin, dual);
    // `mover` is free to go anywhere; the member it lands on is the one that goes dark
    // (which one depends on what earlier tests left running).
    apply_yaml(HUB, &t("mover", "", false));
    wait_phase(&ns, "mover", "Running", Duration::from_secs(90));
    let dark_member = clusters_of(&ns, "mover");
    let lit = *MEMBERS.iter().find(|m| **m != dark_member).unwrap();
    let dark_member = dark_member.as_str();
    apply_yaml(HUB, &t("lost", dark_member, false));
    apply_yaml(HUB, &t("gone", dark_member, false));
    apply_yaml(HUB, &t("stay", lit, false));
    apply_yaml(HUB, &t("dual", "", true));
    for name in ["lost", "gone", "stay", "dual"] {
        wait_phase(&ns, name, "Running", Duration::from_secs(90));
    }
    assert_eq!(copies(dark_member, &ns, "gone"), 1);
    assert_eq!(copies(dark_member, &ns, "dual"), 1, "one half at each site");
    assert_eq!(copies(lit, &ns, "dual"), 1);
    // Work with nowhere else to go: `boxed` may run only in the dark member's region, `pair`
    // (DualSite) is accredited at no third site.
    let (vault, vault_ns) = new_agency("vault", "OFFICIAL-SENSITIVE");
    let dark_region = shc(dark_member)["spec"]["region"]
        .as_str()
        .unwrap()
        .to_string();
    let s = |name: &str, regions: &[&str]| sensitive_yaml(&vault_ns, &vault, name, regions);
    apply_yaml(HUB, &s("boxed", &[&dark_region]));
    apply_yaml(HUB, &s("pair", &[]));
    wait_phase(&vault_ns, "boxed", "Running", Duration::from_secs(90));
    wait_phase(&vault_ns, "pair", "Running", Duration::from_secs(90));
    assert_eq!(clusters_of(&vault_ns, "boxed"), dark_member);
    // Billing: one agency's work only on the member that goes dark, another's on the other.
    let (sunk, sunk_ns) = new_agency("sunk", "OFFICIAL");
    let (ashore, ashore_ns) = new_agency("ashore", "OFFICIAL");
    let (leaving, leaving_ns) = new_agency("leaving", "OFFICIAL");
    apply_yaml(
        HUB,
        &tenancy_yaml(&leaving_ns, &leaving, "work", dark_member, false),
    );
    apply_yaml(HUB, &busy_yaml(&sunk_ns, &sunk, dark_member));
    apply_yaml(HUB, &busy_yaml(&ashore_ns, &ashore, lit));
    wait_phase(&sunk_ns, "work", "Running", Duration::from_secs(90));
    wait_phase(&ashore_ns, "work", "Running", Duration::from_secs(90));
    wait_phase(&leaving_ns, "work", "Running", Duration::from_secs(90));
    let leaving_space = format!("colo-{leaving}");
    kubectl_ok(dark_member, &["get", "namespace", &leaving_space]);
    billed_more(&sunk, 0.0);
    // A third site joins, and the checker starts sampling every member.
    let third = ThirdSite::join();
    let checker = invariants::start(&ns, &[MEMBERS[0], MEMBERS[1], THIRD_SITE]);
    let dual_up = Instant::now();

    // The flood, a first time: seen, said, worked around; over before the failover grace.
    let first = Frozen::freeze(dark_member);
    let dark = Instant::now();
    let seen = wait_condition(dark_member, "Reachable", "False", 60);
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
    let lost = wait_phase(&ns, "lost", "Degraded", Duration::from_secs(60));
    let available = condition(&lost, "Available");
    let said = available["message"].as_str().unwrap();
    assert!(
        said.contains(&format!("{dark_member}: the API server has not answered")),
        "{said}"
    );
    drop(first);
    wait_condition(dark_member, "Reachable", "True", 30);
    assert_eq!(
        clusters_of(&ns, "mover"),
        dark_member,
        "back within the grace: not moved"
    );

    // Back, but not settled: nothing new goes there yet.
    let settling = wait_condition(dark_member, "Ready", "False", 10);
    assert_eq!(settling["reason"], "Settling", "{settling}");
    apply_yaml(HUB, &t("fresh", "", false));
    let fresh = wait_phase(&ns, "fresh", "Running", Duration::from_secs(90));
    assert_ne!(fresh["status"]["clusters"], dark_member);
    let why = fresh["status"]["explanation"].as_str().unwrap();
    assert!(
        why.contains(&format!(
            "not {dark_member}: answering again after an outage"
        )),
        "{why}"
    );

    // Dark again within the settling time: the same outage, so the grace (45 s) is counted
    // from its start, and the free tenancies move at once when it is seen.
    let frozen = Frozen::freeze(dark_member);
    wait_condition(dark_member, "Reachable", "False", 60);
    let moved = wait_until("mover Running elsewhere", Duration::from_secs(120), || {
        let t = get_json(HUB, &["-n", &ns, "get", "tenancy", "mover"]);
        let s = &t["status"];
        if s["phase"] == "Running" && s["clusters"] != dark_member {
            Ok(t)
        } else {
            Err(format!("{s}"))
        }
    });
    let moved_to = moved["status"]["clusters"].as_str().unwrap().to_string();
    eprintln!(
        "site loss: SingleSite tenancy Running on {moved_to} {:.1?} after {dark_member} first went dark",
        dark.elapsed()
    );
    let why = moved["status"]["explanation"].as_str().unwrap();
    assert!(
        why.contains(&format!("not {dark_member}: unreachable")),
        "{why}"
    );
    assert_eq!(copies(&moved_to, &ns, "mover"), 1);
    // The DualSite tenancy's lost half is placed again at the third site.
    wait_until(
        "dual's lost half at the third site",
        Duration::from_secs(120),
        || {
            let t = get_json(HUB, &["-n", &ns, "get", "tenancy", "dual"]);
            let s = &t["status"];
            let there = s["clusters"] == format!("{lit},{THIRD_SITE}")
                || s["clusters"] == format!("{THIRD_SITE},{lit}");
            if s["phase"] == "Running" && there {
                Ok(())
            } else {
                Err(format!("{s}"))
            }
        },
    );
    eprintln!(
        "site loss: DualSite tenancy whole again on {lit} and {THIRD_SITE} {:.1?} after {dark_member} first went dark",
        dark.elapsed()
    );
    wait_phase(&ns, "lost", "Degraded", Duration::from_secs(5));
    // What has nowhere else to go waits, saying why: `boxed` Pending, `pair` serving from
    // its other site, Degraded.
    let boxed = wait_phase(&vault_ns, "boxed", "Pending", Duration::from_secs(60));
    let why = boxed["status"]["explanation"].as_str().unwrap();
    eprintln!("site loss: boxed is Pending: {why}");
    assert!(
        why.contains(&format!("{dark_member}: unreachable")),
        "{why}"
    );
    assert!(why.contains("outside the tenancy's regions"), "{why}");
    let pair = wait_stranded(&vault_ns, "pair");
    eprintln!("site loss: pair is Degraded: {pair}");
    assert!(
        pair.contains("DualSite needs clusters in two sites"),
        "{pair}"
    );
    assert!(
        pair.contains(&format!("{THIRD_SITE}: accredited to OFFICIAL only")),
        "{pair}"
    );
    assert_eq!(copies(lit, &vault_ns, "pair"), 1, "its other half serves");

    // Billing through the outage: the dark site's work is not billed, the survivors' is.
    let (ashore_then, _) = billed_more(&ashore, billed(&ashore).0);
    let sunk_then = billed(&sunk);
    billed_more(&ashore, billed_more(&ashore, ashore_then).0);
    assert_eq!(
        billed(&sunk),
        sunk_then,
        "nothing billed for work on a dark site"
    );

    // Deletes go through, here and there; an agency leaves, its work on the dark site.
    delete(&ns, &["stay", "gone"]);
    assert_eq!(copies(lit, &ns, "stay"), 0);
    delete(&leaving_ns, &["work"]);
    kubectl_ok(HUB, &["delete", "agency", &leaving, "--timeout=60s"]);

    // The operator starts and serves while a member is dark: a tenancy applied after the
    // restart is placed elsewhere, saying why not the dark one; the ledger goes on.
    let before_restart = billed(&ashore);
    operator("restart");
    assert!(
        billed(&ashore).0 >= before_restart.0,
        "the ledger continues, it does not restart"
    );
    apply_yaml(HUB, &t("later", "", false));
    let later = wait_phase(&ns, "later", "Running", Duration::from_secs(90));
    assert_ne!(later["status"]["clusters"], dark_member);
    let why = later["status"]["explanation"].as_str().unwrap();
    assert!(
        why.contains(&format!("not {dark_member}: unreachable")),
        "{why}"
    );
    assert_eq!(billed(&sunk), sunk_then, "nor after a restart");

    // The water goes down: what was deleted or moved meanwhile goes from the member; the
    // pinned tenancies run again; it takes new work once it has settled.
    drop(frozen);
    let back = Instant::now();
    wait_condition(dark_member, "Reachable", "True", 60);
    no_copies_left(dark_member, &ns, "gone");
    wait_until(
        "the departed agency's namespace gone from the member",
        Duration::from_secs(60),
        || {
            let run = kubectl(
                dark_member,
                &[
                    "get",
                    "namespace",
                    &leaving_space,
                    "-o",
                    "jsonpath={.status.phase}",
                ],
            );
            match (run.ok, run.stdout.as_str()) {
                (false, _) | (true, "Terminating") => Ok(()),
                (true, phase) => Err(phase.to_string()),
            }
        },
    );
    no_copies_left(dark_member, &ns, "mover");
    no_copies_left(dark_member, &ns, "dual");
    wait_phase(&ns, "lost", "Running", Duration::from_secs(90));
    wait_phase(&vault_ns, "pair", "Running", Duration::from_secs(90));
    wait_condition(dark_member, "Ready", "True", 90);
    let boxed = wait_phase(&vault_ns, "boxed", "Running", Duration::from_secs(90));
    assert_eq!(
        boxed["status"]["clusters"], dark_member,
        "back where it may run"
    );
    assert_eq!(
        copies(dark_member, &vault_ns, "boxed"),
        1,
        "one copy, not two"
    );
    eprintln!(
        "site loss: {dark_member} takes placements again {:.1?} after it answered",
        back.elapsed()
    );
    assert_eq!(
        copies(&moved_to, &ns, "mover"),
        1,
        "it stays where it moved"
    );
    assert_eq!(copies(dark_member, &ns, "fresh"), 0, "nothing runs twice");
    billed_more(&sunk, sunk_then.0);
    let dual_to = Instant::now();

    let samples = checker.finish();
    let (count, span) = samples.span();
    eprintln!("site loss: the checker took {count} samples over {span:.0?}");
    assert!(count > 0);
    let gap = samples.longest_gap();
    assert!(
        gap <= Duration::from_secs(5),
        "a gap of {gap:?} between samples"
    );
    let fewest = samples.fewest_available("dual", "api", dual_up, dual_to);
    assert!(
        fewest >= 1,
        "the DualSite tenancy had no available replica at some sample"
    );
    assert_eq!(
        samples.moves("mover"),
        1,
        "a flapping member moves a tenancy once"
    );
    assert_eq!(samples.moves("lost"), 0);
    assert_eq!(samples.moves("fresh"), 0);
    for name in ["mover", "lost", "fresh", "later"] {
        let twice = samples.longest_twice(name);
        assert!(
            twice <= Duration::from_secs(60),
            "{name} ran in two members for {twice:?}"
        );
    }

    // Nothing orphaned: deleted everywhere.
    delete(&ns, &["lost", "fresh", "mover", "later", "dual"]);
    for member in [MEMBERS[0], MEMBERS[1], THIRD_SITE] {
        let selector = format!("colo.dev/tenancy-namespace={ns}");
        let run = kubectl(
            member,
            &["get", "deployments", "-A", "-l", &selector, "-o", "name"],
        );
        assert!(
            run.ok && run.stdout.trim().is_empty(),
            "left in {member}: {}",
            run.stdout
        );
    }
    delete(&vault_ns, &["boxed", "pair"]);
    delete(&sunk_ns, &["work"]);
    delete(&ashore_ns, &["work"]);
    drop(third);
}
