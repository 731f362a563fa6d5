//! `link` pairs exact-key matches, proposes a near-duplicate (same name,
//! different license number) to a person, and creates nothing.

use axum::http::Method;
use leafbridge::flows::Flow;
use leafbridge::store::{ProposalStatus, RecordKind};
use leafbridge::tenant::CustomerMatchKey;
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
