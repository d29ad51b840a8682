//! Typed keys of the objects Colo tracks, instead of `"namespace/name"` strings.

use std::fmt;

use colo_api::Tenancy;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

/// A Tenancy on the hub: its namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenancyKey {
    pub namespace: String,
    pub name: String,
}

impl TenancyKey {
    pub fn new(namespace: &str, name: &str) -> Self {
        TenancyKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    pub fn of(tenancy: &Tenancy) -> Self {
        TenancyKey::new(
            &tenancy.namespace().unwrap_or_default(),
            &tenancy.name_any(),
        )
    }

    /// What the controller runtime schedules reconciles by.
    pub fn object_ref(&self) -> ObjectRef<Tenancy> {
        ObjectRef::new(&self.name).within(&self.namespace)
    }

    /// From the engine's (and a plan's) `namespace/name`.
    pub fn parse(text: &str) -> Option<Self> {
        let (namespace, name) = text.split_once('/')?;
        Some(TenancyKey::new(namespace, name))
    }

    /// The engine names tenancies `namespace/name` (in snapshots and plans).
    pub fn engine_name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TenancyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}
