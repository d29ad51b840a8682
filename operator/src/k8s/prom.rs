//! A small Prometheus HTTP API client: instant queries, vector results.

use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum PromError {
    #[error("Prometheus at {url} is unreachable ({})", super::plain::root_cause(.source))]
    Unreachable { url: String, source: reqwest::Error },
    #[error("Prometheus at {url} refused the query {query:?}: {message}")]
    Query {
        url: String,
        query: String,
        message: String,
    },
}

/// One sample of an instant vector: its labels and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Clone)]
pub struct Prometheus {
    http: reqwest::Client,
    url: String,
}

impl Prometheus {
    pub fn new(url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client");
        Prometheus {
            http,
            url: url.trim_end_matches('/').to_string(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn query(&self, query: &str) -> Result<Vec<Sample>, PromError> {
        self.query_at(query, None).await
    }

    /// An instant query evaluated at `at` (Unix seconds; None: now).
    pub async fn query_at(&self, query: &str, at: Option<i64>) -> Result<Vec<Sample>, PromError> {
        let time = at.map(|t| t.to_string());
        let mut form = vec![("query", query)];
        if let Some(t) = &time {
            form.push(("time", t.as_str()));
        }
        let unreachable = |source| PromError::Unreachable {
            url: self.url.clone(),
            source,
        };
        let response = self
            .http
            .post(format!("{}/api/v1/query", self.url))
            .form(&form)
            .send()
            .await
            .map_err(unreachable)?;
        let body: serde_json::Value = response.json().await.map_err(unreachable)?;
        if body["status"] != "success" {
            return Err(PromError::Query {
                url: self.url.clone(),
                query: query.to_string(),
                message: body["error"]
                    .as_str()
                    .unwrap_or("no error given")
                    .to_string(),
            });
        }
        let samples = body["data"]["result"]
            .as_array()
            .map(|results| {
                results
                    .iter()
                    .filter_map(|r| {
                        let labels = r["metric"]
                            .as_object()?
                            .iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect();
                        let value = r["value"][1].as_str()?.parse().ok()?;
                        Some(Sample { labels, value })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(samples)
    }
}
