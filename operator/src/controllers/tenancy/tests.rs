//! The Tenancy reconcile against a mocked API server (no estate): what it reads, the status it
//! writes (once, and only when it changed) and the Events it publishes, for each outcome that
//! needs no member cluster.

use std::sync::{Arc, Mutex};

use colo_api::Tenancy;
use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

use crate::config::Config;
use crate::context::{Context, Wiring};

/// One request the operator made: method, path (with query), JSON body.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    body: Value,
}

/// Answers by method and path prefix; anything else is a 500 (and fails the test).
struct MockApi {
    routes: Vec<(Method, &'static str, StatusCode, Value)>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl MockApi {
    fn new() -> Self {
        MockApi {
            routes: Vec::new(),
            seen: Arc::default(),
        }
    }

    fn answer(mut self, method: Method, path: &'static str, code: u16, body: Value) -> Self {
        let code = StatusCode::from_u16(code).unwrap();
        self.routes.push((method, path, code, body));
        self
    }

    /// A client whose requests this mock answers.
    fn client(self) -> (kube::Client, Arc<Mutex<Vec<Seen>>>) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let seen = self.seen.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let (method, path) = (request.method().clone(), request.uri().to_string());
                let bytes = request.into_body().collect_bytes().await.unwrap();
                let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let route = self
                    .routes
                    .iter()
                    .find(|(m, p, _, _)| *m == method && path.starts_with(p));
                let (code, reply) = match route {
                    Some((_, _, code, reply)) => (*code, reply.clone()),
                    None => (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        json!({"unexpected": path}),
                    ),
                };
                self.seen.lock().unwrap().push(Seen { method, path, body });
                let response = Response::builder()
                    .status(code)
                    .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                    .unwrap();
                send.send_response(response);
            }
        });
        (kube::Client::new(service, "default"), seen)
    }
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
}

fn tenancy(status: Value) -> Tenancy {
    serde_json::from_value(json!({
        "apiVersion": "colo.dev/v1alpha1", "kind": "Tenancy",
        "metadata": {"name": "shop", "namespace": "dvla", "generation": 1, "uid": "u1",
                     "finalizers": ["colo.dev/member-cleanup"]},
        "spec": {"agency": "dvla", "classification": "OFFICIAL", "workloads": [
            {"name": "web", "image": "i", "replicas": 1, "cpu": "1", "memory": "1Gi"}]},
        "status": status
    }))
    .unwrap()
}

fn context(client: kube::Client) -> Arc<Context> {
    let wiring = Wiring {
        identity: "test".into(),
        watch_hub: false,
        fence: crate::k8s::fence::Fence::open(),
    };
    Arc::new(Context::new(client, Config::default(), wiring))
}

const AGENCY: &str = "/apis/colo.dev/v1alpha1/agencies/dvla";
const STATUS: &str = "/apis/colo.dev/v1alpha1/namespaces/dvla/tenancies/shop/status";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/dvla/events";

fn requests_to<'a>(seen: &'a [Seen], method: &Method, path: &str) -> Vec<&'a Seen> {
    seen.iter()
        .filter(|s| s.method == method && s.path.starts_with(path))
        .collect()
}

#[tokio::test]
async fn a_tenancy_of_a_missing_agency_is_rejected_once_with_one_event() {
    let t = tenancy(json!({}));
    let (client, seen) = MockApi::new()
        .answer(Method::GET, AGENCY, 404, not_found())
        .answer(Method::POST, EVENTS, 201, json!({}))
        .answer(
            Method::PATCH,
            STATUS,
            200,
            serde_json::to_value(&t).unwrap(),
        )
        .client();
    let ctx = context(client);
    let action = super::reconcile(Arc::new(t), ctx.clone()).await;
    assert_eq!(
        action.unwrap(),
        kube::runtime::controller::Action::requeue(ctx.config.resync * 4)
    );
    let seen = seen.lock().unwrap().clone();
    let patches = requests_to(&seen, &Method::PATCH, STATUS);
    assert_eq!(patches.len(), 1, "status written once: {seen:#?}");
    let status = &patches[0].body["status"];
    assert_eq!(status["phase"], "Rejected");
    assert_eq!(
        status["explanation"],
        "Rejected: spec.agency: agency \"dvla\" does not exist."
    );
    assert_eq!(status["conditions"][0]["type"], "Accepted");
    assert_eq!(status["conditions"][0]["status"], "False");
    assert!(
        patches[0].path.contains("fieldManager=colo"),
        "{}",
        patches[0].path
    );
    let events = requests_to(&seen, &Method::POST, EVENTS);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].body["reason"], "Rejected");
    assert!(seen.iter().all(|s| s.body.get("unexpected").is_none()));

    // The same again, with that status already written: nothing is written or announced.
    let written: colo_api::TenancyStatus = serde_json::from_value(status.clone()).unwrap();
    let (client, seen) = MockApi::new()
        .answer(Method::GET, AGENCY, 404, not_found())
        .client();
    let again = tenancy(serde_json::to_value(written).unwrap());
    super::reconcile(Arc::new(again), context(client))
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "only the agency is read: {seen:#?}");
}

#[tokio::test]
async fn with_no_cluster_to_place_on_a_tenancy_is_pending_with_the_engines_reason() {
    let agency = json!({"apiVersion": "colo.dev/v1alpha1", "kind": "Agency",
        "metadata": {"name": "dvla"},
        "spec": {"displayName": "DVLA", "costCentre": "C", "namespaces": ["dvla"],
                 "maxClassification": "OFFICIAL"}});
    let list = |kind: &str, items: Vec<Value>| json!({"apiVersion": "colo.dev/v1alpha1", "kind": kind, "metadata": {}, "items": items});
    let t = tenancy(json!({}));
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "dvla", "labels": {"colo.dev/agency": "dvla"}}});
    let (client, seen) = MockApi::new()
        .answer(Method::GET, AGENCY, 200, agency.clone())
        .answer(Method::GET, "/api/v1/namespaces/dvla", 200, namespace)
        .answer(
            Method::GET,
            "/apis/colo.dev/v1alpha1/agencies?",
            200,
            list("AgencyList", vec![agency]),
        )
        .answer(
            Method::GET,
            "/apis/colo.dev/v1alpha1/sharedclusters?",
            200,
            list("SharedClusterList", vec![]),
        )
        .answer(
            Method::GET,
            "/apis/colo.dev/v1alpha1/tenancies?",
            200,
            list("TenancyList", vec![serde_json::to_value(&t).unwrap()]),
        )
        .answer(Method::POST, EVENTS, 201, json!({}))
        .answer(
            Method::PATCH,
            STATUS,
            200,
            serde_json::to_value(&t).unwrap(),
        )
        .client();
    let ctx = context(client);
    let action = super::reconcile(Arc::new(t), ctx.clone()).await.unwrap();
    assert_eq!(
        action,
        kube::runtime::controller::Action::requeue(ctx.config.pending_retry)
    );
    let seen = seen.lock().unwrap().clone();
    let patches = requests_to(&seen, &Method::PATCH, STATUS);
    assert_eq!(patches.len(), 1, "{seen:#?}");
    let status = &patches[0].body["status"];
    assert_eq!(status["phase"], "Pending", "{status}");
    let placed = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Placed")
        .unwrap();
    assert_eq!(placed["status"], "False");
    assert_eq!(placed["reason"], "NoRoom");
    assert!(
        status["explanation"]
            .as_str()
            .unwrap()
            .starts_with("Not placed: ")
    );
    let events = requests_to(&seen, &Method::POST, EVENTS);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].body["reason"], "Unplaced");
    assert!(
        seen.iter().all(|s| s.body.get("unexpected").is_none()),
        "{seen:#?}"
    );
}
