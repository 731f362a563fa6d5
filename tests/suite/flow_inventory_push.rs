//! `inventory-push`: an item edit and a sale in BC reach the LeafLink product's
//! `quantity` as the absolute BC figure, never as an increment, and a
//! LeafLink quantity that drifted from BC is set back to the BC figure.

use axum::http::Method;
use leafbridge::flows::Flow;
use leafbridge::store::RecordKind;
use leafbridge_sandbox::leaflink::{NewLine, NewOrder};
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

fn leaflink_quantity(harness: &Harness, product_id: u32) -> Decimal {
    decimal(&harness.sandbox.leaflink().product_json(product_id).unwrap()["quantity"])
}

/// Creates a BC item for a LeafLink product of the seed and links the two.
/// Returns the harness, the product id, its SKU and the BC item id.
async fn linked_item(seed: u64) -> (Harness, u32, String, String) {
    let sandbox = Sandbox::start(sandbox_config(SeedConfig { customers: 3, products: 10, orders: 1, random_seed: seed })).await.unwrap();
    let leaflink = sandbox.leaflink();
    let product_id = leaflink
        .available_product_ids()
        .into_iter()
        .find(|id| leaflink.product_json(*id).unwrap()["sku"].as_str().unwrap().len() <= 20)
        .unwrap();
    let product = leaflink.product_json(product_id).unwrap();
    let sku = product["sku"].as_str().unwrap().to_owned();
    // Link pairs an item only when its display name agrees with the product name.
    let item = bc(&sandbox, Method::POST, "items", Some(json!({
        "number": sku, "displayName": product["name"], "type": "Inventory", "baseUnitOfMeasureCode": "PCS", "unitPrice": 5,
    })))
    .await;
    let item_id = item["id"].as_str().unwrap().to_owned();
    let settings = settings_for("inventory", &sandbox);
    let harness = Harness::with_settings(sandbox, settings);
    let link = harness.run(Flow::Link).await;
    assert!(harness.store.xref("inventory", RecordKind::Item, &sku).unwrap().is_some(), "link pairs the item: {link:#?}");
    (harness, product_id, sku, item_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_edit_and_sale_set_absolute_quantity() {
    let (harness, product_id, sku, item_id) = linked_item(41).await;

    // An item edit: BC posts an adjustment to 40.
    bc(&harness.sandbox, Method::PATCH, &format!("items({item_id})"), Some(json!({ "inventory": 40 }))).await;
    let push = harness.run(Flow::InventoryPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    assert_eq!(leaflink_quantity(&harness, product_id), Decimal::from(40), "{push:#?}");

    // A sale: shipping 3 units leaves 37 in BC.
    let customers = harness.bc_all("customers").await;
    let customer_number = customers[0]["number"].as_str().unwrap().to_owned();
    let order = bc(&harness.sandbox, Method::POST, "salesOrders", Some(json!({ "customerNumber": customer_number }))).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    bc(
        &harness.sandbox,
        Method::POST,
        &format!("salesOrders({order_id})/salesOrderLines"),
        Some(json!({ "lineType": "Item", "lineObjectNumber": sku, "quantity": 3 })),
    )
    .await;
    bc(&harness.sandbox, Method::POST, &format!("salesOrders({order_id})/Microsoft.NAV.shipAndInvoice"), None).await;
    let in_bc = harness.bc_get(&format!("items({item_id})")).await;
    assert_eq!(decimal(&in_bc["inventory"]), Decimal::from(37), "the BC sandbox lowers inventory on shipment");

    let push = harness.run(Flow::InventoryPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    assert_eq!(leaflink_quantity(&harness, product_id), Decimal::from(37), "{push:#?}");

    let again = harness.run(Flow::InventoryPush).await;
    assert_eq!(again.counts.written, 0, "an unchanged figure is not pushed again: {again:#?}");
    assert_eq!(leaflink_quantity(&harness, product_id), Decimal::from(37));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaflink_fulfill_is_repaired() {
    let (harness, product_id, _sku, item_id) = linked_item(43).await;
    bc(&harness.sandbox, Method::PATCH, &format!("items({item_id})"), Some(json!({ "inventory": 50 }))).await;
    let push = harness.run(Flow::InventoryPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    assert_eq!(leaflink_quantity(&harness, product_id), Decimal::from(50), "{push:#?}");

    // A buyer orders 5 units; the order is imported, then shipped and
    // invoiced in BC, which leaves 45 there.
    let leaflink = harness.sandbox.leaflink();
    let customer = leaflink.active_customer_ids()[0];
    let number = leaflink.place_order(NewOrder::new(customer, vec![NewLine::new(product_id, Decimal::from(5))])).unwrap();
    let import = harness.run(Flow::OrdersImport).await;
    assert_eq!(import.counts.failed, 0, "{import:#?}");
    let short_id = leaflink.order_json(&number).unwrap()["short_id"].as_str().unwrap().to_uppercase();
    let orders = harness.bc_get(&format!("salesOrders?$filter=externalDocumentNumber eq '{short_id}'")).await;
    let order_id = orders["value"][0]["id"].as_str().expect("the order is in BC").to_owned();
    bc(&harness.sandbox, Method::POST, &format!("salesOrders({order_id})/Microsoft.NAV.shipAndInvoice"), None).await;
    let push = harness.run(Flow::InventoryPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    assert_eq!(leaflink_quantity(&harness, product_id), Decimal::from(45), "{push:#?}");

    // orders-push fulfills the LeafLink order, and LeafLink takes the 5
    // units off its own quantity a second time.
    let orders_push = harness.run(Flow::OrdersPush).await;
    assert_eq!(orders_push.counts.failed, 0, "{orders_push:#?}");
    assert_eq!(leaflink.order_json(&number).unwrap()["status"], "Complete", "{orders_push:#?}");
    assert_eq!(leaflink_quantity(&harness, product_id), Decimal::from(40), "the sandbox lowers quantity on fulfill");

    let push = harness.run(Flow::InventoryPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    assert_eq!(push.counts.written, 1, "{push:#?}");
    assert_eq!(leaflink_quantity(&harness, product_id), Decimal::from(45), "LeafLink ends equal to BC: {push:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaflink_edit_is_repaired() {
    let (harness, product_id, _sku, item_id) = linked_item(45).await;
    bc(&harness.sandbox, Method::PATCH, &format!("items({item_id})"), Some(json!({ "inventory": 30 }))).await;
    let push = harness.run(Flow::InventoryPush).await;
    assert_eq!(leaflink_quantity(&harness, product_id), Decimal::from(30), "{push:#?}");

    // Someone sets the quantity in LeafLink, and a later BC edit of the item
    // leaves its inventory at 30.
    harness.sandbox.leaflink().edit_product(product_id, |product| product.quantity = Decimal::from(99)).unwrap();
    bc(&harness.sandbox, Method::PATCH, &format!("items({item_id})"), Some(json!({ "unitPrice": 6 }))).await;
    let push = harness.run(Flow::InventoryPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    assert_eq!(leaflink_quantity(&harness, product_id), Decimal::from(30), "the BC figure replaces LeafLink's: {push:#?}");
}

/// A push of stock leaves a name LeafLink changed meanwhile as a change for
/// products-pull to carry to BC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_push_keeps_leaflink_name_change() {
    let (harness, product_id, _sku, item_id) = linked_item(46).await;
    let settle = harness.run(Flow::ProductsPull).await;
    assert_eq!(settle.counts.failed, 0, "{settle:#?}");

    harness.sandbox.leaflink().edit_product(product_id, |product| product.name = "Renamed in LeafLink".into()).unwrap();
    bc(&harness.sandbox, Method::PATCH, &format!("items({item_id})"), Some(json!({ "inventory": 12 }))).await;
    let push = harness.run(Flow::InventoryPush).await;
    assert_eq!(leaflink_quantity(&harness, product_id), Decimal::from(12), "{push:#?}");

    let pull = harness.run(Flow::ProductsPull).await;
    let item = harness.bc_get(&format!("items({item_id})")).await;
    assert_eq!(item["displayName"], "Renamed in LeafLink", "{pull:#?}");
}
