//! The Agency controller, the one writer of Agency status: its tenancies, this month's and
//! to-date figures from the ledger the accounting loop keeps in the state, `WithinBudget`
//! (with an Event when it is first over) and `NamespacesOwned`. Woken by spec changes (its
//! own, and other Agencies'), by its tenancies, and by every accounting tick. A finalizer
//! empties its member namespaces when it is deleted: revocation is immediate and complete.
//! It also keeps its people's roles on the hub (`k8s::access`): Tenancies in the namespaces it
//! owns, and reading its own Agency.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use colo_api::{Agency, AgencyStatus};
use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, finalizer};
use kube::{Api, ResourceExt};

use super::ErrorKind;
use super::ownership::{self, Owner};
use crate::context::Context;
use crate::figures::{AgencyMonth, agency_month};
use crate::k8s::events::Kind;
use crate::k8s::labels;
use crate::k8s::status::{Said, condition, set_condition};
use crate::k8s::{access, guard};

const BUDGET: &str = "WithinBudget";
const OWNED: &str = "NamespacesOwned";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("write status: {0}")]
    Status(#[source] kube::Error),
    #[error("remove its member namespace in {cluster}: {source}")]
    Cleanup {
        cluster: String,
        #[source]
        source: kube::Error,
    },
    #[error("keep its people's roles on the hub: {0}")]
    Access(#[source] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
}

impl ErrorKind for Error {
    fn kind(&self) -> &'static str {
        match self {
            Error::Status(_) => "status",
            Error::Cleanup { .. } => "cleanup",
            Error::Access(_) => "access",
            Error::Finalizer(e) => super::finalizer_kind(e),
        }
    }
}

pub async fn reconcile(agency: Arc<Agency>, ctx: Arc<Context>) -> Result<Action, Error> {
    let api = Api::<Agency>::all(ctx.client.clone());
    finalizer(&api, labels::FINALIZER, agency, |event| async {
        match event {
            finalizer::Event::Apply(a) => write_status(a, &ctx).await,
            finalizer::Event::Cleanup(a) => empty_member_namespaces(a, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// Deletes the agency's namespace in every member cluster that answers (its quota, limits,
/// policy, role binding and whatever still runs there go with it). A member that does not
/// answer does not hold the delete up: `sweep_namespaces` empties it when it answers again.
async fn empty_member_namespaces(agency: Arc<Agency>, ctx: &Context) -> Result<Action, Error> {
    let name = agency.name_any();
    access::revoke(&ctx.client, &name)
        .await
        .map_err(Error::Access)?;
    let namespace = labels::member_namespace(&name);
    let lock = ctx.agency_lock(&name);
    let _held = lock.lock().await;
    let (mut emptied, mut left) = (Vec::new(), Vec::new());
    for cluster in ctx.hub_clusters() {
        let cluster_name = cluster.name_any();
        let client = match ctx.answering_member(&cluster).await {
            Ok(client) => client,
            Err(why) => {
                tracing::warn!(cluster = %cluster_name, agency = %name, %why, "namespace removal left for when it answers");
                left.push(cluster_name);
                continue;
            }
        };
        if delete_namespace(client, &namespace, &name, &cluster_name).await? {
            emptied.push(cluster_name.clone());
        }
        ctx.state.space_unknown(&cluster_name, &name);
    }
    if !emptied.is_empty() || !left.is_empty() {
        let mut note = format!(
            "member namespace {namespace} removed from {}",
            list(&emptied)
        );
        if !left.is_empty() {
            let later = format!(
                "; {} does not answer now, and it goes there when it does",
                list(&left)
            );
            note.push_str(&later);
        }
        ctx.events
            .publish(&*agency, Kind::Normal, "CleanedUp", &note)
            .await;
    }
    Ok(Action::await_change())
}

fn list(clusters: &[String]) -> String {
    match clusters.is_empty() {
        true => "no member cluster".into(),
        false => clusters.join(", "),
    }
}

/// Deletes the agency's member namespace in one cluster if Colo made it for the agency;
/// true when it went now.
async fn delete_namespace(
    client: kube::Client,
    namespace: &str,
    agency: &str,
    cluster: &str,
) -> Result<bool, Error> {
    let api = Api::<Namespace>::all(client);
    let fail = |source| Error::Cleanup {
        cluster: cluster.to_string(),
        source,
    };
    // Only the agency's own member namespace, whatever another's labels say.
    if namespace != labels::member_namespace(agency) {
        tracing::warn!(%namespace, %agency, "not deleted: it is not the agency's member namespace");
        return Ok(false);
    }
    let Some(ns) = api.get_opt(namespace).await.map_err(fail)? else {
        return Ok(false);
    };
    guard::delete(&api, &ns, guard::Owner::Agency(agency))
        .await
        .map_err(fail)
}

/// Removes, from a member that answers, the namespaces of agencies deleted while it did not
/// (each checked on the hub itself, not only in the watch, before it goes).
pub async fn sweep_namespaces(ctx: &Context, cluster: &colo_api::SharedCluster) {
    let name = cluster.name_any();
    let Ok(client) = ctx.answering_member(cluster).await else {
        return;
    };
    let selector = kube::api::ListParams::default().labels(&labels::managed_by_colo());
    let Ok(namespaces) = Api::<Namespace>::all(client.clone()).list(&selector).await else {
        return;
    };
    let known: std::collections::HashSet<String> =
        ctx.hub_agencies().iter().map(|a| a.name_any()).collect();
    let hub = Api::<Agency>::all(ctx.client.clone());
    for ns in namespaces {
        let Some(agency) = ns.labels().get(labels::AGENCY_LABEL) else {
            continue;
        };
        if ns.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if known.contains(agency) || !matches!(hub.get_opt(agency).await, Ok(None)) {
            continue;
        }
        match delete_namespace(client.clone(), &ns.name_any(), agency, &name).await {
            Ok(_) => {
                tracing::info!(cluster = %name, %agency, "removed the namespace of an agency deleted while this member did not answer")
            }
            Err(e) => {
                tracing::warn!(cluster = %name, %agency, error = %e, "cannot remove the namespace of a deleted agency yet")
            }
        }
    }
}

async fn write_status(agency: Arc<Agency>, ctx: &Context) -> Result<Action, Error> {
    let name = agency.name_any();
    let currency = &ctx.config.currency;
    let month = ctx
        .state
        .ledger()
        .and_then(|l| agency_month(&agency, &l, currency));
    let tenancies = ctx.state.accepted_of(&name) as i32;
    let now = ctx.clock.now();
    let mut status = status(&agency, tenancies, month, now, currency);
    let (owned_namespaces, refused) = claims(ctx, &agency).await?;
    let manager = &ctx.config.field_manager;
    access::grant(&ctx.client, &agency, &owned_namespaces, manager)
        .await
        .map_err(Error::Access)?;
    set_condition(
        &mut status.conditions,
        owned(&refused).said(),
        now,
        agency.metadata.generation,
    );
    if went_over_budget(&agency, &status) {
        let note = condition(&status.conditions, BUDGET).map(|c| c.message.clone());
        let note = note.unwrap_or_default();
        ctx.events
            .publish(&*agency, Kind::Warning, "OverBudget", &note)
            .await;
    }
    let api = Api::<Agency>::all(ctx.client.clone());
    crate::k8s::status::write(&api, &*agency, agency.status.as_ref(), &status, manager)
        .await
        .map_err(Error::Status)?;
    // A namespace made, or labelled, after its Agency wakes it (the hub's namespace watch).
    Ok(Action::requeue(Duration::from_secs(300)))
}

/// The namespaces the agency lists that are labelled for it, and why each of the others is
/// not its own (labelled for another agency, not labelled, or missing).
async fn claims(ctx: &Context, agency: &Agency) -> Result<(Vec<String>, Vec<String>), Error> {
    let name = agency.name_any();
    let (mut owned, mut refused) = (Vec::new(), Vec::new());
    for ns in &agency.spec.namespaces {
        let owner = ownership::owner_of(ctx, ns, &name)
            .await
            .map_err(Error::Access)?;
        match ownership::not_owned(ns, &owner, &name) {
            None => owned.push(ns.clone()),
            Some(why) => refused.push((why, owner)),
        }
    }
    // A namespace that does not exist yet is said last: it is what onboarding waits for.
    refused.sort_by_key(|(_, owner)| *owner == Owner::Missing);
    Ok((owned, refused.into_iter().map(|(why, _)| why).collect()))
}

/// `NamespacesOwned`: False, saying who owns each namespace it lists but does not own.
struct Owned {
    ok: bool,
    message: String,
}

impl Owned {
    fn said(&self) -> Said<'_> {
        Said {
            type_: OWNED,
            status: self.ok,
            reason: if self.ok {
                "NamespacesOwned"
            } else {
                "NamespaceNotOwned"
            },
            message: &self.message,
        }
    }
}

fn owned(refused: &[String]) -> Owned {
    if refused.is_empty() {
        return Owned {
            ok: true,
            message: "every namespace it lists is labelled for it".into(),
        };
    }
    Owned {
        ok: false,
        message: format!(
            "{}; it gets nothing there, and whatever runs there is left as it is",
            refused.join("; ")
        ),
    }
}

fn went_over_budget(agency: &Agency, now: &AgencyStatus) -> bool {
    let over = |conditions: &[colo_api::Condition]| {
        condition(conditions, BUDGET).is_some_and(|c| c.status == "False")
    };
    let before = agency.status.as_ref().map(|s| s.conditions.as_slice());
    over(&now.conditions) && !over(before.unwrap_or_default())
}

/// The Agency's status: figures when the ledger has some (else the last ones stay).
pub fn status(
    agency: &Agency,
    tenancies: i32,
    month: Option<AgencyMonth>,
    now: DateTime<Utc>,
    currency: &str,
) -> AgencyStatus {
    let old = agency.status.clone().unwrap_or_default();
    let mut status = AgencyStatus {
        tenancies,
        observed_generation: agency.metadata.generation,
        ..old
    };
    let Some(month) = month else {
        return status;
    };
    status
        .conditions
        .retain(|c| c.type_ != BUDGET || agency.spec.budget.is_some());
    if let Some(budget) = agency.spec.budget {
        let cost = month.this_month.cost;
        let message =
            format!("{cost:.2} of the monthly budget {budget:.2} {currency} spent this month");
        let within = cost <= budget;
        let said = Said {
            type_: BUDGET,
            status: within,
            reason: if within { "WithinBudget" } else { "OverBudget" },
            message: &message,
        };
        set_condition(
            &mut status.conditions,
            said,
            now,
            agency.metadata.generation,
        );
    }
    status.usage = Some(month.usage);
    status.month_cost = Some(format!("{:.2} {currency}", month.this_month.cost));
    status.month_savings = Some(format!("{:.2} {currency}", month.this_month.savings));
    status.this_month = Some(month.this_month);
    status.to_date = Some(month.to_date);
    status.quote = month.quote;
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use colo_engine::ledger::{AgencyLedger, Ledger};

    fn agency(budget: Option<f64>) -> Agency {
        let spec = serde_json::from_value(serde_json::json!({
            "displayName": "D", "costCentre": "C", "namespaces": ["a"],
            "maxClassification": "OFFICIAL", "budget": budget
        }))
        .unwrap();
        Agency::new("a", spec)
    }

    fn month(cost: f64) -> AgencyMonth {
        let mut ledger = Ledger {
            since: 1_800_000_000,
            until: 1_800_000_600,
            ..Default::default()
        };
        let mut a = AgencyLedger::default();
        a.shared.cost = cost;
        ledger.this_month.agencies.insert("a".into(), a);
        agency_month(&agency(None), &ledger, "GBP").unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
    }

    #[test]
    fn over_budget_is_a_false_condition_that_says_how_much() {
        let s = status(&agency(Some(10.0)), 2, Some(month(12.5)), now(), "GBP");
        let c = condition(&s.conditions, BUDGET).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "OverBudget")
        );
        assert_eq!(
            c.message,
            "12.50 of the monthly budget 10.00 GBP spent this month"
        );
        assert_eq!(s.tenancies, 2);
        assert_eq!(s.this_month.unwrap().cost, 12.5);
        let mut a = agency(Some(10.0));
        assert!(went_over_budget(
            &a,
            &status(&a, 2, Some(month(12.5)), now(), "GBP")
        ));
        a.status = Some(status(&a, 2, Some(month(12.5)), now(), "GBP"));
        assert!(!went_over_budget(
            &a,
            &status(&a, 2, Some(month(13.0)), now(), "GBP")
        ));
    }

    #[test]
    fn without_a_budget_there_is_no_budget_condition_and_without_a_ledger_figures_stay() {
        let s = status(&agency(None), 0, Some(month(1.0)), now(), "GBP");
        assert!(condition(&s.conditions, BUDGET).is_none());
        let mut a = agency(None);
        a.status = Some(s.clone());
        let kept = status(&a, 1, None, now(), "GBP");
        assert_eq!(kept.this_month, s.this_month);
        assert_eq!(kept.tenancies, 1);
    }
}
