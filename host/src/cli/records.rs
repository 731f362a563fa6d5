//! The record source of the read-only commands (`status`, `runs`,
//! `conflicts`, `dead-letters list`, `tenant list`): the store itself, or,
//! while `leafbridge serve` has the store's lock, serve's admin API, found
//! through the address file serve writes into the home directory. `run`
//! uses the same client to ask serve for a run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::Home;
use super::serve::ADMIN_TOKEN_ENV;
use crate::store::{Conflict, DeadLetter, RunRecord, Store, StoreError};
use crate::tenant::TenantSettings;
use crate::tenant::status::{TenantStatus, tenant_status};

/// The file in the home directory where a running `serve` records how to
/// reach it.
const SERVE_FILE: &str = "serve.json";

/// The contents of [`SERVE_FILE`] while serve runs.
#[derive(Debug, Serialize, Deserialize)]
pub struct ServeAddress {
    /// The base URL of the admin API's server, on loopback when serve
    /// listens on every address.
    pub url: String,
    pub pid: u32,
}

/// Returns the path of the address file in `home`.
pub fn serve_file(home: &Home) -> PathBuf {
    home.root().join(SERVE_FILE)
}

/// The source of the read-only commands' records.
pub enum Records {
    Local(Store),
    Remote(AdminClient),
}

impl Records {
    /// Opens the store, or, when `serve` has it locked, connects to serve's
    /// admin API and prints a note about it on stderr.
    pub async fn open(home: &Home) -> anyhow::Result<Records> {
        match Store::open(&home.store_dir()) {
            Ok(store) => Ok(Records::Local(store)),
            Err(locked @ StoreError::Locked { .. }) => {
                let client = AdminClient::for_locked_store(home, locked)?;
                eprintln!(
                    "note: the store is locked by leafbridge serve (pid {}), so this reads through its admin API at {}",
                    client.address.pid, client.address.url
                );
                Ok(Records::Remote(client))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Returns the settings of all registered tenants.
    pub async fn tenants(&self) -> anyhow::Result<Vec<TenantSettings>> {
        match self {
            Records::Local(store) => Ok(store.tenants()?.list()?),
            Records::Remote(client) => client.get("tenants").await,
        }
    }

    /// Returns the names of all registered tenants.
    pub async fn tenant_names(&self) -> anyhow::Result<Vec<String>> {
        Ok(self.tenants().await?.into_iter().map(|settings| settings.name).collect())
    }

    /// Returns the tenant's name, or an error when no such tenant is registered.
    pub async fn require_tenant(&self, tenant: &str) -> anyhow::Result<String> {
        let settings: TenantSettings = match self {
            Records::Local(store) => store.tenants()?.require(tenant)?,
            Records::Remote(client) => client.get(&format!("tenants/{tenant}")).await?,
        };
        Ok(settings.name)
    }

    pub async fn status(&self, tenant: &str) -> anyhow::Result<TenantStatus> {
        match self {
            Records::Local(store) => Ok(tenant_status(store, tenant)?),
            Records::Remote(client) => client.get(&format!("tenants/{tenant}/status")).await,
        }
    }

    /// Returns the tenant's runs, oldest first.
    pub async fn runs(&self, tenant: &str) -> anyhow::Result<Vec<RunRecord>> {
        match self {
            Records::Local(store) => Ok(store.runs(tenant)?),
            Records::Remote(client) => client.get(&format!("tenants/{tenant}/runs")).await,
        }
    }

    pub async fn dead_letters(&self, tenant: &str) -> anyhow::Result<Vec<DeadLetter>> {
        match self {
            Records::Local(store) => Ok(store.dead_letters(tenant)?),
            Records::Remote(client) => client.get(&format!("tenants/{tenant}/dead-letters")).await,
        }
    }

    pub async fn conflicts(&self, tenant: &str) -> anyhow::Result<Vec<Conflict>> {
        match self {
            Records::Local(store) => Ok(store.conflicts(tenant)?),
            Records::Remote(client) => client.get(&format!("tenants/{tenant}/conflicts")).await,
        }
    }
}

/// How long a request to the admin API may take, except a run request that
/// waits for its run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of a running serve's admin API.
pub struct AdminClient {
    address: ServeAddress,
    token: String,
    http: reqwest::Client,
}

impl AdminClient {
    /// Returns a client for the serve recorded in `home`, or `None` when no
    /// serve recorded its address there.
    fn for_home(home: &Home) -> anyhow::Result<Option<AdminClient>> {
        let path = serve_file(home);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
        };
        let address: ServeAddress =
            serde_json::from_str(&text).with_context(|| format!("{} is not a serve address file", path.display()))?;
        let token = admin_token(home.root())?;
        let http = reqwest::Client::builder()
            .build()
            .context("cannot build an HTTP client for the admin API")?;
        Ok(Some(AdminClient { address, token, http }))
    }

    /// Returns a client for the serve that holds the store's lock in `home`,
    /// or the lock error itself when no serve recorded its address there.
    pub fn for_locked_store(home: &Home, locked: StoreError) -> anyhow::Result<AdminClient> {
        match AdminClient::for_home(home)? {
            Some(client) => Ok(client),
            None => Err(locked.into()),
        }
    }

    /// Returns the process id of the serve this client talks to.
    pub fn serve_pid(&self) -> u32 {
        self.address.pid
    }

    /// Sends `GET /api/v1/<path>` and decodes the JSON response.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send(reqwest::Method::GET, path).await
    }

    /// Sends `POST /api/v1/<path>` without a body and decodes the JSON
    /// response, without a timeout, because serve responds to a run request
    /// with `wait=true` only when the run has finished.
    pub async fn post_and_wait<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send_with_timeout(reqwest::Method::POST, path, Duration::MAX).await
    }

    async fn send<T: DeserializeOwned>(&self, method: reqwest::Method, path: &str) -> anyhow::Result<T> {
        self.send_with_timeout(method, path, REQUEST_TIMEOUT).await
    }

    async fn send_with_timeout<T: DeserializeOwned>(&self, method: reqwest::Method, path: &str, timeout: Duration) -> anyhow::Result<T> {
        let url = format!("{}/api/v1/{path}", self.address.url.trim_end_matches('/'));
        let mut request = self.http.request(method.clone(), &url).bearer_auth(&self.token);
        if timeout != Duration::MAX {
            request = request.timeout(timeout);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach leafbridge serve at {}", self.address.url))?;
        let status = response.status();
        let body = response.bytes().await.with_context(|| format!("cannot read the response to {method} {url}"))?;
        if status.is_success() {
            return serde_json::from_slice(&body).with_context(|| format!("the response to {method} {url} is not valid JSON"));
        }
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|value| value["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
        if status == reqwest::StatusCode::UNAUTHORIZED {
            bail!("serve's admin API rejected the token: set {ADMIN_TOKEN_ENV} to the token serve uses");
        }
        bail!("{message}")
    }
}

/// Reads the admin token from the environment, else from `<home>/admin.token`.
fn admin_token(home: &Path) -> anyhow::Result<String> {
    if let Ok(token) = std::env::var(ADMIN_TOKEN_ENV) {
        return Ok(token);
    }
    let path = home.join("admin.token");
    match std::fs::read_to_string(&path) {
        Ok(token) => Ok(token.trim().to_owned()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            bail!("the store is locked by leafbridge serve and no admin token was found: set {ADMIN_TOKEN_ENV} to the token serve uses")
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}
