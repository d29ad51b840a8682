//! The one `Context` the controllers, the accounting loop and the report share: the hub
//! client, member clients, settings, clocks, metrics, state, observer, planner and Events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::config::{Clock, Config, SystemClock};
use crate::k8s::events::Events;
use crate::k8s::members::Members;
use crate::metrics::Metrics;
use crate::observe::cache::{Cache, Hub};
use crate::observe::reach::Judging;
use crate::observe::{Measuring, Observer};
use crate::planner::Planner;
use crate::state::State;

pub struct Context {
    pub client: kube::Client,
    pub config: Config,
    /// The one clock: of reconciles, windows and the ledger.
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub state: Arc<State>,
    pub members: Arc<Members>,
    pub observer: Arc<Observer>,
    pub planner: Planner,
    pub events: Events,
    /// The hub's shared watches (None for one-shot commands).
    pub hub: Option<Hub>,
    /// Per agency: held while its member objects are written, so that its quota in each
    /// member sums every placement.
    agency_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Tenancies to look at again now (others' reconciles found a reason, e.g. new nodes).
    reconcile_now: tokio::sync::mpsc::UnboundedSender<crate::k8s::keys::TenancyKey>,
    reconcile_requests:
        Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<crate::k8s::keys::TenancyKey>>>,
}

/// What differs between the operator and a one-shot command.
pub struct Wiring {
    pub identity: String,
    /// Watch the hub (the operator) or list it on every observation (`colo snapshot`).
    pub watch_hub: bool,
    /// What member clients' writes pass (the leader's Lease; open for commands and tests).
    pub fence: Arc<crate::k8s::fence::Fence>,
}

impl Context {
    pub fn new(client: kube::Client, config: Config, wiring: Wiring) -> Self {
        let metrics = Arc::new(Metrics::new());
        let state = Arc::new(State::new(metrics.clone()));
        let members = Arc::new(Members::new(
            client.clone(),
            config.namespace.clone(),
            config.member_timeout,
            wiring.fence.clone(),
        ));
        let hub = wiring.watch_hub.then(|| Hub::start(client.clone()));
        let measuring = Measuring {
            rate_window: config.rate_window.clone(),
            every: config.measure_every,
            operator_namespace: config.namespace.clone(),
        };
        let observer = Arc::new(Observer::new(
            client.clone(),
            members.clone(),
            hub.clone().map(Cache::new),
            measuring,
            Judging {
                timeout: config.member_timeout,
                unreachable_after: config.member_unreachable_after,
                settle: config.member_settle,
            },
        ));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let (reconcile_now, requests) = tokio::sync::mpsc::unbounded_channel();
        Context {
            reconcile_now,
            reconcile_requests: Mutex::new(Some(requests)),
            planner: Planner::start(observer.clone(), state.clone(), metrics.clone()),
            events: Events::new(client.clone(), &wiring.identity),
            clock,
            client,
            config,
            metrics,
            state,
            members,
            observer,
            hub,
            agency_locks: Mutex::default(),
        }
    }

    /// Every SharedCluster, from the hub's watch (shared, not copied).
    pub fn hub_clusters(&self) -> Vec<Arc<colo_api::SharedCluster>> {
        self.hub
            .as_ref()
            .map_or_else(Vec::new, |h| h.clusters.store.state())
    }

    /// One SharedCluster by name, from the hub's watch.
    pub fn hub_cluster(&self, name: &str) -> Option<Arc<colo_api::SharedCluster>> {
        let hub = self.hub.as_ref()?;
        hub.clusters
            .store
            .get(&kube::runtime::reflector::ObjectRef::new(name))
    }

    /// One Tenancy, from the hub's watch.
    pub fn hub_tenancy(
        &self,
        key: &crate::k8s::keys::TenancyKey,
    ) -> Option<Arc<colo_api::Tenancy>> {
        self.hub.as_ref()?.tenancies.store.get(&key.object_ref())
    }

    /// Every Tenancy, from the hub's watch.
    pub fn hub_tenancies(&self) -> Vec<Arc<colo_api::Tenancy>> {
        self.hub
            .as_ref()
            .map_or_else(Vec::new, |h| h.tenancies.store.state())
    }

    /// True when the hub's watch holds this tenancy (unknown without a hub watch: true).
    pub fn hub_has_tenancy(&self, key: &crate::k8s::keys::TenancyKey) -> bool {
        self.hub
            .as_ref()
            .is_none_or(|h| h.tenancies.store.get(&key.object_ref()).is_some())
    }

    /// Every Agency, from the hub's watch (shared, not copied).
    pub fn hub_agencies(&self) -> Vec<Arc<colo_api::Agency>> {
        self.hub
            .as_ref()
            .map_or_else(Vec::new, |h| h.agencies.store.state())
    }

    /// Asks the Tenancy controller to look at `key` again now.
    pub fn reconcile_now(&self, key: crate::k8s::keys::TenancyKey) {
        let _ = self.reconcile_now.send(key);
    }

    /// The tenancies asked to be reconciled now, for whoever asks first (the Tenancy
    /// controller).
    pub fn reconcile_requests(
        &self,
    ) -> Option<impl futures::Stream<Item = crate::k8s::keys::TenancyKey> + Send + 'static> {
        let rx = self
            .reconcile_requests
            .lock()
            .expect("reconcile lock")
            .take()?;
        Some(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|k| (k, rx))
        }))
    }

    /// A client for a member that answers now; else why not (it is dark, or its kubeconfig
    /// Secret cannot be read), for work that is left until it answers again.
    pub async fn answering_member(
        &self,
        cluster: &colo_api::SharedCluster,
    ) -> Result<kube::Client, String> {
        use kube::ResourceExt;
        self.observer.reach.status(&cluster.name_any())?;
        self.members
            .client(cluster)
            .await
            .map_err(|e| e.to_string())
    }

    /// The lock of an agency's member objects.
    pub fn agency_lock(&self, agency: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.agency_locks
            .lock()
            .expect("agency locks")
            .entry(agency.to_string())
            .or_default()
            .clone()
    }
}
