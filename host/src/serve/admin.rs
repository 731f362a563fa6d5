//! The admin HTTP API under `/api/v1`, behind a bearer token: tenants, their
//! status, schedules, runs, dead letters and conflicts, and "run this flow
//! now". The CLI's read-only commands use it while `serve` has the store locked.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{OriginalUri, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use subtle::ConstantTimeEq;
use tracing::{info, warn};

use super::AppState;
use crate::schedule::{Trigger, TriggerResult, check_flow};
use crate::store::tenants::TenantError;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/tenants", get(list_tenants))
        .route("/tenants/{tenant}", get(show_tenant))
        .route("/tenants/{tenant}/status", get(show_status))
        .route("/tenants/{tenant}/schedules", get(list_schedules))
        .route("/tenants/{tenant}/runs", get(list_runs))
        .route("/tenants/{tenant}/dead-letters", get(list_dead_letters))
        .route("/tenants/{tenant}/conflicts", get(list_conflicts))
        .route("/tenants/{tenant}/flows/{flow}/run", post(run_flow))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state, require_bearer))
}

async fn unknown_route(OriginalUri(uri): OriginalUri, request: Request) -> Response {
    not_found(&format!("no admin API route {} {}", request.method(), uri.path()))
}

/// Returns a JSON 405 for a known path requested with a method it does not
/// take. axum adds the `Allow` header that lists the methods it takes.
pub(crate) async fn method_not_allowed(OriginalUri(uri): OriginalUri, request: Request) -> Response {
    let message = format!("{} {} is not allowed; the Allow header lists the methods this path takes", request.method(), uri.path());
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(json!({ "error": message }))).into_response()
}

/// Returns the token of an `Authorization` value with the `Bearer` scheme,
/// whose name is case-insensitive (RFC 7235, section 2.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim_start())
}

/// Rejects requests without `Authorization: Bearer <admin token>`; the token
/// is compared in constant time.
pub(crate) async fn require_bearer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token)
        .unwrap_or("");
    let expected = state.admin_token.expose().as_bytes();
    if presented.is_empty() || !bool::from(presented.as_bytes().ct_eq(expected)) {
        warn!(path = %request.uri().path(), "request without a valid admin bearer token");
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(json!({ "error": "missing or invalid bearer token" })),
        )
            .into_response();
    }
    next.run(request).await
}

async fn list_tenants(State(state): State<AppState>) -> Response {
    match state.store.tenants().map_err(TenantError::from).and_then(|tenants| tenants.list()) {
        Ok(tenants) => axum::Json(tenants).into_response(),
        Err(error) => server_error(&error.to_string()),
    }
}

async fn show_tenant(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    match state.store.tenants().map_err(TenantError::from).and_then(|tenants| tenants.require(&tenant)) {
        Ok(settings) => axum::Json(settings).into_response(),
        Err(error @ TenantError::NotFound(_)) => not_found(&error.to_string()),
        Err(error) => server_error(&error.to_string()),
    }
}

async fn show_status(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    if let Err(response) = require_tenant(&state, &tenant) {
        return response;
    }
    match crate::tenant::status::tenant_status(&state.store, &tenant) {
        Ok(status) => axum::Json(status).into_response(),
        Err(error) => server_error(&error.to_string()),
    }
}

async fn list_schedules(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    if let Err(response) = require_tenant(&state, &tenant) {
        return response;
    }
    match state.store.schedules().map_err(crate::schedule::ScheduleError::from).and_then(|schedules| schedules.list(Some(&tenant))) {
        Ok(entries) => axum::Json(entries).into_response(),
        Err(error) => server_error(&error.to_string()),
    }
}

/// The query of `GET /tenants/{tenant}/runs`.
#[derive(Debug, serde::Deserialize)]
struct RunsQuery {
    /// Only runs that started at or after this RFC 3339 time, so that a
    /// client waiting for one run does not read the whole history each time.
    since: Option<jiff::Timestamp>,
    /// Only the runs of this flow.
    flow: Option<crate::flows::Flow>,
    /// Only the newest `limit` runs, still listed oldest first.
    limit: Option<usize>,
}

async fn list_runs(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    query: Result<Query<RunsQuery>, QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(query) => query,
        Err(rejection) => return bad_request(&rejection.body_text()),
    };
    if let Err(response) = require_tenant(&state, &tenant) {
        return response;
    }
    match state.store.runs(&tenant) {
        Ok(mut runs) => {
            if let Some(since) = query.since {
                runs.retain(|run| run.started >= since);
            }
            if let Some(flow) = query.flow {
                runs.retain(|run| run.flow == flow.name());
            }
            if let Some(limit) = query.limit {
                let older = runs.len().saturating_sub(limit);
                runs.drain(..older);
            }
            axum::Json(runs).into_response()
        }
        Err(error) => server_error(&error.to_string()),
    }
}

async fn list_dead_letters(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    if let Err(response) = require_tenant(&state, &tenant) {
        return response;
    }
    match state.store.dead_letters(&tenant) {
        Ok(dead_letters) => axum::Json(dead_letters).into_response(),
        Err(error) => server_error(&error.to_string()),
    }
}

async fn list_conflicts(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    if let Err(response) = require_tenant(&state, &tenant) {
        return response;
    }
    match state.store.conflicts(&tenant) {
        Ok(conflicts) => axum::Json(conflicts).into_response(),
        Err(error) => server_error(&error.to_string()),
    }
}

/// The query of `POST /tenants/{tenant}/flows/{flow}/run`.
#[derive(Debug, serde::Deserialize)]
struct RunFlowQuery {
    /// Respond only when the run started for this request has finished.
    #[serde(default)]
    wait: bool,
}

/// `POST /tenants/{tenant}/flows/{flow}/run`: the "pull now" button. Returns
/// 202 with `started`, or `queued` when the flow is running and one more run
/// follows it. With `?wait=true` it responds 200 once that run has finished,
/// with its `run_id` and counts, or its `error`.
async fn run_flow(
    State(state): State<AppState>,
    Path((tenant, flow)): Path<(String, String)>,
    query: Result<Query<RunFlowQuery>, QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(query) => query,
        Err(rejection) => return bad_request(&rejection.body_text()),
    };
    let settings = match require_tenant(&state, &tenant) {
        Ok(settings) => settings,
        Err(response) => return response,
    };
    if let Err(error) = check_flow(&settings, &flow) {
        return bad_request(&error.to_string());
    }
    if query.wait {
        let (result, finished) = state.scheduler.trigger_and_wait(&tenant, &flow, Trigger::OnDemand);
        info!(tenant = %tenant, flow = %flow, ?result, "run requested through the admin API, waiting for it");
        if result == TriggerResult::ShuttingDown {
            return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({ "error": "serve is shutting down and starts no run" })))
                .into_response();
        }
        let body = match finished.await {
            Ok(Ok(outcome)) => json!({ "tenant": tenant, "flow": flow, "result": result, "outcome": outcome }),
            Ok(Err(reason)) => json!({ "tenant": tenant, "flow": flow, "result": result, "error": reason }),
            Err(_) => {
                return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({ "error": "serve shut down before the queued run started" })))
                    .into_response();
            }
        };
        return axum::Json(body).into_response();
    }
    let result = state.scheduler.trigger(&tenant, &flow, Trigger::OnDemand);
    info!(tenant = %tenant, flow = %flow, ?result, "run requested through the admin API");
    let status = match result {
        TriggerResult::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        TriggerResult::Started | TriggerResult::Queued => StatusCode::ACCEPTED,
    };
    (status, axum::Json(json!({ "tenant": tenant, "flow": flow, "result": result }))).into_response()
}

fn require_tenant(state: &AppState, tenant: &str) -> Result<crate::tenant::TenantSettings, Response> {
    match state.store.tenants().map_err(TenantError::from).and_then(|tenants| tenants.require(tenant)) {
        Ok(settings) => Ok(settings),
        Err(error @ TenantError::NotFound(_)) => Err(not_found(&error.to_string())),
        Err(error) => Err(server_error(&error.to_string())),
    }
}

/// Builds a 400 with the reason as JSON, like every other error of the admin API
/// (axum's own rejections are plain text).
fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": message }))).into_response()
}

fn not_found(message: &str) -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({ "error": message }))).into_response()
}

fn server_error(message: &str) -> Response {
    tracing::error!(error = message, "admin API request failed");
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({ "error": message }))).into_response()
}
