//! The finalizer's step: a deleted tenancy's Deployments and Services go from every member
//! cluster that answers (not only those in its status, so a crash between apply and status
//! leaves nothing behind), and the agency's quota shrinks where it was. A member that does not
//! answer (its site is dark, its kubeconfig Secret is missing) does not hold the delete up:
//! what is left there is removed when it answers again (`sweep.rs`).

use std::sync::Arc;

use colo_api::{Agency, Tenancy};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::Error;
use super::apply::apply_space;
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
    let mut left = Vec::new();
    for cluster in ctx.hub_clusters() {
        let name = cluster.name_any();
        let client = match ctx.answering_member(&cluster).await {
            Ok(client) => client,
            Err(why) => {
                tracing::warn!(cluster = %name, tenancy = %key, %why, "clean-up left for when it answers");
                left.push(name);
                continue;
            }
        };
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
        ctx.events
            .publish(
                &*tenancy,
                Kind::Normal,
                "CleanedUp",
                &cleaned(&was_in, &left),
            )
            .await;
    }
    Ok(Action::await_change())
}

fn cleaned(was_in: &std::collections::BTreeSet<String>, left: &[String]) -> String {
    let stranded: Vec<&str> = left
        .iter()
        .filter(|c| was_in.contains(*c))
        .map(String::as_str)
        .collect();
    if stranded.is_empty() {
        return "removed from every member cluster".into();
    }
    format!(
        "removed from every member cluster that answers; {} does not answer now, and its copies there are removed when it does",
        stranded.join(", ")
    )
}
