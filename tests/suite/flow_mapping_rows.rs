//! Every mapping row of `orders-import`, end to end through the real plugins:
//! orders placed in the LeafLink sandbox with chosen values must arrive in the
//! BC sandbox with each mapped field exactly as the mapping states. That
//! covers the header, the freight line, comment lines for notes and delivery
//! preferences, item lines priced for unit_multiplier 1 and 7, the customer
//! and item created on the way, non-ASCII text and over-long strings.
//!
//! BC Text[n] fields count UTF-16 code units. A value longer than its field is
//! cut on a character boundary and the full value is kept in the
//! cross-reference store as `<field>_full`.

use leafbridge::flows::Flow;
use leafbridge::store::{RecordKind, RunOutcome};
use leafbridge_sandbox::SeedConfig;
use leafbridge_sandbox::leaflink::{NewLine, NewOrder};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::flow_harness::{Harness, decimal, sandbox_config};

/// A product name of 99 UTF-16 units followed by an emoji (2 units), so the
/// 100-unit cut must fall before the emoji, never inside it.
fn over_long_product_name() -> (String, String) {
    let fitted = format!("Café Ñandú {}", "x".repeat(88));
    assert_eq!(fitted.encode_utf16().count(), 99);
    (format!("{fitted}🌿 Extra Long Tail"), fitted)
}

const CUSTOMER_NAME: &str = "Østergård Ñandú Dispensary — Café 🌿";
const LONG_CITY: &str = "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch";
const NOTES_FIRST: &str = "Please call on arrival.";
const NOTES_SECOND: &str = "Invoice to the head office — attn. Zoë.";

fn d(text: &str) -> Decimal {
    text.parse().expect("a decimal literal")
}

/// Fetches the BC sales order whose `externalDocumentNumber` is `short_id`,
/// with its lines. BC stores the number in upper case.
async fn bc_order(harness: &Harness, short_id: &str) -> Value {
    let orders = harness.bc_get("salesOrders?$expand=salesOrderLines").await;
    let matching: Vec<Value> = orders["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|order| order["externalDocumentNumber"].as_str().is_some_and(|number| number.eq_ignore_ascii_case(short_id)))
        .cloned()
        .collect();
    assert_eq!(matching.len(), 1, "order {short_id} should exist once in BC");
    matching.into_iter().next().unwrap()
}

/// Parses a stored or rendered timestamp, so values written at different UTC
/// offsets compare as the same instant.
fn instant(text: Option<impl AsRef<str>>) -> Option<jiff::Timestamp> {
    text.map(|text| text.as_ref().parse().unwrap_or_else(|error| panic!("{:?} is not a timestamp: {error}", text.as_ref())))
}

fn lines_of_type<'a>(order: &'a Value, line_type: &str) -> Vec<&'a Value> {
    order["salesOrderLines"].as_array().unwrap().iter().filter(|line| line["lineType"] == line_type).collect()
}

/// The set-up every mapping test shares: one customer and two products with
/// chosen values, and an order of both products placed at 23:30 in the
/// tenant's zone (America/Denver, UTC-7 in January).
struct Placed {
    harness: Harness,
    customer_id: u32,
    unit_product: u32,
    case_product: u32,
    order_number: String,
}

async fn place_chosen_order(name: &str) -> Placed {
    let harness = Harness::start(name, sandbox_config(SeedConfig { customers: 4, products: 12, orders: 1, random_seed: 29 })).await;
    let leaflink = harness.sandbox.leaflink();

    let customer_id = leaflink.active_customer_ids()[0];
    leaflink
        .edit_customer(customer_id, |customer| {
            customer.name = CUSTOMER_NAME.into();
            customer.dba = "".into();
            customer.nickname = None;
            customer.email = "orders@ostergard.example".into();
            customer.phone = "720-555-0142".into();
            customer.address.address = "1234 E Colfax Ave".into();
            customer.address.unit_number = "Suite 5".into();
            customer.address.city = LONG_CITY.into();
            customer.address.state = "CO".into();
            customer.address.zipcode = "80206".into();
        })
        .unwrap();

    let products = leaflink.available_product_ids();
    let (unit_product, case_product) = (products[0], products[1]);
    let (long_name, _) = over_long_product_name();
    leaflink
        .edit_product(unit_product, |product| {
            product.name = long_name.as_str().into();
            product.unit_multiplier = 1;
            product.unit_of_measure = "Gram";
            product.quantity = d("100000");
        })
        .unwrap();
    leaflink
        .edit_product(case_product, |product| {
            product.name = "Gelato Ünïcødé Pre-Roll 1g".into();
            product.unit_multiplier = 7;
            product.unit_of_measure = "Unit";
            product.quantity = d("100000");
        })
        .unwrap();

    let long_note = format!("{} {}", "a".repeat(60), "b".repeat(60));
    let mut order = NewOrder::new(
        customer_id,
        vec![
            NewLine { ordered_unit_price: Some(d("10.99")), ..NewLine::new(unit_product, d("3")) },
            // 7000 units at 100.00 a case of 7 is 100000.00. The BC unit price
            // 100/7 = 14.285714... rounds up to 14.28572, so 7000 × 14.28572
            // = 100000.04 and the line needs a 0.04 discount to match.
            NewLine { ordered_unit_price: Some(d("100.00")), ..NewLine::new(case_product, d("7000")) },
        ],
    );
    order.shipping_charge = d("12.50");
    order.notes = Some(format!("{NOTES_FIRST}\n{NOTES_SECOND}\n{long_note}"));
    order.delivery_preferences = Some("Back door, ring twice".to_owned());
    let order_number = leaflink.place_order(order).unwrap();
    // 06:30 UTC on 15 January is 23:30 on 14 January in Denver.
    leaflink.set_order_created_on(&order_number, "2025-01-15T06:30:00Z".parse().unwrap()).unwrap();

    Placed { harness, customer_id, unit_product, case_product, order_number }
}

async fn import(harness: &Harness) {
    let report = harness.run(Flow::OrdersImport).await;
    assert_eq!(report.outcome, RunOutcome::Done, "{report:#?}");
    assert_eq!(report.counts.failed, 0, "{report:#?}");
}

fn short_id(harness: &Harness, number: &str) -> String {
    harness.sandbox.leaflink().order_json(number).unwrap()["short_id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_header_maps_exactly() {
    let placed = place_chosen_order("mapping-header").await;
    let harness = &placed.harness;
    // 07:10 UTC on 15 January is 00:10 on 15 January in Denver.
    let after_midnight = harness
        .sandbox
        .leaflink()
        .place_order(NewOrder::new(placed.customer_id, vec![NewLine::new(placed.case_product, d("7"))]))
        .unwrap();
    harness.sandbox.leaflink().set_order_created_on(&after_midnight, "2025-01-15T07:10:00Z".parse().unwrap()).unwrap();
    import(harness).await;

    let short = short_id(harness, &placed.order_number);
    let order = bc_order(harness, &short).await;
    assert_eq!(order["externalDocumentNumber"].as_str().unwrap().to_uppercase(), short.to_uppercase());
    assert_eq!(order["orderDate"], "2025-01-14", "23:30 in Denver keeps the local date");
    assert_eq!(order["customerNumber"], format!("LL{}", placed.customer_id));

    let next_day = bc_order(harness, &short_id(harness, &after_midnight)).await;
    assert_eq!(next_day["orderDate"], "2025-01-15", "00:10 in Denver is the next local date");

    let xref = harness.store.xref(&harness.settings.name, RecordKind::Order, &placed.order_number).unwrap();
    let xref = xref.expect("the order has a cross-reference keyed by its LeafLink number");
    assert_eq!(xref.bc_id.as_deref(), order["id"].as_str());
    assert_eq!(xref.stored.get("status").map(String::as_str), Some("Submitted"));
    let created = harness.sandbox.leaflink().order_json(&placed.order_number).unwrap()["created_on"].as_str().unwrap().to_owned();
    assert_eq!(instant(xref.stored.get("created_on")), instant(Some(&created)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freight_and_comment_lines_map_exactly() {
    let placed = place_chosen_order("mapping-comments").await;
    let harness = &placed.harness;
    import(harness).await;

    let order = bc_order(harness, &short_id(harness, &placed.order_number)).await;
    let freight = lines_of_type(&order, "Account");
    assert_eq!(freight.len(), 1, "one freight line: {order:#}");
    assert_eq!(freight[0]["lineObjectNumber"], "40100");
    assert_eq!(decimal(&freight[0]["quantity"]), Decimal::ONE);
    assert_eq!(decimal(&freight[0]["unitPrice"]), d("12.50"));
    assert_eq!(decimal(&freight[0]["amountExcludingTax"]), d("12.50"));

    let comments: Vec<&str> = lines_of_type(&order, "Comment").iter().map(|line| line["description"].as_str().unwrap()).collect();
    let a60 = "a".repeat(60);
    let b60 = "b".repeat(60);
    let expected = vec![NOTES_FIRST, NOTES_SECOND, a60.as_str(), b60.as_str(), "Delivery: Back door, ring twice"];
    assert_eq!(comments, expected, "notes split at line breaks and at the last space within 100 characters");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_lines_map_to_the_cent() {
    let placed = place_chosen_order("mapping-lines").await;
    let harness = &placed.harness;
    import(harness).await;

    let leaflink_order = harness.sandbox.leaflink().order_json(&placed.order_number).unwrap();
    let order = bc_order(harness, leaflink_order["short_id"].as_str().unwrap()).await;
    let items = lines_of_type(&order, "Item");
    assert_eq!(items.len(), 2, "{order:#}");
    let leaflink_lines = leaflink_order["line_items"].as_array().unwrap();

    let unit_sku = harness.sandbox.leaflink().product_json(placed.unit_product).unwrap()["sku"].as_str().unwrap().to_owned();
    let case_sku = harness.sandbox.leaflink().product_json(placed.case_product).unwrap()["sku"].as_str().unwrap().to_owned();
    let (_, fitted_name) = over_long_product_name();

    // unit_multiplier 1: 3 × 10.99.
    let unit_line = items[0];
    assert!(unit_line["lineObjectNumber"].as_str().unwrap().eq_ignore_ascii_case(&unit_sku), "{unit_line:#}");
    assert_eq!(unit_line["description"], fitted_name.as_str(), "cut before the emoji, at 99 UTF-16 units");
    assert_eq!(unit_line["unitOfMeasureCode"], "GR");
    assert_eq!(decimal(&unit_line["quantity"]), d("3"));
    assert_eq!(decimal(&unit_line["unitPrice"]), d("10.99"));
    assert_eq!(decimal(&unit_line["discountAmount"]), Decimal::ZERO);
    assert_eq!(decimal(&unit_line["amountExcludingTax"]), d("32.97"));
    assert_eq!(decimal(&leaflink_lines[0]["unit_multiplier"]), Decimal::ONE);

    // unit_multiplier 7: 7000 units at 100.00 a case.
    let case_line = items[1];
    assert!(case_line["lineObjectNumber"].as_str().unwrap().eq_ignore_ascii_case(&case_sku), "{case_line:#}");
    assert_eq!(case_line["description"], "Gelato Ünïcødé Pre-Roll 1g");
    assert_eq!(case_line["unitOfMeasureCode"], "PCS");
    assert_eq!(decimal(&case_line["quantity"]), d("7000"));
    assert_eq!(decimal(&case_line["unitPrice"]), d("14.28572"));
    assert_eq!(decimal(&case_line["discountAmount"]), d("0.04"));
    assert_eq!(decimal(&case_line["amountExcludingTax"]), d("100000.00"));
    assert_eq!(decimal(&leaflink_lines[1]["unit_multiplier"]), d("7"));

}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_ids_cross_referenced() {
    let placed = place_chosen_order("mapping-line-xref").await;
    let harness = &placed.harness;
    import(harness).await;

    let leaflink_order = harness.sandbox.leaflink().order_json(&placed.order_number).unwrap();
    let order = bc_order(harness, leaflink_order["short_id"].as_str().unwrap()).await;
    let items = lines_of_type(&order, "Item");
    let order_xref = harness.store.xref(&harness.settings.name, RecordKind::Order, &placed.order_number).unwrap().unwrap();
    for (leaflink_line, bc_line) in leaflink_order["line_items"].as_array().unwrap().iter().zip(items) {
        let key = format!("line:{}:bc_id", leaflink_line["id"]);
        assert_eq!(order_xref.stored.get(&key).map(String::as_str), bc_line["id"].as_str(), "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_met_in_order_maps_exactly() {
    let placed = place_chosen_order("mapping-customer").await;
    let harness = &placed.harness;
    import(harness).await;

    let number = format!("LL{}", placed.customer_id);
    let customers: Vec<Value> = harness.bc_all("customers").await.into_iter().filter(|customer| customer["number"] == number.as_str()).collect();
    assert_eq!(customers.len(), 1, "customer {number} exists once in BC");
    let customer = &customers[0];
    let leaflink = harness.sandbox.leaflink().customer_json(placed.customer_id).unwrap();

    assert_eq!(customer["displayName"], CUSTOMER_NAME);
    assert_eq!(customer["addressLine1"], "1234 E Colfax Ave");
    assert_eq!(customer["addressLine2"], "Suite 5");
    let fitted_city: String = LONG_CITY.chars().take(30).collect();
    assert_eq!(customer["city"], fitted_city.as_str(), "city is cut to BC's 30 characters");
    assert_eq!(customer["state"], "CO");
    assert_eq!(customer["postalCode"], "80206");
    assert_eq!(customer["country"], "US");
    assert_eq!(customer["phoneNumber"], "720-555-0142");
    assert_eq!(customer["email"], "orders@ostergard.example");
    // The sandbox customer's currency is USD, the company's own currency.
    assert_eq!(customer["currencyCode"].as_str().unwrap_or(""), "");

    let xref = harness.store.xref(&harness.settings.name, RecordKind::Customer, &placed.customer_id.to_string()).unwrap();
    let xref = xref.expect("the customer has a cross-reference keyed by its LeafLink id");
    assert_eq!(xref.bc_number.as_deref(), Some(number.as_str()));
    assert_eq!(xref.stored.get("license_number").map(String::as_str), leaflink["license_number"].as_str());
    assert_eq!(xref.stored.get("archived").map(String::as_str), Some("false"));
    assert_eq!(instant(xref.stored.get("modified")), instant(leaflink["modified"].as_str()));
    assert_eq!(xref.stored.get("city_full").map(String::as_str), Some(LONG_CITY), "the full city is kept: {:#?}", xref.stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_met_in_order_maps_exactly() {
    let placed = place_chosen_order("mapping-item").await;
    let harness = &placed.harness;
    import(harness).await;

    let product = harness.sandbox.leaflink().product_json(placed.unit_product).unwrap();
    let sku = product["sku"].as_str().unwrap();
    let items: Vec<Value> = harness
        .bc_all("items")
        .await
        .into_iter()
        .filter(|item| item["number"].as_str().is_some_and(|number| number.eq_ignore_ascii_case(sku)))
        .collect();
    assert_eq!(items.len(), 1, "item {sku} exists once in BC");
    let (long_name, fitted_name) = over_long_product_name();
    assert_eq!(items[0]["displayName"], fitted_name.as_str());
    assert_eq!(items[0]["baseUnitOfMeasureCode"], "GR");

    let xref = harness.store.xref(&harness.settings.name, RecordKind::Item, sku).unwrap();
    let xref = xref.expect("the item has a cross-reference keyed by its SKU");
    assert_eq!(xref.stored.get("leaflink_product_id"), Some(&placed.unit_product.to_string()));
    assert_eq!(instant(xref.stored.get("last_edit")), instant(product["last_edit"].as_str()));
    assert_eq!(xref.stored.get("displayName_full"), Some(&long_name), "the full name is kept: {:#?}", xref.stored);
}
