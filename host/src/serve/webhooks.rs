//! Webhook receivers. Both treat a notification as a trigger only: the flow
//! re-reads the records through the connectors, because neither payload is the
//! API's canonical shape (LeafLink sends its internal serializer, Business
//! Central sends no entity data at all).
//!
//! LeafLink: `LL-Signature` is base64(HMAC-SHA256(company webhook key, raw
//! body)); LeafLink documents no timestamp, so there is no replay check.
//! Business Central: the subscription validation handshake echoes
//! `validationToken` while `serve` is creating or renewing one of the
//! tenant's subscriptions, and every notification must carry the tenant's
//! `clientState`. A `collection` notification (more than 1,000 changes in
//! BC's coalescing window) triggers the same flows, which re-query everything
//! changed since their cursor instead of following single records. BC deletes a subscription when the endpoint responds with anything
//! but 2xx, 408, 429 or 5xx, so a rejected notification gets 401 on purpose.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tracing::{info, warn};

use super::AppState;
use crate::schedule::{Trigger, check_flow};
use crate::store::secrets::SecretName;
use crate::tenant::{ProductMaster, TenantSettings};

/// The header that carries LeafLink's signature.
pub const LEAFLINK_SIGNATURE_HEADER: &str = "LL-Signature";
/// The longest `validationToken` echoed back; BC's tokens are far shorter.
const MAX_VALIDATION_TOKEN_LEN: usize = 4096;

/// Computes the `LL-Signature` value for `body`.
pub fn leaflink_signature(webhook_key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(webhook_key).expect("HMAC accepts keys of any length");
    mac.update(body);
    BASE64.encode(mac.finalize().into_bytes())
}

/// Checks `signature` against the body in constant time.
pub fn verify_leaflink_signature(webhook_key: &[u8], body: &[u8], signature: &str) -> bool {
    let Ok(claimed) = BASE64.decode(signature.trim()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(webhook_key).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.verify_slice(&claimed).is_ok()
}

#[derive(Debug, Deserialize)]
struct LeafLinkEnvelope {
    #[serde(default)]
    action: Option<String>,
    data: serde_json::Value,
}

/// `POST /webhooks/leaflink/{tenant}`: verifies the signature, then triggers
/// the flows that read the changed order or product.
pub async fn leaflink(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // An unknown tenant, a missing key and a bad signature all get the same
    // 401, so the endpoint does not reveal which tenants exist.
    let settings = match state.store.tenants().map(|tenants| tenants.get(&tenant)) {
        Ok(Ok(Some(settings))) => settings,
        Ok(Ok(None)) => return reject(&state, "leaflink", &tenant, "unknown tenant"),
        Ok(Err(error)) => return internal_error(&tenant, &error.to_string()),
        Err(error) => return internal_error(&tenant, &error.to_string()),
    };
    let key = match state.secrets.get(&tenant, SecretName::LeafLinkWebhookKey) {
        Ok(Some(key)) => key,
        Ok(None) => return reject(&state, "leaflink", &tenant, "leaflink.webhook_key is not set"),
        Err(error) => return internal_error(&tenant, &error.to_string()),
    };
    let Some(signature) = headers.get(LEAFLINK_SIGNATURE_HEADER).and_then(|value| value.to_str().ok()) else {
        return reject(&state, "leaflink", &tenant, "missing LL-Signature header");
    };
    if !verify_leaflink_signature(key.expose().as_bytes(), &body, signature) {
        return reject(&state, "leaflink", &tenant, "LL-Signature does not match the body");
    }

    let envelope: LeafLinkEnvelope = match serde_json::from_slice(&body) {
        Ok(envelope) => envelope,
        Err(error) => {
            state.metrics.webhook("leaflink", "invalid");
            warn!(tenant = %tenant, %error, "LeafLink webhook body is not the expected JSON envelope");
            return (StatusCode::BAD_REQUEST, format!("invalid webhook body: {error}\n")).into_response();
        }
    };
    let flows = leaflink_flows(&settings, &envelope);
    if flows.is_empty() {
        state.metrics.webhook("leaflink", "invalid");
        warn!(tenant = %tenant, "LeafLink webhook names neither an order nor a product");
        return (StatusCode::BAD_REQUEST, "the webhook data is neither an order nor a product\n").into_response();
    }

    for flow in &flows {
        let result = state.scheduler.trigger(&tenant, flow, Trigger::Webhook);
        info!(tenant = %tenant, flow = %flow, action = envelope.action.as_deref().unwrap_or(""), ?result, "LeafLink webhook triggered a flow");
    }
    state.metrics.webhook("leaflink", "accepted");
    (StatusCode::ACCEPTED, axum::Json(serde_json::json!({ "triggered": flows }))).into_response()
}

/// Picks the flows for a LeafLink webhook. Orders carry a `number` UUID and
/// line items (`orderedproduct_set` in the webhook serializer); products
/// carry a `sku`.
fn leaflink_flows(settings: &TenantSettings, envelope: &LeafLinkEnvelope) -> Vec<&'static str> {
    let data = &envelope.data;
    let is_order = data.get("orderedproduct_set").is_some() || (data.get("number").is_some() && data.get("sku").is_none());
    let is_product = !is_order && data.get("sku").is_some();

    let candidates: &[&'static str] = if is_order {
        &["orders-import", "orders-pull"]
    } else if is_product {
        match settings.product_master {
            ProductMaster::LeafLink => &["products-import", "products-pull"],
            ProductMaster::BusinessCentral => &["products-pull"],
        }
    } else {
        &[]
    };
    candidates.iter().copied().filter(|flow| check_flow(settings, flow).is_ok()).collect()
}

#[derive(Debug, Deserialize)]
pub struct HandshakeQuery {
    #[serde(rename = "validationToken")]
    validation_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NotificationBatch {
    value: Vec<Notification>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    #[serde(default)]
    client_state: Option<String>,
    resource: String,
    #[serde(default)]
    change_type: Option<String>,
}

/// `GET|POST /webhooks/business-central/{tenant}`: responds to the validation
/// handshake, or checks `clientState` on every notification and triggers the
/// matching flows.
pub async fn business_central(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(query): Query<HandshakeQuery>,
    body: Bytes,
) -> Response {
    // Every response before the clientState check is the same for a tenant
    // that exists and one that does not, so the endpoint does not tell an
    // unauthenticated caller which tenants exist.
    let settings = match state.store.tenants().map(|tenants| tenants.get(&tenant)) {
        Ok(Ok(settings)) => settings,
        Ok(Err(error)) => return internal_error(&tenant, &error.to_string()),
        Err(error) => return internal_error(&tenant, &error.to_string()),
    };

    if let Some(token) = query.validation_token {
        // Only a create or renew request that leafbridge sent itself may be
        // validated; otherwise anyone could subscribe this endpoint to a BC
        // environment of their own and trigger runs.
        if !state.subscriptions.expects_handshake(&tenant) {
            return reject(&state, "business-central", &tenant, "validation handshake without a subscription request in flight");
        }
        if token.len() > MAX_VALIDATION_TOKEN_LEN {
            state.metrics.webhook("business-central", "invalid");
            return (StatusCode::BAD_REQUEST, "validationToken is too long\n").into_response();
        }
        state.metrics.webhook("business-central", "handshake");
        info!(tenant = %tenant, "responded to the Business Central subscription handshake");
        return (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], token).into_response();
    }

    let batch: NotificationBatch = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(error) => {
            state.metrics.webhook("business-central", "invalid");
            warn!(tenant = %tenant, %error, "Business Central notification body is not valid JSON");
            return (StatusCode::BAD_REQUEST, format!("invalid notification body: {error}\n")).into_response();
        }
    };
    let Some(settings) = settings else {
        return reject(&state, "business-central", &tenant, "unknown tenant");
    };
    if batch.value.is_empty() {
        return reject(&state, "business-central", &tenant, "no notification carries a clientState");
    }
    let expected = match state.secrets.get(&tenant, SecretName::BusinessCentralClientState) {
        Ok(Some(expected)) => expected,
        Ok(None) => return reject(&state, "business-central", &tenant, "no subscription clientState is stored"),
        Err(error) => return internal_error(&tenant, &error.to_string()),
    };
    let all_match = batch.value.iter().all(|notification| {
        let claimed = notification.client_state.as_deref().unwrap_or("");
        bool::from(claimed.as_bytes().ct_eq(expected.expose().as_bytes()))
    });
    if !all_match {
        return reject(&state, "business-central", &tenant, "clientState does not match");
    }

    let mut flows: Vec<&'static str> = Vec::new();
    for notification in &batch.value {
        for flow in business_central_flows(&notification.resource) {
            if check_flow(&settings, flow).is_ok() && !flows.contains(flow) {
                flows.push(flow);
            }
        }
        if notification.change_type.as_deref() == Some("collection") {
            info!(tenant = %tenant, entity_set = entity_set(&notification.resource).unwrap_or(""), "collection notification: the triggered flows re-query since their cursor");
        }
        info!(
            tenant = %tenant,
            change = notification.change_type.as_deref().unwrap_or(""),
            entity_set = entity_set(&notification.resource).unwrap_or(""),
            "Business Central notification received"
        );
    }
    for flow in &flows {
        let result = state.scheduler.trigger(&tenant, flow, Trigger::Webhook);
        info!(tenant = %tenant, flow = %flow, ?result, "Business Central notification triggered a flow");
    }
    state.metrics.webhook("business-central", "accepted");
    (StatusCode::ACCEPTED, axum::Json(serde_json::json!({ "triggered": flows }))).into_response()
}

/// Extracts the entity set a notification `resource` names, e.g. `items` in
/// `api/v2.0/companies(<id>)/items(<id>)` or in a `collection` resource with a
/// `$filter`.
fn entity_set(resource: &str) -> Option<&str> {
    let path = resource.split('?').next()?;
    let last = path.trim_end_matches('/').rsplit('/').next()?;
    let name = last.split('(').next()?;
    if name.is_empty() { None } else { Some(name) }
}

/// Returns the flows that read changes of a BC entity set.
fn business_central_flows(resource: &str) -> &'static [&'static str] {
    match entity_set(resource) {
        Some("items") => &["products-push", "inventory-push"],
        Some("salesOrders") => &["orders-push"],
        Some("salesInvoices" | "customerPayments" | "customerPaymentJournals") => &["payments-push"],
        _ => &[],
    }
}

fn reject(state: &AppState, source: &'static str, tenant: &str, reason: &str) -> Response {
    state.metrics.webhook(source, "rejected");
    let decision = REJECTION_LOG.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).decide(std::time::Instant::now());
    if decision.unlogged_before > 0 {
        warn!(
            count = decision.unlogged_before,
            "more webhooks were rejected in the last minute than are logged one by one; /metrics counts every one"
        );
    }
    if decision.log {
        // The tenant comes from the URL path of an unauthenticated request, so
        // it is logged with its control characters escaped.
        warn!(tenant = ?tenant, source, reason, "webhook rejected");
    }
    (StatusCode::UNAUTHORIZED, "webhook rejected\n").into_response()
}

/// Anyone can send requests that get rejected, so their log lines are
/// limited: the first [`RejectionLog::PER_MINUTE`] of each minute are logged
/// one by one, and the rest as one count, logged with the first rejection
/// of a later minute.
static REJECTION_LOG: std::sync::Mutex<RejectionLog> = std::sync::Mutex::new(RejectionLog::new());

/// The log budget of rejected webhooks.
#[derive(Debug)]
struct RejectionLog {
    window_start: Option<std::time::Instant>,
    logged: u32,
    unlogged: u64,
}

/// The log lines due for one rejected webhook.
#[derive(Debug, PartialEq, Eq)]
struct LogDecision {
    /// Log this rejection on its own line.
    log: bool,
    /// Rejections of the last minute that were not logged, to report first.
    unlogged_before: u64,
}

impl RejectionLog {
    const PER_MINUTE: u32 = 10;
    const WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

    const fn new() -> Self {
        Self { window_start: None, logged: 0, unlogged: 0 }
    }

    fn decide(&mut self, now: std::time::Instant) -> LogDecision {
        let mut unlogged_before = 0;
        if self.window_start.is_none_or(|start| now.duration_since(start) >= Self::WINDOW) {
            unlogged_before = std::mem::take(&mut self.unlogged);
            self.window_start = Some(now);
            self.logged = 0;
        }
        let log = self.logged < Self::PER_MINUTE;
        if log {
            self.logged += 1;
        } else {
            self.unlogged += 1;
        }
        LogDecision { log, unlogged_before }
    }
}

fn internal_error(tenant: &str, reason: &str) -> Response {
    tracing::error!(tenant = ?tenant, reason, "webhook could not be processed");
    // 500 makes BC retry instead of deleting the subscription.
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_logged_ten_per_minute() {
        let mut budget = RejectionLog::new();
        let start = std::time::Instant::now();
        for _ in 0..RejectionLog::PER_MINUTE {
            assert_eq!(budget.decide(start), LogDecision { log: true, unlogged_before: 0 });
        }
        for _ in 0..5 {
            assert_eq!(budget.decide(start + std::time::Duration::from_secs(30)), LogDecision { log: false, unlogged_before: 0 });
        }
        // The next minute reports the five unlogged ones and logs again.
        let next = start + RejectionLog::WINDOW;
        assert_eq!(budget.decide(next), LogDecision { log: true, unlogged_before: 5 });
        assert_eq!(budget.decide(next), LogDecision { log: true, unlogged_before: 0 });
    }

    #[test]
    fn signature_round_trip() {
        let signature = leaflink_signature(b"key", b"{\"a\":1}");
        assert!(verify_leaflink_signature(b"key", b"{\"a\":1}", &signature));
        assert!(!verify_leaflink_signature(b"key", b"{\"a\":2}", &signature));
        assert!(!verify_leaflink_signature(b"other", b"{\"a\":1}", &signature));
        assert!(!verify_leaflink_signature(b"key", b"{\"a\":1}", "not base64!"));
    }

    #[test]
    fn entity_set_from_resource() {
        assert_eq!(entity_set("api/v2.0/companies(abc)/items(123)"), Some("items"));
        assert_eq!(entity_set("/api/v2.0/companies(abc)/salesOrders"), Some("salesOrders"));
        assert_eq!(
            entity_set("api/v2.0/companies(abc)/salesInvoices?$filter=lastDateTimeModified gt 2018-10-15T11:00:00Z"),
            Some("salesInvoices")
        );
    }
}
