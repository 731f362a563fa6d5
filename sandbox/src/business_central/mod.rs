//! The Business Central API v2.0 stand-in: an Entra-style token endpoint and
//! the company-scoped API under
//! `/v2.0/{tenant}/{environment}/api/v2.0/companies({id})/...`, with the
//! entity sets, OData options, ETags, `$batch`, bound actions, webhooks and
//! limits of the real service. See `logic` for the choices made where the
//! reference leaves behaviour open.

mod auth;
mod cell;
mod entity_json;
mod error;
mod fast_hash;
mod http;
mod logic;
mod metadata;
mod odata;
mod schema;
mod seed;
mod store;
mod webhooks;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use uuid::Uuid;

pub use error::BcError;
pub use http::{ApiRequest, Reply, ReplyBody};
use http::{RawBody, RawReply};

use crate::faults::{self, Faults};

/// Connection details a BC client needs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The `/api/v2.0` root of the environment.
    pub base_url: String,
    pub token_url: String,
    pub tenant_id: String,
    pub environment: String,
    pub client_id: String,
    pub client_secret: String,
    pub company_id: String,
}

/// Settings of one BC sandbox server.
#[derive(Debug, Clone)]
pub struct Options {
    pub faults: Faults,
    /// Enforce 6,000 requests per 5 minutes and 5 concurrent requests per
    /// identity.
    pub rate_limits: bool,
    /// Delay between a change and its webhook notification.
    pub notification_delay: Duration,
    /// Seed of the generated customers, items and orders.
    pub random_seed: u64,
    /// How many customers, items and orders to generate.
    pub seed: crate::BusinessCentralSeed,
}

/// Maximum operations in one `$batch`, as in BC online.
pub const MAX_BATCH_OPERATIONS: usize = 100;

pub const ENVIRONMENT: &str = "sandbox";

struct Shared {
    context: http::Context,
    /// An async lock, so requests that wait for the store still count as in
    /// flight for the concurrency limit without blocking a runtime thread.
    store: tokio::sync::Mutex<store::Store>,
    auth: auth::Auth,
    webhooks: Arc<webhooks::Webhooks>,
    rate_limits: bool,
    tenant_id: String,
}

impl Shared {
    async fn lock_store(&self) -> tokio::sync::MutexGuard<'_, store::Store> {
        self.store.lock().await
    }

    /// Hands the changes of the last request to the webhook sender.
    fn publish_changes(&self, store: &mut store::Store) {
        let changes = std::mem::take(&mut store.changes);
        self.webhooks.enqueue(changes);
    }
}

/// A running BC sandbox; dropping it stops the server.
pub struct Server {
    info: ConnectionInfo,
    faults: Faults,
    shared: Arc<Shared>,
    shutdown: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    address: SocketAddr,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Server {
    pub fn info(&self) -> ConnectionInfo {
        self.info.clone()
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn company_name(&self) -> &str {
        &self.shared.context.company_name
    }

    pub fn shutdown(&self) {
        if let Some(sender) = self.shutdown.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() {
            let _ = sender.send(());
        }
    }

    /// Makes every issued access token expire now.
    pub fn expire_tokens(&self) {
        self.shared.auth.expire_all();
    }

    /// Sends queued webhook notifications now instead of after the delay.
    pub async fn flush_notifications(&self) {
        self.shared.webhooks.flush().await;
    }

    /// Runs a request below the `/api/v2.0` root in process, without HTTP,
    /// authentication or faults, for tests and the demo.
    pub async fn request(&self, method: Method, path_and_query: &str, body: Option<Value>) -> Reply {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let request = ApiRequest {
            method,
            path: path.trim_start_matches('/').to_owned(),
            query: url::form_urlencoded::parse(query.as_bytes()).into_owned().collect(),
            headers: HashMap::from([("if-match".to_owned(), "*".to_owned())]),
            body: body.map(|body| body.to_string().into_bytes()).unwrap_or_default(),
            json_body: None,
        };
        run(&self.shared, request).await.into_reply()
    }

    /// Reads one entity as the API renders it (without `@odata.context`).
    pub async fn entity(&self, set: &str, id: Uuid) -> Option<Value> {
        let store = self.shared.lock_store().await;
        let entity_set = schema::schema().set(set)?;
        let row = store.get(set, &id)?;
        entity_json::render(&store, entity_set, row, None, &[]).ok().map(Value::Object)
    }

    /// Number of entities in a set.
    pub async fn count(&self, set: &str) -> usize {
        if schema::schema().set(set).is_none() {
            return 0;
        }
        self.shared.lock_store().await.table(set).len()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts the BC sandbox on `listener` and returns once it accepts requests.
pub async fn start(listener: tokio::net::TcpListener, options: Options) -> anyhow::Result<Server> {
    let address = listener.local_addr()?;
    let tenant_id = Uuid::new_v4().to_string();
    let company_id = Uuid::new_v4();
    let root = format!("http://{address}");
    let base_url = format!("{root}/v2.0/{tenant_id}/{ENVIRONMENT}/api/v2.0");
    let info = ConnectionInfo {
        base_url: base_url.clone(),
        token_url: format!("{root}/{tenant_id}/oauth2/v2.0/token"),
        tenant_id: tenant_id.clone(),
        environment: ENVIRONMENT.to_owned(),
        client_id: Uuid::new_v4().to_string(),
        client_secret: format!("sbx~{}", Uuid::new_v4().simple()),
        company_id: company_id.to_string(),
    };

    let mut store = store::Store::new();
    seed::seed_row(&mut store, "companies", company_id, json!({
        "systemVersion": "25.0.23364.24726", "timestamp": 1, "name": seed::COMPANY_NAME,
        "displayName": seed::COMPANY_NAME, "businessProfileId": ""
    }));
    seed::seed(&mut store, options.random_seed, &options.seed);

    let webhooks = Arc::new(webhooks::Webhooks::new(options.notification_delay, company_id, base_url.clone()));
    // The published subscription example is served as a record; its URL is
    // not loopback, so it never receives a notification.
    let created = jiff::Timestamp::now();
    webhooks.seed(webhooks::Subscription {
        id: "c670ea73cacb459bb51dc1740da2f1db".into(),
        notification_url: "https://contoso.com/myCallbacks".into(),
        resource: format!("/api/v2.0/companies({company_id})/customers"),
        set: "customers".into(),
        client_state: "optionalvalueof2048".into(),
        expiration: created + webhooks::EXPIRY,
        created,
        modified: created,
        version: 1,
    });

    let shared = Arc::new(Shared {
        context: http::Context { base_url, company_id, company_name: seed::COMPANY_NAME.to_owned() },
        store: tokio::sync::Mutex::new(store),
        auth: auth::Auth::new(tenant_id.clone(), info.client_id.clone(), info.client_secret.clone()),
        webhooks,
        rate_limits: options.rate_limits,
        tenant_id,
    });

    let router = Router::new()
        .route("/{tenant}/oauth2/v2.0/token", axum::routing::post(token))
        .fallback(api)
        .with_state(Arc::clone(&shared))
        .layer(axum::middleware::from_fn_with_state(options.faults.clone(), faults::inject));
    let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let served = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = receiver.await;
        });
        if let Err(error) = served.await {
            tracing::error!(%error, "the Business Central sandbox stopped with an error");
        }
    });
    tracing::info!(%address, "Business Central sandbox started");
    Ok(Server { info, faults: options.faults, shared, shutdown: Mutex::new(Some(sender)), address })
}

async fn token(State(shared): State<Arc<Shared>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let (status, body) = shared.auth.issue(&tenant, &form);
    (status, axum::Json(body)).into_response()
}

fn to_response(reply: RawReply) -> Response {
    let json_response = |body: Vec<u8>| {
        let mut response = (reply.status, body).into_response();
        response.headers_mut().insert("content-type", HeaderValue::from_static("application/json; odata.metadata=minimal"));
        response
    };
    let mut response = match reply.body {
        RawBody::Reply(ReplyBody::Empty) => reply.status.into_response(),
        RawBody::Reply(ReplyBody::Json(body)) => json_response(body.to_string().into_bytes()),
        RawBody::Reply(ReplyBody::Text(text)) => (reply.status, text).into_response(),
        RawBody::JsonBytes(body) => json_response(body),
    };
    response.headers_mut().insert("odata-version", HeaderValue::from_static("4.0"));
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) = (axum::http::HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// Finds the part of a path below `/api/v2.0`, checking the tenant and
/// environment segments (`/v2.0/{tenant}/{environment}` or `/v2.0/{environment}`).
fn api_path<'a>(shared: &Shared, path: &'a str) -> Result<&'a str, BcError> {
    let rest = path.strip_prefix("/v2.0/").ok_or_else(|| BcError::not_found_segment(path))?;
    let (environment_part, api) = rest.split_once("/api/v2.0").ok_or_else(|| BcError::not_found_segment(path))?;
    let parts: Vec<&str> = environment_part.split('/').collect();
    let environment = match parts.as_slice() {
        [tenant, environment] => {
            if *tenant != shared.tenant_id {
                return Err(BcError::new(StatusCode::UNAUTHORIZED, "Authentication_InvalidCredentials", format!("The tenant '{tenant}' does not match the token.")));
            }
            *environment
        }
        [environment] => *environment,
        _ => return Err(BcError::not_found_segment(environment_part)),
    };
    if environment != ENVIRONMENT {
        return Err(BcError::new(StatusCode::NOT_FOUND, "NoEnvironment", format!("The environment '{environment}' does not exist.")));
    }
    Ok(api.trim_start_matches('/'))
}

async fn api(State(shared): State<Arc<Shared>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = match api_path(&shared, uri.path()) {
        Ok(path) => path.to_owned(),
        Err(error) => return to_response(error.into()),
    };
    let identity = match shared.auth.check(headers.get("authorization").and_then(|value| value.to_str().ok())) {
        Ok(identity) => identity,
        Err(error) => {
            let mut response = to_response(error.into());
            response.headers_mut().insert("www-authenticate", HeaderValue::from_static("Bearer error=\"invalid_token\""));
            return response;
        }
    };
    let _slot = if shared.rate_limits {
        match shared.auth.admit(&identity) {
            Ok(slot) => Some(slot),
            Err(error) => return to_response(error.into()),
        }
    } else {
        None
    };
    let request = ApiRequest {
        method,
        path: percent_decode(&path),
        query: url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect(),
        headers: headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_lowercase(), value.to_str().ok()?.to_owned())))
            .collect(),
        body: body.to_vec(),
        json_body: None,
    };
    to_response(run(&shared, request).await)
}

fn percent_decode(path: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", path.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| path.to_owned())
}

async fn run(shared: &Arc<Shared>, request: ApiRequest) -> RawReply {
    let first = request.path.split('/').next().unwrap_or("");
    if first == "$batch" {
        return batch(shared, &request).await;
    }
    if first == "subscriptions" || first.starts_with("subscriptions(") {
        let key = first
            .strip_prefix("subscriptions(")
            .and_then(|rest| rest.strip_suffix(')'))
            .map(|key| key.trim_matches('\'').to_owned());
        return shared.webhooks.handle(&request, key).await.into();
    }
    let mut store = shared.lock_store().await;
    let reply = http::handle(&shared.context, &mut store, &request);
    shared.publish_changes(&mut store);
    drop(store);
    if (reply.status.is_client_error() || reply.status.is_server_error())
        && let RawBody::Reply(ReplyBody::Json(body)) = &reply.body {
            tracing::debug!(method = %request.method, path = %request.path, status = reply.status.as_u16(), code = %body["error"]["code"], "Business Central sandbox returned an error");
        }
    reply
}

/// JSON `$batch`: at most 100 operations, run in order; with
/// `Isolation: snapshot` a failed operation rolls every change back. The
/// outer response is 200 either way.
async fn batch(shared: &Arc<Shared>, request: &ApiRequest) -> RawReply {
    if request.method != Method::POST {
        return BcError::method_not_allowed("Use POST for $batch.").into();
    }
    let mut body: Value = match serde_json::from_slice(&request.body) {
        Ok(body) => body,
        Err(error) => return BcError::bad_request(format!("Invalid Request Body: {error}")).into(),
    };
    // Taken out of the body so that each operation's body moves into its
    // request instead of being copied.
    let operations = match body.get_mut("requests") {
        Some(Value::Array(operations)) => std::mem::take(operations),
        _ => return BcError::bad_request("A JSON batch body needs a 'requests' array.").into(),
    };
    if operations.len() > MAX_BATCH_OPERATIONS {
        return BcError::bad_request(format!(
            "The batch has {} operations; at most {MAX_BATCH_OPERATIONS} are allowed.",
            operations.len()
        ))
        .into();
    }
    // With `Isolation: snapshot` the batch is one transaction, so it keeps the
    // store locked from start to end. Without it BC commits each operation on
    // its own, and other requests run between them.
    let snapshot = request.header("isolation").is_some_and(|value| value.eq_ignore_ascii_case("snapshot"));
    let mut batch_store = if snapshot { Some(shared.lock_store().await) } else { None };
    let savepoint = batch_store.as_mut().map(|store| store.savepoint());
    // Written as bytes: `{"responses":[item, ...]}`.
    let mut responses = Vec::with_capacity(operations.len() * 8192);
    responses.extend_from_slice(b"{\"responses\":[");
    let mut failed = false;
    for (position, mut operation) in operations.into_iter().enumerate() {
        let id = operation.get("id").cloned().unwrap_or(Value::Null);
        let reply = match batch_operation(shared, &mut operation) {
            Ok(inner) => {
                if inner.path.split('/').next().is_some_and(|first| first.starts_with("subscriptions") || first == "$batch") {
                    BcError::bad_request("subscriptions and nested $batch are not supported inside a $batch.").into()
                } else if let Some(store) = batch_store.as_mut() {
                    http::handle(&shared.context, store, &inner)
                } else {
                    let mut store = shared.lock_store().await;
                    let reply = http::handle(&shared.context, &mut store, &inner);
                    shared.publish_changes(&mut store);
                    reply
                }
            }
            Err(error) => error.into(),
        };
        if !reply.status.is_success() {
            failed = true;
        }
        if position > 0 {
            responses.push(b',');
        }
        write_batch_item(&mut responses, &id, reply);
    }
    responses.extend_from_slice(b"]}");
    if let (Some(mut store), Some(savepoint)) = (batch_store, savepoint) {
        if failed {
            store.rollback_to(savepoint);
        } else {
            store.release(savepoint);
        }
        shared.publish_changes(&mut store);
    }
    RawReply { status: StatusCode::OK, headers: Vec::new(), body: RawBody::JsonBytes(responses) }
}

/// Appends one `$batch` response item, `{"body", "headers", "id", "status"}`
/// in the sorted key order of a serialized map, `body` left out when empty.
fn write_batch_item(out: &mut Vec<u8>, id: &Value, reply: RawReply) {
    let mut headers = serde_json::Map::new();
    let json_headers = |headers: &mut serde_json::Map<String, Value>| {
        headers.insert("content-type".into(), json!("application/json; odata.metadata=minimal"));
        headers.insert("odata-version".into(), json!("4.0"));
    };
    out.push(b'{');
    match reply.body {
        RawBody::Reply(ReplyBody::Empty) => {}
        RawBody::Reply(ReplyBody::Json(body)) => {
            json_headers(&mut headers);
            out.extend_from_slice(b"\"body\":");
            let _ = serde_json::to_writer(&mut *out, &body);
            out.push(b',');
        }
        RawBody::JsonBytes(body) => {
            json_headers(&mut headers);
            out.extend_from_slice(b"\"body\":");
            out.extend_from_slice(&body);
            out.push(b',');
        }
        RawBody::Reply(ReplyBody::Text(text)) => {
            headers.insert("content-type".into(), json!("text/plain"));
            out.extend_from_slice(b"\"body\":");
            let _ = serde_json::to_writer(&mut *out, &text);
            out.push(b',');
        }
    }
    for (name, value) in reply.headers {
        headers.insert(name, Value::String(value));
    }
    // Serializing a map or a value into a Vec cannot fail.
    out.extend_from_slice(b"\"headers\":");
    let _ = serde_json::to_writer(&mut *out, &headers);
    out.extend_from_slice(b",\"id\":");
    let _ = serde_json::to_writer(&mut *out, id);
    out.extend_from_slice(format!(",\"status\":{}}}", reply.status.as_u16()).as_bytes());
}

/// Builds the request of one `$batch` operation, taking its body out of
/// `operation`.
fn batch_operation(shared: &Shared, operation: &mut Value) -> Result<ApiRequest, BcError> {
    let method_text = operation.get("method").and_then(Value::as_str).ok_or_else(|| BcError::bad_request("A batch operation needs a 'method'."))?;
    let method = Method::from_bytes(method_text.to_uppercase().as_bytes()).map_err(|_| BcError::bad_request(format!("Unknown method '{method_text}'.")))?;
    let url = operation.get("url").and_then(Value::as_str).ok_or_else(|| BcError::bad_request("A batch operation needs a 'url'."))?;
    // An absolute URL or one from the host root is cut down to the part
    // below `/api/v2.0`; a relative one already is.
    let relative = match url.find("/api/v2.0/") {
        Some(position) => &url[position + "/api/v2.0/".len()..],
        None => url.trim_start_matches('/'),
    };
    let (path, query) = relative.split_once('?').unwrap_or((relative, ""));
    let mut headers: HashMap<String, String> = HashMap::new();
    if let Some(object) = operation.get("headers").and_then(Value::as_object) {
        for (name, value) in object {
            if let Some(text) = value.as_str() {
                headers.insert(name.to_lowercase(), text.to_owned());
            }
        }
    }
    let path = percent_decode(path);
    let query = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let json_body = match operation.get_mut("body").map(Value::take) {
        None | Some(Value::Null) => None,
        Some(body) => Some(body),
    };
    let _ = shared;
    Ok(ApiRequest { method, path, query, headers, body: Vec::new(), json_body })
}
