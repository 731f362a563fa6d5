//! Credential rejections: an API or the BC token endpoint rejected a tenant's
//! credential, so every further request of the run would fail the same way.
//!
//! The HTTP capability records the first rejection of a tenant context and
//! sends no request after it. The flow engine then stops the run with the
//! message built here instead of sending each record to dead letters.

use std::fmt;

/// The maximum length of a remote error code or detail kept in a message,
/// in bytes.
/// Real codes (`invalid_client`, `Authentication_InvalidCredentials`) and
/// LeafLink details ("Invalid token.") are far shorter.
const MAX_REMOTE_TEXT: usize = 120;

/// The credential or setting an API rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// The key sent as `Authorization: App <key>`.
    LeafLinkApiKey,
    /// The OAuth2 client secret of the tenant's Entra application.
    BusinessCentralClientSecret,
    /// The OAuth2 client id, which the token endpoint did not find.
    BusinessCentralClientId,
    /// The token URL, Entra tenant id or scope of the token request.
    BusinessCentralTokenSettings,
    /// The Entra application behind a new token that BC still rejected:
    /// usually it is not registered on BC's "Microsoft Entra applications"
    /// page, or the token is for another Entra tenant.
    BusinessCentralApplication,
}

impl Credential {
    /// Returns the name a user reads in messages.
    pub fn name(self) -> &'static str {
        match self {
            Credential::LeafLinkApiKey => "leaflink.api_key",
            Credential::BusinessCentralClientSecret => "business_central.client_secret",
            Credential::BusinessCentralClientId => "business_central.client_id",
            Credential::BusinessCentralTokenSettings => "business-central token request settings",
            Credential::BusinessCentralApplication => "business-central application",
        }
    }

    /// Returns what the user runs to fix the credential of `tenant`.
    fn fix(self, tenant: &str) -> String {
        match self {
            Credential::LeafLinkApiKey => format!(
                "set the right key with `printf 'leaflink.api_key=%s\\n' \"$KEY\" | leafbridge tenant credentials {tenant}`"
            ),
            Credential::BusinessCentralClientSecret => format!(
                "set the right secret with `printf 'business_central.client_secret=%s\\n' \"$SECRET\" | leafbridge tenant credentials {tenant}`"
            ),
            Credential::BusinessCentralClientId => {
                format!("set the right client id with `leafbridge tenant edit {tenant} --bc-client-id ID`")
            }
            Credential::BusinessCentralTokenSettings => format!(
                "check the token URL and Entra tenant id with `leafbridge tenant show {tenant}` and correct them with `leafbridge tenant edit {tenant} --bc-token-url URL --bc-tenant-id ID`"
            ),
            Credential::BusinessCentralApplication => format!(
                "register the client id on BC's \"Microsoft Entra applications\" page with a permission set, and check the Entra tenant id with `leafbridge tenant show {tenant}`"
            ),
        }
    }
}

/// The service that rejected a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectingService {
    LeafLink,
    BusinessCentral,
    BusinessCentralToken,
}

impl fmt::Display for RejectingService {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            RejectingService::LeafLink => "LeafLink",
            RejectingService::BusinessCentral => "Business Central",
            RejectingService::BusinessCentralToken => "the Business Central token endpoint",
        })
    }
}

/// A credential that a service rejected, with the status and the error codes
/// it returned. It never contains the credential itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRejection {
    pub tenant: String,
    pub service: RejectingService,
    pub credential: Credential,
    pub status: u16,
    /// The service's error codes, such as `invalid_client` and
    /// `AADSTS7000215`, or LeafLink's `detail` text. Empty when it sent none.
    pub codes: Vec<String>,
}

impl fmt::Display for CredentialRejection {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} rejected the {} (status {}", self.service, self.credential.name(), self.status)?;
        if !self.codes.is_empty() {
            write!(formatter, ", {}", self.codes.join(", "))?;
        }
        write!(formatter, "); {}", self.credential.fix(&self.tenant))
    }
}

impl std::error::Error for CredentialRejection {}

/// Returns the codes of an OAuth2 error body from Microsoft Entra: the
/// `error` field and the `AADSTS<digits>` code that starts
/// `error_description`. The rest of the description is left out, because it
/// carries trace and correlation ids rather than a reason a user can act on.
pub fn token_error_codes(body: &[u8]) -> Vec<String> {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(body) else { return Vec::new() };
    let mut codes = Vec::new();
    if let Some(error) = body.get("error").and_then(serde_json::Value::as_str).and_then(code_text) {
        codes.push(error);
    }
    let description = body.get("error_description").and_then(serde_json::Value::as_str).unwrap_or_default();
    if let Some(aadsts) = aadsts_code(description) {
        codes.push(aadsts);
    }
    codes
}

/// Returns BC's OData error code (`{"error": {"code": ...}}`), if the body
/// has one.
pub fn business_central_error_codes(body: &[u8]) -> Vec<String> {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(body) else { return Vec::new() };
    body.pointer("/error/code").and_then(serde_json::Value::as_str).and_then(code_text).into_iter().collect()
}

/// Returns LeafLink's `detail` text (Django REST framework's error shape),
/// shortened, unless it contains `key`.
pub fn leaflink_error_detail(body: &[u8], key: &str) -> Vec<String> {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(body) else { return Vec::new() };
    let Some(detail) = body.get("detail").and_then(serde_json::Value::as_str) else { return Vec::new() };
    let detail = detail.trim();
    // A server that echoes the credential must not carry it into a message.
    if detail.is_empty() || (!key.is_empty() && detail.contains(key)) {
        return Vec::new();
    }
    vec![detail[..detail.floor_char_boundary(MAX_REMOTE_TEXT)].to_owned()]
}

/// Keeps a code only when it looks like one: letters, digits, `_`, `-` and
/// `.`, at most `MAX_REMOTE_TEXT` bytes.
fn code_text(code: &str) -> Option<String> {
    let code = code.trim();
    let valid = !code.is_empty()
        && code.len() <= MAX_REMOTE_TEXT
        && code.chars().all(|character| character.is_ascii_alphanumeric() || matches!(character, '_' | '-' | '.'));
    valid.then(|| code.to_owned())
}

/// Returns the `AADSTS<digits>` code at the start of an Entra error
/// description, as in "AADSTS7000215: Invalid client secret provided.".
fn aadsts_code(description: &str) -> Option<String> {
    let digits = description.trim_start().strip_prefix("AADSTS")?;
    let length = digits.bytes().take_while(u8::is_ascii_digit).count();
    (length > 0).then(|| format!("AADSTS{}", &digits[..length]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_codes_from_entra_body() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Trace ID: 1","error_codes":[7000215]}"#;
        assert_eq!(token_error_codes(body), vec!["invalid_client".to_owned(), "AADSTS7000215".to_owned()]);
    }

    #[test]
    fn token_codes_skip_malformed_values() {
        assert!(token_error_codes(b"not json").is_empty());
        let body = br#"{"error":"has spaces in it","error_description":"no code here"}"#;
        assert!(token_error_codes(body).is_empty());
    }

    #[test]
    fn business_central_code_from_odata_body() {
        let body = br#"{"error":{"code":"Authentication_InvalidCredentials","message":"The server has rejected the client credentials."}}"#;
        assert_eq!(business_central_error_codes(body), vec!["Authentication_InvalidCredentials".to_owned()]);
    }

    #[test]
    fn leaflink_detail_without_the_key() {
        assert_eq!(leaflink_error_detail(br#"{"detail":"Invalid token."}"#, "k-123"), vec!["Invalid token.".to_owned()]);
        assert!(leaflink_error_detail(br#"{"detail":"Invalid token k-123."}"#, "k-123").is_empty());
    }

    #[test]
    fn message_names_credential_status_codes_and_fix() {
        let rejection = CredentialRejection {
            tenant: "acme".to_owned(),
            service: RejectingService::BusinessCentralToken,
            credential: Credential::BusinessCentralClientSecret,
            status: 401,
            codes: vec!["invalid_client".to_owned(), "AADSTS7000215".to_owned()],
        };
        let message = rejection.to_string();
        assert!(message.starts_with("the Business Central token endpoint rejected the business_central.client_secret"), "{message}");
        assert!(message.contains("status 401, invalid_client, AADSTS7000215"), "{message}");
        assert!(message.contains("leafbridge tenant credentials acme"), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }
}
