//! Who reads the report, and which agencies' figures they may see. A bearer token is checked
//! with the hub's TokenReview; an agency's figures go only to users the hub lets `get` that
//! Agency (its people, through the binding the operator keeps; finance and the platform team,
//! whose ClusterRoles may get every Agency). Answers are kept for a short while so that a page
//! load is not a burst of reviews, and a hub that is slow delays readers, not the operator.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::UserInfo;
use tokio::sync::Semaphore;

use crate::k8s::reviews::{self, Question};

/// Why a request is refused: 401 for the first two, 403, or 503 when the hub cannot say.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Denied {
    #[error(
        "no credentials: send `Authorization: Bearer <token>` with a token the hub accepts (e.g. `kubectl create token <service-account>`), or sign in on the page"
    )]
    NoCredentials,
    #[error("the hub does not accept this token: {0}")]
    BadToken(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("cannot check who is asking: {0}")]
    Unavailable(String),
}

/// A reader the hub has authenticated.
#[derive(Clone, Debug)]
pub struct Viewer {
    user: UserInfo,
    /// The user's name, uid and groups: what a decision depends on.
    key: String,
}

impl Viewer {
    pub fn name(&self) -> &str {
        self.user.username.as_deref().unwrap_or("(unnamed)")
    }
}

/// Which agencies' figures a reader may see.
#[derive(Clone, Debug, PartialEq)]
pub enum Scope {
    /// Every agency and the estate's own lines (finance, the platform team).
    Everything,
    Agencies(BTreeSet<String>),
}

impl Scope {
    pub fn allows(&self, agency: &str) -> bool {
        match self {
            Scope::Everything => true,
            Scope::Agencies(names) => names.contains(agency),
        }
    }
}

/// Answers kept until they are `ttl` old; at most `MAX_ENTRIES` (random tokens must not
/// grow it without bound).
struct Cache<K, V> {
    ttl: Duration,
    entries: HashMap<K, (Instant, V)>,
}

const MAX_ENTRIES: usize = 10_000;

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    fn new(ttl: Duration) -> Self {
        Cache {
            ttl,
            entries: HashMap::new(),
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        let (at, value) = self.entries.get(key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    fn put(&mut self, key: K, value: V) {
        if self.entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            self.entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if self.entries.len() >= MAX_ENTRIES {
                self.entries.clear();
            }
        }
        self.entries.insert(key, (Instant::now(), value));
    }
}

/// Reviews in flight at once: a flood of requests waits here rather than at the hub.
const CONCURRENT_REVIEWS: usize = 8;

pub struct Gate {
    /// A hub client outside the leader's fence: every replica answers readers.
    client: kube::Client,
    tokens: Mutex<Cache<String, Result<UserInfo, String>>>,
    decisions: Mutex<Cache<(String, String), bool>>,
    in_flight: Semaphore,
}

impl Gate {
    pub fn new(client: kube::Client, ttl: Duration) -> Self {
        Gate {
            client,
            tokens: Mutex::new(Cache::new(ttl)),
            decisions: Mutex::new(Cache::new(ttl)),
            in_flight: Semaphore::new(CONCURRENT_REVIEWS),
        }
    }

    /// The reader holding `token`.
    pub async fn viewer(&self, token: Option<&str>) -> Result<Viewer, Denied> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(Denied::NoCredentials)?;
        let known = self
            .tokens
            .lock()
            .expect("token cache")
            .get(&token.to_string());
        let answer = match known {
            Some(answer) => answer,
            None => {
                let _turn = self.in_flight.acquire().await.expect("never closed");
                let answer = reviews::who(&self.client, token)
                    .await
                    .map_err(Denied::Unavailable)?;
                let mut tokens = self.tokens.lock().expect("token cache");
                tokens.put(token.to_string(), answer.clone());
                answer
            }
        };
        let user = answer.map_err(Denied::BadToken)?;
        let key = format!(
            "{}\n{}\n{}",
            user.username.as_deref().unwrap_or_default(),
            user.uid.as_deref().unwrap_or_default(),
            user.groups.as_deref().unwrap_or_default().join(",")
        );
        Ok(Viewer { user, key })
    }

    async fn may(&self, viewer: &Viewer, q: Question<'_>) -> Result<bool, Denied> {
        let what = format!("{} {} {}", q.verb, q.resource, q.name.unwrap_or("*"));
        let key = (viewer.key.clone(), what);
        if let Some(allowed) = self.decisions.lock().expect("decision cache").get(&key) {
            return Ok(allowed);
        }
        let _turn = self.in_flight.acquire().await.expect("never closed");
        let allowed = reviews::may(&self.client, &viewer.user, &q)
            .await
            .map_err(Denied::Unavailable)?;
        self.decisions
            .lock()
            .expect("decision cache")
            .put(key, allowed);
        Ok(allowed)
    }

    /// The agencies among `agencies` whose figures `viewer` may see.
    pub async fn scope(&self, viewer: &Viewer, agencies: &[&str]) -> Result<Scope, Denied> {
        if self.may(viewer, get_agency(None)).await? {
            return Ok(Scope::Everything);
        }
        let asked = agencies.iter().map(|name| async move {
            let allowed = self.may(viewer, get_agency(Some(name))).await?;
            Ok::<_, Denied>(allowed.then(|| name.to_string()))
        });
        let answers = futures::future::try_join_all(asked).await?;
        Ok(Scope::Agencies(answers.into_iter().flatten().collect()))
    }

    /// Refuses unless `viewer` may see `agency`'s figures (the same answer whether or not the
    /// agency exists: a refusal tells nothing about another agency).
    pub async fn may_read_agency(&self, viewer: &Viewer, agency: &str) -> Result<(), Denied> {
        if self.may(viewer, get_agency(None)).await?
            || self.may(viewer, get_agency(Some(agency))).await?
        {
            return Ok(());
        }
        Err(Denied::Forbidden(format!(
            "{} may not read agency {agency:?}'s figures: that needs `get` on agencies.colo.dev {agency:?} (the agency's groups have it; finance and the platform team have it for every agency)",
            viewer.name()
        )))
    }

    /// Refuses unless `viewer` may see every agency (the estate's totals and spare lines).
    pub async fn may_read_estate(&self, viewer: &Viewer) -> Result<(), Denied> {
        if self.may(viewer, get_agency(None)).await? {
            return Ok(());
        }
        Err(Denied::Forbidden(format!(
            "{} may not read the estate's totals: that needs `get` on every agencies.colo.dev (the colo-finance or colo-platform ClusterRole); /api/v1/agencies lists the agencies you may read",
            viewer.name()
        )))
    }

    /// Refuses unless `viewer` may list ConsolidationPlans.
    pub async fn may_read_plans(&self, viewer: &Viewer) -> Result<(), Denied> {
        let q = Question {
            verb: "list",
            resource: "consolidationplans",
            name: None,
        };
        if self.may(viewer, q).await? {
            return Ok(());
        }
        Err(Denied::Forbidden(format!(
            "{} may not read consolidation plans: that needs `list` on consolidationplans.colo.dev (the colo-finance or colo-platform ClusterRole)",
            viewer.name()
        )))
    }
}

fn get_agency(name: Option<&str>) -> Question<'_> {
    Question {
        verb: "get",
        resource: "agencies",
        name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_expire_and_the_cache_stays_bounded() {
        let mut cache: Cache<usize, bool> = Cache::new(Duration::from_secs(60));
        cache.put(1, true);
        assert_eq!(cache.get(&1), Some(true));
        for i in 0..MAX_ENTRIES + 5 {
            cache.put(i, false);
        }
        assert!(cache.entries.len() <= MAX_ENTRIES);
        let mut stale: Cache<usize, bool> = Cache::new(Duration::ZERO);
        stale.put(1, true);
        assert_eq!(
            stale.get(&1),
            None,
            "an answer older than its ttl is asked again"
        );
    }

    #[test]
    fn a_scope_of_agencies_allows_only_them() {
        let scope = Scope::Agencies(["dvla".to_string()].into());
        assert!(scope.allows("dvla"));
        assert!(!scope.allows("hmrc"));
        assert!(Scope::Everything.allows("hmrc"));
    }
}
