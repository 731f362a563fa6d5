//! What a plugin may import: `http`, `log`, `clock` and `settings`, and the
//! per-tenant context behind them (name, limits, settings, credentials).
//! No secret reaches a plugin, because the host attaches credentials to
//! requests after they leave the guest.

pub mod allow_list;
mod endpoints;
pub mod http;
pub mod oauth;
pub mod pacing;
pub mod rejection;
pub mod secret;
pub mod settings;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use sha2::{Digest, Sha256};

pub use allow_list::{AllowList, Api, InvalidBaseUrl};
pub use http::HttpCapability;
pub use oauth::TokenSource;
pub use pacing::Pacer;
pub use rejection::{Credential, CredentialRejection};
pub use secret::{Secret, TenantSecrets};

use crate::tenant::{LimitSettings, TenantSettings};

/// Request counts of one tenant since its context was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiCounters {
    /// Requests sent to LeafLink, each retry included.
    pub leaflink_requests: u64,
    /// Requests sent to BC, each retry included; token requests are not.
    pub business_central_requests: u64,
    /// BC operations: one per plain request, one per inner request of a
    /// `$batch`, each retry included.
    pub business_central_operations: u64,
    /// 429 responses from LeafLink.
    pub leaflink_throttled: u64,
    /// 429 responses from BC.
    pub business_central_throttled: u64,
    /// Requests repeated after a 429, a 5xx or a connection error.
    pub retries: u64,
}

/// A tenant's context could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("tenant {tenant}: {source}")]
    InvalidBaseUrl { tenant: String, source: InvalidBaseUrl },
    #[error("tenant {tenant}: cannot build the HTTP client: {reason}")]
    HttpClient { tenant: String, reason: String },
}

/// Everything a plugin call needs to know about its tenant. One per tenant,
/// shared by all of its calls.
#[derive(Debug)]
pub struct TenantContext {
    name: String,
    limit_settings: LimitSettings,
    settings: BTreeMap<String, String>,
    http: HttpCapability,
}

impl TenantContext {
    pub fn new(settings: &TenantSettings, secrets: TenantSecrets) -> Result<Arc<Self>, ContextError> {
        let tenant = settings.name.clone();
        let bc = &settings.business_central;
        let allow_list = AllowList::new(&settings.leaflink.base_url, &bc.base_url, &bc.token_url)
            .map_err(|source| ContextError::InvalidBaseUrl { tenant: tenant.clone(), source })?;

        // Pacers and token caches are keyed by a digest of the credential.
        // Tenants sharing a LeafLink key or a BC identity thus share its limits
        // and its token, and the registries never store the secret itself.
        let leaflink_key = format!("leaflink:{}", digest(&[secrets.leaflink_api_key.expose()]));
        let leaflink_pacer = pacing::shared_pacer(&leaflink_key, Pacer::leaflink);
        let identity = digest(&[&bc.token_url, &bc.client_id, bc.scope.as_deref().unwrap_or("")]);
        let business_central_pacer = pacing::shared_pacer(&format!("business-central:{identity}"), Pacer::business_central);
        let tokens = shared_token_source(
            &format!("{identity}:{}", digest(&[secrets.business_central_client_secret.expose()])),
            || {
                TokenSource::new(
                    bc.token_url.clone(),
                    bc.client_id.clone(),
                    secrets.business_central_client_secret.clone(),
                    bc.scope.clone(),
                )
            },
        );

        let http = HttpCapability::new(
            tenant.clone(),
            allow_list,
            secrets.leaflink_api_key,
            leaflink_pacer,
            tokens,
            business_central_pacer,
        )
        .map_err(|error| ContextError::HttpClient { tenant: tenant.clone(), reason: error.to_string() })?;

        Ok(Arc::new(Self {
            name: tenant,
            limit_settings: settings.limits.clone(),
            settings: settings::plugin_settings(settings),
            http,
        }))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the tenant's own limit settings, before clamping to the host bounds.
    pub fn limit_settings(&self) -> &LimitSettings {
        &self.limit_settings
    }

    /// Returns the keys and values the `settings` import serves.
    pub fn settings(&self) -> &BTreeMap<String, String> {
        &self.settings
    }

    pub fn http(&self) -> &HttpCapability {
        &self.http
    }

    /// Returns the tenant's request counts by endpoint since its context was
    /// created, each retry included. A BC `$batch` counts once as itself and
    /// once per inner request under `business-central $batch: ...`.
    pub fn api_requests_by_endpoint(&self) -> BTreeMap<String, u64> {
        self.http.counters.endpoints.snapshot()
    }

    pub fn api_counters(&self) -> ApiCounters {
        let counters = &self.http.counters;
        ApiCounters {
            leaflink_requests: counters.leaflink_requests.load(Ordering::Relaxed),
            business_central_requests: counters.business_central_requests.load(Ordering::Relaxed),
            business_central_operations: counters.business_central_operations.load(Ordering::Relaxed),
            leaflink_throttled: counters.leaflink_throttled.load(Ordering::Relaxed),
            business_central_throttled: counters.business_central_throttled.load(Ordering::Relaxed),
            retries: counters.retries.load(Ordering::Relaxed),
        }
    }
}

fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

static TOKEN_SOURCES: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, std::sync::Weak<TokenSource>>>> =
    std::sync::LazyLock::new(Default::default);

fn shared_token_source(key: &str, make: impl FnOnce() -> TokenSource) -> Arc<TokenSource> {
    let mut registry = TOKEN_SOURCES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(source) = registry.get(key).and_then(std::sync::Weak::upgrade) {
        return source;
    }
    registry.retain(|_, source| source.strong_count() > 0);
    let source = Arc::new(make());
    registry.insert(key.to_owned(), Arc::downgrade(&source));
    source
}
