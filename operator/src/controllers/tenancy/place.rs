//! The place step: a tenancy keeps the placement confirmed for its placement spec (an edit
//! that changes neither resources nor constraints keeps it); otherwise the planner decides,
//! in the batch the request joins. A pin to a cluster that does not exist waits for it.

use colo_api::Tenancy;

use super::failover;

use crate::context::Context;
use crate::k8s::digest;
use crate::k8s::keys::TenancyKey;
use crate::planner::{Decision, PlannerError};
use crate::state::Decided;

pub enum Placing {
    /// Confirmed before for this placement spec.
    Kept(Decided),
    /// Confirmed before, with part of it on a member lost past the failover grace, and no
    /// placement now that avoids that member: kept (the rest serves), and why it cannot move.
    Stranded(Decided, String),
    /// Decided by the planner for this placement spec, not yet applied: apply it now.
    Assumed(Decided),
    /// Decided now by the planner (assumed until applied): record it, apply it next time.
    New(Decided),
    /// No room now, or nowhere it may go yet: the reason.
    Unplaced(String),
    /// The engine cannot represent it: the field and the problem.
    Refused(String),
    /// A replica is larger than every node it may use: the reason.
    TooLarge(String),
    /// Its `spec.cluster` names no SharedCluster: the reason.
    NoSuchCluster(String),
}

pub async fn placement(
    tenancy: &Tenancy,
    key: &TenancyKey,
    ctx: &Context,
) -> Result<Placing, PlannerError> {
    let spec = digest::placement(&tenancy.spec);
    // A decision not yet applied comes first: the planner's, or a consolidation's move.
    if let Some(assumed) = ctx.state.assumed(key).filter(|a| a.spec_digest == spec) {
        return Ok(Placing::Assumed(assumed));
    }
    // Kept only when it places every replica (a crash may have left half of it applied);
    // member objects from before placement specs were stamped are kept if they fit.
    let kept = ctx.state.confirmed(key).filter(|c| {
        let stamped = c.decided.spec_digest == spec;
        let legacy = c.decided.spec_digest.is_empty() && within(tenancy, &c.decided);
        (stamped || legacy) && complete(tenancy, &c.decided)
    });
    let stranded = match kept {
        Some(c) if !failover::lost(ctx, tenancy, &c.decided) => {
            return Ok(Placing::Kept(c.decided));
        }
        Some(c) => Some(c.decided),
        None => None,
    };
    if let Some(pin) = &tenancy.spec.cluster
        && ctx.hub_cluster(pin).is_none()
    {
        return Ok(Placing::NoSuchCluster(format!(
            "spec.cluster names {pin}, which is not a SharedCluster; it is placed when one by that name exists"
        )));
    }
    let decision = ctx.planner.place(key).await?;
    if let Some((kept, why)) = failover::strand(tenancy, stranded.as_ref(), &decision) {
        return Ok(Placing::Stranded(kept, why));
    }
    Ok(match decision {
        Decision::Placed { decided } => Placing::New(decided),
        Decision::Unplaced { reason } => Placing::Unplaced(reason),
        Decision::Refused { reason } => Placing::Refused(reason),
        Decision::TooLarge { reason } => Placing::TooLarge(reason),
    })
}

/// True when `decided` places every replica of every workload, and nothing else.
fn complete(tenancy: &Tenancy, decided: &Decided) -> bool {
    let known = decided
        .placements
        .iter()
        .all(|p| tenancy.spec.workloads.iter().any(|w| w.name == p.workload));
    let all = tenancy.spec.workloads.iter().all(|w| {
        let here = decided.placements.iter().filter(|p| p.workload == w.name);
        here.map(|p| p.replicas).sum::<i32>() == w.replicas
    });
    known && all
}

/// True when no placement asks more than its workload does.
fn within(tenancy: &Tenancy, decided: &Decided) -> bool {
    decided.placements.iter().all(|p| {
        let Some(w) = tenancy.spec.workloads.iter().find(|w| w.name == p.workload) else {
            return false;
        };
        let Some(r) = &p.requests else { return false };
        r.cpu.cpu_millis().ok() <= w.cpu.cpu_millis().ok()
            && r.memory.bytes().ok() <= w.memory.bytes().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use colo_api::{Placement, Quantity, Resources};

    fn tenancy() -> Tenancy {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "colo.dev/v1alpha1", "kind": "Tenancy",
            "metadata": {"name": "t", "namespace": "ns"},
            "spec": {"agency": "a", "classification": "OFFICIAL", "resilience": "DualSite",
                     "workloads": [{"name": "api", "image": "i", "replicas": 3, "cpu": "100m", "memory": "64Mi"}]}
        }))
        .unwrap()
    }

    fn on(cluster: &str, replicas: i32, cpu: &str) -> Placement {
        Placement {
            cluster: cluster.into(),
            site: String::new(),
            workload: "api".into(),
            replicas,
            requests: Some(Resources {
                cpu: Quantity::new(cpu),
                memory: Quantity::new("64Mi"),
            }),
        }
    }

    fn decided(placements: Vec<Placement>) -> Decided {
        Decided {
            placements,
            ..Default::default()
        }
    }

    #[test]
    fn half_of_a_dual_site_placement_is_not_kept() {
        let t = tenancy();
        assert!(!complete(&t, &decided(vec![on("north-1", 2, "100m")])));
        assert!(complete(
            &t,
            &decided(vec![on("north-1", 2, "100m"), on("south-1", 1, "100m")])
        ));
        assert!(within(&t, &decided(vec![on("north-1", 2, "50m")])));
        assert!(!within(&t, &decided(vec![on("north-1", 2, "200m")])));
    }
}
