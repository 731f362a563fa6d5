//! `products-export` (BC is the product master): a BC item becomes one
//! LeafLink product with the item's SKU, name and price. An item whose SKU
//! LeafLink already has is linked, not created again.

use axum::http::Method;
use leafbridge::flows::Flow;
use leafbridge::store::{RecordKind, RunOutcome};
use leafbridge::tenant::ProductMaster;
use leafbridge_sandbox::{Sandbox, SeedConfig};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::flow_harness::{Harness, decimal, sandbox_config, settings_for};

async fn bc(sandbox: &Sandbox, method: Method, path: &str, body: Option<Value>) -> Value {
    let company = sandbox.info().business_central.company_id;
    let reply = sandbox.business_central().request(method.clone(), &format!("companies({company})/{path}"), body).await;
    assert!(reply.status.is_success(), "{method} {path} returned {}: {:?}", reply.status, reply.body);
    match reply.body {
        leafbridge_sandbox::business_central::ReplyBody::Json(value) => value,
        _ => Value::Null,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_become_products_once() {
    let sandbox = Sandbox::start(sandbox_config(SeedConfig { customers: 2, products: 6, orders: 1, random_seed: 61 })).await.unwrap();
    let leaflink = sandbox.leaflink();
    let existing = *leaflink
        .available_product_ids()
        .iter()
        .find(|id| leaflink.product_json(**id).unwrap()["sku"].as_str().unwrap().chars().count() <= 20)
        .unwrap();
    let existing_sku = leaflink.product_json(existing).unwrap()["sku"].as_str().unwrap().to_owned();
    bc(&sandbox, Method::POST, "items", Some(json!({
        "number": "EXPORT-ONE", "displayName": "Exported Tincture 30ml", "type": "Inventory",
        "baseUnitOfMeasureCode": "PCS", "unitPrice": 12.5,
    })))
    .await;
    bc(&sandbox, Method::POST, "items", Some(json!({
        "number": existing_sku, "displayName": "Already in LeafLink", "type": "Inventory", "baseUnitOfMeasureCode": "PCS",
    })))
    .await;
    let mut settings = settings_for("products-export", &sandbox);
    settings.product_master = ProductMaster::BusinessCentral;
    // LeafLink requires these product fields and BC has no value for them,
    // so the tenant sets defaults, as the example tenant does.
    for (field, value) in [
        ("brand", "100"),
        ("category", "1"),
        ("sub_category", "10"),
        ("manufacturer", "2002"),
        ("license", "2619"),
        ("listing_state", "Available"),
        ("strain_classification", "hybrid"),
        ("unit_denomination", "1"),
        ("retail_price", "0"),
        ("minimum_order", "1"),
        ("maximum_order", "1000"),
    ] {
        settings.plugin_settings.insert(field.to_owned(), value.to_owned());
    }
    let harness = Harness::with_settings(sandbox, settings);
    let products_before = harness.sandbox.leaflink().counts().products;

    let export = harness.run(Flow::ProductsExport).await;
    assert_eq!(export.outcome, RunOutcome::Done, "{export:#?}");
    let dead_letters = harness.store.dead_letters("products-export").unwrap();
    assert_eq!(export.counts.failed, 0, "{export:#?} {dead_letters:#?}");

    let xref = harness.store.xref("products-export", RecordKind::Item, "EXPORT-ONE").unwrap().expect("the new item is cross-referenced");
    assert_eq!(xref.origin, "created");
    let product_id: u32 = xref.stored["leaflink_product_id"].parse().unwrap();
    let product = harness.sandbox.leaflink().product_json(product_id).unwrap();
    assert_eq!(product["sku"], "EXPORT-ONE");
    assert_eq!(product["name"], "Exported Tincture 30ml");
    assert_eq!(decimal(&product["wholesale_price"]["amount"]), Decimal::new(125, 1));

    let linked = harness.store.xref("products-export", RecordKind::Item, &existing_sku).unwrap().expect("the existing SKU is cross-referenced");
    assert_eq!(linked.origin, "found", "an item whose SKU LeafLink has is linked");
    assert_eq!(linked.stored["leaflink_product_id"], existing.to_string());
    let products_after = harness.sandbox.leaflink().counts().products;
    assert_eq!(products_after - products_before, export.counts.written as usize, "one product per created item");

    let again = harness.run(Flow::ProductsExport).await;
    assert_eq!(again.counts.written, 0, "{again:#?}");
    assert_eq!(harness.sandbox.leaflink().counts().products, products_after, "a rerun creates no product");

    let import = harness.run(Flow::ProductsImport).await;
    assert_eq!(import.outcome, RunOutcome::Stopped, "products-import is off when BC is the product master: {import:#?}");
}
