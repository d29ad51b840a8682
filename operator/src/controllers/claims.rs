//! Who owns a hub namespace: of the Agencies that list it, the one that listed it first
//! (created first; by name when created in the same second). A later claim is refused.

use std::sync::Arc;

use colo_api::Agency;
use kube::ResourceExt;

/// The Agency that owns `namespace`, if any lists it.
pub fn owner<'a>(namespace: &str, agencies: &'a [Arc<Agency>]) -> Option<&'a Agency> {
    agencies
        .iter()
        .filter(|a| a.spec.namespaces.iter().any(|n| n == namespace))
        .min_by_key(|a| (a.metadata.creation_timestamp.clone(), a.name_any()))
        .map(|a| &**a)
}

/// The namespaces `agency` lists that another Agency owns, with their owners.
pub fn refused(agency: &Agency, agencies: &[Arc<Agency>]) -> Vec<(String, String)> {
    agency
        .spec
        .namespaces
        .iter()
        .filter_map(|n| {
            let owner = owner(n, agencies)?;
            (owner.name_any() != agency.name_any()).then(|| (n.clone(), owner.name_any()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agency(name: &str, created: &str, namespaces: &[&str]) -> Arc<Agency> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "colo.dev/v1alpha1", "kind": "Agency",
                "metadata": {"name": name, "creationTimestamp": created},
                "spec": {"displayName": name, "costCentre": "C", "namespaces": namespaces,
                         "maxClassification": "OFFICIAL"}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn the_first_to_list_a_namespace_owns_it() {
        let agencies = [
            agency("squatter", "2026-11-27T12:00:00Z", &["dvla", "own"]),
            agency("dvla", "2026-11-01T12:00:00Z", &["dvla"]),
        ];
        assert_eq!(owner("dvla", &agencies).unwrap().name_any(), "dvla");
        assert_eq!(owner("own", &agencies).unwrap().name_any(), "squatter");
        assert!(owner("nobody", &agencies).is_none());
        assert_eq!(
            refused(&agencies[0], &agencies),
            [("dvla".to_string(), "dvla".to_string())]
        );
        assert!(refused(&agencies[1], &agencies).is_empty());
    }
}
