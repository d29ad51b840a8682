//! Revocation: a tenancy that is rejected while it has copies in member clusters (its Agency
//! was deleted, lost the namespace, or was cleared lower) keeps them for a short grace, so a
//! mistaken edit can be undone, then they are removed.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use colo_api::{Agency, Tenancy};

use super::Error;
use super::apply::{client_of, copies, shrink_quotas};
use super::materialise;
use crate::context::Context;
use crate::k8s::keys::TenancyKey;

/// What becomes of a rejected tenancy's copies.
#[derive(Clone, Debug, PartialEq)]
pub enum Revocation {
    /// It has none.
    Nothing,
    /// They are removed at `at` unless the rejection is lifted first.
    Due {
        at: DateTime<Utc>,
        clusters: BTreeSet<String>,
    },
    /// They were removed from these clusters now.
    Done { clusters: BTreeSet<String> },
}

pub async fn revoke(
    ctx: &Context,
    tenancy: &Tenancy,
    agency: Option<&Agency>,
    now: DateTime<Utc>,
) -> Result<Revocation, Error> {
    let key = TenancyKey::of(tenancy);
    let clusters = copies(ctx, &key);
    if clusters.is_empty() {
        ctx.state.clear_placement(&key);
        return Ok(match ctx.state.was_revoked(&key) {
            Some(clusters) => Revocation::Done { clusters },
            None => Revocation::Nothing,
        });
    }
    let grace = chrono::Duration::from_std(ctx.config.revocation_grace).unwrap_or_default();
    let at = ctx.state.rejected_since(&key, now) + grace;
    if now < at {
        return Ok(Revocation::Due { at, clusters });
    }
    let lock = ctx.agency_lock(&tenancy.spec.agency);
    let _held = lock.lock().await;
    for name in &clusters {
        let Some(client) = client_of(ctx, name).await? else {
            continue;
        };
        materialise::remove(&client, &key, &tenancy.spec.agency)
            .await
            .map_err(|source| Error::Cleanup {
                cluster: name.clone(),
                source,
            })?;
    }
    ctx.state.clear_placement(&key);
    ctx.state.revoked(&key, clusters.clone());
    if let Some(agency) = agency {
        shrink_quotas(ctx, agency, &clusters, now).await?;
    }
    Ok(Revocation::Done { clusters })
}
