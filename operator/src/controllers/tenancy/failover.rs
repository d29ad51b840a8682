//! Failover: what a dark member means for a tenancy, in one place. Detection is the
//! observer's (`observe/reach.rs`: a member that misses its heartbeat is dark, and the
//! SharedCluster controller reconciles its tenancies at once); the consequences are here:
//!
//! - **placement**: a tenancy free to move that is placed on a member dark for longer than the
//!   failover grace is *lost* there and placed again on what is left ([`lost`]); a `DualSite`
//!   one with nowhere to go keeps serving from its other site, *stranded* ([`strand`]);
//! - **apply**: copies on a dark member are not touched (removing them needs the member), and
//!   the placement they belong to stays counted in quotas until they are gone ([`split_dark`]);
//! - **return**: when the member answers again, copies left there that should not be (a
//!   tenancy deleted, or placed elsewhere, meanwhile) are removed ([`orphans`]), before it
//!   takes new placements (it settles first: `reach`).
//!
//! docs/operator.md "Site loss" walks it end to end.

use std::collections::BTreeSet;

use colo_api::{Resilience, SharedCluster, Tenancy};
use kube::ResourceExt;

use super::materialise;
use crate::context::Context;
use crate::planner::Decision;
use crate::state::Decided;

/// True when a tenancy free to move is placed on a member whose outage has lasted longer than
/// the failover grace: it is placed again, on what is left (a `DualSite` one only where a
/// third site qualifies, else it serves from its other site; a pinned one cannot move).
pub fn lost(ctx: &Context, tenancy: &Tenancy, decided: &Decided) -> bool {
    tenancy.spec.cluster.is_none()
        && decided.placements.iter().any(|p| {
            ctx.observer
                .reach
                .dark_for(&p.cluster)
                .is_some_and(|d| d >= ctx.config.failover_grace)
        })
}

/// The planner found no placement for a tenancy lost on a member: a `DualSite` one keeps the
/// placement it has (the other site serves), with why it cannot move; None otherwise.
pub fn strand(
    tenancy: &Tenancy,
    on_lost: Option<&Decided>,
    decision: &Decision,
) -> Option<(Decided, String)> {
    let reason = match decision {
        Decision::Unplaced { reason } | Decision::TooLarge { reason } => reason,
        _ => return None,
    };
    let kept = on_lost.filter(|_| tenancy.spec.resilience == Resilience::DualSite)?;
    Some((kept.clone(), reason.clone()))
}

/// Splits `clusters` into those that answer and those that are dark now.
pub fn split_dark(
    ctx: &Context,
    clusters: BTreeSet<String>,
) -> (BTreeSet<String>, BTreeSet<String>) {
    clusters
        .into_iter()
        .partition(|c| ctx.observer.reach.status(c).is_ok())
}

/// Removes the Deployments and Services of tenancies that no longer exist on the hub; returns
/// how many tenancies' copies went.
pub async fn orphans(ctx: &Context, cluster: &SharedCluster) -> usize {
    let name = cluster.name_any();
    let Some(cache) = ctx.observer.cache() else {
        return 0;
    };
    let Ok(client) = ctx.answering_member(cluster).await else {
        return 0;
    };
    let mut removed = 0;
    for (key, agency) in cache.tenancies_in(&name) {
        // Kept: a tenancy whose placement (or the one it is replacing) is here, and one this
        // process has decided nothing for yet.
        let placed_elsewhere = ctx.state.may_hold(&key, &name) == Some(false);
        if ctx.hub_has_tenancy(&key) && !placed_elsewhere {
            continue;
        }
        match materialise::remove(&client, &key, &agency).await {
            Ok(()) => {
                tracing::info!(cluster = %name, tenancy = %key, placed_elsewhere, "removed copies left while this member did not answer");
                removed += 1;
            }
            Err(e) => {
                tracing::warn!(cluster = %name, tenancy = %key, error = %e, "cannot remove copies of a deleted tenancy yet")
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::placements::placed;

    fn tenancy(resilience: &str) -> Tenancy {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "colo.dev/v1alpha1", "kind": "Tenancy",
            "metadata": {"name": "svc", "namespace": "dvla"},
            "spec": {"agency": "dvla", "classification": "OFFICIAL", "resilience": resilience,
                     "workloads": [{"name": "w", "image": "i", "replicas": 2,
                                    "cpu": "1", "memory": "1Gi"}]}
        }))
        .unwrap()
    }

    #[test]
    fn only_a_dual_site_tenancy_with_nowhere_to_go_is_stranded() {
        let kept = placed("south", 1, "1");
        let none = Decision::Unplaced {
            reason: "no third site".into(),
        };
        let (held, why) = strand(&tenancy("DualSite"), Some(&kept), &none).unwrap();
        assert_eq!((held, why.as_str()), (kept.clone(), "no third site"));
        assert!(strand(&tenancy("SingleSite"), Some(&kept), &none).is_none());
        assert!(
            strand(&tenancy("DualSite"), None, &none).is_none(),
            "not lost"
        );
        let elsewhere = Decision::Placed {
            decided: placed("west", 2, "1"),
        };
        assert!(strand(&tenancy("DualSite"), Some(&kept), &elsewhere).is_none());
    }
}
