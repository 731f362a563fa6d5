//! Hostile plugins: each one fails only its own call, with an error naming the
//! tenant and the plugin, while a well-behaved tenant keeps working.

use std::time::{Duration, Instant};

use leafbridge::runtime::bindings::types::PluginError;
use leafbridge::runtime::{CallError, World};
use leafbridge::tenant::LimitSettings;
use leafbridge_tests::{
    BC_ACCESS_TOKEN, BC_CLIENT_SECRET, LEAFLINK_KEY, RecordingServer, load, runtime, tenant, tenant_settings,
};

/// Runs `get-order` of `package` for a tenant called `tenant_name`.
async fn get_order(
    package: &str,
    tenant_name: &str,
    server: &RecordingServer,
    adjust: impl FnOnce(&mut leafbridge::tenant::TenantSettings),
) -> Result<Option<leafbridge::runtime::bindings::types::LlOrder>, CallError> {
    let plugin = load(package, World::LeafLinkConnector);
    let mut settings = tenant_settings(tenant_name, server.address);
    adjust(&mut settings);
    let tenant = tenant(&settings);
    let mut session = runtime().leaflink(&plugin, &tenant).await?;
    session.get_order("order-1").await
}

async fn well_behaved(server: &RecordingServer) -> String {
    let order = get_order("fixture-well-behaved", "calm", server, |_| {})
        .await
        .expect("the well-behaved plugin succeeds")
        .expect("it returns an order");
    order.notes.unwrap_or_default()
}

fn assert_names_tenant_and_plugin(error: &CallError, tenant: &str, plugin: &str) {
    assert_eq!(error.tenant(), tenant);
    assert_eq!(error.plugin(), plugin);
    let message = error.to_string();
    assert!(message.contains(tenant), "the message names the tenant: {message}");
    assert!(message.contains(plugin), "the message names the plugin: {message}");
}

#[tokio::test]
async fn infinite_loop_hits_cpu_deadline() {
    let server = RecordingServer::start().await;
    let started = Instant::now();
    let error = get_order("fixture-spin", "spinner", &server, |settings| {
        settings.limits = LimitSettings { cpu_millis: Some(200), ..LimitSettings::default() };
    })
    .await
    .expect_err("an infinite loop cannot succeed");

    assert!(matches!(error, CallError::CpuDeadline { .. }), "{error}");
    assert_names_tenant_and_plugin(&error, "spinner", "fixture-spin");
    assert!(started.elapsed() < Duration::from_secs(10), "the deadline ended the call in {:?}", started.elapsed());
}

#[tokio::test]
async fn infinite_loop_hits_wall_clock_timeout() {
    let server = RecordingServer::start().await;
    let error = get_order("fixture-spin", "slowpoke", &server, |settings| {
        settings.limits =
            LimitSettings { cpu_millis: Some(20_000), wall_clock_millis: Some(300), ..LimitSettings::default() };
    })
    .await
    .expect_err("an infinite loop cannot succeed");

    assert!(matches!(error, CallError::WallClockTimeout { .. }), "{error}");
    assert_names_tenant_and_plugin(&error, "slowpoke", "fixture-spin");
}

#[tokio::test]
async fn memory_bomb_hits_memory_limit() {
    let server = RecordingServer::start().await;
    let error = get_order("fixture-memory-bomb", "hoarder", &server, |settings| {
        settings.limits = LimitSettings { memory_bytes: Some(16 << 20), ..LimitSettings::default() };
    })
    .await
    .expect_err("a memory bomb cannot succeed");

    assert!(matches!(error, CallError::MemoryLimit { limit, .. } if limit == 16 << 20), "{error}");
    assert_names_tenant_and_plugin(&error, "hoarder", "fixture-memory-bomb");
}

#[tokio::test]
async fn unbounded_recursion_traps() {
    let server = RecordingServer::start().await;
    let error = get_order("fixture-recursion", "recursive", &server, |_| {}).await.expect_err("recursion overflows");

    let CallError::Trap { reason, function, .. } = &error else { panic!("expected a trap, got {error}") };
    assert_eq!(*function, "get-order");
    // A Rust guest keeps its stack in linear memory, so the overflow appears
    // as an out-of-bounds access. Deep wasm frames appear as stack exhaustion.
    assert!(
        reason.contains("out of bounds") || reason.contains("stack"),
        "the reason describes the overflow: {reason}"
    );
    assert_names_tenant_and_plugin(&error, "recursive", "fixture-recursion");
}

#[tokio::test]
async fn panic_traps_with_message() {
    let server = RecordingServer::start().await;
    let error = get_order("fixture-panic", "panicky", &server, |_| {}).await.expect_err("a panic fails the call");

    let CallError::Trap { reason, .. } = &error else { panic!("expected a trap, got {error}") };
    assert!(reason.contains("panics on purpose"), "the trap carries the panic message: {reason}");
    assert_names_tenant_and_plugin(&error, "panicky", "fixture-panic");
}

#[tokio::test]
async fn trap_poisons_session() {
    let server = RecordingServer::start().await;
    let plugin = load("fixture-panic", World::LeafLinkConnector);
    let tenant = tenant(&tenant_settings("poisoned", server.address));
    let mut session = runtime().leaflink(&plugin, &tenant).await.expect("instantiates");

    let first = session.get_order("a").await.expect_err("the first call traps");
    assert!(matches!(first, CallError::Trap { .. }), "{first}");
    let second = session.get_order("b").await.expect_err("the session is unusable");
    assert!(matches!(second, CallError::Poisoned { .. }), "{second}");
}

#[tokio::test]
async fn oversized_output_rejected() {
    let server = RecordingServer::start().await;
    let error = get_order("fixture-oversized-output", "verbose", &server, |settings| {
        // The suite's runtime allows 4 MiB of output.
        settings.plugin_settings.insert("output_bytes".into(), (6 << 20).to_string());
    })
    .await
    .expect_err("6 MiB of output exceeds the 4 MiB limit");

    assert!(matches!(error, CallError::OutputTooLarge { limit, .. } if limit == 4 << 20), "{error}");
    assert_names_tenant_and_plugin(&error, "verbose", "fixture-oversized-output");
}

#[tokio::test]
async fn output_under_limit_passes() {
    let server = RecordingServer::start().await;
    let order = get_order("fixture-oversized-output", "modest", &server, |settings| {
        settings.plugin_settings.insert("output_bytes".into(), "1000".into());
    })
    .await
    .expect("1,000 bytes fit")
    .expect("an order");
    assert_eq!(order.notes.map(|notes| notes.len()), Some(1000));
}

#[tokio::test]
async fn request_outside_allow_list_rejected() {
    let server = RecordingServer::start().await;
    let outsider = RecordingServer::start().await;
    let target = format!("http://{}/collect", outsider.address);
    let error = get_order("fixture-forbidden-host", "wanderer", &server, |settings| {
        settings.plugin_settings.insert("target_url".into(), target.clone());
    })
    .await
    .expect_err("the request is rejected");

    let CallError::Plugin { error: PluginError::Http(message), .. } = &error else {
        panic!("expected the plugin's http error, got {error}")
    };
    assert!(message.contains("NotAllowed"), "{message}");
    assert_names_tenant_and_plugin(&error, "wanderer", "fixture-forbidden-host");
    assert!(outsider.requests().is_empty(), "no request reached the outside server");
    assert!(server.requests().is_empty(), "no request reached the tenant's server either");
}

#[tokio::test]
async fn metadata_address_rejected() {
    let server = RecordingServer::start().await;
    // Rejected by the allow-list before any connection is attempted.
    let error = get_order("fixture-forbidden-host", "metadata", &server, |settings| {
        settings.plugin_settings.insert("target_url".into(), "http://169.254.169.254/latest/meta-data/".into());
    })
    .await
    .expect_err("the request is rejected");
    assert!(error.to_string().contains("NotAllowed"), "{error}");
}

#[tokio::test]
async fn environment_and_files_are_empty() {
    let server = RecordingServer::start().await;
    // SAFETY: set before any plugin reads it; the point is that the plugin
    // cannot see it.
    unsafe { std::env::set_var("LEAFBRIDGE_TEST_SECRET_ENV", "do-not-leak") };
    let order = get_order("fixture-env-and-files", "curious", &server, |_| {})
        .await
        .expect("reading nothing is not an error")
        .expect("an order with the report");
    let report = order.notes.unwrap_or_default();

    assert!(report.contains("env: []"), "no environment variables: {report}");
    assert!(report.contains("args: []"), "no arguments: {report}");
    assert!(!report.contains("do-not-leak"), "{report}");
    for path in ["/etc/passwd", "/proc/self/environ", ".", "secrets.key"] {
        assert!(report.contains(&format!("file {path}: error")), "{path} is unreadable: {report}");
    }
    assert!(report.contains("dir /: error"), "the root directory is not listable: {report}");
}

#[tokio::test]
async fn snooping_plugin_sees_no_credential() {
    let server = RecordingServer::start().await;
    let order = get_order("fixture-snoop", "snooper", &server, |_| {})
        .await
        .expect("snooping is not an error")
        .expect("an order with the report");
    let report = order.notes.unwrap_or_default();

    for secret in [LEAFLINK_KEY, BC_CLIENT_SECRET, BC_ACCESS_TOKEN] {
        assert!(!report.contains(secret), "the plugin saw {secret}: {report}");
    }
    assert!(
        report.contains("?snoop=forged -> error HttpError::InvalidRequest"),
        "a forged Authorization header is rejected: {report}"
    );

    let leaflink = server.requests_to("/leaflink/");
    assert_eq!(leaflink.len(), 1, "only the request without a forged header was sent: {leaflink:?}");
    assert_eq!(leaflink[0].header("authorization"), Some(format!("App {LEAFLINK_KEY}").as_str()));

    let bc = server.requests_to("/bc/");
    assert_eq!(bc.len(), 1, "{bc:?}");
    assert_eq!(bc[0].header("authorization"), Some(format!("Bearer {BC_ACCESS_TOKEN}").as_str()));

    let token = server.requests_to("/oauth2/");
    assert_eq!(token.len(), 1, "one token request: {token:?}");
    assert!(token[0].body.contains("grant_type=client_credentials"), "{}", token[0].body);
    assert!(token[0].body.contains(&format!("client_secret={BC_CLIENT_SECRET}")), "{}", token[0].body);
}

#[tokio::test]
async fn hostile_plugins_leave_neighbour_unaffected() {
    let server = RecordingServer::start().await;
    let tight = |settings: &mut leafbridge::tenant::TenantSettings| {
        settings.limits = LimitSettings { memory_bytes: Some(16 << 20), cpu_millis: Some(300), wall_clock_millis: Some(5_000) };
    };

    let hostile = async {
        tokio::join!(
            get_order("fixture-spin", "h-spin", &server, tight),
            get_order("fixture-memory-bomb", "h-bomb", &server, tight),
            get_order("fixture-recursion", "h-recursion", &server, tight),
            get_order("fixture-panic", "h-panic", &server, tight),
        )
    };
    let neighbour = async {
        let mut notes = Vec::new();
        for _ in 0..5 {
            notes.push(well_behaved(&server).await);
        }
        notes
    };
    let ((spin, bomb, recursion, panic), notes) = tokio::join!(hostile, neighbour);

    assert!(matches!(spin, Err(CallError::CpuDeadline { .. })), "{spin:?}");
    assert!(matches!(bomb, Err(CallError::MemoryLimit { .. })), "{bomb:?}");
    assert!(matches!(recursion, Err(CallError::Trap { .. })), "{recursion:?}");
    assert!(matches!(panic, Err(CallError::Trap { .. })), "{panic:?}");
    assert_eq!(notes.len(), 5);
    for note in notes {
        assert!(note.starts_with("200 "), "the neighbour's request went through: {note}");
    }
    let calm = server.requests_to("/leaflink/api/v2/orders-received/order-1/");
    assert_eq!(calm.len(), 5, "every neighbour call reached the server");
}
