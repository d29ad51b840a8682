//! A Tenancy's status, computed once per reconcile from what the steps found: pure, so every
//! rule here is unit tested.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use colo_api::{Condition, Phase, Sizing, Tenancy, TenancyStatus};
use kube::runtime::controller::Action;

use super::availability::Availability;
use super::resize::Review;
use super::revoke::Revocation;
use super::validate::Rejection;
use crate::config::Config;
use crate::k8s::status::{Said, set_condition, true_since};
use crate::state::Decided;

/// What one reconcile found.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Rejected, and what becomes of its copies in member clusters.
    Rejected(Rejection, Revocation),
    /// Not placed: the reason, and what it waits for.
    Pending(String, Wait),
    /// Just decided by the planner: recorded now, applied on the next reconcile.
    Decided(Decided),
    /// Its member objects applied: phase `Placed`, `Running` or `Degraded`.
    Applied(Applied),
}

/// What a Pending tenancy waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Room to be freed: planned again every `pending_retry`.
    Room,
    /// Its spec or the estate's nodes to change (a replica larger than every node): planned
    /// again only then.
    Nodes,
    /// The SharedCluster its `spec.cluster` names to exist: looked for every `pending_retry`.
    Cluster,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// Where, with the applied sizes, and why.
    pub decided: Decided,
    pub review: Review,
    pub availability: Availability,
    /// Part of it is on a lost member and cannot be placed again now: looked at again as a
    /// Pending one is (each look asks the planner), not every few seconds.
    pub stranded: bool,
}

/// How long after a placement missing replicas are news (before, a rollout is just starting).
const SETTLING: chrono::Duration = chrono::Duration::seconds(30);

/// Whether missing replicas should come with the members' reasons: once a rollout has had
/// time to start, or when the tenancy was running before.
pub fn explain_shortfall(tenancy: &Tenancy, now: DateTime<Utc>) -> bool {
    let old = tenancy.status.clone().unwrap_or_default();
    let was_running = matches!(old.phase, Some(Phase::Running | Phase::Degraded));
    let settled = true_since(&old.conditions, "Placed").is_some_and(|t| now - t > SETTLING);
    was_running || settled
}

pub fn compute(tenancy: &Tenancy, outcome: &Outcome, now: DateTime<Utc>) -> TenancyStatus {
    let generation = tenancy.metadata.generation;
    let old = tenancy.status.clone().unwrap_or_default();
    let mut conditions = old.conditions.clone();
    let mut set = |said: Said<'_>| set_condition(&mut conditions, said, now, generation);
    let mut status = match outcome {
        Outcome::Rejected(Rejection(reason), revocation) => {
            set(rejected(reason));
            conditions.retain(|c| c.type_ == "Accepted");
            unplaced(Phase::Rejected, rejected_explanation(reason, revocation))
        }
        Outcome::Pending(reason, wait) => {
            set(accepted());
            set(Said {
                type_: "Placed",
                status: false,
                reason: match wait {
                    Wait::Room => "NoRoom",
                    Wait::Nodes => "TooLarge",
                    Wait::Cluster => "ClusterNotFound",
                },
                message: reason,
            });
            unplaced(Phase::Pending, format!("Not placed: {reason}."))
        }
        Outcome::Decided(decided) => {
            set(accepted());
            set(Said {
                type_: "Placed",
                status: true,
                reason: "Placed",
                message: &decided.explanation,
            });
            set(Said {
                type_: "Available",
                status: false,
                reason: "Rolling",
                message: "member Deployments are starting",
            });
            let review = Review {
                placements: decided.placements.clone(),
                ..Default::default()
            };
            placed_status(decided, &review, Phase::Placed)
        }
        Outcome::Applied(placed) => {
            set(accepted());
            set(Said {
                type_: "Placed",
                status: true,
                reason: "Placed",
                message: &placed.decided.explanation,
            });
            let (up, message) = available(tenancy, &placed.availability);
            set(Said {
                type_: "Available",
                status: up,
                reason: if up { "Available" } else { "Unavailable" },
                message: &message,
            });
            placed_status(
                &placed.decided,
                &placed.review,
                running_phase(up, old.phase),
            )
        }
    };
    status.conditions = conditions;
    status.observed_generation = generation;
    status
}

fn accepted() -> Said<'static> {
    Said {
        type_: "Accepted",
        status: true,
        reason: "Accepted",
        message: "the agency owns the namespace and is cleared for the classification",
    }
}

fn rejected(reason: &str) -> Said<'_> {
    Said {
        type_: "Accepted",
        status: false,
        reason: "Rejected",
        message: reason,
    }
}

fn rejected_explanation(reason: &str, revocation: &Revocation) -> String {
    let list = |clusters: &std::collections::BTreeSet<String>| {
        clusters.iter().cloned().collect::<Vec<_>>().join(", ")
    };
    match revocation {
        Revocation::Nothing => format!("Rejected: {reason}."),
        Revocation::Due { at, clusters } => format!(
            "Rejected: {reason}. Its copies in {} are removed at {} unless this is corrected.",
            list(clusters),
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        Revocation::Done { clusters } => format!(
            "Rejected: {reason}. Its copies were removed from {}.",
            list(clusters)
        ),
    }
}

fn unplaced(phase: Phase, explanation: String) -> TenancyStatus {
    TenancyStatus {
        phase: Some(phase),
        explanation: Some(explanation),
        ..Default::default()
    }
}

/// `Placed` until every replica is available, then `Running`; `Degraded` if it was running.
fn running_phase(all_up: bool, was: Option<Phase>) -> Phase {
    match (all_up, was) {
        (true, _) => Phase::Running,
        (false, Some(Phase::Running | Phase::Degraded)) => Phase::Degraded,
        (false, _) => Phase::Placed,
    }
}

/// Whether every replica is available, and the sentence that says so (or why not).
fn available(tenancy: &Tenancy, seen: &Availability) -> (bool, String) {
    let asked: i32 = tenancy.spec.workloads.iter().map(|w| w.replicas).sum();
    let mut message = format!("{} of {asked} replicas available", seen.total_ready());
    let up = seen.all_up(tenancy);
    if !up && !seen.reasons.is_empty() {
        message = format!("{message} ({})", seen.reasons.join("; "));
    }
    (up, message)
}

fn placed_status(decided: &Decided, review: &Review, phase: Phase) -> TenancyStatus {
    let placements = review.placements.clone();
    let clusters: BTreeSet<&str> = placements.iter().map(|p| p.cluster.as_str()).collect();
    TenancyStatus {
        phase: Some(phase),
        clusters: Some(clusters.into_iter().collect::<Vec<_>>().join(",")),
        explanation: Some(decided.explanation.clone()),
        measured: review.measured.clone(),
        sizing: review.sizing.clone(),
        placements,
        ..Default::default()
    }
}

/// When to look at a tenancy again. Member Deployments are watched, so a change wakes it; the
/// requeue is a fallback, the cadence of measured re-sizing, and the end of a revocation's grace.
pub fn requeue(
    tenancy: &Tenancy,
    outcome: &Outcome,
    status: &TenancyStatus,
    config: &Config,
    now: DateTime<Utc>,
) -> Action {
    match outcome {
        Outcome::Rejected(_, Revocation::Due { at, .. }) => {
            let left = (*at - now).to_std().unwrap_or_default();
            return Action::requeue(left + Duration::from_secs(1));
        }
        Outcome::Decided(_) => return Action::requeue(Duration::ZERO),
        Outcome::Pending(_, Wait::Nodes) => return Action::await_change(),
        Outcome::Applied(p) if p.stranded => return Action::requeue(config.pending_retry),
        _ => {}
    }
    match status.phase {
        // Looked at again now and then: an Agency deleted elsewhere may lift the rejection.
        Some(Phase::Rejected) => Action::requeue(config.resync * 4),
        Some(Phase::Pending) => Action::requeue(config.pending_retry),
        Some(Phase::Running) if tenancy.spec.sizing == Sizing::Measured => {
            Action::requeue(config.resync)
        }
        Some(Phase::Running) => Action::requeue(config.resync * 4),
        _ => Action::requeue(Duration::from_secs(5)),
    }
}

/// The condition of `type_` in a status, if any.
pub fn condition<'a>(status: &'a TenancyStatus, type_: &str) -> Option<&'a Condition> {
    crate::k8s::status::condition(&status.conditions, type_)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use colo_api::Placement;
    use std::collections::BTreeMap;

    fn tenancy(old: serde_json::Value) -> Tenancy {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "colo.dev/v1alpha1", "kind": "Tenancy",
            "metadata": {"name": "t", "namespace": "ns", "generation": 3},
            "spec": {"agency": "a", "classification": "OFFICIAL", "workloads": [
                {"name": "api", "image": "i", "replicas": 2, "cpu": "1", "memory": "1Gi"}]},
            "status": old
        }))
        .unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
    }

    fn placed(ready: i32, reasons: &[&str]) -> Outcome {
        let placement = Placement {
            cluster: "north-1".into(),
            site: "north-dc".into(),
            workload: "api".into(),
            replicas: 2,
            requests: None,
        };
        Outcome::Applied(Applied {
            decided: Decided {
                placements: vec![placement.clone()],
                nodes: vec![],
                explanation: "Placed on north-1.".into(),
                ..Default::default()
            },
            review: Review {
                placements: vec![placement],
                ..Default::default()
            },
            stranded: false,
            availability: Availability {
                ready: BTreeMap::from([("api".to_string(), ready)]),
                reasons: reasons.iter().map(|r| r.to_string()).collect(),
                settled: true,
                ..Default::default()
            },
        })
    }

    #[test]
    fn a_rejection_keeps_only_the_accepted_condition() {
        let old = serde_json::json!({"phase": "Running", "conditions": [
            {"type": "Available", "status": "True", "reason": "Available", "message": "2 of 2"}]});
        let outcome = Outcome::Rejected(Rejection("no agency".into()), Revocation::Nothing);
        let s = compute(&tenancy(old), &outcome, now());
        assert_eq!(s.phase, Some(Phase::Rejected));
        assert_eq!(s.explanation.as_deref(), Some("Rejected: no agency."));
        assert_eq!(s.conditions.len(), 1);
        assert_eq!(s.conditions[0].status, "False");
        assert!(s.placements.is_empty());
        assert_eq!(s.observed_generation, Some(3));
    }

    #[test]
    fn pending_says_what_it_waits_for() {
        for (wait, reason) in [
            (Wait::Room, "NoRoom"),
            (Wait::Nodes, "TooLarge"),
            (Wait::Cluster, "ClusterNotFound"),
        ] {
            let s = compute(
                &tenancy(serde_json::json!({})),
                &Outcome::Pending("full".into(), wait),
                now(),
            );
            assert_eq!(s.phase, Some(Phase::Pending));
            let placed = condition(&s, "Placed").unwrap();
            assert_eq!(
                (placed.status.as_str(), placed.reason.as_str()),
                ("False", reason)
            );
            assert_eq!(condition(&s, "Accepted").unwrap().status, "True");
        }
    }

    #[test]
    fn placed_until_every_replica_is_up_then_running_then_degraded() {
        let fresh = compute(&tenancy(serde_json::json!({})), &placed(1, &[]), now());
        assert_eq!(fresh.phase, Some(Phase::Placed));
        assert_eq!(fresh.clusters.as_deref(), Some("north-1"));
        assert_eq!(
            condition(&fresh, "Available").unwrap().message,
            "1 of 2 replicas available"
        );
        let up = compute(&tenancy(serde_json::json!({})), &placed(2, &[]), now());
        assert_eq!(up.phase, Some(Phase::Running));
        let was = serde_json::json!({"phase": "Running"});
        let down = compute(&tenancy(was), &placed(1, &["north-1: quota"]), now());
        assert_eq!(down.phase, Some(Phase::Degraded));
        assert_eq!(
            condition(&down, "Available").unwrap().message,
            "1 of 2 replicas available (north-1: quota)"
        );
    }

    #[test]
    fn shortfalls_are_explained_once_a_rollout_had_time() {
        let placed_at = |t: &str| {
            tenancy(serde_json::json!({"phase": "Placed", "conditions": [
                {"type": "Placed", "status": "True", "reason": "Placed", "message": "",
                 "lastTransitionTime": t}]}))
        };
        assert!(!explain_shortfall(
            &placed_at("2026-11-27T11:59:50Z"),
            now()
        ));
        assert!(explain_shortfall(&placed_at("2026-11-27T11:59:00Z"), now()));
        assert!(explain_shortfall(
            &tenancy(serde_json::json!({"phase": "Degraded"})),
            now()
        ));
    }

    #[test]
    fn requeue_follows_the_phase() {
        let config = Config::default();
        let t = tenancy(serde_json::json!({}));
        let status = |phase| TenancyStatus {
            phase: Some(phase),
            ..Default::default()
        };
        let rejected = Outcome::Rejected(Rejection("r".into()), Revocation::Nothing);
        let pending = Outcome::Pending("full".into(), Wait::Room);
        let too_large = Outcome::Pending("huge".into(), Wait::Nodes);
        let no_cluster = Outcome::Pending("pinned".into(), Wait::Cluster);
        let again = |o: &Outcome, p| requeue(&t, o, &status(p), &config, now());
        assert_eq!(
            again(&no_cluster, Phase::Pending),
            Action::requeue(config.pending_retry)
        );
        assert_eq!(
            again(&rejected, Phase::Rejected),
            Action::requeue(config.resync * 4)
        );
        assert_eq!(
            again(&pending, Phase::Pending),
            Action::requeue(config.pending_retry)
        );
        assert_eq!(
            again(&placed(2, &[]), Phase::Running),
            Action::requeue(config.resync * 4)
        );
        assert_eq!(again(&too_large, Phase::Pending), Action::await_change());
        let mut stranded = placed(1, &["north-1: the API server has not answered"]);
        if let Outcome::Applied(p) = &mut stranded {
            p.stranded = true;
        }
        assert_eq!(
            again(&stranded, Phase::Degraded),
            Action::requeue(config.pending_retry),
            "a DualSite tenancy that cannot re-spread does not ask the planner every 5 s"
        );
        let due = Outcome::Rejected(
            Rejection("r".into()),
            Revocation::Due {
                at: now() + chrono::Duration::seconds(9),
                clusters: ["north-1".to_string()].into(),
            },
        );
        assert_eq!(
            again(&due, Phase::Rejected),
            Action::requeue(Duration::from_secs(10))
        );
    }

    #[test]
    fn a_revocation_says_where_and_when() {
        let due = Outcome::Rejected(
            Rejection("namespace dvla is not owned by agency dvla".into()),
            Revocation::Due {
                at: now() + chrono::Duration::minutes(5),
                clusters: ["north-1".to_string(), "south-1".to_string()].into(),
            },
        );
        let s = compute(&tenancy(serde_json::json!({})), &due, now());
        assert_eq!(
            s.explanation.as_deref(),
            Some(
                "Rejected: namespace dvla is not owned by agency dvla. Its copies in north-1, south-1 are removed at 2026-11-27T12:05:00Z unless this is corrected."
            )
        );
    }
}
