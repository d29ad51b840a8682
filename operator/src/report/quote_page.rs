//! The quote page at `/quote`: paste an inventory (YAML, or CSV with its settings), get the
//! quote printed on one page. Server-rendered, no script, like the report page; the figures
//! are `POST /api/v1/quote`'s. docs/quote.md.

use colo_engine::quote::{Month, Quote};

use super::page::{escape, supplied};

const STYLE: &str = r#"<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 60rem; padding: 0 1rem; color: #0b0c0c; }
textarea { width: 100%; font-family: monospace; } label { display: block; margin-top: .5rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #b1b4b6; padding: .3rem .5rem; text-align: right; }
th[scope=row], thead th:first-child { text-align: left; } .verdict { border-left: 4px solid #1d70b8; padding: .2rem .8rem; }
#why { border-left: 4px solid #d4351c; padding: .2rem .8rem; }
@media print { body { margin: 0; max-width: none; font-size: 11px; } .noprint { display: none; } }
</style>"#;

fn document(body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Colo: a quote before moving in</title>
{STYLE}</head><body>
<h1>A quote before moving in</h1>
{body}</body></html>
"#
    )
}

/// The form, with what was pasted and why it was refused, if it was.
pub fn form(pasted: &str, why: Option<&str>) -> String {
    let why = why.map_or_else(String::new, |w| format!(r#"<p id="why">{}</p>"#, escape(w)));
    document(&format!(
        r#"{why}<form method="post" action="/quote" enctype="multipart/form-data" class="noprint">
<label for="inventory">The inventory: YAML as in <code>examples/quote/fenland-council.yaml</code>, or the servers as CSV (a header row, one group of alike servers per row) with the settings below.</label>
<textarea id="inventory" name="inventory" rows="16">{pasted}</textarea>
<label>or its file: <input type="file" id="inventory-file" name="{file}" accept=".csv,.yaml,.yml,.json,text/csv,application/yaml"></label>
<p>For a CSV only: <label>agency <input name="agency"></label><label>classification <input name="classification" placeholder="OFFICIAL"></label><label>resilience <input name="resilience" placeholder="SingleSite"></label><label>regions <input name="regions" placeholder="uk-north,uk-south"></label><label>room PUE <input name="pue" placeholder="2.0"></label><label>energy price a kWh <input name="energyPricePerKWh" placeholder="0.25"></label><label>carbon g a kWh <input name="carbonGramsPerKWh" placeholder="207"></label></p>
<p><button type="submit">Quote</button></p>
</form>
<p>Nothing is applied: the work is planned on the live estate and accounted with the model that would bill it (docs/quote.md).</p>
"#,
        pasted = escape(pasted),
        file = super::quote::FILE_FIELD,
    ))
}

fn month_row(name: &str, field: &str, figure: impl Fn(&Month) -> f64, q: &Quote) -> String {
    let months = [q.shared, q.shared_at_p95, q.standalone, q.standalone_at_p95];
    let cells: Vec<String> = ["shared", "sharedAtP95", "standalone", "standaloneAtP95"]
        .iter()
        .zip(months)
        .map(|(col, m)| format!(r#"<td data-field="{col}.{field}">{:.2}</td>"#, figure(&m)))
        .collect();
    format!(r#"<tr><th scope="row">{name}</th>{}</tr>"#, cells.concat())
}

/// The quote on one page.
pub fn render(q: &Quote, currency: &str) -> String {
    let sizing: String = q
        .sizing
        .iter()
        .map(|g| {
            format!(
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.1} GiB</td></tr>",
                supplied(&g.name), g.servers, g.replicas, g.cpu_per_replica, g.memory_gib_per_replica
            )
        })
        .collect();
    let placed: String = q
        .placements
        .iter()
        .map(|p| {
            format!(
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                supplied(&p.group),
                escape(&p.cluster),
                escape(&p.site),
                escape(&p.node),
                p.replicas
            )
        })
        .collect();
    let list = |items: &[String]| -> String {
        items
            .iter()
            .map(|i| format!("<li>{}</li>", supplied(i)))
            .collect()
    };
    let limits = if q.limits.is_empty() {
        "<li>None: every cluster its needs allow could take it.</li>".to_string()
    } else {
        list(&q.limits)
    };
    document(&format!(
        r#"<p class="verdict"><strong id="agency">{agency}</strong>: <span id="verdict">{verdict}</span></p>
<h2>A month</h2>
<table id="month"><thead><tr><th></th><th>Shared</th><th>Shared at p95</th><th>Own room</th><th>Own room at p95</th></tr></thead><tbody>
{kwh}{cost}{carbon}</tbody></table>
<p>Saving: <strong data-field="savingPerMonth">{saving:.2}</strong> {currency} a month (<span data-field="savingPercent">{pct:.1}</span>% of its own room), <span data-field="savingLow">{low:.2}</span> to <span data-field="savingHigh">{high:.2}</span> over the stated utilisation.</p>
<h2>Sizing</h2>
<table><thead><tr><th>Server group</th><th>Servers</th><th>Replicas</th><th>CPU a replica</th><th>Memory a replica</th></tr></thead><tbody>{sizing}</tbody></table>
<h2>Where</h2>
<table><thead><tr><th>Server group</th><th>Cluster</th><th>Site</th><th>Node</th><th>Replicas</th></tr></thead><tbody>{placed}</tbody></table>
<h2>Limits</h2><ul id="limits">{limits}</ul>
<h2>Assumptions and sources</h2><ul id="assumptions">{assumptions}</ul>
<p class="noprint"><a href="/quote">Another quote</a></p>
"#,
        agency = supplied(&q.agency),
        verdict = escape(&q.verdict),
        kwh = month_row("kWh", "kWh", |m| m.kwh, q),
        cost = month_row(&format!("Cost {}", escape(currency)), "cost", |m| m.cost, q),
        carbon = month_row("Carbon kg", "carbonKg", |m| m.carbon_kg, q),
        saving = q.saving_per_month,
        pct = q.saving_percent,
        low = q.saving_low,
        high = q.saving_high,
        limits = limits,
        assumptions = list(&q.assumptions),
    ))
}
