//! The names a tenancy's member objects take (`<tenancy>-<workload>`, what the agency's own
//! workloads address each other by) must be its own: all of an agency's tenancies, from every
//! hub namespace it owns, share its one member namespace. Of two tenancies whose objects would
//! share a name, the one created first keeps it and the other is refused, naming the first;
//! when the first goes or renames its workload, the other is accepted (`triggers::on_tenancy`).

use std::sync::Arc;

use colo_api::Tenancy;
use kube::ResourceExt;

use crate::k8s::keys::TenancyKey;
use crate::k8s::labels;

/// Why `tenancy`'s member objects cannot have their names: another tenancy of its agency,
/// created earlier, has an object by the same name. A sentence naming the field.
pub fn collision(tenancy: &Tenancy, others: &[Arc<Tenancy>]) -> Option<String> {
    let key = TenancyKey::of(tenancy);
    let agency = &tenancy.spec.agency;
    let first = |t: &Tenancy| (t.creation_timestamp(), TenancyKey::of(t));
    let earlier = others
        .iter()
        .filter(|o| &o.spec.agency == agency && TenancyKey::of(o) != key)
        .filter(|o| first(o) < first(tenancy));
    for other in earlier {
        for (j, w) in tenancy.spec.workloads.iter().enumerate() {
            let name = labels::object_name(&key.name, &w.name);
            let theirs = other
                .spec
                .workloads
                .iter()
                .find(|o| labels::object_name(&other.name_any(), &o.name) == name);
            if let Some(o) = theirs {
                return Some(format!(
                    "spec.workloads[{j}].name: its Deployment in the agency's member namespace {} would be named {name}, which is tenancy {}'s workload {:?} (created first); rename the tenancy or the workload",
                    labels::member_namespace(agency),
                    TenancyKey::of(other),
                    o.name
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenancy(ns: &str, name: &str, workload: &str, created: &str) -> Arc<Tenancy> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "colo.dev/v1alpha1", "kind": "Tenancy",
                "metadata": {"name": name, "namespace": ns, "creationTimestamp": created},
                "spec": {"agency": "dvla", "classification": "OFFICIAL", "workloads": [
                    {"name": workload, "image": "i", "replicas": 1, "cpu": "1", "memory": "1Gi"}]}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn the_later_of_two_tenancies_whose_objects_share_a_name_is_refused_naming_the_first() {
        let a = tenancy("dvla", "a", "b-c", "2026-12-01T00:00:00Z");
        let ab = tenancy("dvla", "a-b", "c", "2026-12-02T00:00:00Z");
        let all = [a.clone(), ab.clone()];
        assert_eq!(collision(&a, &all), None, "the first keeps its names");
        let why = collision(&ab, &all).unwrap();
        assert!(why.starts_with("spec.workloads[0].name: "), "{why}");
        assert!(why.contains("would be named a-b-c"), "{why}");
        assert!(why.contains("tenancy dvla/a's workload \"b-c\""), "{why}");
        // The first one gone: the second is its own.
        assert_eq!(collision(&ab, std::slice::from_ref(&ab)), None);
    }

    #[test]
    fn same_named_tenancies_in_two_namespaces_of_one_agency_collide_other_agencies_do_not() {
        let prod = tenancy("dvla", "web", "api", "2026-12-01T00:00:00Z");
        let test = tenancy("dvla-test", "web", "api", "2026-12-02T00:00:00Z");
        let why = collision(&test, &[prod.clone(), test.clone()]).unwrap();
        assert!(why.contains("tenancy dvla/web"), "{why}");
        let mut hmrc = (*test).clone();
        hmrc.spec.agency = "hmrc".into();
        assert_eq!(collision(&hmrc, &[prod, Arc::new(hmrc.clone())]), None);
        let other_workload = tenancy("dvla-test", "web", "ui", "2026-12-02T00:00:00Z");
        let prod = tenancy("dvla", "web", "api", "2026-12-01T00:00:00Z");
        assert_eq!(collision(&other_workload, &[prod]), None);
    }
}
