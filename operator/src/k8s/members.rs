//! Clients of member clusters, from the kubeconfig Secrets their SharedClusters name.
//!
//! The SharedCluster controller connects (reads the Secret) on every resync; everyone else
//! takes the client it made. A Secret that changed gives a new client and a new `version`, so
//! watches built on the old one can be rebuilt.

use std::collections::HashMap;
use std::sync::Mutex;

use colo_api::SharedCluster;
use k8s_openapi::api::core::v1::Secret;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, ResourceExt};

use super::plain;

/// Why a member cannot be reached through its kubeconfig Secret: each a sentence that says
/// what to do.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error(
        "kubeconfig Secret {namespace}/{name} not found: create it, or correct spec.kubeconfigSecretRef"
    )]
    SecretMissing { namespace: String, name: String },
    #[error("kubeconfig Secret {namespace}/{name} cannot be read: {problem}")]
    SecretUnreadable {
        namespace: String,
        name: String,
        problem: String,
    },
    #[error(
        "kubeconfig Secret {namespace}/{name} has no key {key:?}: add it, or set spec.kubeconfigSecretRef.key"
    )]
    NoKey {
        namespace: String,
        name: String,
        key: String,
    },
    #[error(
        "kubeconfig Secret {namespace}/{name} does not hold a usable kubeconfig ({problem}): correct it"
    )]
    BadKubeconfig {
        namespace: String,
        name: String,
        problem: String,
    },
    #[error("cannot make a client for cluster {cluster} from its kubeconfig ({problem})")]
    Client { cluster: String, problem: String },
}

/// A connection to one member: its client, and what it was built from (the Secret's
/// resourceVersion; `hub` for the hub itself).
#[derive(Clone)]
pub struct Member {
    pub client: Client,
    pub version: String,
}

pub struct Members {
    hub: Client,
    namespace: String,
    /// By cluster name.
    connected: Mutex<HashMap<String, Member>>,
}

impl Members {
    pub fn new(hub: Client, namespace: String) -> Self {
        Members {
            hub,
            namespace,
            connected: Mutex::default(),
        }
    }

    /// A member cluster as last connected (connecting now if never).
    pub async fn member(&self, cluster: &SharedCluster) -> Result<Member, MemberError> {
        let known = self.lock().get(&cluster.name_any()).cloned();
        match known {
            Some(member) => Ok(member),
            None => self.connect(cluster).await,
        }
    }

    /// The client of a member cluster as last connected (connecting now if never).
    pub async fn client(&self, cluster: &SharedCluster) -> Result<Client, MemberError> {
        Ok(self.member(cluster).await?.client)
    }

    /// Reads the cluster's kubeconfig Secret again; a new client when it changed. A failure
    /// forgets the old client, so nobody acts on a member Colo can no longer vouch for.
    pub async fn connect(&self, cluster: &SharedCluster) -> Result<Member, MemberError> {
        let name = cluster.name_any();
        let result = self.read(cluster).await;
        let mut connected = self.lock();
        match result {
            Ok(Read::Hub) => Ok(self.remember(&mut connected, name, self.hub.clone(), "hub")),
            Ok(Read::Secret { version, .. })
                if connected.get(&name).is_some_and(|m| m.version == version) =>
            {
                Ok(connected[&name].clone())
            }
            Ok(Read::Secret { version, config }) => {
                let client = Client::try_from(*config).map_err(|e| MemberError::Client {
                    cluster: name.clone(),
                    problem: plain::root_cause(&e),
                })?;
                Ok(self.remember(&mut connected, name, client, &version))
            }
            Err(e) => {
                connected.remove(&name);
                Err(e)
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Member>> {
        self.connected.lock().expect("members lock")
    }

    fn remember(
        &self,
        connected: &mut HashMap<String, Member>,
        name: String,
        client: Client,
        version: &str,
    ) -> Member {
        let member = Member {
            client,
            version: version.to_string(),
        };
        connected.insert(name, member.clone());
        member
    }

    async fn read(&self, cluster: &SharedCluster) -> Result<Read, MemberError> {
        let Some(reference) = &cluster.spec.kubeconfig_secret_ref else {
            return Ok(Read::Hub);
        };
        let namespace = reference
            .namespace
            .clone()
            .unwrap_or_else(|| self.namespace.clone());
        let name = reference.name.clone();
        let secret = match Api::<Secret>::namespaced(self.hub.clone(), &namespace)
            .get(&name)
            .await
        {
            Ok(secret) => secret,
            Err(e) if plain::is_not_found(&e) => {
                return Err(MemberError::SecretMissing { namespace, name });
            }
            Err(e) => {
                tracing::warn!(cluster = %cluster.name_any(), error = %e, "cannot read its kubeconfig Secret");
                let problem = plain::kube_error(&e);
                return Err(MemberError::SecretUnreadable {
                    namespace,
                    name,
                    problem,
                });
            }
        };
        let key = reference.key.clone().unwrap_or_else(|| "kubeconfig".into());
        let Some(bytes) = secret.data.as_ref().and_then(|d| d.get(&key)) else {
            return Err(MemberError::NoKey {
                namespace,
                name,
                key,
            });
        };
        let unusable = |problem: String| MemberError::BadKubeconfig {
            namespace: namespace.clone(),
            name: name.clone(),
            problem,
        };
        let text = String::from_utf8(bytes.0.clone()).map_err(|_| unusable("not UTF-8".into()))?;
        let kubeconfig =
            Kubeconfig::from_yaml(&text).map_err(|e| unusable(plain::root_cause(&e)))?;
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| unusable(plain::root_cause(&e)))?;
        Ok(Read::Secret {
            version: secret.resource_version().unwrap_or_default(),
            config: Box::new(config),
        })
    }
}

enum Read {
    Hub,
    Secret {
        version: String,
        config: Box<Config>,
    },
}
