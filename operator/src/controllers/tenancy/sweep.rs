//! Copies left in a member that should not be there: of a tenancy gone from the hub (deleted
//! while the member did not answer: the finalizer does not wait for it), or of one placed
//! elsewhere meanwhile (the member was down when the operator started, so its copies were not
//! seen, and the tenancy was placed again). Each reconcile of a reachable SharedCluster removes
//! them, so nothing runs twice once a member is back.

use colo_api::SharedCluster;
use kube::ResourceExt;

use super::materialise;
use crate::context::Context;

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
