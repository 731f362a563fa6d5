//! `products-import` (LeafLink is the product master): each LeafLink product
//! becomes one BC item with the product fields of the mapping, matched on SKU,
//! and `products-export` does not run for such a tenant.

use std::collections::HashMap;

use leafbridge::flows::Flow;
use leafbridge::store::{RecordKind, RunOutcome};
use leafbridge_sandbox::SeedConfig;
use serde_json::Value;

use crate::flow_harness::{Harness, sandbox_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_become_items_once() {
    let harness = Harness::start("products-import", sandbox_config(SeedConfig { customers: 2, products: 25, orders: 1, random_seed: 59 })).await;
    let import = harness.run(Flow::ProductsImport).await;
    assert_eq!(import.outcome, RunOutcome::Done, "{import:#?}");
    assert_eq!(import.counts.failed, 0, "{import:#?}");
    assert!(import.counts.written >= 10, "the seeded products modified after go-live are created: {import:#?}");

    let items: Vec<Value> = harness.bc_all("items").await;
    let mut by_number: HashMap<String, Vec<&Value>> = HashMap::new();
    for item in &items {
        by_number.entry(item["number"].as_str().unwrap().to_owned()).or_default().push(item);
    }
    let xrefs = harness.store.xrefs("products-import", RecordKind::Item).unwrap();
    assert_eq!(xrefs.len() as u64, import.counts.written + import.counts.skipped, "one cross-reference per product read");
    for xref in &xrefs {
        let product_id: u32 = xref.stored["leaflink_product_id"].parse().unwrap();
        let product = harness.sandbox.leaflink().product_json(product_id).unwrap();
        let sku = product["sku"].as_str().unwrap();
        let number = xref.bc_number.clone().unwrap();
        let expected_number = if sku.chars().count() <= 20 { sku.to_uppercase() } else { format!("LL{product_id}") };
        assert_eq!(number, expected_number, "item number of SKU {sku}");
        let found = by_number.get(&number).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(found.len(), 1, "SKU {sku} has exactly one BC item");
        let item = found[0];
        let name = product["name"].as_str().unwrap();
        if name.chars().count() <= 100 {
            assert_eq!(item["displayName"], name, "displayName of SKU {sku}");
        } else {
            assert!(name.starts_with(item["displayName"].as_str().unwrap()), "a long name is cut: {item:#}");
        }
        let unit = product["unit_of_measure"].as_str().unwrap();
        let expected_unit = harness.settings.unit_map.get(unit).unwrap_or_else(|| panic!("unit {unit} is mapped"));
        assert_eq!(item["baseUnitOfMeasureCode"].as_str(), Some(expected_unit.as_str()), "unit of SKU {sku}");
    }

    let again = harness.run(Flow::ProductsImport).await;
    assert_eq!(again.counts.written, 0, "{again:#?}");
    assert_eq!(harness.bc_all("items").await.len(), items.len(), "a rerun creates no item");

    let export = harness.run(Flow::ProductsExport).await;
    assert_eq!(export.outcome, RunOutcome::Stopped, "products-export is off when LeafLink is the product master: {export:#?}");
    assert_eq!(export.counts.written, 0);
}
