//! The LeafLink Marketplace API v2 stand-in. TODO: being written.

/// What a LeafLink client needs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The `/api/v2` root.
    pub base_url: String,
    pub api_key: String,
}
