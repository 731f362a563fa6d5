//! The Microsoft Entra client-credentials token endpoint, bearer-token checks
//! and BC's per-identity limits: 6,000 requests in a sliding 5-minute window
//! and 5 requests in flight, with 429 beyond either.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::error::BcError;

/// Access tokens of the client-credentials flow last about an hour.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3599);
pub const SCOPE: &str = "https://api.businesscentral.dynamics.com/.default";
pub const RATE_WINDOW: Duration = Duration::from_secs(300);
pub const RATE_LIMIT: usize = 6_000;
pub const MAX_CONCURRENT: usize = 5;

#[derive(Debug)]
pub struct Auth {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    windows: Mutex<HashMap<String, VecDeque<Instant>>>,
    in_flight: Mutex<HashMap<String, usize>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Auth {
    pub fn new(tenant_id: String, client_id: String, client_secret: String) -> Self {
        Self {
            tenant_id,
            client_id,
            client_secret,
            tokens: Mutex::new(HashMap::new()),
            windows: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// Handles a token request form; the error bodies follow Entra's
    /// `{"error", "error_description"}` shape.
    pub fn issue(&self, tenant: &str, form: &HashMap<String, String>) -> (StatusCode, Value) {
        let entra_error = |status: StatusCode, error: &str, description: &str| {
            (status, json!({"error": error, "error_description": description, "error_codes": [], "timestamp": jiff::Timestamp::now().to_string()}))
        };
        if tenant != self.tenant_id {
            return entra_error(StatusCode::BAD_REQUEST, "invalid_request", &format!("AADSTS90002: Tenant '{tenant}' not found."));
        }
        if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return entra_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type; use client_credentials.");
        }
        if form.get("client_id") != Some(&self.client_id) {
            return entra_error(StatusCode::BAD_REQUEST, "unauthorized_client", "AADSTS700016: Application with the given client_id was not found in the directory.");
        }
        if form.get("client_secret") != Some(&self.client_secret) {
            return entra_error(StatusCode::UNAUTHORIZED, "invalid_client", "AADSTS7000215: Invalid client secret provided.");
        }
        if form.get("scope").map(String::as_str) != Some(SCOPE) {
            return entra_error(StatusCode::BAD_REQUEST, "invalid_scope", &format!("AADSTS70011: The provided scope is invalid; use {SCOPE}."));
        }
        let token = format!("sbx.{}.{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        lock(&self.tokens).insert(token.clone(), (self.client_id.clone(), Instant::now() + TOKEN_LIFETIME));
        (
            StatusCode::OK,
            json!({"token_type": "Bearer", "expires_in": TOKEN_LIFETIME.as_secs(), "ext_expires_in": TOKEN_LIFETIME.as_secs(), "access_token": token}),
        )
    }

    /// Returns the identity behind an `Authorization` header.
    pub fn check(&self, header: Option<&str>) -> Result<String, BcError> {
        let unauthorized = |message: &str| BcError::new(StatusCode::UNAUTHORIZED, "Authentication_InvalidCredentials", message);
        let Some(token) = header.and_then(|value| value.strip_prefix("Bearer ")) else {
            return Err(unauthorized("The server has rejected the client credentials: the request has no bearer token."));
        };
        let tokens = lock(&self.tokens);
        match tokens.get(token.trim()) {
            None => Err(unauthorized("The server has rejected the client credentials: the bearer token is not valid.")),
            Some((_, expires)) if *expires <= Instant::now() => {
                Err(unauthorized("The server has rejected the client credentials: the bearer token has expired."))
            }
            Some((identity, _)) => Ok(identity.clone()),
        }
    }

    /// Makes every issued token expire now, for tests of token renewal.
    pub fn expire_all(&self) {
        let now = Instant::now();
        for (_, expires) in lock(&self.tokens).values_mut() {
            *expires = now;
        }
    }

    /// Counts a request against the identity's limits; the guard releases
    /// its concurrency slot when dropped.
    pub fn admit<'a>(&'a self, identity: &str) -> Result<InFlight<'a>, BcError> {
        let now = Instant::now();
        {
            let mut windows = lock(&self.windows);
            let window = windows.entry(identity.to_owned()).or_default();
            while window.front().is_some_and(|at| now.duration_since(*at) >= RATE_WINDOW) {
                window.pop_front();
            }
            if window.len() >= RATE_LIMIT {
                return Err(too_many(&format!("Rate limit exceeded: {RATE_LIMIT} requests in 5 minutes for this identity.")));
            }
            window.push_back(now);
        }
        let mut in_flight = lock(&self.in_flight);
        let count = in_flight.entry(identity.to_owned()).or_default();
        if *count >= MAX_CONCURRENT {
            return Err(too_many(&format!("Too many concurrent requests: at most {MAX_CONCURRENT} per identity.")));
        }
        *count += 1;
        Ok(InFlight { auth: self, identity: identity.to_owned() })
    }
}

// NOTE: BC documents no error code or Retry-After header for its own 429, so
// the sandbox sends neither a Retry-After nor a more specific code.
fn too_many(message: &str) -> BcError {
    BcError::new(StatusCode::TOO_MANY_REQUESTS, "Application_TooManyRequests", message)
}

pub struct InFlight<'a> {
    auth: &'a Auth,
    identity: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(count) = lock(&self.auth.in_flight).get_mut(&self.identity) {
            *count = count.saturating_sub(1);
        }
    }
}
