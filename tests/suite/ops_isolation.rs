//! Tenant isolation: a tenant's plugin cannot reach another tenant's servers,
//! settings or credentials through its imports.

use leafbridge::runtime::World;
use leafbridge::store::{CrossReference, RecordKind, Store};
use leafbridge_tests::{RecordingServer, load, runtime, tenant, tenant_settings};

#[tokio::test]
async fn plugin_cannot_reach_other_tenant() {
    let server_a = RecordingServer::start().await;
    let server_b = RecordingServer::start().await;
    let settings_b = tenant_settings("tenant-b", server_b.address);

    // Tenant A's plugin settings contain tenant B's endpoints, as a plugin
    // author with those URLs could arrange.
    let mut settings_a = tenant_settings("tenant-a", server_a.address);
    let targets = [
        ("plugin.target.leaflink", format!("{}/orders-received/", settings_b.leaflink.base_url)),
        ("plugin.target.bc", format!("{}/companies", settings_b.business_central.base_url)),
        ("plugin.target.token", settings_b.business_central.token_url.clone()),
    ];
    for (key, url) in &targets {
        settings_a.plugin_settings.insert(key.trim_start_matches("plugin.").to_owned(), url.clone());
    }

    // Tenant B's cross-reference, to check that A's run leaves it as it was.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let xref_b = CrossReference {
        leaflink_key: "B-1".to_owned(),
        bc_id: Some("guid-b".to_owned()),
        bc_number: Some("SO-B".to_owned()),
        origin: "created".to_owned(),
        ..CrossReference::default()
    };
    store.put_xref("tenant-b", RecordKind::Order, &xref_b).unwrap();
    let stored_b = store.xref("tenant-b", RecordKind::Order, "B-1").unwrap();

    let plugin = load("fixture-cross-tenant", World::LeafLinkConnector);
    let mut session = runtime().leaflink(&plugin, &tenant(&settings_a)).await.unwrap();
    let order = session.get_order("order-1").await.expect("the plugin returns its report").expect("an order");
    let report = order.notes.unwrap_or_default();

    for (_, url) in &targets {
        assert!(report.contains(&format!("request {url} -> error")), "a request to {url} was not refused: {report}");
    }
    assert!(server_b.requests().is_empty(), "tenant B's server received {:?}", server_b.requests());
    assert!(report.contains(&format!("setting leaflink.base_url={}", settings_a.leaflink.base_url)), "{report}");
    assert!(!report.contains("tenant-b"), "tenant A's plugin saw tenant B's settings: {report}");
    assert!(!report.contains(&format!("setting leaflink.base_url={}", settings_b.leaflink.base_url)), "{report}");
    assert!(!report.contains(leafbridge_tests::LEAFLINK_KEY), "the plugin saw an API key: {report}");
    assert_eq!(store.xref("tenant-b", RecordKind::Order, "B-1").unwrap(), stored_b, "tenant B's cross-reference changed");
}
