//! `orders-pull`: a line change made in LeafLink after import reaches the BC
//! order line, priced by the same rule as the import.

use leafbridge::flows::Flow;
use leafbridge_sandbox::SeedConfig;
use leafbridge_sandbox::leaflink::{NewLine, NewOrder};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::flow_harness::{Harness, decimal, sandbox_config};

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
