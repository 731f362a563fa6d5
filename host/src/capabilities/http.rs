//! The `http` capability: the only way a plugin reaches the network.
//!
//! Every request is checked against the tenant's allow-list, gets the
//! credential of the API its URL belongs to, waits for the API's pacer, and is
//! retried on 429, 502, 503, 504 and connection errors with exponential
//! back-off, jitter and `Retry-After`. A request the plugin marks as not
//! idempotent is retried only when the API cannot have acted on it.
//!
//! A rejected credential (LeafLink 401 or 403, a token request refused, BC
//! 401 for a new token) is recorded once per capability, and every later
//! request fails at once without being sent.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::{Host, Url};

use super::allow_list::{AllowList, Api, PolicyResolver, check_literal, find_rejection};
use super::endpoints::EndpointCounts;
use super::oauth::{TokenError, TokenSource, rejected_credential};
use super::pacing::Pacer;
use super::rejection::{Credential, CredentialRejection, RejectingService, business_central_error_codes, leaflink_error_detail};
use super::secret::Secret;
use crate::runtime::bindings::http::{HttpError, Method, Request, Response};

/// Attempts per request, the first one included.
const MAX_ATTEMPTS: u32 = 5;
/// Back-off before the first retry; it doubles with each retry.
const BASE_DELAY: Duration = Duration::from_millis(250);
/// Back-off never exceeds this, unless `Retry-After` requests more.
const MAX_DELAY: Duration = Duration::from_secs(20);
/// A `Retry-After` longer than this ends the retries instead of being waited
/// out, because the plugin call's wall-clock timeout would end it anyway.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(90);
/// Redirects followed per request; each one must stay on the allow-list.
const MAX_REDIRECTS: u32 = 5;
/// Response bodies larger than this are not read into memory.
const MAX_RESPONSE_BYTES: usize = 32 << 20;
/// Per-attempt limits; the plugin call's wall-clock timeout bounds the total.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Header names a plugin may not set, because they carry credentials or
/// control the connection. Names containing one of `CREDENTIAL_WORDS` are
/// rejected too.
const FORBIDDEN_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];
const CREDENTIAL_WORDS: &[&str] = &["auth", "token", "secret", "api-key", "apikey", "cookie", "credential", "password"];

/// The number of inner requests of a JSON `$batch` request, `None` for
/// any other request.
fn batch_operation_count(url: &Url, body: Option<&[u8]>) -> Option<u64> {
    if !url.path().ends_with("/$batch") {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Batch {
        requests: Vec<serde::de::IgnoredAny>,
    }
    let batch: Batch = serde_json::from_slice(body?).ok()?;
    Some(batch.requests.len() as u64)
}

/// Request counts of one tenant.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub leaflink_requests: AtomicU64,
    pub business_central_requests: AtomicU64,
    /// BC operations: one per plain request, one per inner request of a
    /// `$batch`.
    pub business_central_operations: AtomicU64,
    pub leaflink_throttled: AtomicU64,
    pub business_central_throttled: AtomicU64,
    pub retries: AtomicU64,
    pub endpoints: EndpointCounts,
}

/// Requests sent and 429 responses received for one tenant and API since the
/// process started, exported at `/metrics`.
#[derive(Debug, Default)]
pub struct ApiTotals {
    pub requests: AtomicU64,
    pub throttled: AtomicU64,
}

/// Process-wide `ApiTotals` by tenant and API label. The map is locked only
/// when a capability is created or `/metrics` is rendered, so counting a
/// request or a 429 adds one atomic addition and no lock.
static API_TOTALS: LazyLock<Mutex<BTreeMap<(String, &'static str), Arc<ApiTotals>>>> = LazyLock::new(Default::default);

/// Returns the `/metrics` label of an API.
fn api_label(api: Api) -> &'static str {
    match api {
        Api::LeafLink => "leaflink",
        _ => "business_central",
    }
}

fn api_totals(tenant: &str, api: Api) -> Arc<ApiTotals> {
    let mut totals = API_TOTALS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    totals.entry((tenant.to_owned(), api_label(api))).or_default().clone()
}

/// Returns `(tenant, api, requests, 429 responses)` for every tenant and API
/// that has had an `HttpCapability` in this process.
pub fn api_totals_snapshot() -> Vec<(String, &'static str, u64, u64)> {
    let totals = API_TOTALS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    totals
        .iter()
        .map(|((tenant, api), counts)| {
            (tenant.clone(), *api, counts.requests.load(Ordering::Relaxed), counts.throttled.load(Ordering::Relaxed))
        })
        .collect()
}

/// A tenant's outbound HTTP.
#[derive(Debug)]
pub struct HttpCapability {
    tenant: String,
    allow_list: AllowList,
    client: reqwest::Client,
    leaflink_key: Secret,
    leaflink_pacer: Arc<Pacer>,
    tokens: Arc<TokenSource>,
    business_central_pacer: Arc<Pacer>,
    pub(crate) counters: Arc<Counters>,
    leaflink_totals: Arc<ApiTotals>,
    business_central_totals: Arc<ApiTotals>,
    /// The first credential an API rejected; once set, no request is sent.
    rejection: OnceLock<CredentialRejection>,
}

impl HttpCapability {
    pub(crate) fn new(
        tenant: String,
        allow_list: AllowList,
        leaflink_key: Secret,
        leaflink_pacer: Arc<Pacer>,
        tokens: Arc<TokenSource>,
        business_central_pacer: Arc<Pacer>,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PolicyResolver::new(&allow_list)))
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(ATTEMPT_TIMEOUT)
            .build()?;
        let leaflink_totals = api_totals(&tenant, Api::LeafLink);
        let business_central_totals = api_totals(&tenant, Api::BusinessCentral);
        Ok(Self {
            leaflink_totals,
            business_central_totals,
            tenant,
            allow_list,
            client,
            leaflink_key,
            leaflink_pacer,
            tokens,
            business_central_pacer,
            counters: Arc::new(Counters::default()),
            rejection: OnceLock::new(),
        })
    }

    /// Returns the credential rejection that stopped this capability's
    /// requests, if any.
    pub fn credential_rejection(&self) -> Option<&CredentialRejection> {
        self.rejection.get()
    }

    /// Records `rejection` unless one is already recorded, and returns the
    /// error the plugin gets for it.
    fn reject(&self, rejection: CredentialRejection) -> HttpError {
        let recorded = self.rejection.get_or_init(|| {
            // The run stops with this rejection as its reason, which commands
            // other than serve print themselves, so the line has the target
            // of run ends that they leave out of their log.
            tracing::warn!(
                target: "leafbridge::run_outcome",
                tenant = %self.tenant,
                service = %rejection.service,
                credential = rejection.credential.name(),
                status = rejection.status,
                "Credential rejected. No further request is sent for this tenant context."
            );
            rejection
        });
        HttpError::Credentials(recorded.to_string())
    }

    /// Sends a plugin's request and returns the response, or the reason it was
    /// not sent or did not succeed.
    pub async fn send(&self, request: Request) -> Result<Response, HttpError> {
        if let Some(rejection) = self.rejection.get() {
            return Err(HttpError::Credentials(rejection.to_string()));
        }
        let (mut url, api) = self.check_url(&request.url)?;
        let headers = check_headers(&request.headers)?;
        let mut method = to_reqwest_method(request.method);
        let mut body = request.body;
        let mut idempotent = request.idempotent;

        for _ in 0..=MAX_REDIRECTS {
            let response = self.send_with_retries(api, &method, &url, &headers, body.as_deref(), idempotent).await?;
            let Some(location) = redirect_target(&response, &url) else {
                return Ok(response);
            };
            let (next, next_api) = match self.check_url(location.as_str()) {
                Ok(checked) => checked,
                Err(_) => {
                    return Err(HttpError::NotAllowed(format!(
                        "{url} redirected to {location}, which is not on the tenant's allow-list"
                    )));
                }
            };
            if next_api != api {
                return Err(HttpError::NotAllowed(format!(
                    "{url} redirected to {location}, which belongs to another API"
                )));
            }
            // 303, and 301/302 after anything but GET, turn into a GET
            // without a body, as browsers and RFC 9110 section 15.4 do.
            if response.status == 303 || (matches!(response.status, 301 | 302) && method != reqwest::Method::GET) {
                method = reqwest::Method::GET;
                body = None;
                idempotent = true;
            }
            url = next;
        }
        Err(HttpError::InvalidRequest(format!("{} redirected more than {MAX_REDIRECTS} times", request.url)))
    }

    fn check_url(&self, text: &str) -> Result<(Url, Api), HttpError> {
        let url = Url::parse(text).map_err(|error| HttpError::InvalidRequest(format!("invalid URL {text:?}: {error}")))?;
        let api = self
            .allow_list
            .api_for(&url)
            .ok_or_else(|| HttpError::NotAllowed(format!("{url} is not under any of the tenant's base URLs")))?;
        if api == Api::BusinessCentralToken {
            return Err(HttpError::NotAllowed(format!("{url} is the token endpoint, which only the host calls")));
        }
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal {
            check_literal(ip).map_err(|rejected| HttpError::NotAllowed(rejected.to_string()))?;
        }
        Ok((url, api))
    }

    async fn send_with_retries(
        &self,
        api: Api,
        method: &reqwest::Method,
        url: &Url,
        headers: &HeaderMap,
        body: Option<&[u8]>,
        idempotent: bool,
    ) -> Result<Response, HttpError> {
        let mut stale_token: Option<Secret> = None;
        let mut refreshed_token = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let pacer = match api {
                Api::LeafLink => &self.leaflink_pacer,
                _ => &self.business_central_pacer,
            };
            let (authorization, bearer) = self.authorization(api, stale_token.as_ref()).await?;
            let permit = pacer.acquire().await;
            if !permit.waited.is_zero() {
                tracing::debug!(tenant = %self.tenant, api = %api, waited_ms = permit.waited.as_millis() as u64, "Paced request under the API's rate limit.");
            }
            self.count_request(api, method, url, body);

            let mut authorization = HeaderValue::from_str(authorization.expose())
                .map_err(|_| HttpError::Credentials(format!("the {api} credential is not a valid header value")))?;
            authorization.set_sensitive(true);
            let mut builder = self
                .client
                .request(method.clone(), url.clone())
                .headers(headers.clone())
                .header(reqwest::header::AUTHORIZATION, authorization);
            if let Some(body) = body {
                builder = builder.body(body.to_vec());
            }

            let outcome = builder.send().await;
            drop(permit);

            let delay = match outcome {
                Ok(answer) => {
                    let status = answer.status().as_u16();
                    let retry_after = parse_retry_after(answer.headers());
                    let response = read_response(answer).await?;

                    // A 401 with a cached BC token means the token was revoked
                    // or expired early. The API did not act on the request, so
                    // one retry with a new token is safe.
                    if status == 401 && bearer.is_some() && !refreshed_token {
                        refreshed_token = true;
                        stale_token = bearer;
                        continue;
                    }
                    if let Some(rejection) = self.rejection_in(api, status, &response.body, refreshed_token) {
                        return Err(self.reject(rejection));
                    }
                    if status == 429 {
                        self.count_throttled(api);
                    }
                    // 429 means the API refused the request before acting on
                    // it, so it is safe to repeat for any method. A 502, 503 or
                    // 504 may come after the write happened.
                    let retryable = status == 429 || (idempotent && matches!(status, 502 | 503 | 504));
                    if !retryable {
                        return Ok(response);
                    }
                    if attempt >= MAX_ATTEMPTS {
                        return Err(HttpError::RetriesExhausted(response));
                    }
                    let delay = backoff(attempt).max(retry_after.unwrap_or_default());
                    if delay > MAX_RETRY_AFTER {
                        return Err(HttpError::RetriesExhausted(response));
                    }
                    tracing::info!(tenant = %self.tenant, api = %api, status, attempt, delay_ms = delay.as_millis() as u64, "Retrying request after a throttled or failed response.");
                    delay
                }
                Err(error) => {
                    if let Some(rejected) = find_rejection(&error) {
                        return Err(HttpError::NotAllowed(rejected.to_string()));
                    }
                    // The messages below name the method and URL once
                    // themselves; reqwest's own text would repeat the URL.
                    let error = error.without_url();
                    // A connect error means nothing reached the API; any other
                    // failure may have happened after the API acted.
                    let safe = error.is_connect() || idempotent;
                    let failure = if error.is_timeout() {
                        HttpError::Timeout(format!("{method} {url} timed out: {error}"))
                    } else {
                        HttpError::Connection(format!("{method} {url} failed: {}", error_chain(&error)))
                    };
                    if !safe || attempt >= MAX_ATTEMPTS {
                        return Err(failure);
                    }
                    let delay = backoff(attempt);
                    tracing::info!(tenant = %self.tenant, api = %api, attempt, delay_ms = delay.as_millis() as u64, error = %error, "Retrying request after a connection error.");
                    delay
                }
            };
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
        }
    }

    /// Returns the rejection a response means, if it means one. A BC 401
    /// counts only for a token requested after the first 401, because the
    /// cached one may simply have expired.
    // NOTE: LeafLink does not document its status for a bad key. Django REST
    // framework, which it runs on, returns 401 or 403 for an invalid key and
    // 403 for a key without an endpoint's permission, and neither can be
    // fixed by a record, so both stop the run.
    fn rejection_in(&self, api: Api, status: u16, body: &[u8], fresh_token: bool) -> Option<CredentialRejection> {
        let (service, credential, codes) = match api {
            Api::LeafLink if matches!(status, 401 | 403) => (
                RejectingService::LeafLink,
                Credential::LeafLinkApiKey,
                leaflink_error_detail(body, self.leaflink_key.expose()),
            ),
            Api::BusinessCentral if status == 401 && fresh_token => (
                RejectingService::BusinessCentral,
                Credential::BusinessCentralApplication,
                business_central_error_codes(body),
            ),
            _ => return None,
        };
        Some(CredentialRejection { tenant: self.tenant.clone(), service, credential, status, codes })
    }

    /// Builds the `Authorization` value for `api`. For BC it also returns the
    /// bearer token inside it, to recognise the token if the API rejects it.
    async fn authorization(&self, api: Api, stale: Option<&Secret>) -> Result<(Secret, Option<Secret>), HttpError> {
        match api {
            Api::LeafLink => {
                if self.leaflink_key.is_empty() {
                    return Err(HttpError::Credentials("the tenant has no LeafLink API key".into()));
                }
                // LeafLink expects exactly `App <key>`, with one space.
                Ok((Secret::new(format!("App {}", self.leaflink_key.expose())), None))
            }
            Api::BusinessCentral | Api::BusinessCentralToken => {
                let token = self.tokens.bearer(&self.client, stale).await.map_err(|error| match error {
                    TokenError::Rejected { status, codes, .. } => self.reject(CredentialRejection {
                        tenant: self.tenant.clone(),
                        service: RejectingService::BusinessCentralToken,
                        credential: rejected_credential(status, &codes),
                        status,
                        codes,
                    }),
                    TokenError::Unavailable(reason) => HttpError::Credentials(reason),
                })?;
                Ok((Secret::new(format!("Bearer {}", token.expose())), Some(token)))
            }
        }
    }

    fn count_request(&self, api: Api, method: &reqwest::Method, url: &Url, body: Option<&[u8]>) {
        self.counters.endpoints.count(api, method.as_str(), url, body);
        let counter = match api {
            Api::LeafLink => &self.counters.leaflink_requests,
            _ => &self.counters.business_central_requests,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.totals(api).requests.fetch_add(1, Ordering::Relaxed);
        if api != Api::LeafLink {
            let operations = batch_operation_count(url, body).unwrap_or(1);
            self.counters.business_central_operations.fetch_add(operations, Ordering::Relaxed);
        }
    }

    fn count_throttled(&self, api: Api) {
        let counter = match api {
            Api::LeafLink => &self.counters.leaflink_throttled,
            _ => &self.counters.business_central_throttled,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.totals(api).throttled.fetch_add(1, Ordering::Relaxed);
    }

    fn totals(&self, api: Api) -> &ApiTotals {
        match api {
            Api::LeafLink => &self.leaflink_totals,
            _ => &self.business_central_totals,
        }
    }
}

fn to_reqwest_method(method: Method) -> reqwest::Method {
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Patch => reqwest::Method::PATCH,
        Method::Put => reqwest::Method::PUT,
        Method::Delete => reqwest::Method::DELETE,
    }
}

/// Rejects credential and connection headers and anything malformed.
fn check_headers(headers: &[(String, String)]) -> Result<HeaderMap, HttpError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if FORBIDDEN_HEADERS.contains(&lower.as_str()) || CREDENTIAL_WORDS.iter().any(|word| lower.contains(word)) {
            return Err(HttpError::InvalidRequest(format!(
                "header {name:?} is not allowed: the host sets credentials and connection headers itself"
            )));
        }
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| HttpError::InvalidRequest(format!("invalid header name {name:?}")))?;
        let header_value = HeaderValue::from_str(value)
            .map_err(|_| HttpError::InvalidRequest(format!("invalid value for header {name:?}")))?;
        map.append(header_name, header_value);
    }
    Ok(map)
}

async fn read_response(mut answer: reqwest::Response) -> Result<Response, HttpError> {
    let status = answer.status().as_u16();
    let headers = answer
        .headers()
        .iter()
        .filter(|(name, _)| *name != reqwest::header::SET_COOKIE)
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    if answer.content_length().is_some_and(|length| length > MAX_RESPONSE_BYTES as u64) {
        return Err(HttpError::Connection(format!("the response body is larger than {MAX_RESPONSE_BYTES} bytes")));
    }
    let mut body = Vec::new();
    loop {
        let chunk = answer.chunk().await.map_err(|error| {
            if error.is_timeout() {
                HttpError::Timeout(format!("reading the response body timed out: {error}"))
            } else {
                HttpError::Connection(format!("reading the response body failed: {}", error_chain(&error)))
            }
        })?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(HttpError::Connection(format!("the response body is larger than {MAX_RESPONSE_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response { status, headers, body })
}

fn redirect_target(response: &Response, current: &Url) -> Option<Url> {
    if !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = response.headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("location"))?;
    current.join(&location.1).ok()
}

/// Exponential back-off with full jitter between half and all of the step.
fn backoff(attempt: u32) -> Duration {
    let step = BASE_DELAY.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(MAX_DELAY);
    let jitter = rand::rng().random_range(0.5..=1.0);
    step.mul_f64(jitter)
}

/// `Retry-After` as delta-seconds or an HTTP date (RFC 9110 section 10.2.3).
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = date.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or_default())
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_are_rejected() {
        for name in ["Authorization", "authorization", "X-Api-Key", "Cookie", "X-Auth-Token", "Host", "Transfer-Encoding"] {
            let outcome = check_headers(&[(name.to_owned(), "x".to_owned())]);
            assert!(matches!(outcome, Err(HttpError::InvalidRequest(_))), "{name} should be rejected");
        }
    }

    #[test]
    fn ordinary_headers_pass() {
        let map = check_headers(&[
            ("Accept".to_owned(), "application/json".to_owned()),
            ("If-Match".to_owned(), "W/\"abc\"".to_owned()),
            ("Prefer".to_owned(), "odata.maxpagesize=100".to_owned()),
        ])
        .unwrap();
        assert_eq!(map.len(), 3);
    }

    #[test]
    fn retry_after_seconds_and_date() {
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(7)));

        let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(30);
        let date = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&later).unwrap();
        headers.insert(reqwest::header::RETRY_AFTER, HeaderValue::from_str(&date).unwrap());
        let wait = parse_retry_after(&headers).unwrap();
        assert!(wait > Duration::from_secs(25), "{wait:?}");
        assert!(wait <= Duration::from_secs(30), "{wait:?}");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let first = backoff(1);
        assert!(first <= BASE_DELAY, "{first:?}");
        assert!(first >= BASE_DELAY / 2, "{first:?}");
        assert!(backoff(3) >= BASE_DELAY * 2);
        assert!(backoff(30) <= MAX_DELAY);
    }
}
