//! `orders-pull`: a line change made in LeafLink after import reaches the BC
//! order line, priced by the same rule as the import, and only the line
//! fields LeafLink changed are written.

use axum::http::Method;
use leafbridge::flows::Flow;
use leafbridge_sandbox::SeedConfig;
use leafbridge_sandbox::leaflink::{NewLine, NewOrder};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::flow_harness::{Harness, decimal, sandbox_config};
use crate::flow_orders_push::{bc, bc_line_with_quantity, imported_two_line_order, leaflink_line};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaflink_line_change_reaches_bc() {
    let harness = Harness::start("orders-pull", sandbox_config(SeedConfig { customers: 3, products: 8, orders: 1, random_seed: 43 })).await;
    let leaflink = harness.sandbox.leaflink();
    let customer = leaflink.active_customer_ids()[0];
    let product = leaflink.available_product_ids()[0];
    let line = NewLine { ordered_unit_price: Some(Decimal::new(2500, 2)), ..NewLine::new(product, Decimal::from(4)) };
    let number = leaflink.place_order(NewOrder::new(customer, vec![line])).unwrap();
    let import = harness.run(Flow::OrdersImport).await;
    assert_eq!(import.counts.failed, 0, "{import:#?}");
    // A first pull settles the cursor on the imported state.
    harness.run(Flow::OrdersPull).await;

    let order = leaflink.order_json(&number).unwrap();
    let line_id = order["line_items"][0]["id"].as_u64().unwrap();
    let multiplier = decimal(&order["line_items"][0]["unit_multiplier"]);
    leaflink.change_line(line_id, Some(Decimal::from(9)), None).unwrap();
    let pull = harness.run(Flow::OrdersPull).await;
    assert_eq!(pull.counts.failed, 0, "{pull:#?}");

    let short_id = order["short_id"].as_str().unwrap();
    let orders = harness.bc_get("salesOrders?$expand=salesOrderLines").await;
    let bc_order: &Value = orders["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|bc| bc["externalDocumentNumber"].as_str().is_some_and(|value| value.eq_ignore_ascii_case(short_id)))
        .expect("the imported order is in BC");
    let item_lines: Vec<&Value> = bc_order["salesOrderLines"].as_array().unwrap().iter().filter(|line| line["lineType"] == "Item").collect();
    assert_eq!(item_lines.len(), 1);
    assert_eq!(decimal(&item_lines[0]["quantity"]), Decimal::from(9), "{pull:#?}");
    let expected_amount = (Decimal::new(2500, 2) * Decimal::from(9) / multiplier).round_dp(2);
    assert_eq!(decimal(&item_lines[0]["amountExcludingTax"]), expected_amount);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_writes_only_leaflink_line_fields() {
    let (harness, number, [line_a, line_b], bc_order) = imported_two_line_order("orders-pull-fields").await;
    let order_id = bc_order["id"].as_str().unwrap().to_owned();
    let bc_line_a = bc_line_with_quantity(&bc_order, 5);
    let bc_line_b = bc_line_with_quantity(&bc_order, 3);
    let multiplier_a = decimal(&leaflink_line(&harness, &number, line_a)["unit_multiplier"]);

    // On line A the seller changes the price in LeafLink and a BC user the
    // quantity; on line B only BC changes the quantity.
    let price_a = Decimal::from(3) * multiplier_a;
    harness.sandbox.leaflink().change_line(line_a, None, Some(price_a)).unwrap();
    for (line, quantity) in [(&bc_line_a, 8), (&bc_line_b, 6)] {
        bc(&harness.sandbox, Method::PATCH, &format!("salesOrders({order_id})/salesOrderLines({line})"), Some(json!({ "quantity": quantity }))).await;
    }

    let pull = harness.run(Flow::OrdersPull).await;
    assert_eq!(pull.counts.failed, 0, "{pull:#?}");
    let a = harness.bc_get(&format!("salesOrders({order_id})/salesOrderLines({bc_line_a})")).await;
    assert_eq!(decimal(&a["unitPrice"]), Decimal::from(3), "LeafLink's price reaches BC line A per unit: {pull:#?}");
    assert_eq!(decimal(&a["quantity"]), Decimal::from(8), "the pull keeps BC's quantity on line A: {pull:#?}");
    assert_eq!(decimal(&a["amountExcludingTax"]), Decimal::from(24), "line A is priced for BC's quantity: {a:#}");
    let b = harness.bc_get(&format!("salesOrders({order_id})/salesOrderLines({bc_line_b})")).await;
    assert_eq!(decimal(&b["quantity"]), Decimal::from(6), "the pull keeps BC's quantity on line B: {pull:#?}");
    let conflicts = harness.store.conflicts(&harness.settings.name).unwrap();
    assert!(conflicts.is_empty(), "no field changed on both sides: {conflicts:#?}");

    let push = harness.run(Flow::OrdersPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    let a = leaflink_line(&harness, &number, line_a);
    assert_eq!(decimal(&a["quantity"]), Decimal::from(8), "BC's quantity reaches LeafLink line A: {push:#?}");
    assert_eq!(decimal(&a["ordered_unit_price"]["amount"]), price_a, "{push:#?}");
    assert_eq!(decimal(&leaflink_line(&harness, &number, line_b)["quantity"]), Decimal::from(6), "{push:#?}");

    let pull = harness.run(Flow::OrdersPull).await;
    assert_eq!(pull.counts.written, 0, "nothing is left to pull: {pull:#?}");
    let push = harness.run(Flow::OrdersPush).await;
    assert_eq!(push.counts.written, 0, "nothing is left to push: {push:#?}");
    let conflicts = harness.store.conflicts(&harness.settings.name).unwrap();
    assert!(conflicts.is_empty(), "{conflicts:#?}");
}
