//! `orders-push` (BC order state reaches LeafLink), and what both order flows
//! do when BC deletes an imported order before invoicing it. The status map
//! sends that order to a person through a conflict record, and LeafLink keeps
//! its status because nothing is rejected automatically.

use axum::http::Method;
use leafbridge::flows::Flow;
use leafbridge_sandbox::leaflink::{NewLine, NewOrder};
use leafbridge_sandbox::{Sandbox, SeedConfig};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::flow_harness::{Harness, decimal, sandbox_config};

pub(crate) async fn bc(sandbox: &Sandbox, method: Method, path: &str, body: Option<Value>) -> Value {
    let company = sandbox.info().business_central.company_id;
    let reply = sandbox.business_central().request(method.clone(), &format!("companies({company})/{path}"), body).await;
    assert!(reply.status.is_success(), "{method} {path} returned {}: {:?}", reply.status, reply.body);
    match reply.body {
        leafbridge_sandbox::business_central::ReplyBody::Json(value) => value,
        _ => Value::Null,
    }
}

/// Places one order in LeafLink, imports it, and returns the harness, the
/// LeafLink order number and the BC order with its lines.
async fn imported_order(name: &str) -> (Harness, String, Value) {
    let harness = Harness::start(name, sandbox_config(SeedConfig { customers: 3, products: 8, orders: 1, random_seed: 47 })).await;
    let leaflink = harness.sandbox.leaflink();
    let customer = leaflink.active_customer_ids()[0];
    let product = leaflink.available_product_ids()[0];
    let line = NewLine { ordered_unit_price: Some(Decimal::new(1200, 2)), ..NewLine::new(product, Decimal::from(5)) };
    let number = leaflink.place_order(NewOrder::new(customer, vec![line])).unwrap();
    let import = harness.run(Flow::OrdersImport).await;
    assert_eq!(import.counts.failed, 0, "{import:#?}");

    let short_id = leaflink.order_json(&number).unwrap()["short_id"].as_str().unwrap().to_owned();
    let orders = harness.bc_get("salesOrders?$expand=salesOrderLines").await;
    let bc_order = orders["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|order| order["externalDocumentNumber"].as_str().is_some_and(|value| value.eq_ignore_ascii_case(&short_id)))
        .cloned()
        .expect("the imported order is in BC");
    (harness, number, bc_order)
}

fn leaflink_status(harness: &Harness, number: &str) -> String {
    harness.sandbox.leaflink().order_json(number).unwrap()["status"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoiced_order_completes_in_leaflink() {
    let (harness, number, bc_order) = imported_order("orders-push-complete").await;
    let order_id = bc_order["id"].as_str().unwrap();
    bc(&harness.sandbox, Method::POST, &format!("salesOrders({order_id})/Microsoft.NAV.shipAndInvoice"), None).await;

    let push = harness.run(Flow::OrdersPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    assert_eq!(push.counts.written, 1, "{push:#?}");
    assert_eq!(leaflink_status(&harness, &number), "Complete", "{push:#?}");

    let again = harness.run(Flow::OrdersPush).await;
    assert_eq!(again.counts.written, 0, "a completed order is not pushed again: {again:#?}");
    let conflicts = harness.store.conflicts(&harness.settings.name).unwrap();
    assert!(conflicts.is_empty(), "an invoiced order is not a deleted order: {conflicts:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bc_line_quantity_reaches_leaflink() {
    let (harness, number, bc_order) = imported_order("orders-push-line").await;
    let order_id = bc_order["id"].as_str().unwrap();
    let item_line = bc_order["salesOrderLines"].as_array().unwrap().iter().find(|line| line["lineType"] == "Item").unwrap();
    let line_id = item_line["id"].as_str().unwrap();
    bc(&harness.sandbox, Method::PATCH, &format!("salesOrders({order_id})/salesOrderLines({line_id})"), Some(json!({ "quantity": 7 }))).await;

    let push = harness.run(Flow::OrdersPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    assert_eq!(push.counts.written, 1, "{push:#?}");
    let order = harness.sandbox.leaflink().order_json(&number).unwrap();
    assert_eq!(decimal(&order["line_items"][0]["quantity"]), Decimal::from(7), "{push:#?}");

    let pull = harness.run(Flow::OrdersPull).await;
    assert_eq!(pull.counts.written, 0, "the pushed line is an echo, not a change to pull: {pull:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_bc_order_push_records_conflict() {
    let (harness, number, bc_order) = imported_order("orders-push-deleted").await;
    let status_before = leaflink_status(&harness, &number);
    let order_id = bc_order["id"].as_str().unwrap();
    bc(&harness.sandbox, Method::DELETE, &format!("salesOrders({order_id})"), None).await;

    let push = harness.run(Flow::OrdersPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    let record = format!("order {number}");
    let conflict = harness.store.conflict(&harness.settings.name, "orders-push", &record, Some("order")).unwrap();
    let conflict = conflict.unwrap_or_else(|| panic!("a conflict record names the deleted order: {push:#?}"));
    assert_eq!(conflict.winner, "undecided", "a person decides");
    assert!(conflict.reason.contains("deleted"), "{conflict:#?}");
    assert_eq!(leaflink_status(&harness, &number), status_before, "LeafLink is never rejected automatically");

    let again = harness.run(Flow::OrdersPush).await;
    assert_eq!(again.counts.failed, 0, "{again:#?}");
    let conflicts = harness.store.conflicts(&harness.settings.name).unwrap();
    assert_eq!(conflicts.len(), 1, "the deletion is recorded once: {conflicts:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_bc_order_pull_records_conflict() {
    let (harness, number, bc_order) = imported_order("orders-pull-deleted").await;
    harness.run(Flow::OrdersPull).await;
    let order_id = bc_order["id"].as_str().unwrap();
    bc(&harness.sandbox, Method::DELETE, &format!("salesOrders({order_id})"), None).await;

    // The buyer changes the order, so the pull reads it and looks for it in BC.
    let leaflink = harness.sandbox.leaflink();
    let line_id = leaflink.order_json(&number).unwrap()["line_items"][0]["id"].as_u64().unwrap();
    leaflink.change_line(line_id, Some(Decimal::from(6)), None).unwrap();
    let pull = harness.run(Flow::OrdersPull).await;
    assert_eq!(pull.counts.failed, 0, "{pull:#?}");
    assert_eq!(pull.counts.written, 0, "{pull:#?}");
    let record = format!("order {number}");
    let conflict = harness.store.conflict(&harness.settings.name, "orders-pull", &record, Some("order")).unwrap();
    assert!(conflict.is_some(), "a conflict record names the deleted order: {pull:#?}");
}

/// Places a two-line order in LeafLink (5 units of one product, 3 of
/// another), imports it and runs a first pull. Returns the harness, the order
/// number, the LeafLink line ids and the BC order with its lines.
pub(crate) async fn imported_two_line_order(name: &str) -> (Harness, String, [u64; 2], Value) {
    let harness = Harness::start(name, sandbox_config(SeedConfig { customers: 3, products: 8, orders: 1, random_seed: 47 })).await;
    let leaflink = harness.sandbox.leaflink();
    let customer = leaflink.active_customer_ids()[0];
    let products = leaflink.available_product_ids();
    let lines = vec![
        NewLine { ordered_unit_price: Some(Decimal::new(1200, 2)), ..NewLine::new(products[0], Decimal::from(5)) },
        NewLine { ordered_unit_price: Some(Decimal::new(2000, 2)), ..NewLine::new(products[1], Decimal::from(3)) },
    ];
    let number = leaflink.place_order(NewOrder::new(customer, lines)).unwrap();
    let import = harness.run(Flow::OrdersImport).await;
    assert_eq!(import.counts.failed, 0, "{import:#?}");
    let pull = harness.run(Flow::OrdersPull).await;
    assert_eq!(pull.counts.failed, 0, "{pull:#?}");

    let order = leaflink.order_json(&number).unwrap();
    let line_ids = [0, 1].map(|index| order["line_items"][index]["id"].as_u64().unwrap());
    let short_id = order["short_id"].as_str().unwrap().to_owned();
    let orders = harness.bc_get("salesOrders?$expand=salesOrderLines").await;
    let bc_order = orders["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|order| order["externalDocumentNumber"].as_str().is_some_and(|value| value.eq_ignore_ascii_case(&short_id)))
        .cloned()
        .expect("the imported order is in BC");
    (harness, number, line_ids, bc_order)
}

/// Returns the id of the BC item line with `quantity` units.
pub(crate) fn bc_line_with_quantity(bc_order: &Value, quantity: i64) -> String {
    bc_order["salesOrderLines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|line| line["lineType"] == "Item" && decimal(&line["quantity"]) == Decimal::from(quantity))
        .and_then(|line| line["id"].as_str())
        .unwrap_or_else(|| panic!("the BC order has an item line of {quantity} units: {bc_order:#}"))
        .to_owned()
}

/// Returns the LeafLink line with `id` from the order JSON.
pub(crate) fn leaflink_line(harness: &Harness, number: &str, id: u64) -> Value {
    let order = harness.sandbox.leaflink().order_json(number).unwrap();
    order["line_items"].as_array().unwrap().iter().find(|line| line["id"].as_u64() == Some(id)).cloned().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_writes_only_bc_line_fields() {
    let (harness, number, [line_a, line_b], bc_order) = imported_two_line_order("orders-push-fields").await;
    let order_id = bc_order["id"].as_str().unwrap().to_owned();
    let bc_line_b = bc_line_with_quantity(&bc_order, 3);
    let multiplier_a = decimal(&leaflink_line(&harness, &number, line_a)["unit_multiplier"]);

    // The seller re-prices line A in LeafLink; a BC user changes line B's quantity.
    let price_a = Decimal::from(3) * multiplier_a;
    harness.sandbox.leaflink().change_line(line_a, None, Some(price_a)).unwrap();
    bc(&harness.sandbox, Method::PATCH, &format!("salesOrders({order_id})/salesOrderLines({bc_line_b})"), Some(json!({ "quantity": 7 }))).await;

    let push = harness.run(Flow::OrdersPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    assert_eq!(decimal(&leaflink_line(&harness, &number, line_b)["quantity"]), Decimal::from(7), "BC's quantity reaches line B: {push:#?}");
    let a = leaflink_line(&harness, &number, line_a);
    assert_eq!(decimal(&a["ordered_unit_price"]["amount"]), price_a, "the push keeps LeafLink's price on line A: {push:#?}");
    let conflicts = harness.store.conflicts(&harness.settings.name).unwrap();
    assert!(conflicts.is_empty(), "no field changed on both sides: {conflicts:#?}");

    let pull = harness.run(Flow::OrdersPull).await;
    assert_eq!(pull.counts.failed, 0, "{pull:#?}");
    let bc_lines = harness.bc_get(&format!("salesOrders({order_id})/salesOrderLines")).await;
    let bc_line_a = bc_lines["value"].as_array().unwrap().iter().find(|line| line["lineType"] == "Item" && line["id"] != bc_line_b.as_str()).unwrap();
    assert_eq!(decimal(&bc_line_a["unitPrice"]), Decimal::from(3), "LeafLink's price reaches BC line A per unit: {pull:#?}");
    let line_b_now = harness.bc_get(&format!("salesOrders({order_id})/salesOrderLines({bc_line_b})")).await;
    assert_eq!(decimal(&line_b_now["quantity"]), Decimal::from(7), "the pull keeps BC's quantity on line B: {pull:#?}");

    let push = harness.run(Flow::OrdersPush).await;
    assert_eq!(push.counts.written, 0, "nothing is left to push: {push:#?}");
    let pull = harness.run(Flow::OrdersPull).await;
    assert_eq!(pull.counts.written, 0, "nothing is left to pull: {pull:#?}");
    let conflicts = harness.store.conflicts(&harness.settings.name).unwrap();
    assert!(conflicts.is_empty(), "{conflicts:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_case_price_keeps_line_amount() {
    let harness = Harness::start("orders-push-price", sandbox_config(SeedConfig { customers: 3, products: 8, orders: 1, random_seed: 53 })).await;
    let leaflink = harness.sandbox.leaflink();
    let customer = leaflink.active_customer_ids()[0];
    let product = leaflink.available_product_ids()[0];
    leaflink.edit_product(product, |product| product.unit_multiplier = 10).unwrap();
    // 30 units (3 cases of 10) at 200 per case.
    let line = NewLine { ordered_unit_price: Some(Decimal::from(200)), ..NewLine::new(product, Decimal::from(30)) };
    let number = leaflink.place_order(NewOrder::new(customer, vec![line])).unwrap();
    let import = harness.run(Flow::OrdersImport).await;
    assert_eq!(import.counts.failed, 0, "{import:#?}");

    let short_id = leaflink.order_json(&number).unwrap()["short_id"].as_str().unwrap().to_uppercase();
    let orders = harness.bc_get(&format!("salesOrders?$filter=externalDocumentNumber eq '{short_id}'&$expand=salesOrderLines")).await;
    let bc_order = orders["value"][0].clone();
    let order_id = bc_order["id"].as_str().expect("the order is in BC");
    let item_line = bc_order["salesOrderLines"].as_array().unwrap().iter().find(|line| line["lineType"] == "Item").unwrap();
    let line_id = item_line["id"].as_str().unwrap();
    // BC's line is round2(30 × 19.3333) = 580.00.
    let patched = bc(
        &harness.sandbox,
        Method::PATCH,
        &format!("salesOrders({order_id})/salesOrderLines({line_id})"),
        Some(json!({ "unitPrice": 19.3333 })),
    )
    .await;
    let bc_amount = decimal(&patched["amountExcludingTax"]);
    assert_eq!(bc_amount, Decimal::new(58000, 2), "{patched:#}");

    let push = harness.run(Flow::OrdersPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    let order = leaflink.order_json(&number).unwrap();
    let ll_line = &order["line_items"][0];
    let price = decimal(&ll_line["ordered_unit_price"]["amount"]);
    let quantity = decimal(&ll_line["quantity"]);
    let leaflink_amount = (price * quantity / Decimal::from(10)).round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    assert_eq!(leaflink_amount, bc_amount, "LeafLink price {price} for {quantity} units");
    assert_eq!(price, "193.333".parse::<Decimal>().unwrap());

    let again = harness.run(Flow::OrdersPull).await;
    assert_eq!(again.counts.written, 0, "the pushed price is an echo, not a change to pull: {again:#?}");
}

/// A line added in BC after the import, and then another line deleted,
/// changes no LeafLink line: lines pair by the ids stored at import, never by
/// position.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_bc_line_changes_no_leaflink_line() {
    let (harness, number, [line_a, line_b], bc_order) = imported_two_line_order("orders-push-added").await;
    let order_id = bc_order["id"].as_str().unwrap().to_owned();
    let bc_line_a = bc_line_with_quantity(&bc_order, 5);
    let item_a = bc_order["salesOrderLines"].as_array().unwrap().iter().find(|line| line["id"] == bc_line_a.as_str()).unwrap()["lineObjectNumber"].clone();
    let before = [line_a, line_b].map(|id| leaflink_line(&harness, &number, id));

    let added = json!({ "lineType": "Item", "lineObjectNumber": item_a, "quantity": 4, "unitPrice": 12.81 });
    bc(&harness.sandbox, Method::POST, &format!("salesOrders({order_id})/salesOrderLines"), Some(added)).await;
    let push = harness.run(Flow::OrdersPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    bc(&harness.sandbox, Method::DELETE, &format!("salesOrders({order_id})/salesOrderLines({bc_line_a})"), None).await;
    let push = harness.run(Flow::OrdersPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");

    let after = [line_a, line_b].map(|id| leaflink_line(&harness, &number, id));
    for (before, after) in before.iter().zip(&after) {
        assert_eq!(before["quantity"], after["quantity"], "{push:#?}");
        assert_eq!(before["ordered_unit_price"], after["ordered_unit_price"], "{push:#?}");
    }
    // The orders no longer match, and a conflict records it for a person.
    let record = format!("order {number}");
    let conflict = harness.store.conflict(&harness.settings.name, "orders-push", &record, Some("lines")).unwrap();
    let conflict = conflict.unwrap_or_else(|| panic!("no conflict names the unpaired lines: {push:#?}"));
    assert!(conflict.business_central_value.as_deref().is_some_and(|value| value.contains(" x 4")), "{conflict:#?}");
    assert!(conflict.leaflink_value.as_deref().is_some_and(|value| value.contains(&format!("line {line_a}"))), "{conflict:#?}");
}
