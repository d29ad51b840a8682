//! Clients of member clusters, from the kubeconfig Secrets their SharedClusters name.
//!
//! The SharedCluster controller connects (reads the Secret) on every resync; everyone else
//! takes the client it made. A Secret that changed gives a new client and a new `version`, so
//! watches built on the old one can be rebuilt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    /// Colo may read only the Secrets its role names (the chart's members.kubeconfigSecrets),
    /// so a Secret not listed is the same to it as a Secret that is not there.
    #[error(
        "kubeconfig Secret {namespace}/{name} is not one Colo may read: create it in {namespace} and add its name to the chart's members.kubeconfigSecrets (helm upgrade … --reuse-values), or correct spec.kubeconfigSecretRef"
    )]
    SecretForbidden { namespace: String, name: String },
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
    /// For requests: each gives up after the member timeout.
    pub client: Client,
    /// For watches: no read timeout.
    pub watch_client: Client,
    pub version: String,
}

struct Clients {
    requests: Client,
    watches: Client,
}

pub struct Members {
    hub: Client,
    namespace: String,
    /// How long any one request to a member may take (watches excepted: they wait for news).
    timeout: std::time::Duration,
    /// Writes pass only while this replica leads.
    fence: Arc<super::fence::Fence>,
    /// By cluster name.
    connected: Mutex<HashMap<String, Member>>,
}

impl Members {
    pub fn new(
        hub: Client,
        namespace: String,
        timeout: std::time::Duration,
        fence: Arc<super::fence::Fence>,
    ) -> Self {
        Members {
            hub,
            namespace,
            timeout,
            fence,
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
            Ok(Read::Hub) => {
                let hub = Clients {
                    requests: self.hub.clone(),
                    watches: self.hub.clone(),
                };
                Ok(self.remember(&mut connected, name, hub, "hub"))
            }
            Ok(Read::Secret { version, .. })
                if connected.get(&name).is_some_and(|m| m.version == version) =>
            {
                Ok(connected[&name].clone())
            }
            Ok(Read::Secret { version, config }) => {
                let clients = self.clients_of(&name, *config)?;
                Ok(self.remember(&mut connected, name, clients, &version))
            }
            Err(e) => {
                connected.remove(&name);
                Err(e)
            }
        }
    }

    /// Two clients of one member: for requests, each giving up after `timeout` (a member
    /// whose site went dark must not hang a reconcile); for watches, without a read timeout
    /// (a quiet watch is not a dead one; kube's watcher has its own idle timeout, and the
    /// heartbeat judges the member).
    fn clients_of(&self, cluster: &str, mut config: Config) -> Result<Clients, MemberError> {
        config.connect_timeout = Some(self.timeout);
        config.write_timeout = Some(self.timeout);
        let unusable = |e: kube::Error| MemberError::Client {
            cluster: cluster.to_string(),
            problem: plain::root_cause(&e),
        };
        let watches = Client::try_from(config.clone()).map_err(unusable)?;
        config.read_timeout = Some(self.timeout);
        config.reset_reader_on_write = true;
        let requests = super::fence::client(config, self.fence.clone()).map_err(unusable)?;
        Ok(Clients { requests, watches })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Member>> {
        self.connected.lock().expect("members lock")
    }

    fn remember(
        &self,
        connected: &mut HashMap<String, Member>,
        name: String,
        clients: Clients,
        version: &str,
    ) -> Member {
        let member = Member {
            client: clients.requests,
            watch_client: clients.watches,
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
            Err(kube::Error::Api(e)) if e.code == 403 => {
                return Err(MemberError::SecretForbidden { namespace, name });
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
