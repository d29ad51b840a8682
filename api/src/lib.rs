//! Colo's API, group `colo.dev`, version `v1alpha1`: the four kinds and the shapes they share.
//!
//! These are plain serde types so that the engine can read them without Kubernetes. With the
//! default `crd` feature each kind also derives `CustomResource`, its JSON schema and its CEL
//! rules; `colo crds` prints the result and `crds/` holds it.

pub mod agency;
pub mod cluster;
pub mod common;
pub mod consolidation;
pub mod quantity;
pub mod report;
pub mod tenancy;

pub use agency::{
    AgencyQuote, AgencySpec, AgencyStatus, AgencyUsage, MonthFigures, QuoteComparison,
    StandaloneSpec,
};
pub use cluster::{
    CostSpec, PowerSpec, PrometheusSpec, SecretKeyRef, SharedClusterSpec, SharedClusterStatus,
};
pub use common::{Classification, Condition, Resources};
pub use consolidation::{
    ConsolidationPlanSpec, ConsolidationPlanStatus, Move, PlanState, StepState, TenancyStep,
};
pub use quantity::{Quantity, QuantityError};
pub use report::{REPORT_CSV_HEADER, ReportRow, neutralise_formula};
pub use tenancy::{
    Egress, EnvVar, Phase, Placement, Port, Protocol, Resilience, Sizing, TenancySpec,
    TenancyStatus, Workload, WorkloadSizing,
};

#[cfg(feature = "crd")]
pub use agency::Agency;
#[cfg(feature = "crd")]
pub use cluster::SharedCluster;
#[cfg(feature = "crd")]
pub use consolidation::ConsolidationPlan;
#[cfg(feature = "crd")]
pub use tenancy::Tenancy;

pub const GROUP: &str = "colo.dev";
pub const VERSION: &str = "v1alpha1";
/// Labels Colo puts on everything it creates in member clusters.
pub const AGENCY_LABEL: &str = "colo.dev/agency";
pub const TENANCY_LABEL: &str = "colo.dev/tenancy";

/// The CustomResourceDefinitions of every kind, in a stable order.
#[cfg(feature = "crd")]
pub fn crds() -> Vec<CustomResourceDefinition> {
    use kube::CustomResourceExt;
    vec![
        // Agency names become member namespaces `colo-<agency>` and label values; none may
        // name a namespace of Colo's own or the platform's.
        with_reserved_names(with_name_limit(Agency::crd(), 40)),
        SharedCluster::crd(),
        // Tenancy names become Deployments and Services `<tenancy>-<workload>` (DNS-1035, 63).
        with_name_limit(Tenancy::crd(), 30),
        ConsolidationPlan::crd(),
    ]
}

#[cfg(feature = "crd")]
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// Agency names refused when an Agency is made: `colo-system` is Colo's own namespace in
/// every member (and, by default, on the hub); `default`, `public` and `kube-*` read as the
/// platform's own (`colo-default`, `colo-kube-system`), not an agency's. An existing namespace Colo did not make is never written either
/// (the operator checks its labels before it writes or deletes anything).
pub const RESERVED_AGENCY_NAMES: [&str; 3] = ["system", "default", "public"];

#[cfg(feature = "crd")]
fn with_reserved_names(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::ValidationRule;
    let names = RESERVED_AGENCY_NAMES.map(|n| format!("'{n}'")).join(", ");
    let rule = ValidationRule {
        // On creation only (`oldSelf` is absent then): an Agency by such a name made before
        // the rule can still be edited, and deleted.
        rule: format!(
            "oldSelf.hasValue() || !(self.metadata.name in [{names}] || self.metadata.name.startsWith('kube-'))"
        ),
        optional_old_self: Some(true),
        message: Some(format!(
            "the agency names {} and kube-* are reserved: an agency's member namespace is colo-<name>, and these name Colo's own or the platform's",
            RESERVED_AGENCY_NAMES.join(", ")
        )),
        field_path: Some(".metadata.name".into()),
        reason: Some("FieldValueForbidden".into()),
        ..Default::default()
    };
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            schema
                .x_kubernetes_validations
                .get_or_insert_default()
                .push(rule.clone());
        }
    }
    crd
}

/// Restricts `metadata.name` in the schema itself (the one metadata restriction Kubernetes
/// allows), so a bad name is refused as `metadata.name: Too long` rather than by a root rule.
#[cfg(feature = "crd")]
fn with_name_limit(mut crd: CustomResourceDefinition, max_length: i64) -> CustomResourceDefinition {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
    let name = JSONSchemaProps {
        type_: Some("string".into()),
        max_length: Some(max_length),
        pattern: Some("^[a-z]([-a-z0-9]*[a-z0-9])?$".into()),
        ..Default::default()
    };
    let metadata = JSONSchemaProps {
        type_: Some("object".into()),
        properties: Some([("name".to_string(), name)].into()),
        ..Default::default()
    };
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            schema
                .properties
                .get_or_insert_default()
                .insert("metadata".into(), metadata.clone());
        }
    }
    crd
}
