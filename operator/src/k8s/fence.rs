//! Fencing: a replica writes only while it knows it holds the leader Lease. The lease library
//! renews the Lease; a watchdog reads it back and moves the deadline to the last renewal plus
//! the lease's duration less a margin for clock skew. Every client Colo writes with (hub and
//! members) refuses a write past that deadline, at the transport: a replica cut off from the
//! hub, or frozen and thawed after another took over, cannot write a thing, even from a
//! reconcile already under way. Reads (and so watches) pass.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use kube::Client;
use kube::client::ClientBuilder;
use tokio::time::Instant;
use tower::{BoxError, Layer, Service};

/// Whether writes may go out now.
#[derive(Debug)]
enum Gate {
    /// Not a leader's client (`colo snapshot`, tests): always open.
    Open,
    /// A leader's: open until this instant (closed before leadership is confirmed).
    Until(Option<Instant>),
    /// No longer a leader: closed for good.
    Closed,
}

#[derive(Debug)]
pub struct Fence(Mutex<Gate>);

impl Fence {
    /// A fence that never closes, for clients that do not lead.
    pub fn open() -> Arc<Fence> {
        Arc::new(Fence(Mutex::new(Gate::Open)))
    }

    /// A leader's fence: closed until `hold_until` opens it.
    pub fn closed() -> Arc<Fence> {
        Arc::new(Fence(Mutex::new(Gate::Until(None))))
    }

    /// Writes may go out until `deadline` (never moved back: a stale read cannot shorten it
    /// below what a newer one showed, nor can it lengthen a closed gate beyond the evidence).
    pub fn hold_until(&self, deadline: Instant) {
        let mut gate = self.0.lock().expect("fence lock");
        if let Gate::Until(until) = &mut *gate {
            *until = Some(until.map_or(deadline, |u| u.max(deadline)));
        }
    }

    /// Closes the gate for good (this replica stops leading).
    pub fn close(&self) {
        let mut gate = self.0.lock().expect("fence lock");
        if let Gate::Until(_) = &*gate {
            *gate = Gate::Closed;
        }
    }

    /// True once the deadline has passed (or the gate was closed) after it had opened.
    pub fn lapsed(&self) -> bool {
        match &*self.0.lock().expect("fence lock") {
            Gate::Open | Gate::Until(None) => false,
            Gate::Until(Some(until)) => Instant::now() >= *until,
            Gate::Closed => true,
        }
    }

    /// Why a write may not go out now, or None.
    pub fn refusal(&self) -> Option<&'static str> {
        match &*self.0.lock().expect("fence lock") {
            Gate::Open => None,
            Gate::Until(Some(until)) if Instant::now() < *until => None,
            Gate::Until(_) | Gate::Closed => Some(
                "this replica does not hold the leader Lease (it was not renewed in time), so it writes nothing",
            ),
        }
    }
}

/// How long after `now` this replica may still write, given the Lease's last renewal by it and
/// its duration: until the renewal plus the duration less `margin` (another replica may take
/// the Lease once the duration has passed by its own clock, which may run ahead by `margin`).
pub fn time_left(
    renewed: SystemTime,
    lease_duration: Duration,
    margin: Duration,
    now: SystemTime,
) -> Duration {
    let ends = renewed + lease_duration.saturating_sub(margin);
    ends.duration_since(now).unwrap_or_default()
}

/// A client whose writes pass only while `fence` is open.
pub fn client(config: kube::Config, fence: Arc<Fence>) -> Result<Client, kube::Error> {
    Ok(ClientBuilder::try_from(config)?
        .with_layer(&FenceLayer(fence))
        .build())
}

struct FenceLayer(Arc<Fence>);

impl<S> Layer<S> for FenceLayer {
    type Service = Fenced<S>;
    fn layer(&self, inner: S) -> Fenced<S> {
        Fenced {
            inner,
            fence: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Fenced<S> {
    inner: S,
    fence: Arc<Fence>,
}

impl<S, B> Service<http::Request<B>> for Fenced<S>
where
    S: Service<http::Request<B>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let reads = matches!(
            *request.method(),
            http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
        );
        if let Some(why) = self.fence.refusal().filter(|_| !reads) {
            return Box::pin(futures::future::ready(Err(why.into())));
        }
        let call = self.inner.call(request);
        Box::pin(async move { call.await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[test]
    fn a_replica_may_write_until_the_lease_could_pass_to_another() {
        let renewed = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_856_400);
        let (lease, margin) = (Duration::from_secs(15), Duration::from_secs(5));
        let at = |s| renewed + Duration::from_secs(s);
        assert_eq!(
            time_left(renewed, lease, margin, at(0)),
            Duration::from_secs(10)
        );
        assert_eq!(
            time_left(renewed, lease, margin, at(7)),
            Duration::from_secs(3)
        );
        assert_eq!(time_left(renewed, lease, margin, at(10)), Duration::ZERO);
        assert_eq!(time_left(renewed, lease, margin, at(60)), Duration::ZERO);
    }

    #[tokio::test]
    async fn the_gate_opens_with_evidence_and_never_moves_back() {
        let fence = Fence::closed();
        assert!(
            fence.refusal().is_some(),
            "closed until leadership is confirmed"
        );
        let now = Instant::now();
        fence.hold_until(now + Duration::from_secs(10));
        assert!(fence.refusal().is_none());
        fence.hold_until(now + Duration::from_secs(1));
        assert!(
            fence.refusal().is_none(),
            "an older renewal does not shorten it"
        );
        fence.close();
        assert!(fence.refusal().is_some());
        fence.hold_until(now + Duration::from_secs(20));
        assert!(fence.refusal().is_some(), "closed for good");
        assert!(Fence::open().refusal().is_none());
    }

    #[tokio::test]
    async fn a_closed_fence_refuses_writes_and_lets_reads_through() {
        let (mock, mut handle) = tower_test::mock::pair::<http::Request<()>, http::Response<()>>();
        let fence = Fence::closed();
        let mut service = FenceLayer(fence.clone()).layer(mock);
        handle.allow(2);
        let write = http::Request::patch("/apis/apps/v1/deployments")
            .body(())
            .unwrap();
        let refused = service
            .ready()
            .await
            .unwrap()
            .call(write)
            .await
            .unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("does not hold the leader Lease")
        );
        let read = http::Request::get("/api/v1/pods").body(()).unwrap();
        let answered = tokio::spawn(service.ready().await.unwrap().call(read));
        let (request, respond) = handle.next_request().await.unwrap();
        assert_eq!(request.method(), http::Method::GET);
        respond.send_response(http::Response::new(()));
        assert!(answered.await.unwrap().is_ok());
    }
}
