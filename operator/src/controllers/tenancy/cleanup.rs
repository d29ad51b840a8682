//! The finalizer's step: a deleted tenancy's Deployments and Services go from every member
//! cluster (not only those in its status, so a crash between apply and status leaves nothing
//! behind), and the agency's quota shrinks where it was.

use std::sync::Arc;

use colo_api::{Agency, Tenancy};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::Error;
use super::apply::{apply_space, connect};
use super::materialise;
use crate::context::Context;
use crate::k8s::events::Kind;
use crate::k8s::keys::TenancyKey;

pub async fn cleanup(tenancy: Arc<Tenancy>, ctx: &Context) -> Result<Action, Error> {
    let key = TenancyKey::of(&tenancy);
    let agency_name = tenancy.spec.agency.clone();
    let lock = ctx.agency_lock(&agency_name);
    let _held = lock.lock().await;
    let was_in = super::apply::copies(ctx, &key);
    ctx.state.clear_placement(&key);
    let agency = Api::<Agency>::all(ctx.client.clone())
        .get_opt(&agency_name)
        .await
        .map_err(Error::Observe)?;
    let quotas = ctx.state.quotas(&agency_name);
    let now = ctx.clock.now();
    for cluster in ctx.hub_clusters() {
        let name = cluster.name_any();
        let client = connect(ctx, &cluster).await?;
        let fail = |source| Error::Cleanup {
            cluster: name.clone(),
            source,
        };
        materialise::remove(&client, &key, &agency_name)
            .await
            .map_err(fail)?;
        // The quota shrinks where it was (to nothing if it was the agency's last there).
        let was_here = was_in.contains(&name);
        let quota = quotas.get(&name).copied().or(was_here.then_some((0, 0)));
        if let (Some(agency), Some(quota)) = (&agency, quota) {
            apply_space(ctx, &client, &name, agency, quota, now)
                .await
                .map_err(fail)?;
        }
    }
    ctx.state.untrack(&key);
    if !was_in.is_empty() {
        let note = "removed from every member cluster";
        ctx.events
            .publish(&*tenancy, Kind::Normal, "CleanedUp", note)
            .await;
    }
    Ok(Action::await_change())
}
