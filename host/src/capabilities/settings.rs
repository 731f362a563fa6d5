//! The key-value view of a tenant's settings that the `settings` import
//! serves. It never contains a secret.

use std::collections::BTreeMap;

use crate::tenant::{CustomerNumbering, ProductMaster, TenantSettings};

/// Flattens `settings` into the keys plugins read, e.g. `time_zone`,
/// `unit_map.Gram`, `leaflink.base_url`, `plugin.<key>`.
pub fn plugin_settings(settings: &TenantSettings) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut put = |key: String, value: String| {
        map.insert(key, value);
    };

    put("time_zone".into(), settings.time_zone.clone());
    put("go_live".into(), settings.go_live.to_string());
    put("freight_account".into(), settings.freight_account.clone());
    let product_master = match settings.product_master {
        ProductMaster::BusinessCentral => "business-central",
        ProductMaster::LeafLink => "leaflink",
    };
    put("product_master".into(), product_master.into());
    match &settings.customer_numbering {
        CustomerNumbering::LeafLinkId { prefix } => {
            put("customer_numbering".into(), "leaflink-id".into());
            put("customer_numbering.prefix".into(), prefix.clone());
        }
        CustomerNumbering::BcSeries => put("customer_numbering".into(), "bc-series".into()),
    }
    put("order_statuses_to_import".into(), settings.order_statuses_to_import.join(","));
    for (unit, code) in &settings.unit_map {
        put(format!("unit_map.{unit}"), code.clone());
    }
    for (staff, code) in &settings.salesperson_map {
        put(format!("salesperson_map.{staff}"), code.clone());
    }

    put("leaflink.base_url".into(), trim_slash(&settings.leaflink.base_url));
    if let Some(company) = settings.leaflink.company_id {
        put("leaflink.company_id".into(), company.to_string());
    }
    if let Some(staff) = settings.leaflink.recorded_by {
        put("leaflink.recorded_by".into(), staff.to_string());
    }
    put("business_central.base_url".into(), trim_slash(&settings.business_central.base_url));
    put("business_central.company_id".into(), settings.business_central.company_id.clone());

    for (key, value) in &settings.plugin_settings {
        put(format!("plugin.{key}"), value.clone());
    }
    map
}

/// Base URLs are handed out without a trailing slash, so a plugin can append
/// `/orders-received/` without doubling it.
fn trim_slash(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}
