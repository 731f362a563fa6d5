//! Echo suppression and per-field ownership on products. A push followed by
//! a pull (and the reverse) writes nothing further. A field changed on one
//! side only reaches the other without reverting the other side's changes.
//! A field both sides changed gets its owner's value on both sides, and a
//! conflict record keeps the other.

use axum::http::Method;
use leafbridge::flows::Flow;
use leafbridge::store::RecordKind;
use leafbridge::tenant::ProductMaster;
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

/// A harness where BC already has an item for one LeafLink product, linked.
async fn linked_product() -> (Harness, u32, String, String) {
    let sandbox = Sandbox::start(sandbox_config(SeedConfig { customers: 5, products: 20, orders: 2, random_seed: 13 })).await.unwrap();
    let leaflink = sandbox.leaflink();
    let product_id = leaflink
        .available_product_ids()
        .into_iter()
        .find(|id| leaflink.product_json(*id).unwrap()["sku"].as_str().unwrap().len() <= 20)
        .unwrap();
    let product = leaflink.product_json(product_id).unwrap();
    let sku = product["sku"].as_str().unwrap().to_owned();
    let created = bc(&sandbox, Method::POST, "items", Some(json!({
        "number": sku, "displayName": product["name"], "type": "Inventory",
        "unitPrice": product["wholesale_price"]["amount"],
    })))
    .await;
    let item_id = created["id"].as_str().unwrap().to_owned();
    let settings = settings_for("echo", &sandbox);
    let harness = Harness::with_settings(sandbox, settings);
    harness.run(Flow::Link).await;
    assert!(harness.store.xref("echo", RecordKind::Item, &sku).unwrap().is_some(), "link pairs the item");
    // A first push and pull settle both sides to the same values.
    harness.run(Flow::ProductsPush).await;
    harness.run(Flow::ProductsPull).await;
    (harness, product_id, sku, item_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_writes_nothing_further() {
    let (harness, product_id, _sku, item_id) = linked_product().await;

    bc(&harness.sandbox, Method::PATCH, &format!("items({item_id})"), Some(json!({ "displayName": "Renamed in BC" }))).await;
    let push = harness.run(Flow::ProductsPush).await;
    assert_eq!(push.counts.written, 1, "the rename is pushed: {push:#?}");
    let product = harness.sandbox.leaflink().product_json(product_id).unwrap();
    assert_eq!(product["name"], "Renamed in BC");
    let pull = harness.run(Flow::ProductsPull).await;
    assert_eq!(pull.counts.written, 0, "the pushed change is an echo, not a change to pull: {pull:#?}");

    let price = decimal(&product["wholesale_price"]["amount"]) + Decimal::ONE;
    harness.sandbox.leaflink().set_product_price(product_id, price).unwrap();
    let pull = harness.run(Flow::ProductsPull).await;
    assert_eq!(pull.counts.written, 1, "the LeafLink price is pulled: {pull:#?}");
    let push = harness.run(Flow::ProductsPush).await;
    assert_eq!(push.counts.written, 0, "the pulled change is an echo, not a change to push: {push:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_changed_owner_wins() {
    let (harness, product_id, sku, item_id) = linked_product().await;
    let product = harness.sandbox.leaflink().product_json(product_id).unwrap();
    let leaflink_price = decimal(&product["wholesale_price"]["amount"]) + Decimal::new(250, 2);

    // LeafLink is the product master here, so it owns the price.
    harness.sandbox.leaflink().set_product_price(product_id, leaflink_price).unwrap();
    bc(&harness.sandbox, Method::PATCH, &format!("items({item_id})"), Some(json!({ "unitPrice": 1.23 }))).await;
    let push = harness.run(Flow::ProductsPush).await;

    let after = harness.sandbox.leaflink().product_json(product_id).unwrap();
    assert_eq!(decimal(&after["wholesale_price"]["amount"]), leaflink_price, "the owner's price stays: {push:#?}");
    let conflict = harness.store.conflict("echo", "products-push", &format!("sku {sku}"), Some("price")).unwrap();
    let conflict = conflict.expect("a conflict record exists for the price");
    assert_eq!(conflict.winner, "leaflink");
    // The conflict keeps both prices per case, so BC's unit price is scaled by the multiplier.
    let multiplier = decimal(&product["unit_multiplier"]);
    let bc_case_price = (Decimal::new(123, 2) * multiplier).normalize().to_string();
    assert_eq!(conflict.business_central_value.as_deref(), Some(bc_case_price.as_str()));
}

/// A product sold in cases (`unit_multiplier` above 1), linked to a BC item
/// priced per unit, after a first push and pull settled both sides.
struct CaseProduct {
    harness: Harness,
    product_id: u32,
    sku: String,
    item_id: String,
    multiplier: Decimal,
}

impl CaseProduct {
    async fn start(tenant: &str, product_master: ProductMaster) -> CaseProduct {
        let sandbox = Sandbox::start(sandbox_config(SeedConfig { customers: 2, products: 30, orders: 1, random_seed: 67 })).await.unwrap();
        let leaflink = sandbox.leaflink();
        let product_id = leaflink
            .available_product_ids()
            .into_iter()
            .find(|id| {
                let product = leaflink.product_json(*id).unwrap();
                product["sku"].as_str().unwrap().chars().count() <= 20 && decimal(&product["unit_multiplier"]) > Decimal::ONE
            })
            .expect("the seed has a product sold in cases");
        let product = leaflink.product_json(product_id).unwrap();
        let sku = product["sku"].as_str().unwrap().to_owned();
        let multiplier = decimal(&product["unit_multiplier"]);
        // 30 per unit in BC is 30 × multiplier per case in LeafLink.
        leaflink.set_product_price(product_id, Decimal::from(30) * multiplier).unwrap();
        let created = bc(&sandbox, Method::POST, "items", Some(json!({
            "number": sku, "displayName": product["name"], "type": "Inventory", "baseUnitOfMeasureCode": "PCS", "unitPrice": 30,
        })))
        .await;
        let item_id = created["id"].as_str().unwrap().to_owned();
        let mut settings = settings_for(tenant, &sandbox);
        settings.product_master = product_master;
        let harness = Harness::with_settings(sandbox, settings);
        harness.run(Flow::Link).await;
        assert!(harness.store.xref(tenant, RecordKind::Item, &sku).unwrap().is_some(), "link pairs the item");
        harness.run(Flow::ProductsPush).await;
        harness.run(Flow::ProductsPull).await;
        CaseProduct { harness, product_id, sku, item_id, multiplier }
    }

    fn product(&self) -> Value {
        self.harness.sandbox.leaflink().product_json(self.product_id).unwrap()
    }

    async fn item(&self) -> Value {
        self.harness.bc_get(&format!("items({})", self.item_id)).await
    }

    async fn patch_item(&self, body: Value) {
        bc(&self.harness.sandbox, Method::PATCH, &format!("items({})", self.item_id), Some(body)).await;
    }

    fn rename_in_leaflink(&self, name: &str) {
        self.harness.sandbox.leaflink().edit_product(self.product_id, |product| product.name = name.into()).unwrap();
    }

    /// Runs a push and a pull and checks that neither writes anything.
    async fn assert_settled(&self) {
        let push = self.harness.run(Flow::ProductsPush).await;
        assert_eq!(push.counts.written, 0, "nothing is left to push: {push:#?}");
        let pull = self.harness.run(Flow::ProductsPull).await;
        assert_eq!(pull.counts.written, 0, "nothing is left to pull: {pull:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_keeps_bc_price_change() {
    let linked = CaseProduct::start("pull-fields", ProductMaster::LeafLink).await;
    linked.patch_item(json!({ "unitPrice": 31.5 })).await;
    linked.rename_in_leaflink("Renamed in LeafLink");

    let pull = linked.harness.run(Flow::ProductsPull).await;
    assert_eq!(pull.counts.failed, 0, "{pull:#?}");
    assert_eq!(pull.counts.written, 1, "{pull:#?}");
    let item = linked.item().await;
    assert_eq!(item["displayName"], "Renamed in LeafLink", "the LeafLink-only rename reaches BC: {pull:#?}");
    assert_eq!(decimal(&item["unitPrice"]), Decimal::new(315, 1), "the pull keeps BC's own price change: {pull:#?}");
    let conflicts = linked.harness.store.conflicts("pull-fields").unwrap();
    assert!(conflicts.is_empty(), "each field changed on one side only: {conflicts:#?}");

    let push = linked.harness.run(Flow::ProductsPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    let product = linked.product();
    assert_eq!(decimal(&product["wholesale_price"]["amount"]), Decimal::new(315, 1) * linked.multiplier, "BC's price reaches LeafLink: {push:#?}");
    assert_eq!(product["name"], "Renamed in LeafLink", "{push:#?}");
    linked.assert_settled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_keeps_leaflink_price_change() {
    let linked = CaseProduct::start("push-fields", ProductMaster::LeafLink).await;
    let leaflink_price = Decimal::from(32) * linked.multiplier;
    linked.harness.sandbox.leaflink().set_product_price(linked.product_id, leaflink_price).unwrap();
    linked.patch_item(json!({ "displayName": "Renamed in BC" })).await;

    let push = linked.harness.run(Flow::ProductsPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    assert_eq!(push.counts.written, 1, "{push:#?}");
    let product = linked.product();
    assert_eq!(product["name"], "Renamed in BC", "the BC-only rename reaches LeafLink: {push:#?}");
    assert_eq!(decimal(&product["wholesale_price"]["amount"]), leaflink_price, "the push keeps LeafLink's own price change: {push:#?}");
    let conflicts = linked.harness.store.conflicts("push-fields").unwrap();
    assert!(conflicts.is_empty(), "each field changed on one side only: {conflicts:#?}");

    let pull = linked.harness.run(Flow::ProductsPull).await;
    assert_eq!(pull.counts.failed, 0, "{pull:#?}");
    let item = linked.item().await;
    assert_eq!(decimal(&item["unitPrice"]), Decimal::from(32), "LeafLink's price reaches BC per unit: {pull:#?}");
    assert_eq!(item["displayName"], "Renamed in BC", "{pull:#?}");
    linked.assert_settled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_conflict_owner_reaches_bc() {
    let linked = CaseProduct::start("push-conflict", ProductMaster::LeafLink).await;
    linked.rename_in_leaflink("Name from LeafLink");
    linked.patch_item(json!({ "displayName": "Name from BC" })).await;

    let push = linked.harness.run(Flow::ProductsPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    assert_eq!(linked.product()["name"], "Name from LeafLink", "LeafLink owns the name: {push:#?}");
    assert_eq!(linked.item().await["displayName"], "Name from LeafLink", "the owner's name reaches BC in the same run: {push:#?}");
    let conflict = linked.harness.store.conflict("push-conflict", "products-push", &format!("sku {}", linked.sku), Some("name")).unwrap();
    let conflict = conflict.unwrap_or_else(|| panic!("a conflict record keeps BC's name: {push:#?}"));
    assert_eq!(conflict.winner, "leaflink");
    assert_eq!(conflict.leaflink_value.as_deref(), Some("Name from LeafLink"));
    assert_eq!(conflict.business_central_value.as_deref(), Some("Name from BC"));
    linked.assert_settled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bc_price_edit_keeps_long_name() {
    let linked = CaseProduct::start("long-name", ProductMaster::LeafLink).await;
    let long_name: String = "Long LeafLink product name ".repeat(7).chars().take(169).collect();
    linked.rename_in_leaflink(&long_name);
    let pull = linked.harness.run(Flow::ProductsPull).await;
    assert_eq!(pull.counts.failed, 0, "{pull:#?}");
    let cut = linked.item().await["displayName"].as_str().unwrap().to_owned();
    assert_eq!(cut.chars().count(), 100, "BC's displayName holds 100 characters: {pull:#?}");

    linked.patch_item(json!({ "unitPrice": 33, "inventory": 40 })).await;
    let push = linked.harness.run(Flow::ProductsPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    assert_eq!(push.counts.written, 1, "{push:#?}");
    let product = linked.product();
    assert_eq!(product["name"], long_name.as_str(), "an unchanged name is not written: {push:#?}");
    assert_eq!(decimal(&product["wholesale_price"]["amount"]), Decimal::from(33) * linked.multiplier, "{push:#?}");
    assert_eq!(decimal(&product["quantity"]), Decimal::from(40), "{push:#?}");
    linked.assert_settled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn price_conflict_compares_case_prices() {
    let linked = CaseProduct::start("case-conflict", ProductMaster::LeafLink).await;
    let leaflink_price = Decimal::from(35) * linked.multiplier;
    linked.harness.sandbox.leaflink().set_product_price(linked.product_id, leaflink_price).unwrap();
    linked.patch_item(json!({ "unitPrice": 36 })).await;

    let push = linked.harness.run(Flow::ProductsPush).await;
    assert_eq!(push.counts.failed, 0, "{push:#?}");
    let conflict = linked.harness.store.conflict("case-conflict", "products-push", &format!("sku {}", linked.sku), Some("price")).unwrap();
    let conflict = conflict.unwrap_or_else(|| panic!("a conflict record keeps BC's price: {push:#?}"));
    assert_eq!(conflict.winner, "leaflink");
    assert_eq!(conflict.leaflink_value, Some(leaflink_price.normalize().to_string()));
    assert_eq!(conflict.business_central_value, Some((Decimal::from(36) * linked.multiplier).normalize().to_string()), "both values are per case");
    assert!(conflict.reason.contains("36 per unit"), "the reason keeps BC's unit price: {conflict:#?}");
    assert_eq!(decimal(&linked.item().await["unitPrice"]), Decimal::from(35), "the owner's price reaches BC: {push:#?}");
    linked.assert_settled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_conflict_owner_reaches_leaflink() {
    let linked = CaseProduct::start("pull-conflict", ProductMaster::BusinessCentral).await;
    linked.rename_in_leaflink("Name from LeafLink");
    linked.patch_item(json!({ "displayName": "Name from BC" })).await;

    let pull = linked.harness.run(Flow::ProductsPull).await;
    assert_eq!(pull.counts.failed, 0, "{pull:#?}");
    assert_eq!(linked.item().await["displayName"], "Name from BC", "BC owns the name: {pull:#?}");
    assert_eq!(linked.product()["name"], "Name from BC", "the owner's name reaches LeafLink in the same run: {pull:#?}");
    let conflict = linked.harness.store.conflict("pull-conflict", "products-pull", &format!("sku {}", linked.sku), Some("name")).unwrap();
    let conflict = conflict.unwrap_or_else(|| panic!("a conflict record keeps LeafLink's name: {pull:#?}"));
    assert_eq!(conflict.winner, "business-central");
    assert_eq!(conflict.leaflink_value.as_deref(), Some("Name from LeafLink"));
    assert_eq!(conflict.business_central_value.as_deref(), Some("Name from BC"));
    linked.assert_settled().await;
}
