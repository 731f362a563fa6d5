//! `products-push`: a BC item change reaches the LeafLink product it is
//! cross-referenced with, including an item numbered `LL<product id>` because
//! its SKU is longer than BC's 20-character item number.

use axum::http::Method;
use leafbridge::flows::Flow;
use leafbridge::store::RecordKind;
use leafbridge_sandbox::{Sandbox, SeedConfig};
use serde_json::{Value, json};

use crate::flow_harness::{Harness, sandbox_config, settings_for};

async fn bc(sandbox: &Sandbox, method: Method, path: &str, body: Option<Value>) -> Value {
    let company = sandbox.info().business_central.company_id;
    let reply = sandbox.business_central().request(method.clone(), &format!("companies({company})/{path}"), body).await;
    assert!(reply.status.is_success(), "{method} {path} returned {}: {:?}", reply.status, reply.body);
    match reply.body {
        leafbridge_sandbox::business_central::ReplyBody::Json(value) => value,
        _ => Value::Null,
    }
}

fn sku_of(sandbox: &Sandbox, product: u32) -> String {
    sandbox.leaflink().product_json(product).unwrap()["sku"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_and_short_skus_reach_leaflink() {
    let sandbox = Sandbox::start(sandbox_config(SeedConfig { customers: 2, products: 60, orders: 1, random_seed: 53 })).await.unwrap();
    let products = sandbox.leaflink().available_product_ids();
    let long_product = *products.iter().find(|id| sku_of(&sandbox, **id).chars().count() > 20).expect("the seed has a SKU over 20 characters");
    let short_product = *products.iter().find(|id| sku_of(&sandbox, **id).chars().count() <= 20).expect("the seed has a short SKU");
    let (long_sku, short_sku) = (sku_of(&sandbox, long_product), sku_of(&sandbox, short_product));
    let mut settings = settings_for("products-push", &sandbox);
    // Before every seeded product, so products-import creates them all.
    settings.go_live = "2000-01-01T00:00:00Z".parse().unwrap();
    let harness = Harness::with_settings(sandbox, settings);

    let import = harness.run(Flow::ProductsImport).await;
    assert_eq!(import.counts.failed, 0, "{import:#?}");
    let long_xref = harness.store.xref("products-push", RecordKind::Item, &long_sku).unwrap().expect("the long SKU is cross-referenced");
    assert_eq!(long_xref.bc_number, Some(format!("LL{long_product}")), "a SKU over 20 characters gets LL<product id>");
    let short_xref = harness.store.xref("products-push", RecordKind::Item, &short_sku).unwrap().expect("the short SKU is cross-referenced");
    assert_eq!(short_xref.bc_number, Some(short_sku.to_uppercase()));
    // A first push settles both sides.
    let first = harness.run(Flow::ProductsPush).await;
    assert_eq!(first.counts.failed, 0, "{first:#?}");

    for (product, xref, name) in [(long_product, &long_xref, "Long SKU product (new label)"), (short_product, &short_xref, "Short SKU product (new label)")] {
        let item_id = xref.bc_id.as_deref().unwrap();
        bc(&harness.sandbox, Method::PATCH, &format!("items({item_id})"), Some(json!({ "displayName": name }))).await;
        let push = harness.run(Flow::ProductsPush).await;
        assert_eq!(push.counts.failed, 0, "{push:#?}");
        assert_eq!(push.counts.written, 1, "{push:#?}");
        assert_eq!(harness.sandbox.leaflink().product_json(product).unwrap()["name"], name, "{push:#?}");
    }

    let again = harness.run(Flow::ProductsPush).await;
    assert_eq!(again.counts.written, 0, "{again:#?}");
    assert_eq!(again.counts.failed, 0, "{again:#?}");
}
