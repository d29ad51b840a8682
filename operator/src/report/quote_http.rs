//! The quote over HTTP: `POST /api/v1/quote` (an inventory in, the quote on the live estate
//! out) and the page `/quote` (its form, and the form's inventory quoted on one page); for
//! the platform team and finance, since a quote shows the estate's room. The reader is
//! checked before a byte of the body is read: a stranger's upload is refused unread.

use std::collections::BTreeMap;
use std::sync::Arc;

use warp::Filter;
use warp::http::StatusCode;

use super::ReportError;
use super::auth::{Denied, Gate};
use super::http::{Response, Served, caught, html, json, reader, reply, status_of, with};
use super::login;

/// Every quote route, each refusing a reader who may not read the estate before its body.
pub fn routes(
    served: Served,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    api(served.clone())
        .or(form(served.clone()))
        .unify()
        .or(page(served))
        .unify()
        .recover(refused)
        .unify()
}

/// Why a quote route refused its reader, and how to say so.
#[derive(Debug)]
struct Refused {
    denied: Denied,
    /// The page (a sign-in form) or the API (JSON).
    page: bool,
}

impl warp::reject::Reject for Refused {}

/// The reader, when the hub lets them read the estate; else the request is refused here,
/// before any later filter reads its body.
fn estate_reader(
    gate: Arc<Gate>,
    page: bool,
) -> impl Filter<Extract = ((),), Error = warp::Rejection> + Clone {
    reader(gate.clone()).and_then(move |viewer| {
        let gate = gate.clone();
        async move {
            let allowed = match viewer {
                Ok(v) => gate.may_read_estate(&v).await,
                Err(d) => Err(d),
            };
            allowed.map_err(|denied| warp::reject::custom(Refused { denied, page }))
        }
    })
}

async fn refused(rejection: warp::Rejection) -> Result<Response, warp::Rejection> {
    match rejection.find::<Refused>() {
        Some(r) if r.page => {
            let d = &r.denied;
            Ok(html(status_of(d), login::page(&d.to_string())))
        }
        Some(r) => Ok(reply(Err(ReportError::Denied(r.denied.clone())))),
        None => Err(rejection),
    }
}

/// `POST /api/v1/quote`: YAML or JSON, or CSV (`Content-Type: text/csv`, settings as query
/// parameters); docs/quote.md.
fn api(served: Served) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let metrics = served.ctx.metrics.clone();
    warp::post()
        .and(warp::path!("api" / "v1" / "quote"))
        .and(estate_reader(served.gate.clone(), false))
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::query::<BTreeMap<String, String>>())
        .and(warp::body::content_length_limit(
            super::quote::MAX_INVENTORY_BYTES,
        ))
        .and(warp::body::bytes())
        .and(with(served))
        .then(
            move |(), kind: Option<String>, params, body: bytes::Bytes, s: Served| {
                let csv = kind.is_some_and(|k| k.starts_with("text/csv"));
                let answer = async move { reply(s.quote(&body, csv, &params).await) };
                caught(metrics.clone(), "POST /api/v1/quote", answer)
            },
        )
}

/// `GET /quote`: the form.
fn form(served: Served) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    warp::get()
        .and(warp::path!("quote"))
        .and(estate_reader(served.gate.clone(), true))
        .map(|()| html(StatusCode::OK, super::quote_page::form("", None)))
}

/// `POST /quote`: the form's inventory (pasted, or its file uploaded), quoted on one page.
fn page(served: Served) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let metrics = served.ctx.metrics.clone();
    warp::post()
        .and(warp::path!("quote"))
        .and(estate_reader(served.gate.clone(), true))
        .and(warp::body::content_length_limit(
            super::quote::MAX_INVENTORY_BYTES,
        ))
        .and(form_fields())
        .and(with(served))
        .then(move |(), fields, s: Served| {
            caught(metrics.clone(), "POST /quote", async move {
                s.quote_page(fields).await
            })
        })
}

/// The quote form's fields: multipart (as the page sends it, a file perhaps uploaded) or
/// urlencoded (as a script might).
fn form_fields()
-> impl Filter<Extract = (Result<BTreeMap<String, String>, String>,), Error = warp::Rejection> + Clone
{
    let urlencoded = warp::body::form::<BTreeMap<String, String>>().map(Ok);
    let multipart = warp::multipart::form()
        .max_length(super::quote::MAX_INVENTORY_BYTES)
        .then(super::quote::form_fields);
    urlencoded.or(multipart).unify()
}

impl Served {
    /// The quote of the pasted inventory on one page; a problem shows the form again with it.
    async fn quote_page(&self, fields: Result<BTreeMap<String, String>, String>) -> Response {
        let again = |pasted: &str, why: &str| {
            let page = super::quote_page::form(pasted, Some(why));
            html(StatusCode::BAD_REQUEST, page)
        };
        let mut fields = match fields {
            Ok(fields) => fields,
            Err(why) => return again("", &why),
        };
        let pasted = fields.remove("inventory").unwrap_or_default();
        if pasted.trim().is_empty() {
            return again("", "paste the inventory or choose its file");
        }
        fields.retain(|_, v| !v.trim().is_empty());
        let csv = super::quote::looks_like_csv(&pasted);
        let answer =
            super::quote::quote(&self.ctx, &self.quoting, pasted.as_bytes(), csv, &fields).await;
        let currency = &self.ctx.config.currency;
        match answer {
            Ok(q) => html(StatusCode::OK, super::quote_page::render(&q, currency)),
            Err(e) => {
                let status = match e {
                    ReportError::BadRequest(_) => StatusCode::BAD_REQUEST,
                    _ => StatusCode::SERVICE_UNAVAILABLE,
                };
                let form = super::quote_page::form(&pasted, Some(&e.to_string()));
                html(status, form)
            }
        }
    }

    async fn quote(
        &self,
        body: &[u8],
        csv: bool,
        params: &BTreeMap<String, String>,
    ) -> Result<Response, ReportError> {
        let quote = super::quote::quote(&self.ctx, &self.quoting, body, csv, params).await?;
        Ok(json(&quote))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::http::served_for_tests as served;

    #[tokio::test]
    async fn a_quote_from_a_stranger_is_refused_before_its_body_is_read() {
        let big = vec![b'a'; (super::super::quote::MAX_INVENTORY_BYTES + 1) as usize];
        for (path, page) in [("/api/v1/quote", false), ("/quote", true)] {
            let answer = warp::test::request()
                .method("POST")
                .path(path)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(big.clone())
                .reply(&routes(served()))
                .await;
            // 401, not 413: the reader was refused before the body's size was even looked at.
            assert_eq!(answer.status(), 401, "{path}");
            let body = String::from_utf8_lossy(answer.body());
            assert!(body.contains("no credentials"), "{path}: {body}");
            assert_eq!(body.contains("<form"), page, "{path}: {body}");
        }
        let form = warp::test::request()
            .path("/quote")
            .reply(&routes(served()))
            .await;
        assert_eq!(form.status(), 401);
    }

    const BOUNDARY: &str = "colo-test-boundary";

    /// A multipart body as a browser sends the quote form: (field, filename, content).
    fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (name, file, content) in parts {
            let file = file.map_or(String::new(), |f| format!("; filename=\"{f}\""));
            body.extend(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n"
                )
                .bytes(),
            );
            body.extend_from_slice(content);
            body.extend(b"\r\n");
        }
        body.extend(format!("--{BOUNDARY}--\r\n").bytes());
        body
    }

    async fn fields(
        parts: &[(&str, Option<&str>, &[u8])],
    ) -> Result<BTreeMap<String, String>, String> {
        warp::test::request()
            .method("POST")
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(multipart(parts))
            .filter(&form_fields())
            .await
            .expect("the filter takes a multipart form")
    }

    #[tokio::test]
    async fn an_uploaded_inventory_takes_the_place_of_pasted_text() {
        let got = fields(&[
            ("inventory", None, b"pasted"),
            ("inventoryFile", Some("room.csv"), b"name,count\nweb,2\n"),
            ("agency", None, b"fenland-council"),
        ])
        .await
        .unwrap();
        assert_eq!(got["inventory"], "name,count\nweb,2\n");
        assert_eq!(got["agency"], "fenland-council");
        assert!(!got.contains_key("inventoryFile"));
        // No file chosen: the browser sends an empty part, and the pasted text stands.
        let got = fields(&[
            ("inventory", None, b"agency: x"),
            ("inventoryFile", Some(""), b""),
        ])
        .await
        .unwrap();
        assert_eq!(got["inventory"], "agency: x");
    }

    #[tokio::test]
    async fn a_file_that_is_not_text_is_refused_by_name() {
        let why = fields(&[("inventoryFile", Some("room.xlsx"), b"PK\x03\x04\xff\xfe")])
            .await
            .unwrap_err();
        assert!(
            why.starts_with("inventoryFile: the file is not text"),
            "{why}"
        );
    }
}
