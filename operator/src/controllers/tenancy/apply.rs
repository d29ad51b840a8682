//! The apply step, make-before-break: the tenancy's member objects where it is placed now;
//! copies elsewhere (a cluster it left, a crash's leftovers) are retired only once the new
//! copies are available; and what a rollout held in quota is released once it has settled.
//!
//! The placement is assumed while this runs, confirmed when it succeeds and forgotten when it
//! fails. Unchanged member objects are applied again only every `drift_repair`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use colo_api::{Agency, Placement, SharedCluster, Tenancy};
use kube::{Client, ResourceExt};

use super::Error;
use super::materialise::{self, Space, Stamp};
use crate::context::Context;
use crate::k8s::digest;
use crate::k8s::keys::TenancyKey;
use crate::state::{Confirmed, Decided};

/// Applies `sized` (the decided placement with the sizes to apply); returns the client of
/// each cluster the tenancy is placed in.
pub async fn apply(
    ctx: &Context,
    tenancy: &Tenancy,
    agency: &Agency,
    sized: &Decided,
    now: DateTime<Utc>,
) -> Result<Vec<(String, Client)>, Error> {
    let key = TenancyKey::of(tenancy);
    let surged = surged(&sized.placements, ctx.state.previous(&key));
    let by_cluster = by_cluster(&surged);
    let due = ctx.state.moves().apply_due(&key);
    let current = ctx.state.confirmed(&key).is_some_and(|c| {
        c.generation == tenancy.metadata.generation
            && c.decided.placements == sized.placements
            && !c.surged
            && !due
            && (now - c.at).to_std().unwrap_or_default() < ctx.config.drift_repair
    });
    let mut members = Vec::new();
    for name in by_cluster.keys() {
        let cluster = ctx
            .hub_cluster(name)
            .ok_or_else(|| Error::NoCluster(name.to_string()))?;
        members.push((name.to_string(), connect(ctx, &cluster).await?));
    }
    if current {
        return Ok(members);
    }
    wake(ctx, tenancy, &sized.standby_to_wake, &members).await?;
    let sized = &Decided {
        standby_to_wake: Vec::new(),
        ..sized.clone()
    };
    ctx.state.assume(&key, sized.clone());
    let stamp = Stamp {
        placement_digest: digest::placement(&tenancy.spec),
        generation: tenancy.metadata.generation,
        explanation: sized.explanation.clone(),
    };
    let written = write(ctx, tenancy, agency, &by_cluster, &members, &stamp, now).await;
    match written {
        Ok(()) => ctx.state.confirm(
            &key,
            Confirmed {
                decided: sized.clone(),
                generation: tenancy.metadata.generation,
                at: now,
                surged: surged != sized.placements,
            },
        ),
        Err(_) => ctx.state.forget(&key),
    }
    written.map(|()| members)
}

/// Uncordons the standby nodes the planner chose for this placement (the fewest it needed).
async fn wake(
    ctx: &Context,
    tenancy: &Tenancy,
    nodes: &[(String, String)],
    members: &[(String, Client)],
) -> Result<(), Error> {
    for (cluster, node) in nodes {
        let Some((_, client)) = members.iter().find(|(c, _)| c == cluster) else {
            continue;
        };
        let woke = crate::k8s::nodes::uncordon(client, node)
            .await
            .map_err(|source| Error::Apply {
                cluster: cluster.clone(),
                source,
            })?;
        if woke {
            let note = format!("woke standby node {cluster}/{node}: no running node had room");
            tracing::info!(tenancy = %TenancyKey::of(tenancy), %cluster, %node, "woke a standby node");
            ctx.events
                .publish(tenancy, crate::k8s::events::Kind::Normal, "WokeNode", &note)
                .await;
        }
    }
    Ok(())
}

/// Make-before-break within a cluster the tenancy stays in: while the placement it replaces
/// is still held, a workload keeps there the replicas it had, if more, until the new
/// placement is available everywhere (then retire releases it and the next apply trims).
fn surged(placements: &[Placement], previous: Option<Decided>) -> Vec<Placement> {
    let previous = previous.map(|d| d.placements).unwrap_or_default();
    placements
        .iter()
        .map(|p| {
            let before = previous
                .iter()
                .filter(|o| o.cluster == p.cluster && o.workload == p.workload)
                .map(|o| o.replicas)
                .max()
                .unwrap_or(0);
            Placement {
                replicas: p.replicas.max(before),
                ..p.clone()
            }
        })
        .collect()
}

async fn write(
    ctx: &Context,
    tenancy: &Tenancy,
    agency: &Agency,
    by_cluster: &BTreeMap<&str, Vec<&Placement>>,
    members: &[(String, Client)],
    stamp: &Stamp,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let lock = ctx.agency_lock(&agency.name_any());
    let _held = lock.lock().await;
    let quotas = ctx.state.quotas(&agency.name_any());
    for (name, client) in members {
        let fail = |source| Error::Apply {
            cluster: name.clone(),
            source,
        };
        let quota = quotas.get(name).copied().unwrap_or_default();
        apply_space(ctx, client, name, agency, quota, now)
            .await
            .map_err(fail)?;
        let here = &by_cluster[name.as_str()];
        materialise::workloads(client, &ctx.config.field_manager, tenancy, here, stamp)
            .await
            .map_err(fail)?;
    }
    Ok(())
}

/// Once every replica of the new placement is available: copies elsewhere go, and when the
/// rollout has settled too, the previous placement is released from the agency's quotas.
pub async fn retire(
    ctx: &Context,
    tenancy: &Tenancy,
    agency: &Agency,
    placed: &[Placement],
    settled: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let key = TenancyKey::of(tenancy);
    let here: BTreeSet<&str> = placed.iter().map(|p| p.cluster.as_str()).collect();
    let stale: BTreeSet<String> = copies(ctx, &key)
        .into_iter()
        .filter(|c| !here.contains(c.as_str()))
        .collect();
    let lock = ctx.agency_lock(&agency.name_any());
    let _held = lock.lock().await;
    // A dark member's copies go when it answers again (failover::orphans); until then the
    // previous placement still counts.
    let (stale, dark) = super::failover::split_dark(ctx, stale);
    for name in &stale {
        let Some(client) = client_of(ctx, name).await? else {
            continue;
        };
        materialise::remove(&client, &key, &agency.name_any())
            .await
            .map_err(|source| Error::Apply {
                cluster: name.clone(),
                source,
            })?;
    }
    let released = if settled && dark.is_empty() {
        ctx.state.settle(&key)
    } else {
        None
    };
    if released.is_some() {
        trim(ctx, &key, &agency.name_any(), placed).await?;
    }
    if stale.is_empty() && released.is_none() {
        return Ok(());
    }
    // Quotas follow what is held now, in every cluster that changed.
    let touched: BTreeSet<String> = released
        .iter()
        .flat_map(|d| d.placements.iter().map(|p| p.cluster.clone()))
        .chain(stale)
        .chain(here.iter().map(|c| c.to_string()))
        .collect();
    shrink_quotas(ctx, agency, &touched, now).await
}

/// Once a move has settled: a workload that left a cluster the tenancy stays in goes from it.
async fn trim(
    ctx: &Context,
    key: &TenancyKey,
    agency: &str,
    placed: &[Placement],
) -> Result<(), Error> {
    for (cluster, here) in by_cluster(placed) {
        let Some(client) = client_of(ctx, cluster).await? else {
            continue;
        };
        let keep: Vec<&str> = here.iter().map(|p| p.workload.as_str()).collect();
        materialise::remove_others(&client, key, agency, &keep)
            .await
            .map_err(|source| Error::Apply {
                cluster: cluster.to_string(),
                source,
            })?;
    }
    Ok(())
}

/// Applies the agency's space, with its quota as the state holds it now, in `clusters`.
pub async fn shrink_quotas(
    ctx: &Context,
    agency: &Agency,
    clusters: &BTreeSet<String>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let quotas = ctx.state.quotas(&agency.name_any());
    for name in clusters {
        if ctx.observer.reach.status(name).is_err() {
            continue;
        }
        let Some(client) = client_of(ctx, name).await? else {
            continue;
        };
        let quota = quotas.get(name).copied().unwrap_or_default();
        apply_space(ctx, &client, name, agency, quota, now)
            .await
            .map_err(|source| Error::Apply {
                cluster: name.clone(),
                source,
            })?;
    }
    Ok(())
}

/// Why a new placement cannot be applied where it was decided: in one of its clusters the
/// agency's member namespace exists and Colo did not make it (someone else's namespace by
/// that name). Members that do not answer are not asked.
pub async fn foreign_space(
    ctx: &Context,
    agency: &str,
    decided: &Decided,
) -> Result<Option<String>, Error> {
    let namespace = crate::k8s::labels::member_namespace(agency);
    for cluster in by_cluster(&decided.placements).keys() {
        if ctx.observer.reach.status(cluster).is_err() {
            continue;
        }
        let Some(client) = client_of(ctx, cluster).await? else {
            continue;
        };
        let api = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client);
        let found = api
            .get_opt(&namespace)
            .await
            .map_err(|source| Error::Apply {
                cluster: cluster.to_string(),
                source,
            })?;
        let owner = crate::k8s::guard::Owner::Agency(agency);
        if found.is_some_and(|ns| !crate::k8s::guard::is_ours(ns.labels(), owner)) {
            let why =
                crate::k8s::plain::kube_error(&crate::k8s::guard::not_ours(&namespace, agency));
            return Ok(Some(format!("{cluster}: {why}")));
        }
    }
    Ok(None)
}

/// Every cluster that may hold a copy of the tenancy: where the state placed it, where it
/// was placed before, and where Colo's Deployments of it are seen. Never its status.
pub fn copies(ctx: &Context, key: &TenancyKey) -> BTreeSet<String> {
    let mut clusters = BTreeSet::new();
    if let Some(c) = ctx.state.confirmed(key) {
        clusters.extend(c.decided.placements.iter().map(|p| p.cluster.clone()));
    }
    if let Some(p) = ctx.state.previous(key) {
        clusters.extend(p.placements.iter().map(|p| p.cluster.clone()));
    }
    if let Some(cache) = ctx.observer.cache() {
        clusters.extend(cache.deployed_in(key));
    }
    clusters
}

/// The agency's member space in one cluster, unless it was applied as it is lately.
pub async fn apply_space(
    ctx: &Context,
    client: &Client,
    cluster: &str,
    agency: &Agency,
    quota: crate::state::Requests,
    now: DateTime<Utc>,
) -> Result<(), kube::Error> {
    let space = Space::new(agency, quota);
    let (name, print) = (agency.name_any(), space.fingerprint());
    let within = ctx.config.drift_repair;
    if ctx
        .state
        .space_is_current(cluster, &name, print, now, within)
    {
        return Ok(());
    }
    ctx.state.space_unknown(cluster, &name);
    space.apply(client, &ctx.config.field_manager).await?;
    ctx.state.space_applied(cluster, &name, print, now);
    Ok(())
}

fn by_cluster(placements: &[Placement]) -> BTreeMap<&str, Vec<&Placement>> {
    placements.iter().fold(BTreeMap::new(), |mut m, p| {
        m.entry(p.cluster.as_str()).or_default().push(p);
        m
    })
}

/// The clusters of a placement that do not answer now, each with why.
pub fn dark(ctx: &Context, placements: &[Placement]) -> Vec<(String, String)> {
    by_cluster(placements)
        .keys()
        .filter_map(|c| {
            let why = ctx.observer.reach.status(c).err()?;
            Some((c.to_string(), why))
        })
        .collect()
}

/// The clients of the clusters of a placement except `skip` (nothing is applied).
pub async fn clients_except(
    ctx: &Context,
    placements: &[Placement],
    skip: &[(String, String)],
) -> Result<Vec<(String, Client)>, Error> {
    let mut members = Vec::new();
    for name in by_cluster(placements).keys() {
        if skip.iter().any(|(c, _)| c == name) {
            continue;
        }
        if let Some(client) = client_of(ctx, name).await? {
            members.push((name.to_string(), client));
        }
    }
    Ok(members)
}

/// The client of a cluster by name (None: it is no longer a SharedCluster).
pub async fn client_of(ctx: &Context, name: &str) -> Result<Option<Client>, Error> {
    match ctx.hub_cluster(name) {
        Some(cluster) => Ok(Some(connect(ctx, &cluster).await?)),
        None => Ok(None),
    }
}

pub async fn connect(ctx: &Context, cluster: &SharedCluster) -> Result<Client, Error> {
    ctx.members
        .client(cluster)
        .await
        .map_err(|source| Error::Connect {
            cluster: cluster.name_any(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(cluster: &str, replicas: i32) -> Placement {
        Placement {
            cluster: cluster.into(),
            site: String::new(),
            workload: "api".into(),
            replicas,
            requests: None,
        }
    }

    #[test]
    fn a_cluster_keeps_its_old_replicas_until_the_move_settles() {
        let new = vec![on("north", 1), on("south", 2)];
        let previous = Decided {
            placements: vec![on("north", 3)],
            ..Default::default()
        };
        let surged = surged(&new, Some(previous));
        assert_eq!(surged, vec![on("north", 3), on("south", 2)]);
        assert_eq!(
            super::surged(&new, None),
            new,
            "nothing in flight: as decided"
        );
    }
}
