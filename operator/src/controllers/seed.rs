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
use crate::state::{Confirmed, Decided, placement_spec};

/// What the members say of one tenancy.
#[derive(Default)]
struct Seen {
    agency: String,
    placements: Vec<Placement>,
    /// When each placement's Deployment was created (seconds), beside `placements`.
    created: Vec<i64>,
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
        // Copies of the same spec in more places than it asks for: a move (a failover) whose
        // old copies were not removed yet. The newest are the placement; the older go.
        let tenancy = ctx.hub_tenancy(&key);
        let same_spec = tenancy
            .as_ref()
            .is_some_and(|t| !spec.is_empty() && placement_spec(&t.spec) == spec);
        let placements = match (&tenancy, same_spec) {
            (Some(t), true) => newest_copies(s.placements, &s.created, &asked(t)),
            _ => s.placements,
        };
        let confirmed = Confirmed {
            decided: Decided {
                placements,
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
    s.created.push(
        d.metadata
            .creation_timestamp
            .as_ref()
            .map_or(0, |t| t.0.as_second()),
    );
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

/// Replicas asked per workload.
fn asked(tenancy: &colo_api::Tenancy) -> BTreeMap<String, i32> {
    tenancy
        .spec
        .workloads
        .iter()
        .map(|w| (w.name.clone(), w.replicas))
        .collect()
}

/// Per workload, the newest copies until they hold the replicas asked; older ones are left
/// out (so they are retired, make-before-break having been done by whoever made the newer).
fn newest_copies(
    placements: Vec<Placement>,
    created: &[i64],
    asked: &BTreeMap<String, i32>,
) -> Vec<Placement> {
    let mut by_age: Vec<(i64, Placement)> = created.iter().copied().zip(placements).collect();
    by_age.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cluster.cmp(&b.1.cluster)));
    let mut held: BTreeMap<String, i32> = BTreeMap::new();
    let mut kept = Vec::new();
    for (_, p) in by_age {
        let have = held.entry(p.workload.clone()).or_default();
        let want = asked.get(&p.workload).copied().unwrap_or(i32::MAX);
        if *have < want {
            *have += p.replicas;
            kept.push(p);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(cluster: &str, workload: &str, replicas: i32) -> Placement {
        Placement {
            cluster: cluster.into(),
            site: format!("{cluster}-dc"),
            workload: workload.into(),
            replicas,
            requests: None,
        }
    }

    #[test]
    fn the_newest_copies_of_a_moved_tenancy_are_its_placement() {
        let asked = BTreeMap::from([("api".to_string(), 1)]);
        let moved = newest_copies(
            vec![copy("north-1", "api", 1), copy("south-1", "api", 1)],
            &[100, 200],
            &asked,
        );
        assert_eq!(moved, [copy("south-1", "api", 1)]);
    }

    #[test]
    fn copies_that_add_up_to_what_is_asked_are_all_kept() {
        let asked = BTreeMap::from([("api".to_string(), 4), ("worker".to_string(), 1)]);
        let split = vec![
            copy("north-1", "api", 2),
            copy("south-1", "api", 2),
            copy("north-1", "worker", 1),
        ];
        let kept = newest_copies(split.clone(), &[100, 300, 200], &asked);
        assert_eq!(kept.len(), 3);
        for p in &split {
            assert!(kept.contains(p));
        }
    }
}
