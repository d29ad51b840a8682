//! Hard constraints between a tenancy and a cluster, each failure with a reason people read.

use crate::estate::{Cluster, Estate, Tenancy};

/// Why `tenancy` may not run on `cluster` at all, or None when it may.
pub fn exclusion(estate: &Estate, tenancy: &Tenancy, cluster_index: usize) -> Option<String> {
    let cluster: &Cluster = &estate.clusters[cluster_index];
    if let Some(pinned) = tenancy.pinned.filter(|&p| p != cluster_index) {
        return Some(format!(
            "the tenancy is pinned to {}",
            estate.clusters[pinned].name
        ));
    }
    if let Some(why) = &cluster.unavailable {
        return Some(why.clone());
    }
    if cluster.classification < tenancy.classification {
        return Some(format!(
            "accredited to {} only, the tenancy is {}",
            cluster.classification.as_str(),
            tenancy.classification.as_str()
        ));
    }
    if !tenancy.regions.is_empty() && !tenancy.regions.contains(&cluster.region) {
        return Some(format!(
            "region {} is outside the tenancy's regions ({})",
            cluster.region,
            tenancy.regions.join(", ")
        ));
    }
    if cluster.cordoned {
        return Some("cordoned".into());
    }
    if cluster.nodes.is_empty() {
        return Some("has no nodes".into());
    }
    None
}

/// The agency's clearance must cover the tenancy (checked by the operator on the hub too).
pub fn clearance_exclusion(estate: &Estate, tenancy: &Tenancy) -> Option<String> {
    let agency = &estate.agencies[tenancy.agency];
    (tenancy.classification > agency.clearance).then(|| {
        format!(
            "the tenancy is {} but agency {} is cleared to {} only",
            tenancy.classification.as_str(),
            agency.name,
            agency.clearance.as_str()
        )
    })
}

/// Most replicas of a DualSite workload one site may hold: ceil(replicas / 2).
pub fn per_site_limit(replicas: u32) -> u32 {
    replicas.div_ceil(2)
}
