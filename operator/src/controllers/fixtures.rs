//! Test fixtures every controller's unit tests share: a mocked API server that answers by
//! method and path and records every request (kube-rs controller-rs's `fixtures.rs` shape),
//! and a `Context` on it.

use std::sync::{Arc, Mutex};

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

use crate::config::Config;
use crate::context::{Context, Wiring};

/// One request the operator made: method, path (with query), JSON body.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub body: Value,
}

/// Answers by method and path prefix; anything else is a 500 (and fails the test).
pub struct MockApi {
    routes: Vec<(Method, &'static str, StatusCode, Value)>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl MockApi {
    pub fn new() -> Self {
        MockApi {
            routes: Vec::new(),
            seen: Arc::default(),
        }
    }

    pub fn answer(mut self, method: Method, path: &'static str, code: u16, body: Value) -> Self {
        let code = StatusCode::from_u16(code).unwrap();
        self.routes.push((method, path, code, body));
        self
    }

    /// A client whose requests this mock answers.
    pub fn client(self) -> (kube::Client, Arc<Mutex<Vec<Seen>>>) {
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

/// The API server's 404 body.
pub fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
}

/// A context on `client`, with the default configuration and no hub watches.
pub fn context(client: kube::Client) -> Arc<Context> {
    let wiring = Wiring {
        identity: "test".into(),
        watch_hub: false,
        fence: crate::k8s::fence::Fence::open(),
    };
    Arc::new(Context::new(client, Config::default(), wiring))
}

/// The requests seen with `method` to paths starting with `path`.
pub fn requests_to<'a>(seen: &'a [Seen], method: &Method, path: &str) -> Vec<&'a Seen> {
    seen.iter()
        .filter(|s| s.method == method && s.path.starts_with(path))
        .collect()
}
