//! Kubernetes Events, published one way: on the object they concern, under Colo's reporter.
//! An Event that cannot be written is logged and dropped; it never fails a reconcile.

use kube::Client;
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

/// The Events Colo publishes, by kind of news.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Normal,
    Warning,
}

#[derive(Clone)]
pub struct Events {
    recorder: Recorder,
}

/// The longest Event note written.
const NOTE_LIMIT: usize = 1000;

impl Events {
    pub fn new(client: Client, identity: &str) -> Self {
        Events {
            recorder: Recorder::new(
                client,
                Reporter {
                    controller: "colo".into(),
                    instance: Some(identity.to_string()),
                },
            ),
        }
    }

    /// Publishes `reason` with `note` on `object`.
    pub async fn publish<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        kind: Kind,
        reason: &str,
        note: &str,
    ) {
        let event = Event {
            type_: match kind {
                Kind::Normal => EventType::Normal,
                Kind::Warning => EventType::Warning,
            },
            reason: reason.into(),
            note: Some(note.chars().take(NOTE_LIMIT).collect()),
            action: reason.into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &object.object_ref(&())).await {
            tracing::warn!(error = %e, reason, "could not publish an event");
        }
    }
}
