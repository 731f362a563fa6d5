//! Loading plugins: bad files and mismatched components fail at load time
//! with an error naming the file, compatible contract versions load, a
//! mismatched export signature fails instantiation, and the runtime keeps
//! serving after a failed load.

use std::path::Path;

use leafbridge::runtime::{CallError, LoadError, World};
use leafbridge_tests::{RecordingServer, load, plugin_path, runtime, tenant, tenant_settings, test_cache_dir};

fn assert_names_file(error: &LoadError, path: &Path) {
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "the error names {}: {message}", path.display());
}

#[test]
fn missing_file_fails_to_load() {
    let path = Path::new("/nonexistent/leafbridge/plugin.wasm");
    let error = runtime().load(path, World::Mapper).expect_err("no such file");
    assert!(matches!(error, LoadError::Missing { .. }), "{error}");
    assert!(error.to_string().contains("cargo xtask plugins"), "{error}");
    assert_names_file(&error, path);
}

#[test]
fn non_wasm_file_fails_to_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.wasm");
    std::fs::write(&path, "this is a text file, not WebAssembly\n").unwrap();

    let error = runtime().load(&path, World::Mapper).expect_err("text is not a component");
    assert!(matches!(error, LoadError::InvalidComponent { .. }), "{error}");
    assert!(error.to_string().contains("magic number"), "{error}");
    assert_names_file(&error, &path);
}

#[test]
fn truncated_component_fails_to_load() {
    let bytes = std::fs::read(plugin_path("fixture-well-behaved")).expect("the fixture is built");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truncated.wasm");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();

    let error = runtime().load(&path, World::LeafLinkConnector).expect_err("half a component");
    assert!(matches!(error, LoadError::InvalidComponent { .. }), "{error}");
    assert_names_file(&error, &path);
}

#[test]
fn core_module_fails_to_load() {
    // The smallest valid core module: magic number and version 1.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("core.wasm");
    std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();

    let error = runtime().load(&path, World::Mapper).expect_err("a core module is not a component");
    assert!(matches!(error, LoadError::InvalidComponent { .. }), "{error}");
    assert_names_file(&error, &path);
}

#[test]
fn wrong_world_fails_to_load() {
    let path = plugin_path("fixture-bench-order");
    let error = runtime().load(&path, World::LeafLinkConnector).expect_err("a mapper is not a connector");

    let LoadError::WorldMismatch { expected, reason, .. } = &error else { panic!("expected a world mismatch, got {error}") };
    assert_eq!(*expected, World::LeafLinkConnector);
    assert!(reason.contains("leafbridge:plugin/mapping@0.1.0"), "the reason names what it exports: {reason}");
    assert_names_file(&error, &path);
}

#[test]
fn connector_as_mapper_fails_to_load() {
    // The connector imports `http`, which the mapper world does not grant.
    let path = plugin_path("fixture-well-behaved");
    let error = runtime().load(&path, World::Mapper).expect_err("a connector is not a mapper");
    assert!(matches!(error, LoadError::WorldMismatch { .. }), "{error}");
    assert_names_file(&error, &path);
}

#[test]
fn other_contract_version_fails_to_load() {
    let path = plugin_path("fixture-contract-v2");
    let error = runtime().load(&path, World::LeafLinkConnector).expect_err("0.2.0 is another contract");

    let LoadError::ContractVersion { found, supported, .. } = &error else {
        panic!("expected a contract version error, got {error}")
    };
    assert_eq!(found, "0.2.0");
    assert_eq!(supported, "0.1.0");
    assert_names_file(&error, &path);
}

#[tokio::test]
async fn compatible_patch_version_loads_and_runs() {
    let server = RecordingServer::start().await;
    let plugin = load("fixture-contract-patch", World::LeafLinkConnector);
    let tenant = tenant(&tenant_settings("patch", server.address));
    let mut session = runtime().leaflink(&plugin, &tenant).await.expect("a 0.1.1 guest instantiates on a 0.1.0 host");
    let order = session.get_order("abc").await.expect("the call succeeds").expect("an order");
    assert_eq!(order.number, "abc");
}

#[tokio::test]
async fn mismatched_signature_fails_every_instantiation() {
    // The export names match the contract, so the load succeeds. The host
    // checks signatures on a plugin's first instance and keeps the outcome,
    // so the second attempt must fail the same way without a new check.
    let server = RecordingServer::start().await;
    let plugin = load("fixture-signature-mismatch", World::TenantOverrides);
    let tenant = tenant(&tenant_settings("signatures", server.address));

    for attempt in 1..=2 {
        let error = runtime().overrides(&plugin, &tenant).await.err().expect("a mismatched signature fails instantiation");
        let CallError::Instantiate { reason, .. } = &error else { panic!("attempt {attempt}: expected an instantiation error, got {error}") };
        assert!(reason.contains("export `customer`"), "attempt {attempt}: the reason names the export: {reason}");
        assert!(error.to_string().contains("tenant signatures"), "attempt {attempt}: the error names the tenant: {error}");
    }
}

#[tokio::test]
async fn failed_load_leaves_runtime_serving() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.wasm");
    std::fs::write(&broken, b"\0asm garbage").unwrap();
    assert!(runtime().load(&broken, World::LeafLinkConnector).is_err());

    let server = RecordingServer::start().await;
    let plugin = load("fixture-well-behaved", World::LeafLinkConnector);
    let tenant = tenant(&tenant_settings("survivor", server.address));
    let mut session = runtime().leaflink(&plugin, &tenant).await.expect("instantiates");
    let order = session.get_order("n-1").await.expect("the call succeeds").expect("an order");
    assert!(order.notes.unwrap_or_default().starts_with("200 "));
}

#[tokio::test]
async fn session_for_wrong_world_rejected() {
    let server = RecordingServer::start().await;
    let plugin = load("fixture-bench-order", World::Mapper);
    let tenant = tenant(&tenant_settings("confused", server.address));
    let error = runtime().leaflink(&plugin, &tenant).await.err().expect("a mapper cannot serve as a connector");
    assert!(error.to_string().contains("confused"), "{error}");
    assert!(error.to_string().contains("fixture-bench-order"), "{error}");
}

#[test]
fn compiled_component_cached_on_disk() {
    load("fixture-panic", World::LeafLinkConnector);
    let entries: Vec<_> = std::fs::read_dir(test_cache_dir())
        .expect("the cache directory exists")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|extension| extension == "cwasm"))
        .collect();
    assert!(!entries.is_empty(), "the cache holds compiled components");

    // A second load reads the entry instead of compiling; it must still work.
    load("fixture-panic", World::LeafLinkConnector);
}
