//! The Tenancy reconcile against a mocked API server (no estate): what it reads, the status it
//! writes (once, and only when it changed) and the Events it publishes, for each outcome that
//! needs no member cluster.

use std::sync::Arc;

use colo_api::Tenancy;
use http::Method;
use serde_json::{Value, json};

use crate::controllers::fixtures::{MockApi, context, not_found, requests_to};

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

const AGENCY: &str = "/apis/colo.dev/v1alpha1/agencies/dvla";
const STATUS: &str = "/apis/colo.dev/v1alpha1/namespaces/dvla/tenancies/shop/status";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/dvla/events";

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
