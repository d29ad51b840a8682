//! From a quote to the objects that onboard the same work: the agency's hub namespace, its
//! Agency (carrying the quote, so its status and the report compare the bill with it), and one
//! Tenancy asking for what the quote sized. Images are placeholders the agency replaces.

use serde_json::{Value, json};

use super::{Inventory, Quote};

/// The Tenancy's name: its Deployments are `quoted-work-<group>`.
pub const TENANCY: &str = "quoted-work";

/// A workload name for a server group: a DNS label of at most 32 characters, unique.
fn workload_name(group: &str, i: usize, taken: &[String]) -> String {
    let mut slug = String::new();
    for c in group.to_lowercase().chars() {
        match c {
            'a'..='z' | '0'..='9' => slug.push(c),
            _ if !slug.is_empty() && !slug.ends_with('-') => slug.push('-'),
            _ => {}
        }
    }
    let mut slug: String = slug.chars().take(32).collect();
    while slug.ends_with('-') {
        slug.pop();
    }
    let usable = slug.starts_with(|c: char| c.is_ascii_lowercase());
    if !usable || taken.contains(&slug) {
        return format!("group-{}", i + 1);
    }
    slug
}

/// Namespace, Agency and Tenancy, in the order `kubectl apply` needs them.
pub fn manifests(
    quote: &Quote,
    inventory: &Inventory,
    namespace: &str,
    quoted_at: &str,
) -> Vec<Value> {
    let agency = &inventory.agency;
    let needs = &inventory.needs;
    let mut names: Vec<String> = Vec::new();
    let mut workloads = Vec::new();
    for (i, g) in quote.sizing.iter().enumerate() {
        let name = workload_name(&g.name, i, &names);
        workloads.push(json!({
            "name": name,
            "image": format!("registry.example.gov.uk/{agency}/{name}:replace-me"),
            "replicas": g.replicas,
            "cpu": format!("{}m", g.demand.cpu),
            "memory": format!("{}Mi", (g.demand.mem + (1 << 20) - 1) >> 20),
        }));
        names.push(name);
    }
    let mut room = serde_json::Map::new();
    let r = &inventory.room;
    for (field, value) in [
        ("pue", r.pue),
        ("energyPricePerKWh", r.energy_price_per_kwh),
        ("carbonGramsPerKWh", r.carbon_grams_per_kwh),
    ] {
        if let Some(v) = value {
            room.insert(field.into(), json!(v));
        }
    }
    let mut agency_spec = json!({
        "displayName": inventory.display_name.clone().unwrap_or_else(|| agency.clone()),
        "costCentre": agency,
        "namespaces": [namespace],
        "maxClassification": needs.classification,
        "quote": {
            "monthlyKWh": quote.shared.kwh,
            "monthlyCost": quote.shared.cost,
            "monthlyCarbonKg": quote.shared.carbon_kg,
            "averageCores": quote.average_cores,
            "quotedAt": quoted_at,
        },
    });
    if !room.is_empty() {
        agency_spec["standalone"] = Value::Object(room);
    }
    let mut tenancy_spec = json!({
        "agency": agency,
        "classification": needs.classification,
        "resilience": needs.resilience,
        // What the quote sized, as asked: the bill is then like for like. Switch to
        // `Measured` once the work has a measured history.
        "sizing": "Requested",
        "workloads": workloads,
    });
    if !needs.regions.is_empty() {
        tenancy_spec["regions"] = json!(needs.regions);
    }
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": namespace, "labels": {"colo.dev/agency": agency}}}),
        json!({"apiVersion": "colo.dev/v1alpha1", "kind": "Agency",
               "metadata": {"name": agency}, "spec": agency_spec}),
        json!({"apiVersion": "colo.dev/v1alpha1", "kind": "Tenancy",
               "metadata": {"name": TENANCY, "namespace": namespace}, "spec": tenancy_spec}),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_become_unique_dns_labels() {
        let mut taken = Vec::new();
        let first = workload_name("Web and Apps!", 0, &taken);
        assert_eq!(first, "web-and-apps");
        taken.push(first);
        assert_eq!(workload_name("Web and apps", 1, &taken), "group-2");
        assert_eq!(workload_name("2nd database", 2, &taken), "group-3");
        let long = workload_name(&"x".repeat(40), 3, &taken);
        assert_eq!(long.len(), 32);
    }
}
