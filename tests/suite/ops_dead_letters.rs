//! Dead letters clear once their record is done, whichever flow did it, and
//! their list distinguishes records that differ only in spacing.

use leafbridge::flows::Flow;
use leafbridge::store::{CrossReference, RecordKind, Store};
use leafbridge_sandbox::leaflink::{NewLine, NewOrder};
use leafbridge_sandbox::SeedConfig;
use rust_decimal::Decimal;

use super::cli::{leafbridge, stderr, stdout, tenant_flags};
use crate::flow_harness::{Harness, open_runner, sandbox_config, settings_for};

fn item_xref(sku: &str, number: &str) -> CrossReference {
    CrossReference {
        leaflink_key: sku.to_owned(),
        bc_id: Some(format!("guid-{number}")),
        bc_number: Some(number.to_owned()),
        origin: "created".to_owned(),
        ..CrossReference::default()
    }
}

/// A products-import run that finds the product already paired (here by
/// another flow after the failure) removes its dead letter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_import_clears_paired_letter() {
    let harness = Harness::start("letters-import", sandbox_config(SeedConfig { customers: 2, products: 3, orders: 1, random_seed: 81 })).await;
    let leaflink = harness.sandbox.leaflink();
    let product = leaflink.available_product_ids()[0];
    let sku = leaflink.product_json(product).unwrap()["sku"].as_str().unwrap().to_owned();
    // An edit (as when the seller fixes the unit) brings the product back
    // into products-import's window.
    leaflink.edit_product(product, |_| {}).unwrap();
    let tenant = harness.settings.name.clone();
    let record = format!("sku {sku}");
    harness.store.record_dead_letter(&tenant, "products-import", &record, "no BC unit of measure for LeafLink unit \"Ounce\"").unwrap();
    harness.store.put_xref(&tenant, RecordKind::Item, &item_xref(&sku, "OZ-1")).unwrap();

    let report = harness.run(Flow::ProductsImport).await;

    let letters = harness.store.dead_letters(&tenant).unwrap();
    assert!(letters.iter().all(|letter| letter.record != record), "{report:#?} {letters:#?}");
}

/// A product that failed on a blank unit mapping is imported by the next run
/// after the unit map is fixed, although the flow's cursor is past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_import_retries_due_letter() {
    let sandbox = leafbridge_sandbox::Sandbox::start(sandbox_config(SeedConfig { customers: 2, products: 3, orders: 1, random_seed: 83 }))
        .await
        .unwrap();
    // Every unit maps to a blank BC code, a setup error each product fails on.
    let mut settings = settings_for("letters-retry", &sandbox);
    settings.unit_map.values_mut().for_each(String::clear);
    let fixed = settings_for("letters-retry", &sandbox);
    let mut harness = Harness::with_settings(sandbox, settings);
    let tenant = harness.settings.name.clone();

    let first = harness.run(Flow::ProductsImport).await;
    let letters = harness.store.dead_letters(&tenant).unwrap();
    let failed: Vec<String> = letters.iter().filter(|letter| letter.flow == "products-import").map(|letter| letter.record.clone()).collect();
    assert!(!failed.is_empty(), "no product failed on the blank unit mapping: {first:#?}");
    for record in &failed {
        harness.store.make_dead_letter_due(&tenant, "products-import", record).unwrap();
    }

    harness.runner = open_runner(&harness.sandbox, fixed);
    let second = harness.run(Flow::ProductsImport).await;

    let letters = harness.store.dead_letters(&tenant).unwrap();
    assert!(letters.iter().all(|letter| letter.flow != "products-import"), "{second:#?} {letters:#?}");
    for record in &failed {
        let sku = record.strip_prefix("sku ").unwrap();
        assert!(harness.store.xref(&tenant, RecordKind::Item, sku).unwrap().is_some(), "{sku} was not imported: {second:#?}");
    }
}

/// Order lines whose products have an empty and a blank SKU fail with a
/// reason that names the blank SKU, not a missing product.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blank_skus_fail_with_true_reason() {
    let harness = Harness::start("letters-blank", sandbox_config(SeedConfig { customers: 2, products: 4, orders: 1, random_seed: 82 })).await;
    let leaflink = harness.sandbox.leaflink();
    let products = leaflink.available_product_ids();
    let customer = leaflink.active_customer_ids()[0];
    for (product, sku) in [(products[0], ""), (products[1], "   ")] {
        leaflink.edit_product(product, |edited| edited.sku = sku.into()).unwrap();
        leaflink.place_order(NewOrder::new(customer, vec![NewLine::new(product, Decimal::from(2))])).unwrap();
    }

    let report = harness.run(Flow::OrdersImport).await;

    let letters = harness.store.dead_letters(&harness.settings.name).unwrap();
    for record in ["sku ", "sku    "] {
        let letter = letters.iter().find(|letter| letter.record == record);
        let letter = letter.unwrap_or_else(|| panic!("no dead letter for {record:?}: {report:#?} {letters:#?}"));
        assert!(!letter.reason.contains("no LeafLink product has it"), "{record:?}: {}", letter.reason);
    }
}

/// `dead-letters retry --run` of a record another flow has since created
/// clears its letter and prints that, instead of reporting a new failure.
/// The list quotes records and names the tenant in its JSON.
#[test]
fn retry_clears_done_record() {
    let home = tempfile::tempdir().unwrap();
    let flags = tenant_flags("acme");
    let mut args = vec!["tenant", "add"];
    args.extend(flags.iter().map(String::as_str));
    let added = leafbridge(home.path(), &args, "");
    assert!(added.status.success(), "{}", stderr(&added));

    let store = Store::open(&home.path().join("store")).unwrap();
    store.record_dead_letter("acme", "products-import", "sku OZ-TEST-1", "no BC unit of measure for LeafLink unit \"Ounce\"").unwrap();
    store.put_xref("acme", RecordKind::Item, &item_xref("OZ-TEST-1", "OZ-TEST-1")).unwrap();
    store.record_dead_letter("acme", "orders-import", "sku ", "the SKU \"\" is blank").unwrap();
    store.record_dead_letter("acme", "orders-import", "sku    ", "the SKU \"   \" is blank").unwrap();
    store.flush().unwrap();
    drop(store);

    let table = leafbridge(home.path(), &["dead-letters", "list", "acme"], "");
    assert!(table.status.success(), "{}", stderr(&table));
    assert!(stdout(&table).contains("\"sku \""), "{}", stdout(&table));
    assert!(stdout(&table).contains("\"sku    \""), "{}", stdout(&table));
    let listed = leafbridge(home.path(), &["dead-letters", "list", "acme", "--json"], "");
    let listed: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
    assert!(listed.as_array().unwrap().iter().all(|letter| letter["tenant"] == "acme"), "{listed}");

    let retried = leafbridge(home.path(), &["dead-letters", "retry", "acme", "products-import", "sku OZ-TEST-1", "--run"], "");
    assert!(retried.status.success(), "{}", stderr(&retried));
    assert!(stdout(&retried).contains("already done"), "{}", stdout(&retried));
    assert!(!stderr(&retried).contains("failed again"), "{}", stderr(&retried));
    let listed = leafbridge(home.path(), &["dead-letters", "list", "acme", "--flow", "products-import", "--json"], "");
    let listed: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 0, "{listed}");

    // --all makes every letter of the flow due and clears the ones already done.
    let store = Store::open(&home.path().join("store")).unwrap();
    store.record_dead_letter("acme", "products-import", "sku DONE-2", "no BC unit of measure").unwrap();
    store.put_xref("acme", RecordKind::Item, &item_xref("DONE-2", "DONE-2")).unwrap();
    store.record_dead_letter("acme", "products-import", "sku OPEN-3", "no BC unit of measure").unwrap();
    store.flush().unwrap();
    drop(store);
    let neither = leafbridge(home.path(), &["dead-letters", "retry", "acme", "products-import"], "");
    assert!(!neither.status.success(), "retry without a record or --all was accepted");
    let all = leafbridge(home.path(), &["dead-letters", "retry", "acme", "products-import", "--all"], "");
    assert!(all.status.success(), "{}", stderr(&all));
    assert!(stdout(&all).contains("\"sku DONE-2\" is already done"), "{}", stdout(&all));
    assert!(stdout(&all).contains("1 dead letter is due"), "{}", stdout(&all));
    let store = Store::open(&home.path().join("store")).unwrap();
    let letters = store.dead_letters("acme").unwrap();
    let products: Vec<&str> = letters.iter().filter(|letter| letter.flow == "products-import").map(|letter| letter.record.as_str()).collect();
    assert_eq!(products, ["sku OPEN-3"], "{letters:#?}");
    let open = letters.iter().find(|letter| letter.record == "sku OPEN-3").unwrap();
    assert!(open.next_retry <= jiff::Timestamp::now(), "{open:#?}");
}
