//! Who owns a hub namespace: the agency its `colo.dev/agency` label names. The platform team
//! sets the label; the hub's admission policy (`charts/colo/templates/admission.yaml`) lets
//! a Tenancy name only that agency. An Agency's `spec.namespaces` is its claim: a claim on a
//! namespace labelled for another agency, or on one with no label, gets nothing there, and
//! the owner's work and bindings are untouched.

use std::fmt;

use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};

use crate::context::Context;
use crate::k8s::labels::AGENCY_LABEL;

/// What the hub says of one namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// There is no such namespace on the hub.
    Missing,
    /// It exists with no `colo.dev/agency` label: no agency owns it.
    Unlabelled,
    /// Labelled for this agency.
    Agency(String),
}

impl Owner {
    pub fn of(namespace: Option<&Namespace>) -> Owner {
        let Some(ns) = namespace else {
            return Owner::Missing;
        };
        match ns.labels().get(AGENCY_LABEL) {
            Some(agency) if !agency.is_empty() => Owner::Agency(agency.clone()),
            _ => Owner::Unlabelled,
        }
    }

    pub fn is(&self, agency: &str) -> bool {
        matches!(self, Owner::Agency(a) if a == agency)
    }
}

/// Who owns `namespace`, from the hub's watch; when the watch says it is not `expected`'s,
/// the hub itself is asked (a label set a moment ago may not have reached the watch), so a
/// lagging cache never rejects a tenancy.
pub async fn owner_of(
    ctx: &Context,
    namespace: &str,
    expected: &str,
) -> Result<Owner, kube::Error> {
    if let Some(hub) = &ctx.hub {
        let cached = hub.namespaces.store.get(&ObjectRef::new(namespace));
        let owner = Owner::of(cached.as_deref());
        if owner.is(expected) {
            return Ok(owner);
        }
    }
    let live = Api::<Namespace>::all(ctx.client.clone())
        .get_opt(namespace)
        .await?;
    Ok(Owner::of(live.as_ref()))
}

/// Why `agency` does not own `namespace`, as a phrase naming the namespace and its owner
/// (None when it does).
pub fn not_owned(namespace: &str, owner: &Owner, agency: &str) -> Option<String> {
    match owner {
        Owner::Agency(a) if a == agency => None,
        Owner::Agency(other) => Some(format!(
            "namespace {namespace} is labelled for agency {other} ({AGENCY_LABEL}={other}), not {agency}"
        )),
        Owner::Unlabelled => Some(format!(
            "namespace {namespace} has no {AGENCY_LABEL} label (the platform team labels it {AGENCY_LABEL}={agency})"
        )),
        Owner::Missing => Some(format!("namespace {namespace} does not exist on the hub")),
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Missing => f.write_str("missing"),
            Owner::Unlabelled => f.write_str("unlabelled"),
            Owner::Agency(a) => write!(f, "agency {a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespace(label: Option<&str>) -> Namespace {
        let mut ns = Namespace::default();
        ns.metadata.name = Some("hmrc-tax".into());
        if let Some(l) = label {
            ns.labels_mut().insert(AGENCY_LABEL.into(), l.into());
        }
        ns
    }

    #[test]
    fn the_label_alone_says_who_owns_a_namespace() {
        let hmrc = namespace(Some("hmrc"));
        assert_eq!(Owner::of(Some(&hmrc)), Owner::Agency("hmrc".into()));
        assert!(Owner::of(Some(&hmrc)).is("hmrc"));
        assert!(!Owner::of(Some(&hmrc)).is("dvla"));
        assert_eq!(Owner::of(Some(&namespace(None))), Owner::Unlabelled);
        assert_eq!(Owner::of(Some(&namespace(Some("")))), Owner::Unlabelled);
        assert_eq!(Owner::of(None), Owner::Missing);
    }

    #[test]
    fn a_claim_that_is_not_ownership_says_who_owns_it() {
        let owner = Owner::Agency("hmrc".into());
        assert_eq!(
            not_owned("hmrc-tax", &owner, "dvla").unwrap(),
            "namespace hmrc-tax is labelled for agency hmrc (colo.dev/agency=hmrc), not dvla"
        );
        assert!(not_owned("hmrc-tax", &owner, "hmrc").is_none());
        let why = not_owned("scratch", &Owner::Unlabelled, "dvla").unwrap();
        assert!(why.contains("colo.dev/agency=dvla"), "{why}");
        let why = not_owned("later", &Owner::Missing, "dvla").unwrap();
        assert_eq!(why, "namespace later does not exist on the hub");
    }
}
