//! The Business Central API v2.0 stand-in. TODO: being written.

/// What a BC client needs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The `/api/v2.0` root of the environment.
    pub base_url: String,
    pub token_url: String,
    pub tenant_id: String,
    pub environment: String,
    pub client_id: String,
    pub client_secret: String,
    pub company_id: String,
}
