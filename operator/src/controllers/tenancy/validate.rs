//! Validation against other objects (what admission cannot check): the Agency exists, lists
//! the Tenancy's namespace, the namespace is labelled for it (`ownership`), it is cleared for
//! the classification, and every workload's request is one Colo can place. A rejection is
//! not an error: whatever caused it wakes the tenancy when it changes (`triggers`), and it is
//! looked at again now and then, never in a loop.

use colo_api::{Agency, Tenancy};
use kube::ResourceExt;

use crate::controllers::ownership::{self, Owner};
use crate::k8s::labels;

/// Why a tenancy is rejected, as a sentence for its status, naming the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection(pub String);

/// What validation reads besides the tenancy.
pub struct Known<'a> {
    pub agency: Option<&'a Agency>,
    /// Who owns the tenancy's namespace (its `colo.dev/agency` label).
    pub owner: &'a Owner,
    /// Why its member objects' names are another tenancy's (`names::collision`), if they are.
    pub collision: Option<String>,
    /// The operator's own namespace (no agency may have it as its member namespace).
    pub operator_namespace: &'a str,
}

pub fn validate<'a>(tenancy: &Tenancy, known: &Known<'a>) -> Result<&'a Agency, Rejection> {
    let namespace = tenancy.namespace().unwrap_or_default();
    let name = &tenancy.spec.agency;
    let Some(agency) = known.agency else {
        return Err(Rejection(format!(
            "spec.agency: agency {name:?} does not exist"
        )));
    };
    if agency.metadata.deletion_timestamp.is_some() {
        return Err(Rejection(format!(
            "spec.agency: agency {name:?} is being deleted"
        )));
    }
    if labels::member_namespace(name) == known.operator_namespace {
        return Err(Rejection(format!(
            "spec.agency: the agency name {name:?} is reserved (its member namespace would be the operator's own, {})",
            known.operator_namespace
        )));
    }
    if !agency.spec.namespaces.contains(&namespace) {
        return Err(Rejection(format!(
            "spec.agency: namespace {namespace} is not in agency {name}'s spec.namespaces (it lists {})",
            agency.spec.namespaces.join(", ")
        )));
    }
    if let Some(why) = ownership::not_owned(&namespace, known.owner, name) {
        return Err(Rejection(format!("spec.agency: {why}")));
    }
    if tenancy.spec.classification > agency.spec.max_classification {
        return Err(Rejection(format!(
            "spec.classification: {} is above agency {name}'s clearance {}",
            tenancy.spec.classification.as_str(),
            agency.spec.max_classification.as_str()
        )));
    }
    for (j, w) in tenancy.spec.workloads.iter().enumerate() {
        if let Err((field, problem)) = colo_engine::estate::workload_request(&w.cpu, &w.memory) {
            return Err(Rejection(format!("spec.workloads[{j}].{field}: {problem}")));
        }
    }
    if let Some(why) = &known.collision {
        return Err(Rejection(why.clone()));
    }
    Ok(agency)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenancy(namespace: &str, classification: &str, cpu: &str) -> Tenancy {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "colo.dev/v1alpha1", "kind": "Tenancy",
            "metadata": {"name": "t", "namespace": namespace},
            "spec": {"agency": "dvla", "classification": classification, "workloads": [
                {"name": "api", "image": "i", "replicas": 1, "cpu": cpu, "memory": "1Gi"}]}
        }))
        .unwrap()
    }

    fn agency(name: &str, clearance: &str, created: &str) -> Agency {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "colo.dev/v1alpha1", "kind": "Agency",
            "metadata": {"name": name, "creationTimestamp": created},
            "spec": {"displayName": "DVLA", "costCentre": "C", "namespaces": ["dvla", "dvla-test"],
                     "maxClassification": clearance}
        }))
        .unwrap()
    }

    fn check(t: &Tenancy, agency: Option<&Agency>, owner: &str) -> Result<String, String> {
        let owner = match owner {
            "" => Owner::Unlabelled,
            "-" => Owner::Missing,
            a => Owner::Agency(a.into()),
        };
        let known = Known {
            agency,
            owner: &owner,
            collision: None,
            operator_namespace: "colo-system",
        };
        validate(t, &known).map(|a| a.name_any()).map_err(|r| r.0)
    }

    #[test]
    fn an_agency_that_owns_the_namespace_and_is_cleared_accepts() {
        let dvla = agency("dvla", "OFFICIAL", "2026-11-01T00:00:00Z");
        let t = tenancy("dvla-test", "OFFICIAL", "1275m");
        assert_eq!(check(&t, Some(&dvla), "dvla"), Ok("dvla".into()));
    }

    #[test]
    fn each_rejection_says_why_and_names_the_field() {
        let dvla = agency("dvla", "OFFICIAL-SENSITIVE", "2026-11-01T00:00:00Z");
        let cases = [
            (
                tenancy("dvla", "OFFICIAL", "1"),
                None,
                "dvla",
                "spec.agency: agency \"dvla\" does not exist",
            ),
            (
                tenancy("hmrc", "OFFICIAL", "1"),
                Some(&dvla),
                "hmrc",
                "spec.agency: namespace hmrc is not in agency dvla's spec.namespaces (it lists dvla, dvla-test)",
            ),
            (
                tenancy("dvla", "OFFICIAL", "1"),
                Some(&dvla),
                "hmrc",
                "spec.agency: namespace dvla is labelled for agency hmrc (colo.dev/agency=hmrc), not dvla",
            ),
            (
                tenancy("dvla", "OFFICIAL", "1"),
                Some(&dvla),
                "",
                "spec.agency: namespace dvla has no colo.dev/agency label",
            ),
            (
                tenancy("dvla", "SECRET", "1"),
                Some(&dvla),
                "dvla",
                "spec.classification: SECRET is above agency dvla's clearance OFFICIAL-SENSITIVE",
            ),
            (
                tenancy("dvla", "OFFICIAL", "10P"),
                Some(&dvla),
                "dvla",
                "spec.workloads[0].cpu: 10P is too large",
            ),
            (
                tenancy("dvla", "OFFICIAL", "5000"),
                Some(&dvla),
                "dvla",
                "spec.workloads[0].cpu: 5000 is more than one replica may ask for: at most 4096 cores",
            ),
        ];
        for (t, a, owner, want) in cases {
            let got = check(&t, a, owner).unwrap_err();
            assert!(got.starts_with(want), "{got}");
        }
    }

    #[test]
    fn an_agency_whose_member_namespace_is_the_operators_is_refused() {
        let mut system = agency("system", "OFFICIAL", "2026-11-01T00:00:00Z");
        system.spec.namespaces = vec!["dvla".into()];
        let mut t = tenancy("dvla", "OFFICIAL", "1");
        t.spec.agency = "system".into();
        let got = check(&t, Some(&system), "system").unwrap_err();
        assert!(got.contains("is reserved"), "{got}");
    }
}
