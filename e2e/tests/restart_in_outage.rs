//! The operator restarts while a member is dark. The new process cannot read that member, so
//! it must not take "no copies seen there" for "no copies there": a free SingleSite tenancy on
//! the dark member moves only once the failover grace has passed since the process started
//! (not at once), and a DualSite tenancy serving from its other site stays `Degraded` saying
//! why, never `Pending`. When the member answers again nothing runs twice.
//!
//! Its own test binary: freezing a member would upset tests running beside it. The operator
//! runs with a 45 s failover grace and 20 s settling time (e2e/operator.sh).

use std::time::{Duration, Instant};

use colo_e2e::outage::*;
use colo_e2e::*;

/// The failover grace e2e/operator.sh gives the operator.
const GRACE: Duration = Duration::from_secs(45);

#[test]
fn a_restart_during_an_outage_moves_nothing_before_the_grace() {
    colo_is_running();
    // OFFICIAL-SENSITIVE: north-1 and south-1 only, so `pair` has no third site to go to.
    let (agency, ns) = new_agency("blip", "OFFICIAL-SENSITIVE");
    let region_of = |m: &str| shc(m)["spec"]["region"].as_str().unwrap().to_string();
    apply_yaml(HUB, &sensitive_yaml(&ns, &agency, "pair", &[]));
    // `single` may go to either member; the one it lands on goes dark.
    let any = [region_of(MEMBERS[0]), region_of(MEMBERS[1])];
    let any: Vec<&str> = any.iter().map(String::as_str).collect();
    apply_yaml(HUB, &sensitive_yaml(&ns, &agency, "single", &any));
    wait_phase(&ns, "pair", "Running", Duration::from_secs(90));
    wait_phase(&ns, "single", "Running", Duration::from_secs(90));
    let dark_member = clusters_of(&ns, "single");
    let dark_member = dark_member.as_str();
    let lit = *MEMBERS.iter().find(|m| **m != dark_member).unwrap();

    let frozen = Frozen::freeze(dark_member);
    wait_condition(dark_member, "Reachable", "False", 60);
    let restart = Instant::now();
    operator("restart");
    eprintln!(
        "restart in outage: the operator serves again {:.1?} after the restart began",
        restart.elapsed()
    );

    // Until `single` moves, `pair` is never Pending: its half on the dark member still counts
    // as placed; the half on the lit member serves.
    let moved = wait_until("single moved off the dark member", GRACE * 3, || {
        let pair = get_json(HUB, &["-n", &ns, "get", "tenancy", "pair"]);
        assert_ne!(
            pair["status"]["phase"], "Pending",
            "pair lost its placement in the restart: {}",
            pair["status"]
        );
        let single = get_json(HUB, &["-n", &ns, "get", "tenancy", "single"]);
        let s = &single["status"];
        if s["phase"] == "Running" && s["clusters"] == lit {
            Ok(restart.elapsed())
        } else {
            Err(format!("{s}"))
        }
    });
    eprintln!("restart in outage: single Running on {lit} {moved:.1?} after the restart began");
    assert!(
        moved >= GRACE,
        "moved {moved:?} after the restart: before the {GRACE:?} grace"
    );
    let pair = wait_stranded(&ns, "pair");
    assert!(pair.contains(dark_member), "{pair}");
    assert_eq!(copies(lit, &ns, "pair"), 1, "its other half serves");

    drop(frozen);
    wait_condition(dark_member, "Reachable", "True", 60);
    no_copies_left(dark_member, &ns, "single");
    wait_phase(&ns, "pair", "Running", Duration::from_secs(90));
    assert_eq!(copies(dark_member, &ns, "pair"), 1, "one copy, not two");
    assert_eq!(copies(lit, &ns, "single"), 1);
    delete(&ns, &["pair", "single"]);
    for member in MEMBERS {
        no_copies_left(member, &ns, "pair");
        no_copies_left(member, &ns, "single");
    }
}
