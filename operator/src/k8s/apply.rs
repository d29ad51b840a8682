//! Server-side apply of namespaced objects, forced, under one field manager: the one way Colo
//! writes member objects (a second writer's fields are taken over, never merged by hand).

use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Applies `object` (named and namespaced in its metadata) as `manager`.
pub async fn apply<K>(client: &Client, manager: &str, object: &K) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    K: Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let meta = object.meta();
    let api: Api<K> = Api::namespaced(
        client.clone(),
        meta.namespace.as_deref().unwrap_or_default(),
    );
    let params = PatchParams::apply(manager).force();
    api.patch(
        meta.name.as_deref().unwrap_or_default(),
        &params,
        &Patch::Apply(object),
    )
    .await?;
    Ok(())
}
