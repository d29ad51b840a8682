//! What a starting leader learns before its first reconcile: where every tenancy runs, from
//! Colo's labelled Deployments in the member clusters (never from any status), so that the
//! agencies' quotas sum every tenancy from the first reconcile on. Seeded placements count as
//! applied long ago, so each is applied again on its tenancy's first reconcile.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use colo_api::{Placement, Resources, SharedCluster};
use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;

use crate::context::Context;
use crate::k8s::keys::TenancyKey;
use crate::k8s::labels;
use crate::state::{Confirmed, Decided};

/// What the members say of one tenancy.
#[derive(Default)]
struct Seen {
    agency: String,
    placements: Vec<Placement>,
    specs: Vec<String>,
    generations: Vec<i64>,
    explanation: String,
}

pub async fn from_members(ctx: &Context) {
    let Some(cache) = ctx.observer.cache() else {
        return;
    };
    let mut seen: BTreeMap<TenancyKey, Seen> = BTreeMap::new();
    for cluster in ctx.hub_clusters() {
        let name = cluster.name_any();
        if let Err(e) = ctx.observer.connect(&cluster).await {
            tracing::warn!(cluster = %name, error = %e, "not seeded from this member");
            continue;
        }
        let wait = ctx.config.member_timeout;
        let Some(deployments) = cache.deployments(&name, wait).await else {
            tracing::warn!(cluster = %name, "its Deployments did not list in time; not seeded from it");
            continue;
        };
        for d in &deployments {
            note(&mut seen, &cluster, d);
        }
    }
    for (key, s) in seen {
        let spec = match s.specs.iter().all(|x| *x == s.specs[0]) {
            true => s.specs[0].clone(),
            false => String::new(),
        };
        let confirmed = Confirmed {
            decided: Decided {
                placements: s.placements,
                nodes: Vec::new(),
                explanation: s.explanation,
                spec,
            },
            generation: s.generations.iter().min().copied(),
            at: DateTime::<Utc>::UNIX_EPOCH,
        };
        ctx.state.seed(&key, &s.agency, confirmed);
    }
}

fn note(seen: &mut BTreeMap<TenancyKey, Seen>, cluster: &SharedCluster, d: &Deployment) {
    let Some((key, workload)) = labels::workload_of(d.labels()) else {
        return;
    };
    let annotation = |name: &str| d.annotations().get(name).cloned().unwrap_or_default();
    let s = seen.entry(key).or_default();
    s.agency = d
        .labels()
        .get(labels::AGENCY_LABEL)
        .cloned()
        .unwrap_or_default();
    s.specs.push(annotation(labels::PLACEMENT_SPEC_ANNOTATION));
    s.generations.push(
        annotation(labels::GENERATION_ANNOTATION)
            .parse()
            .unwrap_or(0),
    );
    s.explanation = annotation(labels::EXPLANATION_ANNOTATION);
    let spec = d.spec.as_ref();
    let requests = spec
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.resources.as_ref())
        .and_then(|r| r.requests.as_ref());
    let quantity = |k: &str| {
        requests
            .and_then(|r| r.get(k))
            .map(|q| colo_api::Quantity::new(q.0.clone()))
    };
    s.placements.push(Placement {
        cluster: cluster.name_any(),
        site: cluster.spec.site.clone(),
        workload,
        replicas: spec.and_then(|s| s.replicas).unwrap_or(1),
        requests: match (quantity("cpu"), quantity("memory")) {
            (Some(cpu), Some(memory)) => Some(Resources { cpu, memory }),
            _ => None,
        },
    });
}
