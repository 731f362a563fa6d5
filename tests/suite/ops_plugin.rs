//! `leafbridge plugin add|list|remove|test` with real components.

use leafbridge_tests::plugin_path;

use super::cli::{leafbridge, stderr, stdout, tenant_flags};

fn home_with_tenant() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let flags = tenant_flags("acme");
    let mut args = vec!["tenant", "add"];
    args.extend(flags.iter().map(String::as_str));
    let added = leafbridge(home.path(), &args, "");
    assert!(added.status.success(), "{}", stderr(&added));
    home
}

fn error_line(output: &std::process::Output) -> String {
    let errors: Vec<String> = stderr(output).lines().filter(|line| line.starts_with("error:")).map(str::to_owned).collect();
    assert_eq!(errors.len(), 1, "expected one error line, got {errors:?}");
    errors[0].clone()
}

#[test]
fn plugin_add_test_and_remove() {
    let home = home_with_tenant();
    let component = plugin_path("cascade-cultivation-overrides");
    assert!(component.exists(), "{} is missing; run `cargo xtask plugins`", component.display());

    let added = leafbridge(home.path(), &["plugin", "add", "acme", component.to_str().unwrap()], "");
    assert!(added.status.success(), "{}", stderr(&added));
    let installed = home.path().join("plugins").join("acme-overrides.wasm");
    assert_eq!(std::fs::read(&installed).unwrap(), std::fs::read(&component).unwrap(), "the installed copy differs");

    let list = leafbridge(home.path(), &["plugin", "list", "--json"], "");
    assert!(list.status.success(), "{}", stderr(&list));
    let records: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
    assert_eq!(records[0]["tenant"], "acme");
    assert_eq!(records[0]["sha256"].as_str().unwrap().len(), 64);

    // Cascade's plugin sets `minimum_order` and `retail_price` of a new
    // product, which the core mapping leaves unset for this item.
    let tested = leafbridge(home.path(), &["plugin", "test", "acme", "--json"], "");
    assert!(tested.status.success(), "{}", stderr(&tested));
    let changes: serde_json::Value = serde_json::from_str(&stdout(&tested)).unwrap();
    let item_changes: Vec<&serde_json::Value> = changes
        .as_array()
        .unwrap()
        .iter()
        .filter(|change| change["record"].as_str().unwrap().starts_with("BC item"))
        .collect();
    assert!(!item_changes.is_empty(), "no change reported: {changes}");
    for change in &item_changes {
        assert_ne!(change["before"], change["after"], "an unchanged field was reported: {change}");
    }
    let fields: Vec<&str> = item_changes.iter().map(|change| change["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"minimum_order"), "minimum_order not among {fields:?}");
    assert!(fields.contains(&"retail_price"), "retail_price not among {fields:?}");

    let removed = leafbridge(home.path(), &["plugin", "remove", "acme"], "");
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert!(!installed.exists(), "remove left the component file");
    let list = leafbridge(home.path(), &["plugin", "list", "--json"], "");
    assert_eq!(stdout(&list).trim(), "[]");
    let again = leafbridge(home.path(), &["plugin", "remove", "acme"], "");
    assert!(error_line(&again).contains("no override plugin"));
    let untested = leafbridge(home.path(), &["plugin", "test", "acme"], "");
    assert!(error_line(&untested).contains("no override plugin"));
}

#[test]
fn plugin_add_rejects_wrong_components() {
    let home = home_with_tenant();

    // A LeafLink connector exports the wrong interface for an override plugin.
    let connector = plugin_path("fixture-well-behaved");
    let wrong_world = leafbridge(home.path(), &["plugin", "add", "acme", connector.to_str().unwrap()], "");
    assert!(!wrong_world.status.success());
    assert!(error_line(&wrong_world).contains("not a valid override plugin"));

    let not_wasm = home.path().join("notes.wasm");
    std::fs::write(&not_wasm, b"hello").unwrap();
    let garbage = leafbridge(home.path(), &["plugin", "add", "acme", not_wasm.to_str().unwrap()], "");
    assert!(!garbage.status.success());
    assert!(error_line(&garbage).contains("not a valid override plugin"));

    let missing = leafbridge(home.path(), &["plugin", "add", "acme", "/nonexistent/x.wasm"], "");
    assert!(!missing.status.success());
    assert!(error_line(&missing).contains("cannot read"));

    let component = plugin_path("cascade-cultivation-overrides");
    let unknown_tenant = leafbridge(home.path(), &["plugin", "add", "nobody", component.to_str().unwrap()], "");
    assert!(!unknown_tenant.status.success());
    assert!(error_line(&unknown_tenant).contains("nobody"));

    assert!(!home.path().join("plugins").join("acme-overrides.wasm").exists(), "a rejected component was installed");
    let list = leafbridge(home.path(), &["plugin", "list", "--json"], "");
    assert_eq!(stdout(&list).trim(), "[]");
}

/// Runs the CLI off the async runtime, so the in-process sandbox keeps serving.
async fn cli(home: &std::path::Path, args: Vec<String>, stdin: &str) -> std::process::Output {
    let home = home.to_owned();
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        leafbridge(&home, &args, &stdin)
    })
    .await
    .unwrap()
}

/// Finds the LeafLink product with `sku` in the sandbox.
fn leaflink_product(sandbox: &leafbridge_sandbox::Sandbox, sku: &str) -> Option<serde_json::Value> {
    let leaflink = sandbox.leaflink();
    leaflink.available_product_ids().into_iter().filter_map(|id| leaflink.product_json(id)).find(|product| product["sku"] == sku)
}

async fn create_item(sandbox: &leafbridge_sandbox::Sandbox, number: &str) {
    let company = sandbox.info().business_central.company_id;
    let body = serde_json::json!({
        "number": number, "displayName": format!("Plugin check {number}"), "type": "Inventory",
        "baseUnitOfMeasureCode": "PCS", "unitPrice": 5,
    });
    let reply = sandbox.business_central().request(axum::http::Method::POST, &format!("companies({company})/items"), Some(body)).await;
    assert!(reply.status.is_success(), "creating item {number} returned {}", reply.status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_plugin_used_by_run() {
    let sandbox = leafbridge_sandbox::Sandbox::start(crate::flow_harness::sandbox_config(leafbridge_sandbox::SeedConfig {
        customers: 1,
        products: 1,
        orders: 1,
        random_seed: 45,
    }))
    .await
    .unwrap();
    let info = sandbox.info();
    let home = tempfile::tempdir().unwrap();
    // Compiled components from the suite's cache, so the CLI does not
    // compile the core plugins again; a mismatched entry only costs time.
    let cache = home.path().join("cache").join("components");
    std::fs::create_dir_all(&cache).unwrap();
    if let Ok(entries) = std::fs::read_dir(leafbridge_tests::test_cache_dir()) {
        for entry in entries.flatten() {
            let _ = std::fs::copy(entry.path(), cache.join(entry.file_name()));
        }
    }

    let mut settings = crate::flow_harness::settings_for("acme", &sandbox);
    settings.product_master = leafbridge::tenant::ProductMaster::BusinessCentral;
    // LeafLink requires these product fields and BC items have no source for
    // them, so the tenant supplies them. The core maps `minimum_order` from
    // here; the plugin replaces it with `overrides.minimum_order`.
    let defaults = [
        ("brand", "100"), ("category", "1"), ("sub_category", "10"), ("manufacturer", "2002"), ("license", "2619"),
        ("listing_state", "Available"), ("strain_classification", "hybrid"), ("unit_denomination", "1"),
        ("minimum_order", "1"), ("maximum_order", "1000"), ("retail_price", "9.00"), ("overrides.minimum_order", "12"),
    ];
    for (field, value) in defaults {
        settings.plugin_settings.insert(field.to_owned(), value.to_owned());
    }
    let file = home.path().join("acme.json");
    std::fs::write(&file, serde_json::to_vec(&settings).unwrap()).unwrap();
    let added = cli(home.path(), vec!["tenant".into(), "add".into(), "--from-file".into(), file.to_str().unwrap().to_owned()], "").await;
    assert!(added.status.success(), "{}", stderr(&added));
    let credentials = format!(
        "leaflink.api_key={}\nbusiness_central.client_secret={}\n",
        info.leaflink.api_key, info.business_central.client_secret
    );
    let stored = cli(home.path(), vec!["tenant".into(), "credentials".into(), "acme".into()], &credentials).await;
    assert!(stored.status.success(), "{}", stderr(&stored));
    let export = || vec!["run".to_owned(), "acme".to_owned(), "products-export".to_owned(), "--json".to_owned()];

    // Without the plugin, the core mapping's minimum order applies.
    create_item(&sandbox, "PLUGIN-A").await;
    let before = cli(home.path(), export(), "").await;
    assert!(before.status.success(), "{}", stderr(&before));
    let plain = leaflink_product(&sandbox, "PLUGIN-A").unwrap_or_else(|| panic!("PLUGIN-A not exported: {}", stdout(&before)));
    assert_eq!(decimal_text(&plain["minimum_order"]), "1", "{plain}");

    let component = plugin_path("cascade-cultivation-overrides");
    let installed = cli(home.path(), vec!["plugin".into(), "add".into(), "acme".into(), component.to_str().unwrap().to_owned()], "").await;
    assert!(installed.status.success(), "{}", stderr(&installed));

    // With the plugin that `plugin add` installed, the next run uses it.
    create_item(&sandbox, "PLUGIN-B").await;
    let after = cli(home.path(), export(), "").await;
    assert!(after.status.success(), "{}", stderr(&after));
    let overridden = leaflink_product(&sandbox, "PLUGIN-B").unwrap_or_else(|| panic!("PLUGIN-B not exported: {}", stdout(&after)));
    assert_eq!(decimal_text(&overridden["minimum_order"]), "12", "the installed plugin did not run: {overridden}");
}

/// Formats a LeafLink decimal (a JSON number or string) as normalized text.
fn decimal_text(value: &serde_json::Value) -> String {
    crate::flow_harness::decimal(value).normalize().to_string()
}
