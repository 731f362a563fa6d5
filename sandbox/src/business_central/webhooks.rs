//! Webhook subscriptions: `POST/GET/PATCH/DELETE subscriptions`, the
//! validation handshake on create and renewal, the 3-day expiry, and
//! notifications sent after a coalescing delay (about 30 s in BC, set by
//! `Options::notification_delay` here). More than 1,000 changes of one
//! subscription in a window become one `collection` notification. A
//! subscriber that returns 4xx other than 408 or 429 loses its subscription.
//!
//! Only loopback notification URLs are accepted, so the sandbox never sends
//! traffic to another host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::cell::format_timestamp;
use super::error::BcError;
use super::http::{ApiRequest, Reply};
use super::store::{Change, ChangeKind};

pub const EXPIRY: SignedDuration = SignedDuration::from_hours(72);
pub const MAX_SUBSCRIPTIONS: usize = 200;
pub const COLLECTION_THRESHOLD: usize = 1_000;

/// Entity sets that BC lists as webhook-capable and the sandbox serves.
pub const WEBHOOK_SETS: &[&str] = &[
    "customers",
    "items",
    "salesOrders",
    "salesInvoices",
    "customerPaymentJournals",
    "itemCategories",
    "unitsOfMeasure",
    "currencies",
    "countriesRegions",
    "paymentMethods",
    "paymentTerms",
    "shipmentMethods",
    "journals",
    "dimensions",
];

#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub notification_url: String,
    pub resource: String,
    pub set: String,
    pub client_state: String,
    pub expiration: Timestamp,
    pub created: Timestamp,
    pub modified: Timestamp,
    pub version: u64,
}

impl Subscription {
    fn etag(&self) -> String {
        use base64::Engine;
        format!("W/\"{}\"", base64::engine::general_purpose::STANDARD.encode(format!("{};{}", self.id, self.version)))
    }

    fn render(&self, user_id: Uuid) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("@odata.etag".into(), json!(self.etag()));
        body.insert("subscriptionId".into(), json!(self.id));
        body.insert("notificationUrl".into(), json!(self.notification_url));
        body.insert("resource".into(), json!(self.resource));
        body.insert("timestamp".into(), json!(self.version as i64));
        body.insert("userId".into(), json!(user_id.to_string()));
        body.insert("lastModifiedDateTime".into(), json!(format_timestamp(self.modified)));
        body.insert("clientState".into(), json!(self.client_state));
        body.insert("expirationDateTime".into(), json!(format_timestamp(self.expiration)));
        body.insert("systemCreatedAt".into(), json!(format_timestamp(self.created)));
        body.insert("systemCreatedBy".into(), json!(user_id.to_string()));
        body.insert("systemModifiedAt".into(), json!(format_timestamp(self.modified)));
        body.insert("systemModifiedBy".into(), json!(user_id.to_string()));
        body
    }
}

#[derive(Debug, Clone)]
struct Pending {
    entity: Uuid,
    kind: ChangeKind,
    at: Timestamp,
}

#[derive(Debug)]
pub struct Webhooks {
    pub subscriptions: Mutex<Vec<Subscription>>,
    pending: Mutex<HashMap<String, Vec<Pending>>>,
    flush_scheduled: Mutex<bool>,
    client: reqwest::Client,
    delay: Duration,
    company_id: Uuid,
    user_id: Uuid,
    base_url: String,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Accepts only http(s) URLs on a loopback address.
pub fn is_loopback_url(text: &str) -> bool {
    let Ok(url) = url::Url::parse(text) else { return false };
    if url.scheme() != "http" && url.scheme() != "https" {
        return false;
    }
    match url.host() {
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        Some(url::Host::Domain(domain)) => domain == "localhost",
        None => false,
    }
}

impl Webhooks {
    pub fn new(delay: Duration, company_id: Uuid, base_url: String) -> Self {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        Self {
            subscriptions: Mutex::new(Vec::new()),
            pending: Mutex::new(HashMap::new()),
            flush_scheduled: Mutex::new(false),
            client,
            delay,
            company_id,
            user_id: Uuid::new_v4(),
            base_url,
        }
    }

    /// Stores a subscription without a handshake (used for the published
    /// example, whose URL is never contacted).
    pub fn seed(&self, subscription: Subscription) {
        lock(&self.subscriptions).push(subscription);
    }

    /// Handles a request below `subscriptions`.
    pub async fn handle(&self, request: &ApiRequest, key: Option<String>) -> Reply {
        match self.route(request, key).await {
            Ok(reply) => reply,
            Err(error) => error.into(),
        }
    }

    async fn route(&self, request: &ApiRequest, key: Option<String>) -> Result<Reply, BcError> {
        let context = format!("{}/$metadata#subscriptions", self.base_url);
        match (request.method.clone(), key) {
            (Method::GET, None) => {
                let values: Vec<Value> = lock(&self.subscriptions).iter().map(|sub| Value::Object(sub.render(self.user_id))).collect();
                Ok(Reply::json(StatusCode::OK, json!({"@odata.context": context, "value": values})))
            }
            (Method::GET, Some(id)) => {
                let sub = self.find(&id)?;
                Ok(Reply::json(StatusCode::OK, with_context(&format!("{context}/$entity"), sub.render(self.user_id))))
            }
            (Method::POST, None) => {
                let body = parse_object(request)?;
                let mut notification_url = String::new();
                let mut resource = String::new();
                let mut client_state = String::new();
                for (name, value) in &body {
                    let text = || value.as_str().map(str::to_owned).ok_or_else(|| BcError::bad_request(format!("The property '{name}' must be a string.")));
                    match name.as_str() {
                        "notificationUrl" => notification_url = text()?,
                        "resource" => resource = text()?,
                        "clientState" => client_state = text()?,
                        "subscriptionId" | "timestamp" | "userId" | "lastModifiedDateTime" | "expirationDateTime" | "systemCreatedAt"
                        | "systemCreatedBy" | "systemModifiedAt" | "systemModifiedBy" => return Err(BcError::read_only(name)),
                        other => {
                            return Err(BcError::bad_request(format!(
                                "The property '{other}' does not exist on type 'Microsoft.NAV.subscription'. Make sure to only use property names that are defined by the type."
                            )));
                        }
                    }
                }
                if client_state.chars().count() > 2048 {
                    return Err(BcError::new(StatusCode::BAD_REQUEST, "Application_StringExceededLength", "The clientState must be at most 2048 characters."));
                }
                let set = self.check_resource(&resource)?;
                if !is_loopback_url(&notification_url) {
                    return Err(BcError::bad_request(format!(
                        "The notificationUrl '{notification_url}' is rejected: the sandbox sends notifications only to loopback addresses."
                    )));
                }
                if lock(&self.subscriptions).len() >= MAX_SUBSCRIPTIONS {
                    return Err(BcError::dialog(format!("The maximum number of subscriptions ({MAX_SUBSCRIPTIONS}) has been reached.")));
                }
                self.handshake(&notification_url).await?;
                let now = Timestamp::now();
                let sub = Subscription {
                    id: Uuid::new_v4().simple().to_string(),
                    notification_url,
                    resource,
                    set,
                    client_state,
                    expiration: now + EXPIRY,
                    created: now,
                    modified: now,
                    version: 1,
                };
                let body = sub.render(self.user_id);
                lock(&self.subscriptions).push(sub);
                Ok(Reply::json(StatusCode::CREATED, with_context(&format!("{context}/$entity"), body)))
            }
            (Method::PATCH, Some(id)) => {
                let current = self.find(&id)?;
                check_if_match(request, &current.etag())?;
                let body = parse_object(request)?;
                let mut updated = current.clone();
                for (name, value) in &body {
                    let text = value.as_str().map(str::to_owned).ok_or_else(|| BcError::bad_request(format!("The property '{name}' must be a string.")));
                    match name.as_str() {
                        "notificationUrl" => updated.notification_url = text?,
                        "clientState" => updated.client_state = text?,
                        "resource" => {
                            let resource = text?;
                            updated.set = self.check_resource(&resource)?;
                            updated.resource = resource;
                        }
                        other => return Err(BcError::read_only(other)),
                    }
                }
                if !is_loopback_url(&updated.notification_url) {
                    return Err(BcError::bad_request("The sandbox sends notifications only to loopback addresses."));
                }
                // Renewal repeats the handshake and restarts the 3-day expiry.
                self.handshake(&updated.notification_url).await?;
                let now = Timestamp::now();
                updated.expiration = now + EXPIRY;
                updated.modified = now;
                updated.version += 1;
                let body = updated.render(self.user_id);
                let mut subscriptions = lock(&self.subscriptions);
                if let Some(slot) = subscriptions.iter_mut().find(|sub| sub.id == id) {
                    *slot = updated;
                }
                Ok(Reply::json(StatusCode::OK, with_context(&format!("{context}/$entity"), body)))
            }
            (Method::DELETE, Some(id)) => {
                let current = self.find(&id)?;
                check_if_match(request, &current.etag())?;
                lock(&self.subscriptions).retain(|sub| sub.id != id);
                Ok(Reply::empty(StatusCode::NO_CONTENT))
            }
            (method, _) => Err(BcError::method_not_allowed(format!("'{method}' requests for 'subscriptions' are not allowed."))),
        }
    }

    fn find(&self, id: &str) -> Result<Subscription, BcError> {
        lock(&self.subscriptions)
            .iter()
            .find(|sub| sub.id == id)
            .cloned()
            .ok_or_else(|| BcError::new(StatusCode::NOT_FOUND, "BadRequest_NotFound", format!("The subscription '{id}' does not exist.")))
    }

    /// Returns the entity set a resource such as
    /// `/api/v2.0/companies({id})/customers` names.
    fn check_resource(&self, resource: &str) -> Result<String, BcError> {
        let invalid = || {
            BcError::bad_request(format!(
                "The resource '{resource}' is invalid; use /api/v2.0/companies({})/<entity set> with a webhook-capable entity set.",
                self.company_id
            ))
        };
        let rest = resource.split_once("api/v2.0/").map(|(_, rest)| rest).ok_or_else(invalid)?;
        let (company, set) = rest.split_once('/').ok_or_else(invalid)?;
        let company_id = company.strip_prefix("companies(").and_then(|text| text.strip_suffix(')')).ok_or_else(invalid)?;
        if super::cell::parse_guid(company_id) != Some(self.company_id) {
            return Err(BcError::new(StatusCode::NOT_FOUND, "Internal_CompanyNotFound", format!("The company '{company_id}' does not exist.")));
        }
        if !WEBHOOK_SETS.contains(&set) {
            return Err(invalid());
        }
        Ok(set.to_owned())
    }

    async fn handshake(&self, notification_url: &str) -> Result<(), BcError> {
        let token = Uuid::new_v4().simple().to_string();
        let mut url = url::Url::parse(notification_url).map_err(|_| BcError::bad_request("The notificationUrl is not a valid URL."))?;
        url.query_pairs_mut().append_pair("validationToken", &token);
        let failed = |detail: String| BcError::bad_request(format!("The subscription could not be validated: {detail}"));
        let response = self.client.post(url).send().await.map_err(|error| failed(format!("the request to the notificationUrl failed ({error}).")))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status != reqwest::StatusCode::OK || body.trim() != token {
            return Err(failed(format!("the notificationUrl returned {status} without the validation token.")));
        }
        Ok(())
    }

    /// Queues notifications for stored changes and schedules a send after
    /// the notification delay.
    pub fn enqueue(self: &Arc<Self>, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let now = Timestamp::now();
        let subscriptions = lock(&self.subscriptions).clone();
        let mut queued = false;
        {
            let mut pending = lock(&self.pending);
            for change in changes {
                for sub in subscriptions.iter().filter(|sub| sub.set == change.set && sub.expiration > now) {
                    pending.entry(sub.id.clone()).or_default().push(Pending { entity: change.id, kind: change.kind, at: change.at });
                    queued = true;
                }
            }
        }
        if !queued {
            return;
        }
        let mut scheduled = lock(&self.flush_scheduled);
        if *scheduled {
            return;
        }
        *scheduled = true;
        let webhooks = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(webhooks.delay).await;
            *lock(&webhooks.flush_scheduled) = false;
            webhooks.flush().await;
        });
    }

    /// Sends every queued notification, one POST per notification URL.
    pub async fn flush(&self) {
        let pending = std::mem::take(&mut *lock(&self.pending));
        let now = Timestamp::now();
        let subscriptions = lock(&self.subscriptions).clone();
        let mut by_url: HashMap<String, Vec<Value>> = HashMap::new();
        for (sub_id, changes) in pending {
            let Some(sub) = subscriptions.iter().find(|sub| sub.id == sub_id) else { continue };
            if sub.expiration <= now || !is_loopback_url(&sub.notification_url) {
                continue;
            }
            let items = self.coalesce(sub, changes);
            by_url.entry(sub.notification_url.clone()).or_default().extend(items);
        }
        for (url, values) in by_url {
            self.send(&url, json!({"value": values})).await;
        }
    }

    fn coalesce(&self, sub: &Subscription, changes: Vec<Pending>) -> Vec<Value> {
        let mut latest: Vec<(Uuid, ChangeKind, Timestamp)> = Vec::new();
        let mut index: HashMap<Uuid, usize> = HashMap::new();
        for change in &changes {
            match index.get(&change.entity) {
                Some(position) => {
                    let entry = &mut latest[*position];
                    // A record created in the window stays "created" unless
                    // it was deleted again.
                    if !(entry.1 == ChangeKind::Created && change.kind == ChangeKind::Updated) {
                        entry.1 = change.kind;
                    }
                    entry.2 = change.at;
                }
                None => {
                    index.insert(change.entity, latest.len());
                    latest.push((change.entity, change.kind, change.at));
                }
            }
        }
        let base = format!("api/v2.0/companies({})/{}", self.company_id, sub.set);
        if latest.len() > COLLECTION_THRESHOLD {
            let earliest = changes.iter().map(|change| change.at).min().unwrap_or_else(Timestamp::now);
            let since = format_timestamp(earliest - SignedDuration::from_millis(1));
            return vec![json!({
                "subscriptionId": sub.id,
                "clientState": sub.client_state,
                "expirationDateTime": format_timestamp(sub.expiration),
                "resource": format!("/{base}?$filter=lastModifiedDateTime%20gt%20{since}"),
                "changeType": "collection",
                "lastModifiedDateTime": format_timestamp(Timestamp::now()),
            })];
        }
        latest
            .into_iter()
            .map(|(entity, kind, at)| {
                json!({
                    "subscriptionId": sub.id,
                    "clientState": sub.client_state,
                    "expirationDateTime": format_timestamp(sub.expiration),
                    "resource": format!("{base}({entity})"),
                    "changeType": kind.wire_name(),
                    "lastModifiedDateTime": format_timestamp(at),
                })
            })
            .collect()
    }

    async fn send(&self, url: &str, body: Value) {
        // BC retries for about 36 hours on 408, 429 and 5xx; the sandbox
        // retries three times with a short pause.
        for attempt in 1..=3u32 {
            match self.client.post(url).json(&body).send().await {
                Ok(response) if response.status().is_success() => return,
                Ok(response) => {
                    let status = response.status().as_u16();
                    if status == 408 || status == 429 || status >= 500 {
                        tracing::warn!(url, status, attempt, "webhook notification failed; retrying");
                    } else {
                        tracing::warn!(url, status, "webhook notification rejected; deleting the subscriptions of this URL");
                        lock(&self.subscriptions).retain(|sub| sub.notification_url != url);
                        return;
                    }
                }
                Err(error) => tracing::warn!(url, attempt, %error, "webhook notification could not be sent; retrying"),
            }
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
        }
    }
}

fn with_context(context: &str, body: Map<String, Value>) -> Value {
    let mut ordered = Map::new();
    ordered.insert("@odata.context".into(), json!(context));
    ordered.extend(body);
    Value::Object(ordered)
}

fn parse_object(request: &ApiRequest) -> Result<Map<String, Value>, BcError> {
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(body)) => Ok(body),
        Ok(_) => Err(BcError::bad_request("Invalid Request Body: a JSON object was expected.")),
        Err(error) => Err(BcError::bad_request(format!("Invalid Request Body: {error}"))),
    }
}

fn check_if_match(request: &ApiRequest, etag: &str) -> Result<(), BcError> {
    match request.header("if-match") {
        None => Err(BcError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest_InvalidToken",
            "Could not validate the client concurrency token required by the service. Please provide a valid token in the client request.",
        )),
        Some(value) if value.split(',').map(str::trim).any(|tag| tag == "*" || tag == etag) => Ok(()),
        Some(_) => Err(BcError::new(StatusCode::CONFLICT, "Request_EntityChanged", "Another user has already changed the record.")),
    }
}
