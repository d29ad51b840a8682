//! Asking the hub who holds a bearer token (TokenReview) and whether a user may do something
//! (SubjectAccessReview): the report API's readers are the hub's users, with the hub's RBAC.

use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;

use crate::k8s::plain;

/// How long one review may take before the reader is told the hub is not answering.
const REVIEW_TIMEOUT: Duration = Duration::from_secs(10);

/// Who the hub says holds `token`: `Ok(Err(reason))` when it does not accept the token,
/// `Err` when it could not be asked.
pub async fn who(client: &kube::Client, token: &str) -> Result<Result<UserInfo, String>, String> {
    let review = TokenReview {
        spec: TokenReviewSpec {
            token: token.to_string(),
            audiences: None,
        },
        ..Default::default()
    };
    let api: Api<TokenReview> = Api::all(client.clone());
    let answer = ask(api.create(&PostParams::default(), &review)).await?;
    let status = answer.status.unwrap_or_default();
    match (status.authenticated, status.user) {
        (Some(true), Some(user)) => Ok(Ok(user)),
        _ => Ok(Err(status.error.filter(|e| !e.is_empty()).unwrap_or_else(
            || "the token is unknown or has expired".into(),
        ))),
    }
}

/// One question about a cluster-scoped resource of Colo's API group.
pub struct Question<'a> {
    pub verb: &'a str,
    pub resource: &'a str,
    /// One object, or None for every object of the resource.
    pub name: Option<&'a str>,
}

/// Whether the hub's authorisers (RBAC) let `user` do what `q` says.
pub async fn may(client: &kube::Client, user: &UserInfo, q: &Question<'_>) -> Result<bool, String> {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: user.username.clone(),
            uid: user.uid.clone(),
            groups: user.groups.clone(),
            extra: user.extra.clone(),
            resource_attributes: Some(ResourceAttributes {
                group: Some(colo_api::GROUP.to_string()),
                resource: Some(q.resource.to_string()),
                verb: Some(q.verb.to_string()),
                name: q.name.map(str::to_string),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let answer = ask(api.create(&PostParams::default(), &review)).await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

async fn ask<T>(call: impl Future<Output = Result<T, kube::Error>>) -> Result<T, String> {
    match tokio::time::timeout(REVIEW_TIMEOUT, call).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(plain::kube_error(&e)),
        Err(_) => Err(format!(
            "the hub did not answer within {} s",
            REVIEW_TIMEOUT.as_secs()
        )),
    }
}
