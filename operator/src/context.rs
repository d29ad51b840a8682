//! The one `Context` the controllers, the accounting loop and the report share: the hub
//! client, member clients, settings, clocks, metrics, state, observer, planner and Events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::config::{Clock, Config, SystemClock};
use crate::k8s::events::Events;
use crate::k8s::members::Members;
use crate::metrics::Metrics;
use crate::observe::cache::{Cache, Hub};
use crate::observe::{Measuring, Observer};
use crate::planner::Planner;
use crate::state::State;

pub struct Context {
    pub client: kube::Client,
    pub config: Config,
    /// The clock of reconciles (conditions, windows).
    pub clock: Arc<dyn Clock>,
    /// The clock accounting windows are measured with (the wall clock, unless sped up).
    pub accounting_clock: Arc<dyn Clock>,
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
}

/// What differs between the operator and a one-shot command.
pub struct Wiring {
    pub identity: String,
    /// Watch the hub (the operator) or list it on every observation (`colo snapshot`).
    pub watch_hub: bool,
    pub accounting_clock: Option<Arc<dyn Clock>>,
}

impl Context {
    pub fn new(client: kube::Client, config: Config, wiring: Wiring) -> Self {
        let metrics = Arc::new(Metrics::new());
        let state = Arc::new(State::new(metrics.clone()));
        let members = Arc::new(Members::new(client.clone(), config.namespace.clone()));
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
        ));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Context {
            planner: Planner::start(observer.clone(), state.clone(), metrics.clone()),
            events: Events::new(client.clone(), &wiring.identity),
            accounting_clock: wiring.accounting_clock.unwrap_or_else(|| clock.clone()),
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

    /// Every SharedCluster, from the hub's watch.
    pub fn hub_clusters(&self) -> Vec<colo_api::SharedCluster> {
        self.hub
            .as_ref()
            .map_or_else(Vec::new, |h| cloned(&h.clusters.store))
    }

    /// Every Agency, from the hub's watch.
    pub fn hub_agencies(&self) -> Vec<colo_api::Agency> {
        self.hub
            .as_ref()
            .map_or_else(Vec::new, |h| cloned(&h.agencies.store))
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

fn cloned<K: crate::k8s::watch::Watched>(store: &kube::runtime::reflector::Store<K>) -> Vec<K> {
    store.state().iter().map(|o| (**o).clone()).collect()
}
