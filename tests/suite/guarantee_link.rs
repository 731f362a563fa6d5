//! `link` pairs exact-key matches, proposes a near-duplicate (same name,
//! different license number) to a person, and creates nothing.

use axum::http::Method;
use leafbridge::flows::Flow;
use leafbridge::store::{ProposalStatus, RecordKind};
use leafbridge::tenant::CustomerMatchKey;
use leafbridge_sandbox::leaflink::{NewLine, NewOrder};
use leafbridge_sandbox::{Sandbox, SeedConfig};
use serde_json::{Value, json};

use crate::flow_harness::{Harness, sandbox_config, settings_for};

async fn bc_post(sandbox: &Sandbox, path: &str, body: Value) {
    let company = sandbox.info().business_central.company_id;
    let reply = sandbox.business_central().request(Method::POST, &format!("companies({company})/{path}"), Some(body)).await;
    assert!(reply.status.is_success(), "POST {path} returned {}: {:?}", reply.status, reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_pairs_exact_and_proposes_near_duplicate() {
    let sandbox = Sandbox::start(sandbox_config(SeedConfig { customers: 12, products: 20, orders: 5, random_seed: 9 })).await.unwrap();
    let leaflink = sandbox.leaflink();
    let customers = leaflink.active_customer_ids();
    let exact = leaflink.customer_json(customers[0]).unwrap();
    let near = leaflink.customer_json(customers[1]).unwrap();
    bc_post(&sandbox, "customers", json!({
        "number": "C70001", "displayName": exact["name"], "taxRegistrationNumber": exact["license_number"],
    }))
    .await;
    bc_post(&sandbox, "customers", json!({
        "number": "C70002", "displayName": near["name"], "taxRegistrationNumber": "999R-00001",
    }))
    .await;
    let product = leaflink.product_json(leaflink.available_product_ids()[0]).unwrap();
    bc_post(&sandbox, "items", json!({ "number": product["sku"], "displayName": product["name"], "type": "Inventory" })).await;

    let mut settings = settings_for("link", &sandbox);
    settings.customer_match_key = CustomerMatchKey::LicenseNumber;
    let harness = Harness::with_settings(sandbox, settings);
    let customers_before = harness.bc_all("customers").await.len();
    let items_before = harness.bc_all("items").await.len();

    let report = harness.run(Flow::Link).await;

    let tenant = &harness.settings.name;
    let linked = harness.store.xref(tenant, RecordKind::Customer, &customers[0].to_string()).unwrap();
    assert_eq!(linked.and_then(|xref| xref.bc_number).as_deref(), Some("C70001"), "the exact license match is linked");
    let item = harness.store.xref(tenant, RecordKind::Item, product["sku"].as_str().unwrap()).unwrap();
    assert!(item.is_some(), "the exact SKU match is linked");
    assert!(
        harness.store.xref(tenant, RecordKind::Customer, &customers[1].to_string()).unwrap().is_none(),
        "the near-duplicate is not merged"
    );
    let proposals = harness.store.link_proposals(tenant).unwrap();
    let proposal = proposals.iter().find(|proposal| proposal.leaflink_key == customers[1].to_string());
    let proposal = proposal.unwrap_or_else(|| panic!("the near-duplicate is proposed: {proposals:#?}"));
    assert_eq!(proposal.status, ProposalStatus::Open);
    assert_eq!(proposal.candidates[0].bc_number.as_deref(), Some("C70002"));
    assert_eq!(harness.bc_all("customers").await.len(), customers_before, "link creates no customer: {report:#?}");
    assert_eq!(harness.bc_all("items").await.len(), items_before, "link creates no item");
}

/// A key match whose names differ goes to a person even when the BC license
/// number is blank, so a later customers-import cannot rename the BC customer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_proposes_key_match_with_other_name() {
    let sandbox = Sandbox::start(sandbox_config(SeedConfig { customers: 4, products: 2, orders: 1, random_seed: 31 })).await.unwrap();
    let leaflink = sandbox.leaflink();
    let customers = leaflink.active_customer_ids();
    let renamed = customers[0];
    let same = customers[1];
    leaflink
        .edit_customer(renamed, |customer| {
            customer.name = "Canyon Provisions".into();
            customer.external_id = Some("C70010".into());
        })
        .unwrap();
    leaflink.edit_customer(same, |customer| customer.external_id = Some("C70011".into())).unwrap();
    let same_name = leaflink.customer_json(same).unwrap()["name"].as_str().unwrap().to_owned();
    bc_post(&sandbox, "customers", json!({ "number": "C70010", "displayName": "Totally Different Name LLC" })).await;
    bc_post(&sandbox, "customers", json!({ "number": "C70011", "displayName": format!("  {}  ", same_name.to_uppercase()) })).await;

    let mut settings = settings_for("link-names", &sandbox);
    settings.customer_match_key = CustomerMatchKey::ExternalId;
    let harness = Harness::with_settings(sandbox, settings);
    let report = harness.run(Flow::Link).await;

    let tenant = &harness.settings.name;
    assert!(
        harness.store.xref(tenant, RecordKind::Customer, &renamed.to_string()).unwrap().is_none(),
        "a key match with another name is not linked: {report:#?}"
    );
    let proposals = harness.store.link_proposals(tenant).unwrap();
    let proposal = proposals.iter().find(|proposal| proposal.leaflink_key == renamed.to_string());
    let proposal = proposal.unwrap_or_else(|| panic!("the key match with another name is proposed: {proposals:#?}"));
    assert_eq!(proposal.candidates[0].bc_number.as_deref(), Some("C70010"));
    assert!(proposal.reason.contains("names differ"), "{}", proposal.reason);

    let linked = harness.store.xref(tenant, RecordKind::Customer, &same.to_string()).unwrap();
    assert_eq!(
        linked.and_then(|xref| xref.bc_number).as_deref(),
        Some("C70011"),
        "a name equal after trimming and case-folding agrees: {proposals:#?}"
    );
}

/// An order of a customer whose pairing waits for a person creates no BC
/// customer. Once the person accepts the proposal, the order goes to the
/// linked customer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_waits_for_open_proposal() {
    let sandbox = Sandbox::start(sandbox_config(SeedConfig { customers: 3, products: 2, orders: 1, random_seed: 33 })).await.unwrap();
    let leaflink = sandbox.leaflink();
    let buyer = leaflink.active_customer_ids()[0];
    leaflink.edit_customer(buyer, |customer| customer.external_id = Some("C70020".into())).unwrap();
    let product = leaflink.available_product_ids()[0];
    let number = leaflink.place_order(NewOrder::new(buyer, vec![NewLine::new(product, rust_decimal::Decimal::from(2))])).unwrap();
    bc_post(&sandbox, "customers", json!({ "number": "C70020", "displayName": "Another Name Entirely LLC" })).await;
    let mut settings = settings_for("link-waits", &sandbox);
    settings.customer_match_key = CustomerMatchKey::ExternalId;
    let harness = Harness::with_settings(sandbox, settings);
    let tenant = harness.settings.name.clone();
    harness.run(Flow::Link).await;

    let import = harness.run(Flow::OrdersImport).await;
    let customers = harness.bc_all("customers").await;
    assert!(!customers.iter().any(|customer| customer["number"] == format!("LL{buyer}")), "{import:#?}");
    let letters = harness.store.dead_letters(&tenant).unwrap();
    let letter = letters.iter().find(|letter| letter.record == format!("customer {buyer}"));
    assert!(letter.is_some_and(|letter| letter.reason.contains("link proposed")), "{letters:#?}");

    let proposal = harness.store.open_link_proposal(&tenant, RecordKind::Customer, &buyer.to_string()).unwrap().unwrap();
    harness.store.accept_link_proposal(&tenant, &proposal, &proposal.candidates[0]).unwrap();
    for letter in harness.store.dead_letters(&tenant).unwrap() {
        harness.store.make_dead_letter_due(&tenant, &letter.flow, &letter.record).unwrap();
    }
    let retry = harness.run(Flow::OrdersImport).await;
    assert_eq!(retry.counts.failed, 0, "{retry:#?}");
    let short_id = harness.sandbox.leaflink().order_json(&number).unwrap()["short_id"].as_str().unwrap().to_uppercase();
    let orders = harness.bc_all("salesOrders").await;
    let order = orders.iter().find(|order| order["externalDocumentNumber"] == short_id.as_str());
    assert_eq!(order.map(|order| order["customerNumber"].clone()), Some(json!("C70020")), "{retry:#?}");
    let customers = harness.bc_all("customers").await;
    assert!(!customers.iter().any(|customer| customer["number"] == format!("LL{buyer}")), "{retry:#?}");
}

/// A BC name equal to the LeafLink name cut the way leafbridge cuts it (100
/// UTF-16 units) agrees, for items and for customers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_accepts_names_cut_by_leafbridge() {
    let sandbox = Sandbox::start(sandbox_config(SeedConfig { customers: 3, products: 3, orders: 1, random_seed: 32 })).await.unwrap();
    let leaflink = sandbox.leaflink();
    // 98 letters and an emoji (two UTF-16 units) fill BC's 100 exactly.
    let long_name = format!("{}🌿 Indica Pre-Roll Tin, Ten Pack", "A".repeat(98));
    let cut_name: String = format!("{}🌿", "A".repeat(98));

    let product_id = leaflink.available_product_ids()[0];
    leaflink.edit_product(product_id, |product| product.name = long_name.clone().into()).unwrap();
    let sku = leaflink.product_json(product_id).unwrap()["sku"].as_str().unwrap().to_owned();
    bc_post(&sandbox, "items", json!({ "number": sku, "displayName": cut_name, "type": "Inventory" })).await;

    let customer_id = leaflink.active_customer_ids()[0];
    leaflink
        .edit_customer(customer_id, |customer| {
            customer.name = long_name.clone().into();
            customer.license_number = "402R-77001".into();
        })
        .unwrap();
    bc_post(&sandbox, "customers", json!({ "number": "C70020", "displayName": cut_name, "taxRegistrationNumber": "402R-77001" })).await;

    let mut settings = settings_for("link-cut", &sandbox);
    settings.customer_match_key = CustomerMatchKey::LicenseNumber;
    let harness = Harness::with_settings(sandbox, settings);
    let report = harness.run(Flow::Link).await;

    let tenant = &harness.settings.name;
    let proposals = harness.store.link_proposals(tenant).unwrap();
    let item = harness.store.xref(tenant, RecordKind::Item, &sku).unwrap();
    assert!(item.is_some(), "the item with the cut name is linked: {report:#?} {proposals:#?}");
    let customer = harness.store.xref(tenant, RecordKind::Customer, &customer_id.to_string()).unwrap();
    assert_eq!(customer.and_then(|xref| xref.bc_number).as_deref(), Some("C70020"), "{proposals:#?}");
    assert!(proposals.is_empty(), "nothing is proposed: {proposals:#?}");
}
