//! BC bearer tokens from the OAuth2 client-credentials grant, cached until
//! shortly before they expire. BC access tokens live about an hour and the
//! flow has no refresh token, so the host requests a new one each time.

use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::rejection::{Credential, token_error_codes};
use super::secret::Secret;

/// Scope used when the tenant's settings name none.
pub const DEFAULT_SCOPE: &str = "https://api.businesscentral.dynamics.com/.default";

/// A token is replaced this long before its stated expiry, so a request that
/// starts with it does not arrive after it expired.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// Token requests give up after this many attempts.
const TOKEN_ATTEMPTS: u32 = 3;

/// One BC identity: the token endpoint, client id, secret and scope.
#[derive(Debug)]
pub struct TokenSource {
    token_url: String,
    client_id: String,
    client_secret: Secret,
    scope: String,
    cached: Mutex<Option<CachedToken>>,
}

#[derive(Debug)]
struct CachedToken {
    token: Secret,
    refresh_at: Instant,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    /// Seconds; Microsoft Entra sends a number, some servers a string.
    expires_in: serde_json::Value,
}

/// No token could be obtained. The message never includes the secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    /// The token endpoint returned a status other than 2xx, 408, 429 and 5xx:
    /// the client id, secret or token settings are wrong, and a retry fails
    /// the same way.
    #[error("token endpoint {url} rejected the request with status {status}{}", describe_codes(.codes))]
    Rejected { url: String, status: u16, codes: Vec<String> },
    /// The endpoint could not be reached, kept failing with 408, 429 or 5xx
    /// after every attempt, or returned a body without a usable token.
    #[error("{0}")]
    Unavailable(String),
}

/// Returns the credential or setting a token rejection points at. An
/// `invalid_client` error or a 401 means the secret, since Entra returns 401
/// `invalid_client` with AADSTS7000215 for a wrong secret, and
/// `unauthorized_client` means an unknown client id (AADSTS700016). Any other
/// rejection points at the token URL, Entra tenant or scope.
pub fn rejected_credential(status: u16, codes: &[String]) -> Credential {
    let has = |code: &str| codes.iter().any(|candidate| candidate == code);
    if has("invalid_client") || (status == 401 && !has("unauthorized_client")) {
        Credential::BusinessCentralClientSecret
    } else if has("unauthorized_client") {
        Credential::BusinessCentralClientId
    } else {
        Credential::BusinessCentralTokenSettings
    }
}

fn describe_codes(codes: &[String]) -> String {
    if codes.is_empty() { String::new() } else { format!(" ({})", codes.join(", ")) }
}

impl TokenSource {
    pub fn new(token_url: String, client_id: String, client_secret: Secret, scope: Option<String>) -> Self {
        Self {
            token_url,
            client_id,
            client_secret,
            scope: scope.filter(|scope| !scope.is_empty()).unwrap_or_else(|| DEFAULT_SCOPE.to_owned()),
            cached: Mutex::new(None),
        }
    }

    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// Returns a valid bearer token, from the cache unless it is about to
    /// expire or `stale` is the token the API just rejected.
    pub async fn bearer(&self, client: &reqwest::Client, stale: Option<&Secret>) -> Result<Secret, TokenError> {
        // Holding the lock across the request means concurrent callers wait
        // for one token request instead of each sending their own.
        let mut cached = self.cached.lock().await;
        if let Some(current) = cached.as_ref() {
            let rejected = stale.is_some_and(|stale| *stale == current.token);
            if !rejected && Instant::now() < current.refresh_at {
                return Ok(current.token.clone());
            }
        }
        let fresh = self.request(client).await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    async fn request(&self, client: &reqwest::Client) -> Result<CachedToken, TokenError> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("scope", self.scope.as_str()),
        ];
        let mut last_error = String::new();
        for attempt in 1..=TOKEN_ATTEMPTS {
            let sent = Instant::now();
            match client.post(&self.token_url).form(&form).send().await {
                Ok(response) if response.status().is_success() => {
                    let answer: TokenAnswer = response.json().await.map_err(|error| {
                        TokenError::Unavailable(format!("token endpoint {} returned an invalid body: {error}", self.token_url))
                    })?;
                    let lifetime = parse_lifetime(&answer.expires_in).ok_or_else(|| {
                        TokenError::Unavailable(format!("token endpoint {} returned an invalid expires_in", self.token_url))
                    })?;
                    // Short-lived tokens are refreshed at half their life, so
                    // the margin never exceeds the lifetime.
                    let margin = EXPIRY_MARGIN.min(lifetime / 2);
                    return Ok(CachedToken { token: Secret::new(answer.access_token), refresh_at: sent + lifetime - margin });
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    // The OAuth2 error body carries codes such as
                    // `invalid_client`. It never echoes the secret. A body
                    // that cannot be read leaves the codes empty.
                    let body = response.bytes().await.unwrap_or_default();
                    let codes = token_error_codes(&body);
                    let transient = matches!(status, 408 | 429) || status >= 500;
                    if !transient {
                        return Err(TokenError::Rejected { url: self.token_url.clone(), status, codes });
                    }
                    last_error = format!("token endpoint {} returned status {status}{}", self.token_url, describe_codes(&codes));
                }
                Err(error) => last_error = format!("token request to {} failed: {error}", self.token_url),
            }
            if attempt < TOKEN_ATTEMPTS {
                tracing::info!(token_url = %self.token_url, attempt, error = %last_error, "Retrying the BC token request.");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
        Err(TokenError::Unavailable(last_error))
    }
}

fn parse_lifetime(value: &serde_json::Value) -> Option<Duration> {
    let seconds = match value {
        serde_json::Value::Number(number) => number.as_u64(),
        serde_json::Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }?;
    (seconds > 0).then(|| Duration::from_secs(seconds))
}
