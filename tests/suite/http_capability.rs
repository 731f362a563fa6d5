//! The `http` capability without a plugin in between: retries, pacing
//! counters, redirects, credentials and the token cache.

use leafbridge::runtime::bindings::http::{HttpError, Method, Request};
use leafbridge_tests::{BC_ACCESS_TOKEN, RecordingServer, Scripted, tenant, tenant_settings};

fn get(url: String) -> Request {
    Request { method: Method::Get, url, headers: Vec::new(), body: None, idempotent: true }
}

fn post(url: String) -> Request {
    Request { method: Method::Post, url, headers: Vec::new(), body: Some(b"{}".to_vec()), idempotent: false }
}

#[tokio::test]
async fn throttled_request_retried_after_retry_after() {
    let server = RecordingServer::start().await;
    let path = "/leaflink/api/v2/orders-received/";
    server.script(path, [Scripted::status(429).with_header("retry-after", "1"), Scripted::status(503)]);
    let tenant = tenant(&tenant_settings("throttled", server.address));

    let started = std::time::Instant::now();
    let response = tenant.http().send(get(format!("http://{}{path}", server.address))).await.expect("succeeds in the end");

    assert_eq!(response.status, 200);
    assert!(started.elapsed() >= std::time::Duration::from_secs(1), "Retry-After was honoured");
    assert_eq!(server.requests_to(path).len(), 3);
    let counters = tenant.api_counters();
    assert_eq!(counters.leaflink_requests, 3);
    assert_eq!(counters.leaflink_throttled, 1);
    assert_eq!(counters.retries, 2);
}

#[tokio::test]
async fn non_idempotent_request_not_retried_on_503() {
    let server = RecordingServer::start().await;
    let path = "/leaflink/api/v2/order-payments/";
    server.script(path, [Scripted::status(503)]);
    let tenant = tenant(&tenant_settings("careful", server.address));

    let response = tenant.http().send(post(format!("http://{}{path}", server.address))).await.expect("an answer");
    assert_eq!(response.status, 503, "the plugin sees the 503 and decides");
    assert_eq!(server.requests_to(path).len(), 1, "the POST was sent once");
    assert_eq!(tenant.api_counters().retries, 0);
}

#[tokio::test]
async fn non_idempotent_request_retried_on_429() {
    let server = RecordingServer::start().await;
    let path = "/leaflink/api/v2/order-payments/";
    server.script(path, [Scripted::status(429).with_header("retry-after", "0")]);
    let tenant = tenant(&tenant_settings("patient", server.address));

    let response = tenant.http().send(post(format!("http://{}{path}", server.address))).await.expect("an answer");
    assert_eq!(response.status, 200, "a 429 means the API did not act, so the POST is repeated");
    assert_eq!(server.requests_to(path).len(), 2);
}

#[tokio::test]
async fn redirect_off_list_rejected() {
    let server = RecordingServer::start().await;
    let outsider = RecordingServer::start().await;
    let path = "/leaflink/api/v2/orders-received/";
    server.script(path, [Scripted::status(302).with_header("location", &format!("http://{}/steal", outsider.address))]);
    let tenant = tenant(&tenant_settings("redirected", server.address));

    let error = tenant.http().send(get(format!("http://{}{path}", server.address))).await.expect_err("rejected");
    assert!(matches!(error, HttpError::NotAllowed(_)), "{error:?}");
    assert!(outsider.requests().is_empty(), "the redirect was not followed");
}

#[tokio::test]
async fn redirect_within_base_followed() {
    let server = RecordingServer::start().await;
    let path = "/leaflink/api/v2/orders-received";
    server.script(path, [Scripted::status(301).with_header("location", "/leaflink/api/v2/orders-received/")]);
    let tenant = tenant(&tenant_settings("slash", server.address));

    let response = tenant.http().send(get(format!("http://{}{path}", server.address))).await.expect("followed");
    assert_eq!(response.status, 200);
    let followed = server.requests_to("/leaflink/api/v2/orders-received/");
    assert_eq!(followed.len(), 1);
    assert!(followed[0].header("authorization").is_some_and(|value| value.starts_with("App ")));
}

#[tokio::test]
async fn bearer_token_cached_between_requests() {
    let server = RecordingServer::start().await;
    let tenant = tenant(&tenant_settings("cached", server.address));
    let base = format!("http://{}/bc/v2.0/tenant/sandbox/api/v2.0", server.address);

    for entity in ["customers", "items", "salesOrders"] {
        let response = tenant.http().send(get(format!("{base}/companies(company)/{entity}"))).await.expect("succeeds");
        assert_eq!(response.status, 200);
    }
    assert_eq!(server.requests_to("/oauth2/").len(), 1, "one token for three requests");
    for request in server.requests_to("/bc/") {
        assert_eq!(request.header("authorization"), Some(format!("Bearer {BC_ACCESS_TOKEN}").as_str()));
    }
    assert_eq!(tenant.api_counters().business_central_requests, 3);
}

#[tokio::test]
async fn rejected_token_refreshed_once() {
    let server = RecordingServer::start().await;
    let tenant = tenant(&tenant_settings("revoked", server.address));
    let path = "/bc/v2.0/tenant/sandbox/api/v2.0/companies";
    server.script(path, [Scripted::status(401)]);

    let response = tenant.http().send(get(format!("http://{}{path}", server.address))).await.expect("succeeds");
    assert_eq!(response.status, 200);
    assert_eq!(server.requests_to("/oauth2/").len(), 2, "the rejected token was replaced");
}

#[tokio::test]
async fn token_endpoint_closed_to_plugins() {
    let server = RecordingServer::start().await;
    let tenant = tenant(&tenant_settings("tokenless", server.address));
    let error = tenant.http().send(post(format!("http://{}/oauth2/v2.0/token", server.address))).await.expect_err("rejected");
    assert!(matches!(error, HttpError::NotAllowed(_)), "{error:?}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn plugin_authorization_header_rejected() {
    let server = RecordingServer::start().await;
    let tenant = tenant(&tenant_settings("forger", server.address));
    let mut request = get(format!("http://{}/leaflink/api/v2/orders-received/", server.address));
    request.headers.push(("Authorization".into(), "App stolen".into()));

    let error = tenant.http().send(request).await.expect_err("rejected");
    assert!(matches!(error, HttpError::InvalidRequest(_)), "{error:?}");
    assert!(server.requests().is_empty());
}
