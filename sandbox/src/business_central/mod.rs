//! The Business Central API v2.0 stand-in.
//!
//! NOTE: this is a stub so the LeafLink branch compiles and `Sandbox::start`
//! can start both servers; the Business Central engineer's module replaces it.
//! Every request gets an OData 404.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use tokio::sync::watch;

use crate::faults::Faults;

/// What a BC client needs.
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

/// How the BC server starts.
#[derive(Debug, Clone)]
pub struct Options {
    pub faults: Faults,
    pub rate_limits: bool,
    pub notification_delay: Duration,
    pub random_seed: u64,
}

/// A running BC stand-in; dropping it stops the server.
#[derive(Debug)]
pub struct Server {
    info: ConnectionInfo,
    faults: Faults,
    stop: watch::Sender<bool>,
}

impl Server {
    pub fn info(&self) -> ConnectionInfo {
        self.info.clone()
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts the stub on `listener`.
pub async fn start(listener: tokio::net::TcpListener, options: Options) -> anyhow::Result<Server> {
    let address: SocketAddr = listener.local_addr()?;
    let tenant_id = uuid::Uuid::nil().to_string();
    let info = ConnectionInfo {
        base_url: format!("http://{address}/v2.0/{tenant_id}/sandbox/api/v2.0"),
        token_url: format!("http://{address}/{tenant_id}/oauth2/v2.0/token"),
        tenant_id,
        environment: "sandbox".to_owned(),
        client_id: "sandbox-client".to_owned(),
        client_secret: "sandbox-secret".to_owned(),
        company_id: uuid::Uuid::nil().to_string(),
    };
    let router = axum::Router::new()
        .fallback(|| async {
            let body = serde_json::json!({"error": {"code": "BadRequest_NotFound", "message": "The Business Central sandbox is not built yet."}});
            (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
        })
        .layer(axum::middleware::from_fn_with_state(options.faults.clone(), crate::faults::inject));
    let (stop, mut stopped) = watch::channel(false);
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        if let Err(error) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
            tracing::error!(%error, "the Business Central sandbox stopped with an error");
        }
    });
    Ok(Server { info, faults: options.faults, stop })
}
