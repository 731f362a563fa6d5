//! `orders-import` against the sandbox: each importable order arrives once,
//! with its customer and items, and every line amount equals LeafLink's to the
//! cent.

use std::collections::HashMap;

use leafbridge::flows::Flow;
use leafbridge::store::RunOutcome;
use leafbridge_sandbox::SeedConfig;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

use crate::flow_harness::{Harness, decimal, sandbox_config};

/// LeafLink orders the tenant should import: created after go-live and in an
/// importable status, keyed by `short_id`.
pub fn importable_orders(harness: &Harness) -> HashMap<String, Value> {
    let leaflink = harness.sandbox.leaflink();
    let mut orders = HashMap::new();
    for number in leaflink.order_numbers() {
        let order = leaflink.order_json(&number).expect("listed orders exist");
        let created: jiff::Timestamp = order["created_on"].as_str().unwrap().parse().unwrap();
        let status = order["status"].as_str().unwrap();
        if created >= harness.settings.go_live && harness.settings.order_statuses_to_import.iter().any(|wanted| wanted == status) {
            orders.insert(order["short_id"].as_str().unwrap().to_owned(), order);
        }
    }
    orders
}

/// LeafLink's line amount: round2(ordered_unit_price × quantity / unit_multiplier).
fn leaflink_line_amount(line: &Value) -> Decimal {
    let price = decimal(&line["ordered_unit_price"]["amount"]);
    let quantity = decimal(&line["quantity"]);
    let multiplier = decimal(&line["unit_multiplier"]);
    (price * quantity / multiplier).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_import_once_with_exact_amounts() {
    let harness = Harness::start("import-amounts", sandbox_config(SeedConfig { customers: 15, products: 30, orders: 60, random_seed: 11 })).await;
    let expected = importable_orders(&harness);
    assert!(expected.len() >= 10, "the seed should give at least 10 importable orders, got {}", expected.len());

    let report = harness.run(Flow::OrdersImport).await;
    assert_eq!(report.outcome, RunOutcome::Done, "{report:#?}");
    assert_eq!(report.counts.failed, 0, "{report:#?}");
    // `written` counts the orders, and the new customers and items they
    // needed are counted in `related_written`.
    assert_eq!(report.counts.written, expected.len() as u64, "{report:#?}");
    assert!(report.counts.related_written > 0, "{report:#?}");

    let bc_orders = harness.bc_get("salesOrders?$expand=salesOrderLines").await;
    let bc_orders = bc_orders["value"].as_array().unwrap();
    let mut seen_multiplier_one = false;
    let mut seen_multiplier_above_one = false;
    for (short_id, order) in &expected {
        // BC keeps `externalDocumentNumber` in upper case.
        let matching: Vec<&Value> = bc_orders
            .iter()
            .filter(|bc| bc["externalDocumentNumber"].as_str().is_some_and(|number| number.eq_ignore_ascii_case(short_id)))
            .collect();
        assert_eq!(matching.len(), 1, "order {short_id} should exist once in BC");
        let bc_item_lines: Vec<&Value> = matching[0]["salesOrderLines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|line| line["lineType"] == "Item")
            .collect();
        let leaflink_lines = order["line_items"].as_array().unwrap();
        assert_eq!(bc_item_lines.len(), leaflink_lines.len(), "order {short_id}: one BC item line per LeafLink line");
        for (leaflink_line, bc_line) in leaflink_lines.iter().zip(&bc_item_lines) {
            let expected_amount = leaflink_line_amount(leaflink_line);
            let bc_amount = decimal(&bc_line["amountExcludingTax"]);
            assert_eq!(bc_amount, expected_amount, "order {short_id}, line {}: BC amount differs", leaflink_line["id"]);
            if decimal(&leaflink_line["unit_multiplier"]) == Decimal::ONE {
                seen_multiplier_one = true;
            } else {
                seen_multiplier_above_one = true;
            }
        }
    }
    assert!(seen_multiplier_one, "the seed should include a line with unit_multiplier 1");
    assert!(seen_multiplier_above_one, "the seed should include a line with unit_multiplier above 1");

    let again = harness.run(Flow::OrdersImport).await;
    assert_eq!(again.counts.written, 0, "a second run writes nothing: {again:#?}");
    assert_eq!(again.counts.requests_business_central, 0, "a second run needs no BC request: {again:#?}");
}

/// An order BC rejects (its item is blocked) waits in dead letters for its
/// retry time instead of being sent again by every run, and a due retry
/// sends it once, not once by number and again in the crawl.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_order_waits_for_its_retry() {
    use leafbridge_sandbox::leaflink::{NewLine, NewOrder};

    let harness = Harness::start("retry-wait", sandbox_config(SeedConfig { customers: 3, products: 6, orders: 1, random_seed: 51 })).await;
    let tenant = harness.settings.name.clone();
    let leaflink = harness.sandbox.leaflink();
    let customer = leaflink.active_customer_ids()[0];
    let product = leaflink.available_product_ids()[0];
    let placed = leaflink.place_order(NewOrder::new(customer, vec![NewLine::new(product, Decimal::from(2))])).unwrap();
    let first = harness.run(Flow::OrdersImport).await;
    assert_eq!(first.counts.failed, 0, "{first:#?}");

    // Block the item BC created for the product, then order it again.
    let short_id = leaflink.order_json(&placed).unwrap()["short_id"].as_str().unwrap().to_uppercase();
    let orders = harness.bc_get("salesOrders?$expand=salesOrderLines").await;
    let imported = orders["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|order| order["externalDocumentNumber"].as_str().is_some_and(|number| number.eq_ignore_ascii_case(&short_id)))
        .unwrap_or_else(|| panic!("order {short_id} is not in BC: {orders}"));
    let item_id = imported["salesOrderLines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|line| line["lineType"] == "Item")
        .map(|line| line["itemId"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("the imported order has no item line: {imported}"));
    let company = harness.sandbox.info().business_central.company_id;
    let blocked = harness
        .sandbox
        .business_central()
        .request(axum::http::Method::PATCH, &format!("companies({company})/items({item_id})"), Some(serde_json::json!({"blocked": true})))
        .await;
    assert_eq!(blocked.status, 200);
    let number = leaflink.place_order(NewOrder::new(customer, vec![NewLine::new(product, Decimal::from(3))])).unwrap();
    let record = format!("order {number}");
    let letter = |harness: &Harness| {
        let letters = harness.store.dead_letters(&tenant).unwrap();
        letters.into_iter().find(|letter| letter.record == record).unwrap_or_else(|| panic!("no dead letter for {record}"))
    };

    let failing = harness.run(Flow::OrdersImport).await;
    assert_eq!(failing.counts.failed, 1, "{failing:#?}");
    assert!(!letter(&harness).transient, "{:#?}", letter(&harness));

    let waiting = harness.run(Flow::OrdersImport).await;
    assert_eq!(waiting.counts.failed, 0, "the order was sent again before its retry time: {waiting:#?}");
    assert_eq!(letter(&harness).attempts, 1);

    harness.store.make_dead_letter_due(&tenant, "orders-import", &record).unwrap();
    let due = harness.run(Flow::OrdersImport).await;
    assert_eq!(due.counts.failed, 1, "a due retry sends the order exactly once: {due:#?}");
    assert_eq!(letter(&harness).attempts, 2);
}

/// LeafLink pages by offset, so orders that leave the listed statuses during
/// a crawl move the rest of the list up and the next offset passes over as
/// many. The crawl notices that the count fell and keeps its cursor, so the
/// next run imports the orders it passed over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_leaving_list_mid_crawl_kept() {
    use leafbridge_sandbox::leaflink::Action;

    let harness = Harness::start("list-shift", sandbox_config(SeedConfig { customers: 20, products: 40, orders: 1500, random_seed: 29 })).await;
    let leaflink = harness.sandbox.leaflink();
    let business_central = harness.sandbox.business_central();
    let expected_at_start = importable_orders(&harness);
    // The first importable orders in list order, which the first page holds.
    let leaving: Vec<String> = leaflink
        .order_numbers()
        .into_iter()
        .filter(|number| {
            let order = leaflink.order_json(number).unwrap();
            expected_at_start.contains_key(order["short_id"].as_str().unwrap())
        })
        .take(30)
        .collect();
    let orders_before = business_central.count("salesOrders").await;

    // Once the first page's orders reach BC, later pages are still to be
    // read: the orders leave the list then.
    let reject_mid_crawl = async {
        while business_central.count("salesOrders").await == orders_before {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        for number in &leaving {
            leaflink.transition(number, Action::Reject).unwrap();
        }
    };
    let (first, ()) = tokio::join!(harness.run(Flow::OrdersImport), reject_mid_crawl);
    assert_eq!(first.counts.failed, 0, "{first:#?}");
    harness.run(Flow::OrdersImport).await;

    let expected = importable_orders(&harness);
    assert_eq!(expected.len(), expected_at_start.len() - leaving.len());
    let mut in_bc: HashMap<String, usize> = HashMap::new();
    for order in harness.bc_all("salesOrders").await {
        let external = order["externalDocumentNumber"].as_str().unwrap();
        // BC's own orders carry no external document number.
        if !external.is_empty() {
            *in_bc.entry(external.to_owned()).or_default() += 1;
        }
    }
    let missing: Vec<&String> = expected.keys().filter(|short_id| !in_bc.contains_key(&short_id.to_uppercase())).collect();
    assert!(missing.is_empty(), "{} importable orders never reached BC: {missing:?}", missing.len());
    let duplicated: Vec<(&String, &usize)> = in_bc.iter().filter(|(_, count)| **count > 1).collect();
    assert!(duplicated.is_empty(), "orders created twice: {duplicated:?}");
}
