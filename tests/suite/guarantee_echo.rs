//! Echo suppression and per-field ownership on products: a push followed by
//! a pull (and the reverse) writes nothing further, and a field both sides
//! changed goes to its owner with a conflict record.

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

/// A harness where BC already has an item for one LeafLink product, linked.
async fn linked_product() -> (Harness, u32, String, String) {
    let sandbox = Sandbox::start(sandbox_config(SeedConfig { customers: 5, products: 20, orders: 2, random_seed: 13 })).await.unwrap();
    let leaflink = sandbox.leaflink();
    let product_id = leaflink
        .available_product_ids()
        .into_iter()
        .find(|id| leaflink.product_json(*id).unwrap()["sku"].as_str().unwrap().len() <= 20)
        .unwrap();
    let product = leaflink.product_json(product_id).unwrap();
    let sku = product["sku"].as_str().unwrap().to_owned();
    let created = bc(&sandbox, Method::POST, "items", Some(json!({
        "number": sku, "displayName": product["name"], "type": "Inventory",
        "unitPrice": product["wholesale_price"]["amount"],
    })))
    .await;
    let item_id = created["id"].as_str().unwrap().to_owned();
    let settings = settings_for("echo", &sandbox);
    let harness = Harness::with_settings(sandbox, settings);
    harness.run(Flow::Link).await;
    assert!(harness.store.xref("echo", RecordKind::Item, &sku).unwrap().is_some(), "link pairs the item");
    // A first push and pull settle both sides to the same values.
    harness.run(Flow::ProductsPush).await;
    harness.run(Flow::ProductsPull).await;
    (harness, product_id, sku, item_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_writes_nothing_further() {
    let (harness, product_id, _sku, item_id) = linked_product().await;

    bc(&harness.sandbox, Method::PATCH, &format!("items({item_id})"), Some(json!({ "displayName": "Renamed in BC" }))).await;
    let push = harness.run(Flow::ProductsPush).await;
    assert_eq!(push.counts.written, 1, "the rename is pushed: {push:#?}");
    let product = harness.sandbox.leaflink().product_json(product_id).unwrap();
    assert_eq!(product["name"], "Renamed in BC");
    let pull = harness.run(Flow::ProductsPull).await;
    assert_eq!(pull.counts.written, 0, "the pushed change is an echo, not a change to pull: {pull:#?}");

    let price = decimal(&product["wholesale_price"]["amount"]) + Decimal::ONE;
    harness.sandbox.leaflink().set_product_price(product_id, price).unwrap();
    let pull = harness.run(Flow::ProductsPull).await;
    assert_eq!(pull.counts.written, 1, "the LeafLink price is pulled: {pull:#?}");
    let push = harness.run(Flow::ProductsPush).await;
    assert_eq!(push.counts.written, 0, "the pulled change is an echo, not a change to push: {push:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_changed_owner_wins() {
    let (harness, product_id, sku, item_id) = linked_product().await;
    let product = harness.sandbox.leaflink().product_json(product_id).unwrap();
    let leaflink_price = decimal(&product["wholesale_price"]["amount"]) + Decimal::new(250, 2);

    // LeafLink is the product master here, so it owns the price.
    harness.sandbox.leaflink().set_product_price(product_id, leaflink_price).unwrap();
    bc(&harness.sandbox, Method::PATCH, &format!("items({item_id})"), Some(json!({ "unitPrice": 1.23 }))).await;
    let push = harness.run(Flow::ProductsPush).await;

    let after = harness.sandbox.leaflink().product_json(product_id).unwrap();
    assert_eq!(decimal(&after["wholesale_price"]["amount"]), leaflink_price, "the owner's price stays: {push:#?}");
    let conflict = harness.store.conflict("echo", "products-push", &format!("sku {sku}"), Some("price")).unwrap();
    let conflict = conflict.expect("a conflict record exists for the price");
    assert_eq!(conflict.winner, "leaflink");
    assert_eq!(conflict.business_central_value.as_deref(), Some("1.23"));
}
