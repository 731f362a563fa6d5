//! Shared setup of the Business Central sandbox tests: an in-process server
//! on loopback, a bearer token and small request helpers.

#![allow(dead_code)]

use std::time::Duration;

use leafbridge_sandbox::business_central::{self, ConnectionInfo, Options, Server};
use leafbridge_sandbox::{BusinessCentralSeed, ErrorStyle, FaultProfile, Faults};
use serde_json::Value;

pub struct Bc {
    pub server: Server,
    pub info: ConnectionInfo,
    pub client: reqwest::Client,
    pub token: String,
}

pub async fn start_with(rate_limits: bool, notification_delay: Duration) -> Bc {
    start_options(rate_limits, notification_delay, BusinessCentralSeed::default()).await
}

/// Starts a server without rate limits that generates `seed` sizes.
pub async fn start_seeded(seed: BusinessCentralSeed) -> Bc {
    start_options(false, Duration::from_millis(100), seed).await
}

async fn start_options(rate_limits: bool, notification_delay: Duration, seed: BusinessCentralSeed) -> Bc {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let options = Options {
        faults: Faults::new(FaultProfile::default(), ErrorStyle::BusinessCentral),
        rate_limits,
        notification_delay,
        random_seed: 7,
        seed,
    };
    let server = business_central::start(listener, options).await.expect("start the BC sandbox");
    let info = server.info();
    let client = reqwest::Client::new();
    let token = fetch_token(&client, &info).await;
    Bc { server, info, client, token }
}

pub async fn start() -> Bc {
    start_with(false, Duration::from_millis(100)).await
}

pub async fn fetch_token(client: &reqwest::Client, info: &ConnectionInfo) -> String {
    let response = client
        .post(&info.token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", info.client_id.as_str()),
            ("client_secret", info.client_secret.as_str()),
            ("scope", "https://api.businesscentral.dynamics.com/.default"),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("token JSON");
    body["access_token"].as_str().expect("access_token").to_owned()
}

impl Bc {
    /// URL of a path below the company, for example `customers`.
    pub fn company_url(&self, path: &str) -> String {
        format!("{}/companies({})/{}", self.info.base_url, self.info.company_id, path)
    }

    pub async fn call(&self, method: reqwest::Method, url: &str, body: Option<&Value>, if_match: Option<&str>) -> (u16, Value) {
        let mut request = self.client.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        let response = request.send().await.expect("request to the BC sandbox");
        let status = response.status().as_u16();
        let text = response.text().await.expect("response body");
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, &self.company_url(path), None, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, &self.company_url(path), Some(body), None).await
    }

    pub async fn patch(&self, path: &str, body: &Value, if_match: Option<&str>) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, &self.company_url(path), Some(body), if_match).await
    }

    pub async fn delete(&self, path: &str, if_match: Option<&str>) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, &self.company_url(path), None, if_match).await
    }

    /// POSTs a bound action with an empty body.
    pub async fn action(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .post(self.company_url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("action request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

pub fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}
