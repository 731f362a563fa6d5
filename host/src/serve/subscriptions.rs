//! The Business Central webhook subscriptions that `serve` keeps for each
//! tenant: one per entity set in `ENTITY_SETS`, created with the tenant's
//! notification URL under `--public-url` and its random `clientState`,
//! renewed before BC's 3-day expiry, and created again when BC has deleted
//! it. The subscription ids are stored in the `bc_subscriptions` tree; the
//! `clientState` is stored encrypted with the other secrets.
//!
//! BC validates a subscription on create and on every renewal by calling the
//! notification URL with `?validationToken=`. The webhook handler echoes the token for
//! that call only while `Subscriptions` has a request for that tenant in
//! flight (`expects_handshake`), so no other party can register leafbridge's
//! endpoint as a subscriber. Reference: BC API v2.0, `subscriptions`
//! (`dynamics-subscriptions.md`): PATCH with `If-Match` renews, the handshake
//! repeats on renewal, and the expiry is 3 days.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::capabilities::oauth::{TokenError, TokenSource};
use crate::store::secrets::{SecretError, SecretName, Secrets};
use crate::store::tenants::TenantError;
use crate::store::{Store, StoreError, tenant_key};
use crate::tenant::TenantSettings;

/// The tree with one `StoredSubscription` per tenant and entity set.
pub const SUBSCRIPTIONS_TREE: &str = "bc_subscriptions";

/// The BC entity sets leafbridge subscribes to: each one triggers the flows
/// that read it (see `webhooks::business_central_flows`).
pub const ENTITY_SETS: [&str; 3] = ["items", "salesOrders", "salesInvoices"];

/// A subscription is renewed once less than this is left of its expiry. BC
/// subscriptions expire 3 days after creation or renewal.
pub const DEFAULT_RENEW_BEFORE: Duration = Duration::from_secs(24 * 3600);

/// How often `serve` checks every tenant's subscriptions.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(3600);

/// Timeout of one request to BC.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest BC error body kept in an error message.
const MAX_ERROR_BODY_CHARS: usize = 300;

/// Settings of the subscription keeper.
#[derive(Debug, Clone)]
pub struct SubscriptionConfig {
    /// The public base URL that BC sends notifications to, such as
    /// `https://leafbridge.example.com/`. Without it `serve` keeps no
    /// subscriptions and BC changes arrive only through scheduled runs.
    pub public_url: Option<url::Url>,
    pub renew_before: Duration,
    pub check_interval: Duration,
}

impl Default for SubscriptionConfig {
    fn default() -> Self {
        Self { public_url: None, renew_before: DEFAULT_RENEW_BEFORE, check_interval: DEFAULT_CHECK_INTERVAL }
    }
}

/// Errors of keeping one tenant's subscriptions.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("tenant {tenant}: no BC access token: {source}")]
    Token { tenant: String, source: TokenError },
    #[error("tenant {tenant}: {action} of the {entity_set} subscription failed: {source}")]
    Request { tenant: String, entity_set: String, action: &'static str, source: reqwest::Error },
    #[error("tenant {tenant}: {action} of the {entity_set} subscription failed with HTTP {status}: {body}")]
    Status { tenant: String, entity_set: String, action: &'static str, status: u16, body: String },
    #[error("tenant {tenant}: BC returned an invalid {entity_set} subscription: {reason}")]
    InvalidReply { tenant: String, entity_set: String, reason: String },
    #[error("tenant {tenant}: invalid BC base URL or public URL: {reason}")]
    Url { tenant: String, reason: String },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tenant(#[from] TenantError),
}

impl From<sled::Error> for SubscriptionError {
    fn from(error: sled::Error) -> Self {
        Self::Store(StoreError::Sled(error))
    }
}

/// Outcome of one check of a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubscriptionAction {
    Created,
    Renewed,
    Kept,
}

/// A subscription as leafbridge stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSubscription {
    pub id: String,
    pub entity_set: String,
    pub notification_url: String,
    pub expiration: jiff::Timestamp,
}

/// The fields of a BC `subscription` entity that leafbridge reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BcSubscription {
    subscription_id: String,
    notification_url: String,
    expiration_date_time: String,
    #[serde(rename = "@odata.etag")]
    etag: Option<String>,
}

/// Keeps the tenants' subscriptions and tracks which tenants expect a
/// validation handshake.
#[derive(Debug)]
pub struct Subscriptions {
    config: SubscriptionConfig,
    client: reqwest::Client,
    handshakes: Mutex<HashMap<String, usize>>,
}

/// Marks a tenant as expecting a handshake until dropped.
struct HandshakeWindow<'a> {
    subscriptions: &'a Subscriptions,
    tenant: String,
}

impl Drop for HandshakeWindow<'_> {
    fn drop(&mut self) {
        let mut handshakes = lock(&self.subscriptions.handshakes);
        if let Some(count) = handshakes.get_mut(&self.tenant) {
            *count -= 1;
            if *count == 0 {
                handshakes.remove(&self.tenant);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Subscriptions {
    pub fn new(config: SubscriptionConfig) -> Self {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            // BC serves subscription requests itself, so a redirect would only
            // carry the bearer token to another address.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self { config, client, handshakes: Mutex::new(HashMap::new()) }
    }

    /// Creates a keeper without a public URL. It keeps no subscriptions and
    /// validates no handshake.
    pub fn disabled() -> Self {
        Self::new(SubscriptionConfig::default())
    }

    pub fn config(&self) -> &SubscriptionConfig {
        &self.config
    }

    /// Reports whether a create or renew request of `tenant` is in flight,
    /// which is the only time BC's validation handshake is expected.
    pub fn expects_handshake(&self, tenant: &str) -> bool {
        lock(&self.handshakes).contains_key(tenant)
    }

    fn open_handshake(&self, tenant: &str) -> HandshakeWindow<'_> {
        *lock(&self.handshakes).entry(tenant.to_owned()).or_default() += 1;
        HandshakeWindow { subscriptions: self, tenant: tenant.to_owned() }
    }

    /// Returns the URL BC posts `tenant`'s notifications to.
    pub fn notification_url(&self, tenant: &str) -> Option<url::Url> {
        let mut url = self.config.public_url.clone()?;
        url.path_segments_mut().ok()?.pop_if_empty().extend(["webhooks", "business-central", tenant]);
        Some(url)
    }

    /// Checks every registered tenant's subscriptions every `check_interval`
    /// until `shutdown` turns true. Does nothing without a public URL.
    pub async fn run(self: Arc<Self>, store: Store, secrets: Secrets, mut shutdown: watch::Receiver<bool>) {
        if self.config.public_url.is_none() {
            info!("no --public-url is set, so serve keeps no Business Central webhook subscriptions");
            return;
        }
        loop {
            self.check_all(&store, &secrets).await;
            tokio::select! {
                _ = tokio::time::sleep(self.config.check_interval) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// Checks the subscriptions of every tenant that has a BC client secret,
    /// logging each failure with the tenant.
    pub async fn check_all(&self, store: &Store, secrets: &Secrets) {
        let tenants = match store.tenants().map_err(TenantError::from).and_then(|tenants| tenants.list()) {
            Ok(tenants) => tenants,
            Err(error) => {
                warn!(%error, "cannot list tenants to check their Business Central subscriptions");
                return;
            }
        };
        for settings in tenants {
            match secrets.is_set(&settings.name, SecretName::BusinessCentralClientSecret) {
                Ok(true) => {}
                Ok(false) => {
                    debug!(tenant = %settings.name, "no BC client secret is set; no webhook subscriptions kept");
                    continue;
                }
                Err(error) => {
                    warn!(tenant = %settings.name, %error, "cannot read the BC client secret");
                    continue;
                }
            }
            if let Err(error) = self.check_tenant(store, secrets, &settings).await {
                warn!(tenant = %settings.name, %error, "Business Central subscription check failed; retrying at the next check");
            }
        }
    }

    /// Creates, renews or keeps each of the tenant's subscriptions and
    /// returns what it did per entity set.
    pub async fn check_tenant(
        &self,
        store: &Store,
        secrets: &Secrets,
        settings: &TenantSettings,
    ) -> Result<Vec<(String, SubscriptionAction)>, SubscriptionError> {
        let tenant = settings.name.as_str();
        let url_error = |reason: &str| SubscriptionError::Url { tenant: tenant.to_owned(), reason: reason.to_owned() };
        let notification_url = self.notification_url(tenant).ok_or_else(|| url_error("no public URL is set"))?;
        let business_central = &settings.business_central;
        let client_secret = secrets.require(tenant, SecretName::BusinessCentralClientSecret)?;
        let tokens = TokenSource::new(
            business_central.token_url.clone(),
            business_central.client_id.clone(),
            client_secret,
            business_central.scope.clone(),
        );
        let bearer = tokens
            .bearer(&self.client, None)
            .await
            .map_err(|source| SubscriptionError::Token { tenant: tenant.to_owned(), source })?;
        let client_state = secrets.client_state(tenant)?;
        let tree = store.tree(SUBSCRIPTIONS_TREE)?;
        let endpoint = Endpoint {
            client: &self.client,
            tenant,
            base_url: business_central.base_url.trim_end_matches('/'),
            bearer: bearer.expose(),
        };

        let mut actions = Vec::new();
        for entity_set in ENTITY_SETS {
            let key = tenant_key(tenant, entity_set);
            let stored: Option<StoredSubscription> = match tree.get(&key)? {
                Some(bytes) => serde_json::from_slice(&bytes).ok(),
                None => None,
            };
            let current = match &stored {
                Some(stored) => endpoint.get(entity_set, &stored.id).await?,
                None => None,
            };
            let (subscription, action) = match current {
                Some(current) if !self.needs_renewal(&current, notification_url.as_str(), tenant, entity_set)? => {
                    (current, SubscriptionAction::Kept)
                }
                Some(current) => {
                    let _window = self.open_handshake(tenant);
                    let renewed = endpoint.renew(entity_set, &current, notification_url.as_str(), client_state.expose()).await?;
                    (renewed, SubscriptionAction::Renewed)
                }
                None => {
                    if stored.is_some() {
                        info!(tenant, entity_set, "the Business Central subscription is gone; creating it again");
                    }
                    let resource = format!("/api/v2.0/companies({})/{entity_set}", business_central.company_id);
                    let _window = self.open_handshake(tenant);
                    let created =
                        endpoint.create(entity_set, &resource, notification_url.as_str(), client_state.expose()).await?;
                    (created, SubscriptionAction::Created)
                }
            };
            let record = StoredSubscription {
                id: subscription.subscription_id.clone(),
                entity_set: entity_set.to_owned(),
                notification_url: subscription.notification_url.clone(),
                expiration: parse_expiration(&subscription, tenant, entity_set)?,
            };
            if action != SubscriptionAction::Kept {
                info!(tenant, entity_set, subscription = %record.id, expiration = %record.expiration, ?action, "Business Central subscription updated");
            }
            if stored.as_ref() != Some(&record) {
                let bytes = serde_json::to_vec(&record).expect("a record of strings and a timestamp always serializes");
                tree.insert(&key, bytes)?;
                tree.flush()?;
            }
            actions.push((entity_set.to_owned(), action));
        }
        Ok(actions)
    }

    fn needs_renewal(&self, current: &BcSubscription, notification_url: &str, tenant: &str, entity_set: &str) -> Result<bool, SubscriptionError> {
        if current.notification_url != notification_url {
            return Ok(true);
        }
        let expiration = parse_expiration(current, tenant, entity_set)?;
        let renew_before = jiff::SignedDuration::try_from(self.config.renew_before).unwrap_or(jiff::SignedDuration::MAX);
        let left = expiration.duration_since(jiff::Timestamp::now());
        Ok(left <= renew_before)
    }
}

/// Returns the stored subscriptions of `tenant`.
pub fn stored(store: &Store, tenant: &str) -> Result<Vec<StoredSubscription>, SubscriptionError> {
    let tree = store.tree(SUBSCRIPTIONS_TREE)?;
    let mut subscriptions = Vec::new();
    for entry in tree.scan_prefix(tenant_key(tenant, "")) {
        let (key, bytes) = entry?;
        let record = serde_json::from_slice(&bytes).map_err(|error| StoreError::Corrupt {
            key: String::from_utf8_lossy(&key).replace('\0', "/"),
            reason: error.to_string(),
        })?;
        subscriptions.push(record);
    }
    Ok(subscriptions)
}

fn parse_expiration(subscription: &BcSubscription, tenant: &str, entity_set: &str) -> Result<jiff::Timestamp, SubscriptionError> {
    subscription.expiration_date_time.parse().map_err(|error| SubscriptionError::InvalidReply {
        tenant: tenant.to_owned(),
        entity_set: entity_set.to_owned(),
        reason: format!("invalid expirationDateTime {:?}: {error}", subscription.expiration_date_time),
    })
}

/// The `subscriptions` endpoint of one tenant's BC environment, with a token.
struct Endpoint<'a> {
    client: &'a reqwest::Client,
    tenant: &'a str,
    base_url: &'a str,
    bearer: &'a str,
}

impl Endpoint<'_> {
    /// Reads a subscription; `None` when BC no longer has it.
    async fn get(&self, entity_set: &str, id: &str) -> Result<Option<BcSubscription>, SubscriptionError> {
        let url = format!("{}/subscriptions('{id}')", self.base_url);
        let request = self.client.get(url).bearer_auth(self.bearer);
        let response = self.send(request, entity_set, "reading").await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        self.parse(response, entity_set, "reading").await.map(Some)
    }

    async fn create(&self, entity_set: &str, resource: &str, notification_url: &str, client_state: &str) -> Result<BcSubscription, SubscriptionError> {
        let url = format!("{}/subscriptions", self.base_url);
        let body = json!({ "notificationUrl": notification_url, "resource": resource, "clientState": client_state });
        let request = self.client.post(url).bearer_auth(self.bearer).json(&body);
        let response = self.send(request, entity_set, "creation").await?;
        self.parse(response, entity_set, "creation").await
    }

    /// Renews with PATCH and `If-Match`, which also restarts the expiry. The
    /// body repeats the URL and `clientState`, so a changed public URL takes
    /// effect here.
    async fn renew(&self, entity_set: &str, current: &BcSubscription, notification_url: &str, client_state: &str) -> Result<BcSubscription, SubscriptionError> {
        let url = format!("{}/subscriptions('{}')", self.base_url, current.subscription_id);
        let body = json!({ "notificationUrl": notification_url, "clientState": client_state });
        let request = self
            .client
            .patch(url)
            .bearer_auth(self.bearer)
            .header(reqwest::header::IF_MATCH, current.etag.as_deref().unwrap_or("*"))
            .json(&body);
        let response = self.send(request, entity_set, "renewal").await?;
        self.parse(response, entity_set, "renewal").await
    }

    async fn send(&self, request: reqwest::RequestBuilder, entity_set: &str, action: &'static str) -> Result<reqwest::Response, SubscriptionError> {
        request.send().await.map_err(|source| SubscriptionError::Request {
            tenant: self.tenant.to_owned(),
            entity_set: entity_set.to_owned(),
            action,
            source: source.without_url(),
        })
    }

    async fn parse(&self, response: reqwest::Response, entity_set: &str, action: &'static str) -> Result<BcSubscription, SubscriptionError> {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(SubscriptionError::Status {
                tenant: self.tenant.to_owned(),
                entity_set: entity_set.to_owned(),
                action,
                status: status.as_u16(),
                body: text.chars().take(MAX_ERROR_BODY_CHARS).collect(),
            });
        }
        let value: Value = serde_json::from_str(&text).map_err(|error| SubscriptionError::InvalidReply {
            tenant: self.tenant.to_owned(),
            entity_set: entity_set.to_owned(),
            reason: error.to_string(),
        })?;
        serde_json::from_value(value).map_err(|error| SubscriptionError::InvalidReply {
            tenant: self.tenant.to_owned(),
            entity_set: entity_set.to_owned(),
            reason: error.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_url_under_public_url() {
        let with_path = SubscriptionConfig { public_url: Some("https://hooks.example.com/leafbridge/".parse().unwrap()), ..Default::default() };
        let url = Subscriptions::new(with_path).notification_url("acme").unwrap();
        assert_eq!(url.as_str(), "https://hooks.example.com/leafbridge/webhooks/business-central/acme");

        let bare = SubscriptionConfig { public_url: Some("http://127.0.0.1:8080".parse().unwrap()), ..Default::default() };
        let url = Subscriptions::new(bare).notification_url("acme").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/webhooks/business-central/acme");

        assert!(Subscriptions::disabled().notification_url("acme").is_none());
    }

    #[test]
    fn handshake_expected_only_while_open() {
        let subscriptions = Subscriptions::disabled();
        assert!(!subscriptions.expects_handshake("acme"));
        {
            let _outer = subscriptions.open_handshake("acme");
            let inner = subscriptions.open_handshake("acme");
            assert!(subscriptions.expects_handshake("acme"));
            assert!(!subscriptions.expects_handshake("other"));
            drop(inner);
            assert!(subscriptions.expects_handshake("acme"), "one request is still in flight");
        }
        assert!(!subscriptions.expects_handshake("acme"));
    }
}
