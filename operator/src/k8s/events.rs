//! Kubernetes Events, published one way: on the object they concern, under Colo's reporter.
//! An Event that cannot be written is logged and dropped; it never fails a reconcile.
//!
//! The recorder folds an Event into an earlier one's series when their reason and action
//! match, keeping the earlier note: so the action carries a digest of the note, and only the
//! same news told again becomes a series (a second `Accepted` for another cause is its own
//! Event, with its own note).

use kube::Client;
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

/// The Events Colo publishes, by kind of news.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Normal,
    Warning,
}

/// `reason` and a short digest of `note`: what tells two Events apart.
fn action(reason: &str, note: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    note.hash(&mut hasher);
    format!("{reason}-{:08x}", hasher.finish() as u32)
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
            action: action(reason, note),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &object.object_ref(&())).await {
            tracing::warn!(error = %e, reason, "could not publish an event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_news_shares_an_action_other_news_does_not() {
        let a = action("Accepted", "accepted again: (clearance)");
        assert_eq!(a, action("Accepted", "accepted again: (clearance)"));
        assert_ne!(a, action("Accepted", "accepted again: (label)"));
        assert!(a.starts_with("Accepted-") && a.len() <= 128, "{a}");
    }
}
