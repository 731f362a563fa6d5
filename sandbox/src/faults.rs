//! Fault injection shared by both servers: added latency, a fraction of 429s, a
//! fraction of 5xx, dropped connections, and timeout-after-commit (the handler
//! runs and its write is kept, but the client gets no answer), the case that
//! breaks naive retries. A profile is set at start and can change while the
//! server runs. Tests that need a fault to happen for certain, not by chance,
//! queue 429s with [`Faults::throttle_next`] and 503s with
//! [`Faults::unavailable_next`].

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The faults a server injects. Each rate is a probability per request, from
/// 0.0 to 1.0.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultProfile {
    /// Added to every request before it is handled.
    pub latency: Duration,
    pub rate_429: f64,
    pub rate_5xx: f64,
    /// The connection breaks before the request is handled.
    pub drop_connection: f64,
    /// The request is handled (its write happens), then the connection breaks.
    pub timeout_after_commit: f64,
}

/// How an injected error body is shaped, so it matches the API being imitated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStyle {
    /// Django REST framework: `{"detail": "..."}`.
    LeafLink,
    /// OData: `{"error": {"code": "...", "message": "..."}}`.
    BusinessCentral,
}

/// A fault profile that can change while the server runs, and counts of what
/// it injected.
#[derive(Debug, Clone)]
pub struct Faults {
    profile: Arc<RwLock<FaultProfile>>,
    style: ErrorStyle,
    /// Count of the next requests that get a 429 regardless of the profile.
    queued_429: Arc<AtomicU32>,
    /// 503s still owed to the next requests, after any queued 429s.
    queued_503: Arc<AtomicU32>,
}

impl Faults {
    pub fn new(profile: FaultProfile, style: ErrorStyle) -> Self {
        Self {
            profile: Arc::new(RwLock::new(profile)),
            style,
            queued_429: Arc::new(AtomicU32::new(0)),
            queued_503: Arc::new(AtomicU32::new(0)),
        }
    }

    /// Makes the next `count` requests get a 429, token requests included,
    /// then goes back to the profile.
    pub fn throttle_next(&self, count: u32) {
        self.queued_429.store(count, Ordering::SeqCst);
    }

    /// Queues 503 responses for the next `count` requests, token requests
    /// included. Requests after them follow the profile again.
    pub fn unavailable_next(&self, count: u32) {
        self.queued_503.store(count, Ordering::SeqCst);
    }

    /// Returns how many queued 503s are still owed.
    pub fn unavailable_left(&self) -> u32 {
        self.queued_503.load(Ordering::SeqCst)
    }

    /// Takes one queued 429, if any is left.
    fn take_queued_429(&self) -> bool {
        take_one(&self.queued_429)
    }

    /// Takes one queued 503, if any is left.
    fn take_queued_503(&self) -> bool {
        take_one(&self.queued_503)
    }

    /// Replaces the profile; requests already in flight keep the old one.
    pub fn set(&self, profile: FaultProfile) {
        *self.profile.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = profile;
    }

    pub fn get(&self) -> FaultProfile {
        self.profile.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn error_body(&self, status: StatusCode, message: &str) -> Response {
        let body = match self.style {
            ErrorStyle::LeafLink => serde_json::json!({ "detail": message }),
            ErrorStyle::BusinessCentral => serde_json::json!({
                "error": { "code": "Unknown", "message": format!("{message}  CorrelationId:  {}.", uuid::Uuid::new_v4()) }
            }),
        };
        (status, axum::Json(body)).into_response()
    }
}

/// Middleware that applies the current profile to one request. Use it with
/// `axum::middleware::from_fn_with_state(faults, faults::inject)`.
pub async fn inject(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    let profile = faults.get();
    if !profile.latency.is_zero() {
        tokio::time::sleep(profile.latency).await;
    }
    if chance(profile.drop_connection) {
        return broken_connection();
    }
    if faults.take_queued_429() || chance(profile.rate_429) {
        let mut response = faults.error_body(StatusCode::TOO_MANY_REQUESTS, "Request was throttled (injected fault).");
        response.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
        return response;
    }
    if faults.take_queued_503() {
        return faults.error_body(StatusCode::SERVICE_UNAVAILABLE, "The service is temporarily unavailable (queued fault).");
    }
    if chance(profile.rate_5xx) {
        let status = [StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE, StatusCode::GATEWAY_TIMEOUT]
            [rand::random_range(0..3)];
        return faults.error_body(status, "The service is temporarily unavailable (injected fault).");
    }
    let break_after_commit = chance(profile.timeout_after_commit);
    let response = next.run(request).await;
    if break_after_commit {
        return broken_connection();
    }
    response
}

fn take_one(queued: &AtomicU32) -> bool {
    queued.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1)).is_ok()
}

fn chance(rate: f64) -> bool {
    rate > 0.0 && rand::random::<f64>() < rate
}

/// A response whose body fails at once: hyper aborts the connection, so the
/// client sees a transport error and never reads an answer.
fn broken_connection() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("connection dropped (injected fault)"))
    });
    let mut response = Response::new(Body::from_stream(failing));
    // A declared length the body never delivers makes every HTTP/1.1 client
    // treat the message as incomplete.
    response.headers_mut().insert("content-length", HeaderValue::from_static("1048576"));
    response
}
