//! `leafbridge serve`: one process that runs the scheduler, receives LeafLink
//! and Business Central webhooks, and exposes the admin API, `/metrics` and
//! `/healthz` over HTTP (axum).

pub mod admin;
pub mod metrics;
pub mod notify;
pub mod subscriptions;
pub mod webhooks;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::schedule::Scheduler;
use crate::store::Store;
use crate::store::secrets::{Secret, Secrets};

pub use metrics::Metrics;

/// The largest webhook or admin request body accepted. LeafLink order
/// payloads with many line items stay well under it.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {address}: {source}")]
    Bind { address: SocketAddr, source: std::io::Error },
    #[error("the HTTP server failed: {0}")]
    Server(std::io::Error),
}

/// The state every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub secrets: Secrets,
    pub scheduler: Scheduler,
    pub metrics: Arc<Metrics>,
    /// The bearer token the admin API requires.
    pub admin_token: Arc<Secret>,
    /// The tenants' BC webhook subscriptions, and which tenants expect a
    /// validation handshake.
    pub subscriptions: Arc<subscriptions::Subscriptions>,
}

/// Builds the router: admin API under `/api/v1` and `/metrics` (bearer
/// token), webhooks under `/webhooks` (their own signatures), and the open
/// `/healthz`. The metrics name every tenant, and the listener is public
/// whenever BC webhooks reach it, so they take the admin token too.
pub fn router(state: AppState) -> Router {
    let admin = admin::router(state.clone());
    let metrics = Router::new()
        .route("/metrics", get(metrics_text))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), admin::require_bearer));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(metrics)
        .route("/webhooks/leaflink/{tenant}", post(webhooks::leaflink))
        .route(
            "/webhooks/business-central/{tenant}",
            get(webhooks::business_central).post(webhooks::business_central),
        )
        .nest("/api/v1", admin)
        .fallback(unknown_path)
        .method_not_allowed_fallback(admin::method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn unknown_path(axum::extract::OriginalUri(uri): axum::extract::OriginalUri) -> axum::response::Response {
    use axum::response::IntoResponse;

    let message = format!("no route {}; serve handles /api/v1/..., /webhooks/..., /metrics and /healthz", uri.path());
    (axum::http::StatusCode::NOT_FOUND, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics_text(axum::extract::State(state): axum::extract::State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;

    let tenants = state
        .store
        .tenants()
        .map_err(crate::store::tenants::TenantError::from)
        .and_then(|tenants| tenants.list());
    let count = match tenants {
        Ok(tenants) => tenants.len(),
        Err(error) => {
            error!(%error, "cannot count tenants for /metrics");
            0
        }
    };
    ([(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)], state.metrics.render(count)).into_response()
}

/// Serves on `listener` until `shutdown` turns true, runs the scheduler and
/// keeps the BC subscriptions meanwhile, then waits up to `drain` for runs in
/// progress.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    schedule_tick: Duration,
    drain: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ServeError> {
    let address = listener.local_addr().map_err(ServeError::Server)?;
    info!(%address, "serving the admin API, webhooks and metrics");

    let scheduler_task = tokio::spawn({
        let scheduler = state.scheduler.clone();
        let store = state.store.clone();
        let shutdown = shutdown.clone();
        async move { scheduler.run_schedules(store, schedule_tick, shutdown).await }
    });

    let subscriptions_task = tokio::spawn({
        let subscriptions = state.subscriptions.clone();
        let store = state.store.clone();
        let secrets = state.secrets.clone();
        let shutdown = shutdown.clone();
        async move { subscriptions.run(store, secrets, shutdown).await }
    });

    let scheduler = state.scheduler.clone();
    let store = state.store.clone();
    let app = router(state);
    let signalled = async move {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let graceful = async move {
        let _ = stopped.await;
    };
    let mut server = tokio::spawn(axum::serve(listener, app).with_graceful_shutdown(graceful).into_future());
    let result = tokio::select! {
        joined = &mut server => Some(joined),
        () = signalled => None,
    };
    // The drain starts at the signal. The HTTP server stops accepting then,
    // but a client waiting for a run (`?wait=true`) keeps its request open,
    // so the server gets what is left of the drain once the runs are done.
    let deadline = tokio::time::Instant::now() + drain;
    let _ = stop.send(());
    let _ = scheduler_task.await;
    let _ = subscriptions_task.await;
    let left = scheduler.shutdown(drain).await;
    if left > 0 {
        // The runs left die with the process, so they are recorded now. One
        // that still finishes before the exit overwrites its record.
        match store.record_interrupted_runs().and_then(|_| store.flush()) {
            Ok(()) => warn!(runs = left, "runs still going at the end of the drain were recorded as interrupted"),
            Err(error) => error!(%error, "cannot record the runs cut off by the shutdown"),
        }
    }
    let result = match result {
        Some(joined) => joined,
        None => match tokio::time::timeout_at(deadline + RESPONSE_GRACE, &mut server).await {
            Ok(joined) => joined,
            Err(_) => {
                // NOTE: a client still waiting for a run sees its connection
                // close here, not a response that names the interrupted run.
                warn!("open requests were cut off at the end of the drain");
                server.abort();
                Ok(Ok(()))
            }
        },
    };
    info!(runs_left = left, "stopped");
    match result {
        Ok(served) => served.map_err(ServeError::Server),
        Err(join) => Err(ServeError::Server(std::io::Error::other(join))),
    }
}

/// Time after the drain for the responses of runs that finished in it.
const RESPONSE_GRACE: Duration = Duration::from_secs(1);

/// Binds `address`, naming it in the error.
pub async fn bind(address: SocketAddr) -> Result<tokio::net::TcpListener, ServeError> {
    tokio::net::TcpListener::bind(address).await.map_err(|source| ServeError::Bind { address, source })
}
