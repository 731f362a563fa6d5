//! `products-pull`: a LeafLink price change reaches the BC item's `unitPrice`
//! (per unit, so the case price over `unit_multiplier`), BC stock stays BC's,
//! and an unchanged product writes nothing.

use axum::http::Method;
use leafbridge::flows::Flow;
use leafbridge::store::RecordKind;
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
async fn leaflink_price_reaches_item() {
    let sandbox = Sandbox::start(sandbox_config(SeedConfig { customers: 2, products: 30, orders: 1, random_seed: 67 })).await.unwrap();
    let leaflink = sandbox.leaflink();
    let product_id = leaflink
        .available_product_ids()
        .into_iter()
        .find(|id| {
            let product = leaflink.product_json(*id).unwrap();
            product["sku"].as_str().unwrap().chars().count() <= 20 && decimal(&product["unit_multiplier"]) > Decimal::ONE
        })
        .expect("the seed has a product sold in cases");
    let product = leaflink.product_json(product_id).unwrap();
    let sku = product["sku"].as_str().unwrap().to_owned();
    let multiplier = decimal(&product["unit_multiplier"]);
    let item = bc(&sandbox, Method::POST, "items", Some(json!({
        "number": sku, "displayName": product["name"], "type": "Inventory", "baseUnitOfMeasureCode": "PCS",
    })))
    .await;
    let item_id = item["id"].as_str().unwrap().to_owned();
    bc(&sandbox, Method::PATCH, &format!("items({item_id})"), Some(json!({ "inventory": 25 }))).await;
    let settings = settings_for("products-pull", &sandbox);
    let harness = Harness::with_settings(sandbox, settings);
    harness.run(Flow::Link).await;
    assert!(harness.store.xref("products-pull", RecordKind::Item, &sku).unwrap().is_some(), "link pairs the item");
    let first = harness.run(Flow::ProductsPull).await;
    assert_eq!(first.counts.failed, 0, "{first:#?}");

    // A case price that divides evenly by the multiplier.
    let case_price = multiplier * Decimal::new(375, 2);
    harness.sandbox.leaflink().set_product_price(product_id, case_price).unwrap();
    let pull = harness.run(Flow::ProductsPull).await;
    assert_eq!(pull.counts.failed, 0, "{pull:#?}");
    assert_eq!(pull.counts.written, 1, "{pull:#?}");

    let item = harness.bc_get(&format!("items({item_id})")).await;
    assert_eq!(decimal(&item["unitPrice"]), Decimal::new(375, 2), "unitPrice is the case price over unit_multiplier {multiplier}");
    assert_eq!(decimal(&item["inventory"]), Decimal::from(25), "a pull never writes BC stock");

    let again = harness.run(Flow::ProductsPull).await;
    assert_eq!(again.counts.written, 0, "{again:#?}");
}
