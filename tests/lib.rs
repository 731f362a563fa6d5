//! Shared helpers for the end-to-end suite: the test runtime, tenants that
//! point at local servers, plugin paths, and a recording HTTP server on
//! loopback.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use leafbridge::capabilities::{Secret, TenantContext, TenantSecrets};
use leafbridge::runtime::{HostBounds, Limits, Plugin, Runtime, RuntimeConfig, World, default_plugin_dir};
use leafbridge::tenant::{
    BusinessCentralEndpoint, LeafLinkEndpoint, LimitSettings, ProductMaster, TenantSettings, default_customer_match_key,
    default_customer_numbering, default_order_statuses, default_unit_map,
};

/// The LeafLink API key every test tenant uses unless it sets its own.
pub const LEAFLINK_KEY: &str = "ll-test-key-5f1e";
/// The BC client secret every test tenant uses.
pub const BC_CLIENT_SECRET: &str = "bc-client-secret-9a2c";
/// The access token the recording server's token endpoint issues.
pub const BC_ACCESS_TOKEN: &str = "bc-access-token-77d0";

/// Returns the runtime shared by the whole suite. Its component cache lives
/// under the target directory, so compiled fixtures are reused across tests and
/// runs.
pub fn runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let config = RuntimeConfig {
                cache_dir: test_cache_dir(),
                // A small pool keeps the suite's address-space reservation
                // modest; tests never run more than a few dozen instances.
                bounds: HostBounds { max_instances: 64, ..HostBounds::default() },
                defaults: Limits { output_bytes: 4 << 20, ..Limits::default() },
            };
            Runtime::new(config).expect("the test runtime starts")
        })
        .clone()
}

pub fn test_cache_dir() -> PathBuf {
    default_plugin_dir().parent().map(|target| target.join("test-component-cache")).unwrap_or_else(|| {
        std::env::temp_dir().join("leafbridge-test-component-cache")
    })
}

/// Returns the path of a built plugin, e.g. `plugin_path("fixture-spin")`.
pub fn plugin_path(package: &str) -> PathBuf {
    default_plugin_dir().join(format!("{package}.wasm"))
}

/// Loads a built plugin. When the file is missing, the panic message explains
/// how to build it.
pub fn load(package: &str, world: World) -> Arc<Plugin> {
    let path = plugin_path(package);
    assert!(
        path.exists(),
        "{} is missing; build the guests with `cargo xtask plugins` (or `cargo build --profile guest --target wasm32-wasip2 -p {package}` and copy it there)",
        path.display()
    );
    runtime().load(&path, world).unwrap_or_else(|error| panic!("{package} should load: {error}"))
}

/// Settings for a tenant whose three endpoints all point at `server`.
pub fn tenant_settings(name: &str, server: SocketAddr) -> TenantSettings {
    TenantSettings {
        name: name.to_owned(),
        go_live: "2026-01-01T00:00:00Z".parse().expect("valid timestamp"),
        time_zone: "America/Los_Angeles".to_owned(),
        product_master: ProductMaster::BusinessCentral,
        order_statuses_to_import: default_order_statuses(),
        freight_account: "40100".to_owned(),
        unit_map: default_unit_map(),
        salesperson_map: BTreeMap::new(),
        customer_numbering: default_customer_numbering(),
        customer_match_key: default_customer_match_key(),
        leaflink: LeafLinkEndpoint { base_url: format!("http://{server}/leaflink/api/v2"), company_id: Some(7), recorded_by: None },
        business_central: BusinessCentralEndpoint {
            base_url: format!("http://{server}/bc/v2.0/tenant/sandbox/api/v2.0"),
            token_url: format!("http://{server}/oauth2/v2.0/token"),
            tenant_id: "tenant".to_owned(),
            environment: "sandbox".to_owned(),
            company_id: "company".to_owned(),
            client_id: format!("client-{name}"),
            scope: None,
        },
        limits: LimitSettings::default(),
        notify: None,
        plugin_settings: BTreeMap::new(),
    }
}

pub fn tenant(settings: &TenantSettings) -> Arc<TenantContext> {
    TenantContext::new(settings, secrets()).expect("the tenant context builds")
}

pub fn secrets() -> TenantSecrets {
    TenantSecrets {
        leaflink_api_key: Secret::new(LEAFLINK_KEY),
        business_central_client_secret: Secret::new(BC_CLIENT_SECRET),
    }
}

/// One request the recording server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// A scripted response: status, extra headers and body.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Scripted {
    pub fn status(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: String::new() }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

#[derive(Default)]
struct ServerState {
    requests: Vec<Recorded>,
    /// Responses queued per path. A path with an empty queue returns 200.
    scripts: HashMap<String, VecDeque<Scripted>>,
}

/// An HTTP server on 127.0.0.1 that records every request. The token path
/// (`/oauth2/v2.0/token`) issues `BC_ACCESS_TOKEN`. Other paths return the
/// next queued `Scripted` response, else 200 and a small JSON body.
#[derive(Clone)]
pub struct RecordingServer {
    pub address: SocketAddr,
    state: Arc<Mutex<ServerState>>,
}

impl RecordingServer {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(ServerState::default()));
        let app = axum::Router::new().fallback(record).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let address = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { address, state }
    }

    /// Queues `answers` for requests to `path`, in order.
    pub fn script(&self, path: &str, answers: impl IntoIterator<Item = Scripted>) {
        let mut state = self.state.lock().unwrap();
        state.scripts.entry(path.to_owned()).or_default().extend(answers);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn requests_to(&self, path_prefix: &str) -> Vec<Recorded> {
        self.requests().into_iter().filter(|request| request.target.starts_with(path_prefix)).collect()
    }
}

async fn record(State(state): State<Arc<Mutex<ServerState>>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let recorded = Recorded {
        method: method.to_string(),
        target: uri.path_and_query().map(|target| target.to_string()).unwrap_or_default(),
        headers: headers
            .iter()
            .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let scripted = {
        let mut state = state.lock().unwrap();
        state.requests.push(recorded);
        state.scripts.get_mut(uri.path()).and_then(VecDeque::pop_front)
    };

    if let Some(answer) = scripted {
        let mut response = (StatusCode::from_u16(answer.status).unwrap(), answer.body).into_response();
        for (name, value) in answer.headers {
            response.headers_mut().insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                axum::http::HeaderValue::from_str(&value).unwrap(),
            );
        }
        return response;
    }
    if uri.path() == "/oauth2/v2.0/token" {
        let body = format!(r#"{{"token_type":"Bearer","expires_in":3599,"access_token":"{BC_ACCESS_TOKEN}"}}"#);
        return ([("content-type", "application/json")], body).into_response();
    }
    ([("content-type", "application/json")], r#"{"ok":true}"#).into_response()
}

/// Waits up to `timeout` for `condition`, polling every 10 ms.
pub async fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}

/// Builds the `leafbridge` binary on first use and returns its path.
///
/// Cargo sets `CARGO_BIN_EXE_<name>` only for tests of the package that owns
/// the binary, and this suite is a separate package, so the helper builds the
/// binary into the same target directory and profile as the running test.
pub fn leafbridge_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let test_exe = std::env::current_exe().expect("the test binary has a path");
            // <target>/<profile>/deps/suite-<hash>
            let profile_dir = test_exe.parent().and_then(|deps| deps.parent()).expect("the test binary is in <target>/<profile>/deps");
            let target_dir = profile_dir.parent().expect("the profile directory is inside the target directory");
            let profile = profile_dir.file_name().and_then(|name| name.to_str()).unwrap_or("debug");
            let cargo_profile = if profile == "debug" { "dev" } else { profile };

            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = std::process::Command::new(cargo)
                .args(["build", "--quiet", "--package", "leafbridge", "--bin", "leafbridge", "--profile", cargo_profile])
                .env("CARGO_TARGET_DIR", target_dir)
                .status()
                .expect("cargo can be started to build the leafbridge binary");
            assert!(status.success(), "building the leafbridge binary failed");
            profile_dir.join(format!("leafbridge{}", std::env::consts::EXE_SUFFIX))
        })
        .clone()
}
