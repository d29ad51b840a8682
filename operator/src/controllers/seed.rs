//! What a starting leader learns before its first reconcile: where every tenancy runs, from
//! Colo's labelled Deployments in the member clusters, so that the agencies' quotas sum every
//! tenancy from the first reconcile on. Seeded placements count as applied long ago, so each
//! is applied again on its tenancy's first reconcile.
//!
//! A member that does not answer cannot be read: for it alone, a tenancy's own status says
//! what it holds there (only where the tenancy may run at all), so a restart during an outage
//! neither moves free tenancies before the failover grace nor turns a DualSite one serving
//! from its other site `Pending`. The worst a forged status does is misplace its own tenancy.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use colo_api::{Placement, Resources, SharedCluster};
use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;

use crate::context::Context;
use crate::k8s::digest;
use crate::k8s::keys::TenancyKey;
use crate::k8s::labels;
use crate::state::{Confirmed, Decided};

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
    let mut unread = Vec::new();
    for cluster in ctx.hub_clusters() {
        let name = cluster.name_any();
        if let Err(e) = ctx.observer.connect(&cluster).await {
            tracing::warn!(cluster = %name, error = %e, "not seeded from this member");
            unread.push(cluster);
            continue;
        }
        let wait = ctx.config.member_timeout;
        let Some(deployments) = cache.deployments(&name, wait).await else {
            tracing::warn!(cluster = %name, "its Deployments did not list in time; not seeded from it");
            unread.push(cluster);
            continue;
        };
        for d in &deployments {
            note(&mut seen, &cluster, d);
        }
    }
    for tenancy in ctx.hub_tenancies() {
        note_status(&mut seen, &tenancy, &unread);
    }
    for (key, s) in seen {
        let spec = match s.specs.first() {
            Some(first) if s.specs.iter().all(|x| x == first) => first.clone(),
            _ => String::new(),
        };
        // Copies of the same spec in more places than it asks for: a move (a failover) whose
        // old copies were not removed yet. The newest are the placement; the older go.
        let tenancy = ctx.hub_tenancy(&key);
        let same_spec = tenancy
            .as_ref()
            .is_some_and(|t| !spec.is_empty() && digest::placement(&t.spec) == spec);
        let placements = match (&tenancy, same_spec) {
            (Some(t), true) => newest_copies(s.placements, &s.created, &asked(t)),
            _ => s.placements,
        };
        let confirmed = Confirmed {
            decided: Decided {
                placements,
                nodes: Vec::new(),
                explanation: s.explanation,
                spec_digest: spec,
                standby_to_wake: Vec::new(),
            },
            generation: s.generations.iter().min().copied(),
            at: DateTime::<Utc>::UNIX_EPOCH,
            surged: false,
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
    s.specs
        .push(annotation(labels::PLACEMENT_DIGEST_ANNOTATION));
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

/// What a tenancy's status says it holds in members that could not be read, where it may run.
fn note_status(
    seen: &mut BTreeMap<TenancyKey, Seen>,
    tenancy: &colo_api::Tenancy,
    unread: &[Arc<SharedCluster>],
) {
    let Some(status) = &tenancy.status else {
        return;
    };
    let current = status.observed_generation == tenancy.metadata.generation;
    for p in &status.placements {
        let Some(cluster) = unread.iter().find(|c| c.name_any() == p.cluster) else {
            continue;
        };
        if !may_run_on(tenancy, cluster) {
            continue;
        }
        let s = seen.entry(TenancyKey::of(tenancy)).or_default();
        s.agency = tenancy.spec.agency.clone();
        if s.explanation.is_empty() {
            s.explanation = status.explanation.clone().unwrap_or_default();
        }
        s.placements.push(p.clone());
        // Oldest of all: where copies were read too, those are the placement.
        s.created.push(0);
        s.specs.push(match current {
            true => digest::placement(&tenancy.spec),
            false => String::new(),
        });
        s.generations.push(status.observed_generation.unwrap_or(0));
    }
}

/// The hard rules a status cannot bend: the pin, the cluster's accreditation, the regions.
fn may_run_on(tenancy: &colo_api::Tenancy, cluster: &SharedCluster) -> bool {
    let spec = &tenancy.spec;
    spec.cluster
        .as_ref()
        .is_none_or(|pin| *pin == cluster.name_any())
        && spec.classification <= cluster.spec.classification
        && (spec.regions.is_empty() || spec.regions.contains(&cluster.spec.region))
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

    fn member(name: &str, region: &str, classification: &str) -> Arc<SharedCluster> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "colo.dev/v1alpha1", "kind": "SharedCluster",
                "metadata": {"name": name},
                "spec": {"site": format!("{name}-dc"), "region": region,
                         "classification": classification,
                         "kubeconfigSecretRef": {"name": "k", "namespace": "colo-system"}}
            }))
            .unwrap(),
        )
    }

    /// A DualSite tenancy whose status says one replica on north-1, one on south-1.
    fn reported(extra: serde_json::Value) -> colo_api::Tenancy {
        let mut spec = serde_json::json!({
            "agency": "a", "classification": "OFFICIAL-SENSITIVE", "resilience": "DualSite",
            "workloads": [{"name": "api", "image": "i", "replicas": 2, "cpu": "100m", "memory": "64Mi"}]
        });
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        serde_json::from_value(serde_json::json!({
            "apiVersion": "colo.dev/v1alpha1", "kind": "Tenancy",
            "metadata": {"name": "t", "namespace": "ns", "generation": 3},
            "spec": spec,
            "status": {"observedGeneration": 3, "explanation": "Placed at two sites.",
                       "placements": [copy("north-1", "api", 1), copy("south-1", "api", 1)]}
        }))
        .unwrap()
    }

    #[test]
    fn a_status_speaks_only_for_members_not_read_and_only_where_the_tenancy_may_run() {
        let north = member("north-1", "uk-north", "OFFICIAL-SENSITIVE");
        let mut seen = BTreeMap::new();
        let t = reported(serde_json::json!({}));
        note_status(&mut seen, &t, std::slice::from_ref(&north));
        let s = &seen[&TenancyKey::of(&t)];
        assert_eq!(
            s.placements,
            [copy("north-1", "api", 1)],
            "south-1 was read"
        );
        assert_eq!(s.specs, [digest::placement(&t.spec)]);
        assert_eq!(s.explanation, "Placed at two sites.");
        for refused in [
            serde_json::json!({"classification": "SECRET"}),
            serde_json::json!({"regions": ["uk-south"]}),
            serde_json::json!({"cluster": "south-1"}),
        ] {
            let mut seen = BTreeMap::new();
            note_status(
                &mut seen,
                &reported(refused.clone()),
                std::slice::from_ref(&north),
            );
            assert!(seen.is_empty(), "{refused}");
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
