//! A field changed on both sides since the last sync: the owner's value wins
//! and a conflict record keeps the other. Owners by default: order lines
//! after import belong to BC, customers to LeafLink, product name and price to
//! the product master (covered in `guarantee_echo`).

use axum::http::Method;
use leafbridge::flows::Flow;
use leafbridge_sandbox::leaflink::{NewLine, NewOrder};
use leafbridge_sandbox::{Sandbox, SeedConfig};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::flow_harness::{Harness, decimal, sandbox_config};

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
async fn order_line_bc_wins() {
    let harness = Harness::start("conflict-line", sandbox_config(SeedConfig { customers: 3, products: 8, orders: 1, random_seed: 79 })).await;
    let leaflink = harness.sandbox.leaflink();
    let customer = leaflink.active_customer_ids()[0];
    let product = leaflink.available_product_ids()[0];
    let line = NewLine { ordered_unit_price: Some(Decimal::new(1500, 2)), ..NewLine::new(product, Decimal::from(4)) };
    let number = leaflink.place_order(NewOrder::new(customer, vec![line])).unwrap();
    let import = harness.run(Flow::OrdersImport).await;
    assert_eq!(import.counts.failed, 0, "{import:#?}");
    harness.run(Flow::OrdersPull).await;

    let short_id = leaflink.order_json(&number).unwrap()["short_id"].as_str().unwrap().to_uppercase();
    let orders = harness.bc_get(&format!("salesOrders?$filter=externalDocumentNumber eq '{short_id}'&$expand=salesOrderLines")).await;
    let bc_order = &orders["value"][0];
    let order_id = bc_order["id"].as_str().unwrap();
    let bc_line = bc_order["salesOrderLines"].as_array().unwrap().iter().find(|line| line["lineType"] == "Item").unwrap();
    let bc_line_id = bc_line["id"].as_str().unwrap();
    let leaflink_line_id = leaflink.order_json(&number).unwrap()["line_items"][0]["id"].as_u64().unwrap();

    // The buyer changes the quantity to 9 and a BC user sets 6.
    leaflink.change_line(leaflink_line_id, Some(Decimal::from(9)), None).unwrap();
    bc(&harness.sandbox, Method::PATCH, &format!("salesOrders({order_id})/salesOrderLines({bc_line_id})"), Some(json!({ "quantity": 6 }))).await;

    let pull = harness.run(Flow::OrdersPull).await;
    assert_eq!(pull.counts.failed, 0, "{pull:#?}");
    let line_now = harness.bc_get(&format!("salesOrders({order_id})/salesOrderLines({bc_line_id})")).await;
    assert_eq!(decimal(&line_now["quantity"]), Decimal::from(6), "BC owns order lines after import: {pull:#?}");
    let field = format!("line:{leaflink_line_id}:quantity");
    let conflict = harness.store.conflict("conflict-line", "orders-pull", &format!("order {number}"), Some(&field)).unwrap();
    let conflict = conflict.unwrap_or_else(|| panic!("a conflict record keeps the buyer's quantity: {pull:#?}"));
    assert_eq!(conflict.winner, "business-central");
    assert_eq!(conflict.leaflink_value.as_deref(), Some("9"));
    assert_eq!(conflict.business_central_value.as_deref(), Some("6"));

    let push = harness.run(Flow::OrdersPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    let order = leaflink.order_json(&number).unwrap();
    assert_eq!(decimal(&order["line_items"][0]["quantity"]), Decimal::from(6), "the owner's value reaches LeafLink: {push:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_leaflink_wins() {
    let harness = Harness::start("conflict-customer", sandbox_config(SeedConfig { customers: 3, products: 4, orders: 1, random_seed: 83 })).await;
    let leaflink = harness.sandbox.leaflink();
    let customer = leaflink.active_customer_ids()[0];
    let import = harness.run(Flow::CustomersImport).await;
    assert_eq!(import.counts.failed, 0, "{import:#?}");
    let found = harness.bc_get(&format!("customers?$filter=number eq 'LL{customer}'")).await;
    let bc_id = found["value"][0]["id"].as_str().expect("the customer is in BC").to_owned();

    leaflink.edit_customer(customer, |customer| customer.phone = "720-555-0001".into()).unwrap();
    bc(&harness.sandbox, Method::PATCH, &format!("customers({bc_id})"), Some(json!({ "phoneNumber": "720-555-0002" }))).await;

    let update = harness.run(Flow::CustomersImport).await;
    assert_eq!(update.counts.failed, 0, "{update:#?}");
    let now = harness.bc_get(&format!("customers({bc_id})")).await;
    assert_eq!(now["phoneNumber"], "720-555-0001", "LeafLink owns customer fields: {update:#?}");
    let conflict = harness.store.conflict("conflict-customer", "customers-import", &format!("customer {customer}"), Some("phoneNumber")).unwrap();
    let conflict = conflict.unwrap_or_else(|| panic!("a conflict record keeps BC's phone number: {update:#?}"));
    assert_eq!(conflict.winner, "leaflink");
    assert_eq!(conflict.business_central_value.as_deref(), Some("720-555-0002"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_price_conflict_per_case() {
    let harness = Harness::start("conflict-price", sandbox_config(SeedConfig { customers: 3, products: 30, orders: 1, random_seed: 67 })).await;
    let leaflink = harness.sandbox.leaflink();
    let customer = leaflink.active_customer_ids()[0];
    let product = leaflink
        .available_product_ids()
        .into_iter()
        .find(|id| decimal(&leaflink.product_json(*id).unwrap()["unit_multiplier"]) > Decimal::ONE)
        .expect("the seed has a product sold in cases");
    let multiplier = decimal(&leaflink.product_json(product).unwrap()["unit_multiplier"]);
    let line = NewLine { ordered_unit_price: Some(Decimal::from(2) * multiplier), ..NewLine::new(product, multiplier) };
    let number = leaflink.place_order(NewOrder::new(customer, vec![line])).unwrap();
    let import = harness.run(Flow::OrdersImport).await;
    assert_eq!(import.counts.failed, 0, "{import:#?}");
    harness.run(Flow::OrdersPull).await;

    let short_id = leaflink.order_json(&number).unwrap()["short_id"].as_str().unwrap().to_uppercase();
    let orders = harness.bc_get(&format!("salesOrders?$filter=externalDocumentNumber eq '{short_id}'&$expand=salesOrderLines")).await;
    let bc_order = &orders["value"][0];
    let order_id = bc_order["id"].as_str().unwrap();
    let bc_line = bc_order["salesOrderLines"].as_array().unwrap().iter().find(|line| line["lineType"] == "Item").unwrap();
    let bc_line_id = bc_line["id"].as_str().unwrap();
    let leaflink_line_id = leaflink.order_json(&number).unwrap()["line_items"][0]["id"].as_u64().unwrap();

    // The seller sets 3 per unit in LeafLink (per case there) and a BC user 2.5 per unit.
    let leaflink_price = Decimal::from(3) * multiplier;
    leaflink.change_line(leaflink_line_id, None, Some(leaflink_price)).unwrap();
    bc(&harness.sandbox, Method::PATCH, &format!("salesOrders({order_id})/salesOrderLines({bc_line_id})"), Some(json!({ "unitPrice": 2.5 }))).await;

    let pull = harness.run(Flow::OrdersPull).await;
    assert_eq!(pull.counts.failed, 0, "{pull:#?}");
    let line_now = harness.bc_get(&format!("salesOrders({order_id})/salesOrderLines({bc_line_id})")).await;
    assert_eq!(decimal(&line_now["unitPrice"]), Decimal::new(25, 1), "BC owns order lines after import: {pull:#?}");
    let field = format!("line:{leaflink_line_id}:price");
    let conflict = harness.store.conflict("conflict-price", "orders-pull", &format!("order {number}"), Some(&field)).unwrap();
    let conflict = conflict.unwrap_or_else(|| panic!("a conflict record keeps the seller's price: {pull:#?}"));
    assert_eq!(conflict.winner, "business-central");
    assert_eq!(conflict.leaflink_value, Some(leaflink_price.normalize().to_string()));
    let bc_case_price = (Decimal::new(25, 1) * multiplier).normalize().to_string();
    assert_eq!(conflict.business_central_value, Some(bc_case_price), "both values are per case: {conflict:#?}");
    assert!(conflict.reason.contains("2.5 per unit"), "the reason keeps BC's unit price: {conflict:#?}");

    let push = harness.run(Flow::OrdersPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    let order = leaflink.order_json(&number).unwrap();
    let expected = (Decimal::new(25, 1) * multiplier).round_dp(2);
    assert_eq!(decimal(&order["line_items"][0]["ordered_unit_price"]["amount"]), expected, "the owner's price reaches LeafLink: {push:#?}");
}
