//! Paging on both APIs: more records than several pages arrive exactly once.
//! LeafLink pages hold at most 100 records (limit/offset). BC pages are sized
//! by `Prefer: odata.maxpagesize`, which `products-export` sets to 200.

use std::collections::HashMap;

use axum::http::Method;
use leafbridge::flows::Flow;
use leafbridge::store::RunOutcome;
use leafbridge::tenant::ProductMaster;
use leafbridge_sandbox::{Sandbox, SeedConfig};
use serde_json::json;

use crate::flow_harness::{Harness, sandbox_config, settings_for};
use crate::flow_orders_import::importable_orders;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaflink_pages_every_order_once() {
    let harness = Harness::start("paging-orders", sandbox_config(SeedConfig { customers: 40, products: 60, orders: 700, random_seed: 31 })).await;
    let expected = importable_orders(&harness);
    assert!(expected.len() > 300, "the seed should give more than three LeafLink pages of importable orders, got {}", expected.len());

    let reports = harness.run_until_done(Flow::OrdersImport, 5).await;
    assert!(reports.iter().all(|report| report.counts.failed == 0), "{reports:#?}");

    let mut seen: HashMap<String, usize> = HashMap::new();
    for order in harness.bc_all("salesOrders").await {
        if let Some(number) = order["externalDocumentNumber"].as_str() {
            *seen.entry(number.to_uppercase()).or_default() += 1;
        }
    }
    for short_id in expected.keys() {
        assert_eq!(seen.get(&short_id.to_uppercase()).copied(), Some(1), "order {short_id} should exist once in BC");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn business_central_pages_every_item_once() {
    let sandbox = Sandbox::start(sandbox_config(SeedConfig { customers: 2, products: 2, orders: 1, random_seed: 37 })).await.unwrap();
    let company = sandbox.info().business_central.company_id;
    let count = 450;
    for index in 0..count {
        let body = json!({ "number": format!("PAGE-{index:04}"), "displayName": format!("Paging item {index}"), "type": "Inventory", "baseUnitOfMeasureCode": "PCS", "unitPrice": 4.5 });
        let reply = sandbox.business_central().request(Method::POST, &format!("companies({company})/items"), Some(body)).await;
        assert!(reply.status.is_success(), "creating item {index} returned {}", reply.status);
    }
    let mut settings = settings_for("paging-items", &sandbox);
    settings.product_master = ProductMaster::BusinessCentral;
    // LeafLink requires these product fields, and BC items have no source
    // for them, so the tenant supplies them as defaults.
    let defaults = [
        ("brand", "100"), ("category", "1"), ("sub_category", "10"), ("manufacturer", "2002"), ("license", "2619"),
        ("listing_state", "Available"), ("strain_classification", "hybrid"), ("unit_denomination", "1"),
        ("minimum_order", "1"), ("maximum_order", "1000"), ("retail_price", "9.00"),
    ];
    for (field, value) in defaults {
        settings.plugin_settings.insert(field.to_owned(), value.to_owned());
    }
    let harness = Harness::with_settings(sandbox, settings);

    let reports = harness.run_until_done(Flow::ProductsExport, 5).await;
    assert_eq!(reports.last().unwrap().outcome, RunOutcome::Done);
    let dead_letters = harness.store.dead_letters(&harness.settings.name).unwrap();
    assert!(dead_letters.is_empty(), "{} dead letters, first: {:#?}", dead_letters.len(), dead_letters.first());

    let leaflink = harness.sandbox.leaflink();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for id in leaflink.available_product_ids() {
        let sku = leaflink.product_json(id).unwrap()["sku"].as_str().unwrap().to_owned();
        *seen.entry(sku).or_default() += 1;
    }
    for index in 0..count {
        let sku = format!("PAGE-{index:04}");
        assert_eq!(seen.get(&sku).copied(), Some(1), "item {sku} should exist once in LeafLink");
    }
}
