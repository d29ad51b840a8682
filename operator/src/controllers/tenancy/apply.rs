//! The apply step: the tenancy's member objects where it is placed, and its copies removed
//! from clusters it left (after the new ones are applied). The placement is assumed while
//! this runs, confirmed when it succeeds and forgotten when it fails; unchanged member objects
//! are applied again only every `drift_repair`, to repair drift.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use colo_api::{Agency, Placement, SharedCluster, Tenancy};
use kube::{Client, ResourceExt};

use super::Error;
use super::materialise::{self, Space};
use crate::context::Context;
use crate::k8s::keys::TenancyKey;
use crate::state::Decided;

/// Applies `sized` (the decided placement with the sizes to apply); returns the client of
/// each cluster the tenancy is placed in.
pub async fn apply(
    ctx: &Context,
    tenancy: &Tenancy,
    agency: &Agency,
    sized: &Decided,
    clusters: &[SharedCluster],
    now: DateTime<Utc>,
) -> Result<Vec<(String, Client)>, Error> {
    let key = TenancyKey::of(tenancy);
    let by_cluster = by_cluster(&sized.placements);
    let current = ctx.state.confirmed(&key).is_some_and(|c| {
        c.generation == tenancy.metadata.generation
            && c.decided.placements == sized.placements
            && (now - c.at).to_std().unwrap_or_default() < ctx.config.drift_repair
    });
    let mut members = Vec::new();
    for name in by_cluster.keys() {
        let cluster = find(clusters, name)?;
        members.push((name.to_string(), connect(ctx, cluster).await?));
    }
    if current {
        return Ok(members);
    }
    ctx.state.assume(&key, sized.clone());
    let written = write(ctx, tenancy, agency, &by_cluster, &members, clusters, now).await;
    match written {
        Ok(()) => ctx
            .state
            .confirm(&key, sized.clone(), tenancy.metadata.generation, now),
        Err(_) => ctx.state.forget(&key),
    }
    written.map(|()| members)
}

async fn write(
    ctx: &Context,
    tenancy: &Tenancy,
    agency: &Agency,
    by_cluster: &BTreeMap<&str, Vec<&Placement>>,
    members: &[(String, Client)],
    clusters: &[SharedCluster],
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let lock = ctx.agency_lock(&agency.name_any());
    let _held = lock.lock().await;
    let quotas = ctx.state.quotas(&agency.name_any());
    let manager = &ctx.config.field_manager;
    for (name, client) in members {
        let fail = |source| Error::Apply {
            cluster: name.clone(),
            source,
        };
        let quota = quotas.get(name).copied().unwrap_or_default();
        apply_space(ctx, client, name, agency, quota, now)
            .await
            .map_err(fail)?;
        materialise::workloads(client, manager, tenancy, &by_cluster[name.as_str()])
            .await
            .map_err(fail)?;
    }
    // Clusters it left: the new copies are applied first.
    for name in stale_clusters(ctx, tenancy, by_cluster) {
        let Ok(cluster) = find(clusters, &name) else {
            continue;
        };
        let client = connect(ctx, cluster).await?;
        let fail = |source| Error::Apply {
            cluster: name.clone(),
            source,
        };
        materialise::remove(&client, &TenancyKey::of(tenancy), &agency.name_any())
            .await
            .map_err(fail)?;
        let quota = quotas.get(&name).copied().unwrap_or_default();
        apply_space(ctx, &client, &name, agency, quota, now)
            .await
            .map_err(fail)?;
    }
    Ok(())
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

/// Clusters where the tenancy may still have copies but is no longer placed: where it was
/// confirmed, where its status said it was, and where Colo's Deployments of it are seen.
fn stale_clusters(
    ctx: &Context,
    tenancy: &Tenancy,
    by_cluster: &BTreeMap<&str, Vec<&Placement>>,
) -> BTreeSet<String> {
    let key = TenancyKey::of(tenancy);
    let mut was: BTreeSet<String> = tenancy
        .status
        .iter()
        .flat_map(|s| s.placements.iter().map(|p| p.cluster.clone()))
        .collect();
    if let Some(c) = ctx.state.confirmed(&key) {
        was.extend(c.decided.placements.iter().map(|p| p.cluster.clone()));
    }
    if let Some(cache) = ctx.observer.cache() {
        was.extend(cache.deployed_in(&key));
    }
    was.retain(|c| !by_cluster.contains_key(c.as_str()));
    was
}

fn by_cluster(placements: &[Placement]) -> BTreeMap<&str, Vec<&Placement>> {
    placements.iter().fold(BTreeMap::new(), |mut m, p| {
        m.entry(p.cluster.as_str()).or_default().push(p);
        m
    })
}

pub fn find<'a>(clusters: &'a [SharedCluster], name: &str) -> Result<&'a SharedCluster, Error> {
    clusters
        .iter()
        .find(|c| c.name_any() == name)
        .ok_or_else(|| Error::NoCluster(name.to_string()))
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
