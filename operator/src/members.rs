//! Clients of member clusters, from the kubeconfig Secrets their SharedClusters name.

use std::collections::HashMap;
use std::sync::Mutex;

use colo_api::SharedCluster;
use k8s_openapi::api::core::v1::Secret;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, ResourceExt};

#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error("kubeconfig Secret {namespace}/{name} of cluster {cluster}: {problem}")]
    Secret {
        cluster: String,
        namespace: String,
        name: String,
        problem: String,
    },
    #[error("cluster {cluster}: {problem}")]
    Client { cluster: String, problem: String },
}

pub struct Members {
    hub: Client,
    namespace: String,
    /// By cluster name: the Secret's resourceVersion the client was built from, and the client.
    cache: Mutex<HashMap<String, (String, Client)>>,
}

impl Members {
    pub fn new(hub: Client, namespace: String) -> Self {
        Members {
            hub,
            namespace,
            cache: Mutex::default(),
        }
    }

    /// The client of a member cluster; the hub itself when it names no Secret.
    pub async fn client(&self, cluster: &SharedCluster) -> Result<Client, MemberError> {
        let Some(reference) = &cluster.spec.kubeconfig_secret_ref else {
            return Ok(self.hub.clone());
        };
        let name = cluster.name_any();
        let namespace = reference
            .namespace
            .clone()
            .unwrap_or_else(|| self.namespace.clone());
        let secret_error = |problem: String| MemberError::Secret {
            cluster: name.clone(),
            namespace: namespace.clone(),
            name: reference.name.clone(),
            problem,
        };
        let secret = Api::<Secret>::namespaced(self.hub.clone(), &namespace)
            .get(&reference.name)
            .await
            .map_err(|e| secret_error(e.to_string()))?;
        let version = secret.resource_version().unwrap_or_default();
        if let Some((_, client)) = self
            .cache
            .lock()
            .expect("lock")
            .get(&name)
            .filter(|(seen, _)| *seen == version)
        {
            return Ok(client.clone());
        }
        let key = reference.key.clone().unwrap_or_else(|| "kubeconfig".into());
        let bytes = secret
            .data
            .as_ref()
            .and_then(|d| d.get(&key))
            .ok_or_else(|| secret_error(format!("has no key {key:?}")))?;
        let text =
            String::from_utf8(bytes.0.clone()).map_err(|_| secret_error("is not UTF-8".into()))?;
        let kubeconfig = Kubeconfig::from_yaml(&text).map_err(|e| secret_error(e.to_string()))?;
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| secret_error(e.to_string()))?;
        let client = Client::try_from(config).map_err(|e| MemberError::Client {
            cluster: name.clone(),
            problem: e.to_string(),
        })?;
        self.cache
            .lock()
            .expect("lock")
            .insert(name, (version, client.clone()));
        Ok(client)
    }
}
