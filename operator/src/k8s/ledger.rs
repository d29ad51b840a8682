//! The ledger's home on the hub: one ConfigMap in the operator's namespace, replaced only at
//! the resourceVersion it was read at, so two writers can never both count an interval.

use std::collections::BTreeMap;

use colo_engine::ledger::Ledger;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::PostParams;

use super::labels::{LEDGER_CONFIGMAP, LEDGER_KEY, MANAGED_BY, MANAGED_BY_LABEL};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("read the ledger: {0}")]
    Read(#[source] kube::Error),
    #[error("the ledger in {LEDGER_CONFIGMAP} is not readable: {0}")]
    Corrupt(String),
    #[error("persist the ledger (another writer, or the API server): {0}")]
    Persist(#[source] kube::Error),
}

/// The ledger and the ConfigMap's resourceVersion (None: no ledger yet).
pub async fn load(api: &Api<ConfigMap>) -> Result<(Ledger, Option<String>), LedgerError> {
    let Some(cm) = api
        .get_opt(LEDGER_CONFIGMAP)
        .await
        .map_err(LedgerError::Read)?
    else {
        return Ok((Ledger::default(), None));
    };
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(LEDGER_KEY))
        .ok_or_else(|| LedgerError::Corrupt(format!("no key {LEDGER_KEY}")))?;
    let ledger = serde_json::from_str(text).map_err(|e| LedgerError::Corrupt(e.to_string()))?;
    Ok((ledger, cm.metadata.resource_version))
}

/// Writes the ledger only if nobody wrote it since `version` was read (else 409 Conflict).
pub async fn persist(
    api: &Api<ConfigMap>,
    ledger: &Ledger,
    version: Option<String>,
    manager: &str,
) -> Result<(), LedgerError> {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(LEDGER_CONFIGMAP.into());
    cm.metadata.labels = Some(BTreeMap::from([(
        MANAGED_BY_LABEL.to_string(),
        MANAGED_BY.to_string(),
    )]));
    cm.data = Some(BTreeMap::from([(
        LEDGER_KEY.to_string(),
        serde_json::to_string(ledger).expect("a ledger serialises"),
    )]));
    let pp = PostParams {
        field_manager: Some(manager.to_string()),
        ..Default::default()
    };
    match version {
        None => api.create(&pp, &cm).await.map(|_| ()),
        Some(v) => {
            cm.metadata.resource_version = Some(v);
            api.replace(LEDGER_CONFIGMAP, &pp, &cm).await.map(|_| ())
        }
    }
    .map_err(LedgerError::Persist)
}
