//! Status of Colo's own kinds: conditions set one way, and writes by server-side apply under
//! Colo's field manager, only when the status changed (a write that changes nothing would
//! still wake every watcher).

use chrono::{DateTime, Utc};
use colo_api::Condition;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Applies `status` to `object` unless `current` already equals it.
pub async fn write<K, S>(
    api: &Api<K>,
    object: &K,
    current: Option<&S>,
    status: &S,
    manager: &str,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize + PartialEq,
{
    if current == Some(status) {
        return Ok(());
    }
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &object.name_any(),
        &PatchParams::apply(manager).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// The longest condition message written (the API server would take more; people would not).
const MESSAGE_LIMIT: usize = 1024;

/// What a condition should say now.
#[derive(Clone, Debug, PartialEq)]
pub struct Said<'a> {
    pub type_: &'a str,
    pub status: bool,
    pub reason: &'a str,
    pub message: &'a str,
}

/// Sets a condition in `conditions`, keeping its transition time when its status did not
/// change.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    said: Said<'_>,
    now: DateTime<Utc>,
    generation: Option<i64>,
) {
    let status = if said.status { "True" } else { "False" };
    let message: String = said.message.chars().take(MESSAGE_LIMIT).collect();
    let now = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match conditions.iter_mut().find(|c| c.type_ == said.type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = Some(now);
            }
            c.status = status.into();
            c.reason = said.reason.into();
            c.message = message;
            c.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: said.type_.into(),
            status: status.into(),
            reason: said.reason.into(),
            message,
            last_transition_time: Some(now),
            observed_generation: generation,
        }),
    }
}

/// The condition of `type_`, if any.
pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// When the condition of `type_` last became True (None: it is not True).
pub fn true_since(conditions: &[Condition], type_: &str) -> Option<DateTime<Utc>> {
    condition(conditions, type_)
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_deref())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, minute, 0).unwrap()
    }

    fn said(status: bool, message: &str) -> Said<'_> {
        Said {
            type_: "Ready",
            status,
            reason: "R",
            message,
        }
    }

    #[test]
    fn transition_time_moves_only_when_the_status_does() {
        let mut cs = Vec::new();
        set_condition(&mut cs, said(true, "a"), at(0), Some(1));
        set_condition(&mut cs, said(true, "b"), at(5), Some(2));
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].message, "b");
        assert_eq!(cs[0].observed_generation, Some(2));
        assert_eq!(true_since(&cs, "Ready"), Some(at(0)));
        set_condition(&mut cs, said(false, "c"), at(9), Some(2));
        assert_eq!(cs[0].status, "False");
        assert_eq!(
            cs[0].last_transition_time.as_deref(),
            Some("2026-11-27T12:09:00Z")
        );
        assert_eq!(true_since(&cs, "Ready"), None);
    }

    #[test]
    fn long_messages_are_cut() {
        let mut cs = Vec::new();
        set_condition(&mut cs, said(true, &"x".repeat(5000)), at(0), None);
        assert_eq!(cs[0].message.len(), MESSAGE_LIMIT);
    }
}
