//! Validation against other objects (what admission cannot check): the Agency exists, owns
//! the Tenancy's namespace and is cleared for its classification. A rejection waits for a
//! change; it is not an error and does not loop.

use colo_api::{Agency, Tenancy};
use kube::ResourceExt;

/// Why a tenancy is rejected, as a sentence for its status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection(pub String);

pub fn validate(tenancy: &Tenancy, agency: Option<Agency>) -> Result<Agency, Rejection> {
    let namespace = tenancy.namespace().unwrap_or_default();
    let Some(agency) = agency else {
        return Err(Rejection(format!(
            "agency {:?} does not exist",
            tenancy.spec.agency
        )));
    };
    if !agency.spec.namespaces.contains(&namespace) {
        return Err(Rejection(format!(
            "namespace {namespace} is not owned by agency {} (it owns {})",
            agency.name_any(),
            agency.spec.namespaces.join(", ")
        )));
    }
    if tenancy.spec.classification > agency.spec.max_classification {
        return Err(Rejection(format!(
            "classification {} is above agency {}'s clearance {}",
            tenancy.spec.classification.as_str(),
            agency.name_any(),
            agency.spec.max_classification.as_str()
        )));
    }
    Ok(agency)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenancy(namespace: &str, classification: &str) -> Tenancy {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "colo.dev/v1alpha1", "kind": "Tenancy",
            "metadata": {"name": "t", "namespace": namespace},
            "spec": {"agency": "dvla", "classification": classification, "workloads": [
                {"name": "api", "image": "i", "replicas": 1, "cpu": "1", "memory": "1Gi"}]}
        }))
        .unwrap()
    }

    fn agency(clearance: &str) -> Agency {
        let spec = serde_json::from_value(serde_json::json!({
            "displayName": "DVLA", "costCentre": "C", "namespaces": ["dvla", "dvla-test"],
            "maxClassification": clearance
        }))
        .unwrap();
        Agency::new("dvla", spec)
    }

    #[test]
    fn an_agency_that_owns_the_namespace_and_is_cleared_accepts() {
        let accepted = validate(&tenancy("dvla-test", "OFFICIAL"), Some(agency("OFFICIAL")));
        assert_eq!(accepted.unwrap().name_any(), "dvla");
    }

    #[test]
    fn each_rejection_says_why() {
        let cases = [
            (
                tenancy("dvla", "OFFICIAL"),
                None,
                "agency \"dvla\" does not exist",
            ),
            (
                tenancy("hmrc", "OFFICIAL"),
                Some(agency("OFFICIAL")),
                "namespace hmrc is not owned by agency dvla (it owns dvla, dvla-test)",
            ),
            (
                tenancy("dvla", "SECRET"),
                Some(agency("OFFICIAL-SENSITIVE")),
                "classification SECRET is above agency dvla's clearance OFFICIAL-SENSITIVE",
            ),
        ];
        for (t, a, want) in cases {
            assert_eq!(validate(&t, a).unwrap_err(), Rejection(want.into()));
        }
    }
}
