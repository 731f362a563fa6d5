//! `leafbridge plugin test TENANT`: runs a tenant's override plugin in the
//! sandbox on sample records and prints the before and after of each field it
//! changes.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use super::Home;
use super::output::{print_json, print_table};
use crate::capabilities::{Secret, TenantContext, TenantSecrets};
use crate::runtime::World;
use crate::runtime::bindings::NO_EXTRAS;
use crate::runtime::bindings::types::{BcItem, LlCustomer, LlProduct, Money};
use crate::store::Store;

/// One field an override plugin changed on one sample record.
#[derive(Debug, Serialize, PartialEq)]
pub struct FieldChange {
    pub record: String,
    pub field: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

pub async fn run(home: &Home, store: &Store, tenant: &str, plugin_dir: &Path, json: bool) -> anyhow::Result<()> {
    let settings = store.tenants()?.require(tenant)?;
    let installed = super::plugin::installed(store, tenant)?
        .with_context(|| format!("tenant {tenant} has no override plugin; add one with `leafbridge plugin add`"))?;

    // The test needs no credentials: the sample records are local, and a
    // plugin that calls out gets the same allow-list as in a real run but an
    // empty key, so it cannot act on the tenant's real accounts.
    let secrets = TenantSecrets {
        leaflink_api_key: Secret::new(""),
        business_central_client_secret: Secret::new(""),
    };
    let context = TenantContext::new(&settings, secrets)?;
    let runtime = super::run::open_runtime(home)?;
    let core = runtime.load(&super::plugin::core_plugin(plugin_dir), World::Mapper)?;
    let overrides = runtime.load(&installed.file, World::TenantOverrides)?;
    let mut mapper = runtime.mapper(&core, &context).await?;
    let mut session = runtime.overrides(&overrides, &context).await?;

    let mut changes = Vec::new();
    let customer = sample_customer();
    let record = format!("customer {}", customer.id);
    let mapped = mapper.map_customer(&customer).await.with_context(|| format!("{record}: the core mapping failed"))?;
    let after = session.customer(&customer, &mapped).await.with_context(|| format!("{record}: the override plugin failed"))?;
    changes.extend(field_changes(&record, &mapped, &after)?);

    let product = sample_product();
    let record = format!("sku {}", product.sku);
    let mapped = mapper.map_product(&product).await.with_context(|| format!("{record}: the core mapping failed"))?;
    let after = session.item(&product, &mapped).await.with_context(|| format!("{record}: the override plugin failed"))?;
    changes.extend(field_changes(&record, &mapped, &after)?);

    let item = sample_item();
    let record = format!("BC item {}", item.number);
    let mapped = mapper.new_product(&item).await.with_context(|| format!("{record}: the core mapping failed"))?;
    let after = session.new_product(&item, &mapped).await.with_context(|| format!("{record}: the override plugin failed"))?;
    changes.extend(field_changes(&record, &mapped, &after)?);

    if json {
        return print_json(&changes);
    }
    if changes.is_empty() {
        println!("Tenant {tenant}: the override plugin changed no field of the sample customer, product and BC item.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = changes
        .iter()
        .map(|change| vec![change.record.clone(), change.field.clone(), change.before.to_string(), change.after.to_string()])
        .collect();
    print_table(&["record", "field", "before", "after"], &rows);
    Ok(())
}

/// Compares two records field by field through their JSON form.
pub fn field_changes<T: Serialize>(record: &str, before: &T, after: &T) -> anyhow::Result<Vec<FieldChange>> {
    let before = serde_json::to_value(before)?;
    let after = serde_json::to_value(after)?;
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else {
        anyhow::bail!("{record}: the record is not a JSON object");
    };
    let mut changes = Vec::new();
    for (field, old) in before {
        let new = after.get(field).cloned().unwrap_or(serde_json::Value::Null);
        if *old != new {
            changes.push(FieldChange { record: record.to_owned(), field: field.clone(), before: old.clone(), after: new });
        }
    }
    Ok(changes)
}

/// Builds a LeafLink customer with every common field set, as the LeafLink
/// plugin parses one.
fn sample_customer() -> LlCustomer {
    LlCustomer {
        id: 148515,
        name: "Good Vibrations Dispensary".into(),
        nickname: None,
        external_id: None,
        license_number: Some("402R-00123".into()),
        website: Some("https://goodvibes.example".into()),
        address: Some("17034 Highway 10".into()),
        unit_number: Some("1A".into()),
        zipcode: Some("81143".into()),
        city: Some("Moffat".into()),
        county: Some("Saguache".into()),
        state: Some("CO".into()),
        country: Some("us".into()),
        phone: Some("719-555-0100".into()),
        email: Some("buyer@goodvibes.example".into()),
        currency: Some("USD".into()),
        status: Some(3),
        archived: false,
        managers: vec![13],
        modified: Some("2020-06-10T22:14:49.494713Z".into()),
        extras: NO_EXTRAS.to_owned(),
    }
}

/// Builds a LeafLink product with prices and stock, as the LeafLink plugin parses one.
fn sample_product() -> LlProduct {
    LlProduct {
        id: 2093,
        name: "Swiss Masters Chocolate Bar (Dark)".into(),
        sku: "swi-bar-dar-100".into(),
        display_name: Some("Swiss Masters Chocolate Bar (Dark)".into()),
        description: None,
        unit_of_measure: Some("Unit".into()),
        unit_multiplier: "12".into(),
        quantity: Some("800".into()),
        reserved_qty: Some("120".into()),
        wholesale_price: Some(Money { amount: "108".into(), currency: "USD".into() }),
        retail_price: Some(Money { amount: "18".into(), currency: "USD".into() }),
        sale_price: None,
        minimum_order: Some("1".into()),
        maximum_order: None,
        inventory_management: Some(1),
        listing_state: Some("Available".into()),
        last_edit: Some("2020-04-27T13:41:29.797149Z".into()),
        modified: None,
        extras: NO_EXTRAS.to_owned(),
    }
}

/// Builds a BC item as the BC plugin parses one, for the `new-product` override.
fn sample_item() -> BcItem {
    BcItem {
        id: Some("fca5738a-44e3-ea11-bb43-000d3a2feca1".into()),
        number: "SWI-BAR-DAR-100".into(),
        display_name: "Swiss Masters Chocolate Bar (Dark)".into(),
        gtin: None,
        base_unit_of_measure_code: Some("PCS".into()),
        item_category_code: None,
        unit_price: Some("9".into()),
        inventory: Some("800".into()),
        blocked: false,
        etag: Some("W/\"abc\"".into()),
        last_modified: None,
        extras: NO_EXTRAS.to_owned(),
    }
}
