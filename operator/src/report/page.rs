//! The report page at `/`: server-rendered HTML, charts as inline SVG, no script and nothing
//! fetched from elsewhere, so it works offline, on a laptop and on paper.

use colo_engine::model;

use crate::report::EstateNow;

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Agency-supplied text: escaped for HTML, and kept from running as a formula when copied
/// into a spreadsheet.
pub(super) fn supplied(text: &str) -> String {
    escape(&colo_api::neutralise_formula(text))
}

fn money(v: f64) -> String {
    format!("{v:.2}")
}

/// Shared and standalone cost of each agency as paired horizontal bars.
fn chart(estate: &EstateNow) -> String {
    let max = estate
        .agencies
        .iter()
        .map(|a| a.row.cost.max(a.row.standalone_cost))
        .fold(0.0_f64, f64::max)
        .max(0.01);
    let (label_w, bar_w, row_h) = (170.0, 420.0, 34.0);
    let height = row_h * estate.agencies.len() as f64 + 30.0;
    let mut svg = format!(
        r#"<svg role="img" aria-label="Cost this month by agency, shared against standalone" viewBox="0 0 {w} {height}" width="100%" xmlns="http://www.w3.org/2000/svg">"#,
        w = label_w + bar_w + 110.0
    );
    for (i, a) in estate.agencies.iter().enumerate() {
        let y = i as f64 * row_h + 4.0;
        let shared = a.row.cost / max * bar_w;
        let alone = a.row.standalone_cost / max * bar_w;
        svg.push_str(&format!(
            r##"<text x="0" y="{ty}" class="label">{name}</text><rect class="alone" x="{label_w}" y="{y}" width="{alone:.1}" height="12"><title>standalone {sc}</title></rect><text x="{ax}" y="{aty}" class="value">{sc}</text><rect class="shared" x="{label_w}" y="{y2}" width="{shared:.1}" height="12"><title>shared {c}</title></rect><text x="{sx}" y="{sty}" class="value">{c}</text>"##,
            ty = y + 16.0,
            name = supplied(&a.row.agency),
            y2 = y + 14.0,
            ax = label_w + alone + 4.0,
            aty = y + 10.0,
            sx = label_w + shared + 4.0,
            sty = y + 24.0,
            sc = money(a.row.standalone_cost),
            c = money(a.row.cost),
        ));
    }
    let ly = height - 10.0;
    svg.push_str(&format!(
        r#"<rect class="shared" x="{label_w}" y="{y}" width="12" height="10"/><text x="{t1}" y="{ly}" class="value">shared (Colo)</text><rect class="alone" x="{x2}" y="{y}" width="12" height="10"/><text x="{t2}" y="{ly}" class="value">standalone (own server room)</text></svg>"#,
        y = ly - 9.0,
        t1 = label_w + 16.0,
        x2 = label_w + 130.0,
        t2 = label_w + 146.0,
    ));
    svg
}

const STYLE: &str = r#"<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 70rem; padding: 0 1rem; color: #0b0c0c; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } .muted { color: #505a5f; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #b1b4b6; padding: .35rem .5rem; text-align: right; vertical-align: top; }
th[scope=row], thead th:first-child { text-align: left; } small { color: #505a5f; font-weight: normal; }
.summary { display: flex; gap: 1rem; flex-wrap: wrap; } .summary div { border-left: 4px solid #1d70b8; padding: .2rem .8rem; }
svg .label, svg .value { font-size: 11px; fill: #0b0c0c; } svg .shared { fill: #1d70b8; } svg .alone { fill: #b1b4b6; }
.scroll { overflow-x: auto; } td.why { text-align: left; color: #505a5f; }
@media print { body { margin: 0; max-width: none; font-size: 11px; } .noprint { display: none; } }
</style>"#;

/// One table row per agency.
fn rows(estate: &EstateNow) -> String {
    let mut rows = String::new();
    for a in &estate.agencies {
        let r = &a.row;
        let budget = match (a.budget, a.budget_used_percent) {
            (Some(b), Some(p)) => format!("{} ({p:.1}%)", money(b)),
            _ => "—".into(),
        };
        rows.push_str(&format!(
            r#"<tr data-agency="{agency}"><th scope="row">{name}<br><small>{agency} · {centre}</small></th><td data-field="kWh">{kwh:.3}</td><td data-field="cost">{cost}</td><td data-field="carbonKg">{carbon:.3}</td><td data-field="standaloneKWh">{skwh:.3}</td><td data-field="standaloneCost">{scost}</td><td data-field="standaloneCarbonKg">{scarbon:.3}</td><td data-field="savings">{savings}</td><td data-field="savingsPercent">{pct:.1}%</td><td data-field="budget">{budget}</td><td data-field="quality">{quality}</td></tr>"#,
            agency = supplied(&r.agency),
            name = supplied(&a.display_name),
            centre = supplied(&r.cost_centre),
            kwh = r.kwh,
            cost = money(r.cost),
            carbon = r.carbon_kg,
            skwh = r.standalone_kwh,
            scost = money(r.standalone_cost),
            scarbon = r.standalone_carbon_kg,
            savings = money(r.savings),
            pct = r.savings_percent,
            quality = r.quality,
        ));
    }
    rows
}

/// Agencies that moved in on a quote: the quoted month against the accounted one, and why
/// they differ. Empty when no agency has a quote.
fn quotes(estate: &EstateNow) -> String {
    let mut rows = String::new();
    for a in &estate.agencies {
        let Some(q) = &a.quote else { continue };
        let (kwh, cost) = q.accounted.map_or(("—".into(), "—".into()), |m| {
            (format!("{:.2}", m.kwh), money(m.cost))
        });
        let pct = |p: Option<f64>| p.map_or("—".to_string(), |p| format!("{p:+.1}%"));
        rows.push_str(&format!(
            r#"<tr data-agency="{agency}"><th scope="row">{name}</th><td data-field="quotedKWh">{qkwh:.2}</td><td data-field="accountedKWh">{kwh}</td><td data-field="kWhDifferencePercent">{dkwh}</td><td data-field="quotedCost">{qcost}</td><td data-field="accountedCost">{cost}</td><td data-field="costDifferencePercent">{dcost}</td><td data-field="accountedHours">{hours:.1}</td></tr><tr><td colspan="8" class="why" data-field="message">{why}</td></tr>"#,
            agency = supplied(&a.row.agency),
            name = supplied(&a.display_name),
            qkwh = q.quoted.kwh,
            dkwh = pct(q.kwh_difference_percent),
            qcost = money(q.quoted.cost),
            dcost = pct(q.cost_difference_percent),
            hours = q.accounted_hours,
            why = escape(&q.message),
        ));
    }
    if rows.is_empty() {
        return String::new();
    }
    format!(
        r#"<h2>Quoted against accounted</h2>
<p class="muted">Agencies that moved in on a quote: the month it quoted, and this month's measured use taken over a whole month.</p>
<div class="scroll"><table id="quotes">
<thead><tr><th>Agency</th><th>Quoted kWh</th><th>Accounted kWh</th><th>Difference</th><th>Quoted cost</th><th>Accounted cost</th><th>Difference</th><th>Hours measured</th></tr></thead>
<tbody>{rows}</tbody></table></div>
"#
    )
}

/// The model's assumptions with their sources, in the currency `c`.
fn assumptions(c: &str) -> String {
    format!(
        r#"<h2>Assumptions and sources</h2>
<ul id="assumptions">
<li>Node power is linear in CPU use: P = idle + (max − idle) × u, with u the measured CPU over capacity (SPEC; Barroso &amp; Hölzle, <cite>The Datacenter as a Computer</cite>, 2007).</li>
<li>Shared sites: PUE {shared_pue} unless the cluster says (US Data Center Optimization Initiative target for new data centres, OMB M-16-19); node idle {idle_frac}% of a {max_w} W maximum (modern two-socket servers); standby {standby} W.</li>
<li>Standalone room: PUE {alone_pue} (LBNL, small server rooms measure 1.5–2.1); servers idle at {alone_idle}% of maximum (Barroso &amp; Hölzle 2007); average utilisation {alone_util}% (NRDC Data Center Efficiency Assessment, 2014: 12–18%); at least {min_servers} servers of {cores} cores / {mem} GiB, sized for peak × {margin} and for the average at that utilisation; capital {capital} per server over {life} years.</li>
<li>Energy price and grid carbon are each cluster's; the standalone room pays the same (like for like) unless the agency says otherwise. Defaults {price} {c}/kWh and {carbon} g CO2e/kWh (UK government GHG conversion factors 2024).</li>
<li>Each agency pays the dynamic energy of its CPU use, and idle energy and node cost by its share of reservation max(request, use); what no one uses is spread pro rata. The method, with a worked month: docs/energy-model.md.</li>
</ul>
"#,
        shared_pue = model::SHARED_PUE,
        idle_frac = model::SHARED_IDLE_FRACTION * 100.0,
        max_w = model::MAX_WATTS,
        standby = model::STANDBY_WATTS,
        alone_pue = model::STANDALONE_PUE,
        alone_idle = model::STANDALONE_IDLE_FRACTION * 100.0,
        alone_util = model::STANDALONE_UTILISATION * 100.0,
        min_servers = model::STANDALONE_MIN_SERVERS,
        cores = model::STANDALONE_SERVER_CORES,
        mem = model::STANDALONE_SERVER_MEMORY_GIB,
        margin = model::STANDALONE_PEAK_MARGIN,
        capital = money(model::STANDALONE_SERVER_CAPITAL),
        life = model::LIFETIME_YEARS,
        price = model::ENERGY_PRICE_PER_KWH,
        carbon = model::CARBON_GRAMS_PER_KWH,
    )
}

/// On a demo estate, a note that figures grow faster than the clock (times are the clock's).
fn demo_note(speed: f64) -> String {
    if speed == 1.0 {
        return String::new();
    }
    format!(
        r#"<p id="demo" class="muted"><strong>Demo estate:</strong> each second of the clock accounts {speed} seconds of use, so figures grow {speed} times faster than in production. Every time shown is the wall clock's.</p>"#
    )
}

/// The estate's own lines, for readers of every agency; a note for the others.
fn estate_lines(estate: &EstateNow) -> (String, String) {
    if !estate.whole {
        let note = r#"<p class="muted">The agencies you may read. The estate's own lines (spare capacity, totals) are for finance and the platform team. "measured" figures come from Prometheus for the whole period; "modelled" ones used requests for some of it.</p>"#;
        return (String::new(), note.into());
    }
    let summary = format!(
        r#"<div id="estate-energy">Estate energy<br><strong>{:.3} kWh</strong></div>"#,
        estate.total_kwh
    );
    let spare = format!(
        r#"<p id="spare" class="muted">Spare capacity (nodes with no tenancy, the platform's own line): {spare_kwh:.3} kWh, {spare_cost}.
Idle and system share spread over agencies pro rata: {unattributed:.3} kWh. "measured" figures come from Prometheus for the whole period; "modelled" ones used requests for some of it.</p>
<p class="noprint"><a href="/quote">Quote a prospective agency</a> from its server room's inventory.</p>"#,
        spare_kwh = estate.spare_kwh,
        spare_cost = money(estate.spare_cost),
        unattributed = estate.unattributed_kwh,
    );
    (summary, spare)
}

/// Who the page is shown to, and a way to forget a token kept by this browser.
fn reader_line(reader: &str) -> String {
    format!(
        r#"<form class="noprint muted" method="post" action="/logout">Reading as <strong id="reader">{}</strong> <button type="submit">Sign out</button></form>"#,
        supplied(reader)
    )
}

/// The whole page, as `reader` may see it.
pub fn render(estate: &EstateNow, reader: &str) -> String {
    let c = &estate.currency;
    let as_of = estate
        .as_of
        .clone()
        .unwrap_or_else(|| "not yet accounted".into());
    let rows = rows(estate);
    let (estate_summary, estate_lines) = estate_lines(estate);
    let (cost, alone): (f64, f64) = estate
        .agencies
        .iter()
        .map(|a| (a.row.cost, a.row.standalone_cost))
        .fold((0.0, 0.0), |s, x| (s.0 + x.0, s.1 + x.1));
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Colo: shared hosting report</title>
{style}</head><body>
<h1>Shared hosting: energy, cost and carbon</h1>
{reader}
{demo}
<p class="muted">This month so far, up to <time id="as-of">{as_of}</time>. Money in {c}; energy in kWh at the facility (IT × PUE); carbon in kg CO2e.
<span class="noprint">Data: <a href="/api/v1/agencies">/api/v1/agencies</a>, <a href="/api/v1/report?format=csv">CSV report</a>.</span></p>
<div class="summary"><div>Shared cost<br><strong id="total-cost">{total_cost}</strong></div><div>Standalone equivalent<br><strong id="total-standalone">{total_alone}</strong></div><div>Saved<br><strong id="total-savings">{total_savings}</strong></div>{estate_summary}</div>
<h2>Cost by agency: shared against standalone</h2>
{chart}
<div class="scroll"><table id="agencies">
<thead><tr><th>Agency</th><th>kWh</th><th>Cost</th><th>Carbon kg</th><th>Standalone kWh</th><th>Standalone cost</th><th>Standalone carbon kg</th><th>Savings</th><th>Savings %</th><th>Budget (used)</th><th>Figures</th></tr></thead>
<tbody>{rows}</tbody></table></div>
{quotes}{estate_lines}
{assumptions}</body></html>
"#,
        total_cost = money(cost),
        total_alone = money(alone),
        total_savings = money(alone - cost),
        chart = chart(estate),
        quotes = quotes(estate),
        reader = reader_line(reader),
        demo = demo_note(estate.accounting_speed),
        style = STYLE,
        assumptions = assumptions(c),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agency_text_is_escaped_and_never_a_formula() {
        assert_eq!(
            supplied("=HYPERLINK(\"x\")<b>"),
            "'=HYPERLINK(&quot;x&quot;)&lt;b&gt;"
        );
        assert_eq!(supplied("DVLA & co"), "DVLA &amp; co");
    }

    fn estate(quote: Option<colo_api::QuoteComparison>) -> EstateNow {
        let agency = super::super::now::AgencyNow {
            row: colo_api::ReportRow {
                agency: "fenland-council".into(),
                ..Default::default()
            },
            display_name: "=Fenland".into(),
            budget: None,
            budget_used_percent: None,
            tenancies: 1,
            unattributed_kwh: 0.0,
            accounting_speed: 1.0,
            quote,
        };
        EstateNow {
            agencies: vec![agency],
            departed: vec![],
            spare_kwh: 0.0,
            spare_cost: 0.0,
            unassigned_kwh: 0.0,
            unassigned_cost: 0.0,
            unattributed_kwh: 0.0,
            total_kwh: 0.0,
            total_cost: 0.0,
            currency: "GBP".into(),
            as_of: None,
            accounting_speed: 1.0,
            whole: true,
        }
    }

    #[test]
    fn a_quoted_agency_has_its_bill_set_against_the_quote() {
        assert!(!render(&estate(None), "finance").contains("id=\"quotes\""));
        let comparison = colo_api::QuoteComparison {
            quoted: colo_api::MonthFigures {
                kwh: 395.9,
                cost: 705.71,
                carbon_kg: 75.36,
            },
            accounted: Some(colo_api::MonthFigures {
                kwh: 402.1,
                cost: 712.02,
                carbon_kg: 76.5,
            }),
            accounted_hours: 2.4,
            kwh_difference_percent: Some(1.6),
            cost_difference_percent: Some(0.9),
            message: "within 10% of the quote".into(),
        };
        let page = render(&estate(Some(comparison)), "finance");
        let quotes = page.split("<table id=\"quotes\">").nth(1).unwrap();
        for cell in [
            r#"<th scope="row">'=Fenland</th>"#,
            r#"data-field="quotedCost">705.71<"#,
            r#"data-field="accountedCost">712.02<"#,
            r#"data-field="kWhDifferencePercent">+1.6%<"#,
            r#"data-field="message">within 10% of the quote<"#,
        ] {
            assert!(quotes.contains(cell), "{cell} in {quotes}");
        }
    }
}
