//! A tenant's definition: the settings every flow reads, the endpoints of its
//! two APIs and its limits. Secrets are not here; they live encrypted in the
//! store (`store::secrets`).

pub mod status;
pub mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The side that creates products. `products-export` runs only under
/// `BusinessCentral`, and `products-import` only under `LeafLink`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProductMaster {
    #[serde(rename = "business-central")]
    BusinessCentral,
    #[serde(rename = "leaflink")]
    LeafLink,
}

/// The rule that chooses BC numbers for customers created from LeafLink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CustomerNumbering {
    /// BC `number` = `prefix` + LeafLink customer id. Deterministic, so a lost
    /// store finds the customer again by number.
    #[serde(rename = "leaflink-id", alias = "leaf-link-id")]
    LeafLinkId { prefix: String },
    /// BC assigns numbers from its series; leafbridge matches on the
    /// cross-reference, and after a lost store on display name and address.
    BcSeries,
}

/// The key `link` uses to pair existing customers at go-live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CustomerMatchKey {
    /// BC `number` against LeafLink `external_id`.
    ExternalId,
    /// BC `email` against LeafLink `email`.
    Email,
    /// BC `taxRegistrationNumber` against LeafLink `license_number`.
    LicenseNumber,
}

/// The LeafLink side of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeafLinkEndpoint {
    /// The `/api/v2` root, e.g. `https://app.leaflink.com/api/v2`.
    pub base_url: String,
    /// The seller company id, required when creating products.
    pub company_id: Option<i64>,
    /// Company-staff id recorded as the author of order payments.
    pub recorded_by: Option<i64>,
}

/// The Business Central side of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessCentralEndpoint {
    /// The `/api/v2.0` root of the environment,
    /// e.g. `https://api.businesscentral.dynamics.com/v2.0/{tenant}/{env}/api/v2.0`.
    pub base_url: String,
    /// The OAuth2 token endpoint.
    pub token_url: String,
    pub tenant_id: String,
    pub environment: String,
    pub company_id: String,
    pub client_id: String,
    /// OAuth2 scope; defaults to `https://api.businesscentral.dynamics.com/.default`.
    pub scope: Option<String>,
}

/// Per-tenant plugin limits; each is clamped to the host-wide bounds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub memory_bytes: Option<u64>,
    pub cpu_millis: Option<u64>,
    pub wall_clock_millis: Option<u64>,
}

/// Everything a flow reads about a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// A misspelt key in a tenant file must fail loudly instead of leaving the
// setting at its default, here and in the nested tables.
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    pub name: String,
    /// Nothing created in LeafLink before this instant is imported.
    pub go_live: jiff::Timestamp,
    /// IANA time zone name, used for BC dates such as `orderDate`.
    pub time_zone: String,
    pub product_master: ProductMaster,
    /// LeafLink statuses that make an order importable.
    #[serde(default = "default_order_statuses")]
    pub order_statuses_to_import: Vec<String>,
    /// BC G/L account number for shipping charges.
    pub freight_account: String,
    /// LeafLink `unit_of_measure` -> BC unit of measure code.
    #[serde(default = "default_unit_map")]
    pub unit_map: BTreeMap<String, String>,
    /// LeafLink company-staff id -> BC salesperson code; staff not listed are
    /// matched by email.
    #[serde(default)]
    pub salesperson_map: BTreeMap<String, String>,
    #[serde(default = "default_customer_numbering")]
    pub customer_numbering: CustomerNumbering,
    #[serde(default = "default_customer_match_key")]
    pub customer_match_key: CustomerMatchKey,
    pub leaflink: LeafLinkEndpoint,
    pub business_central: BusinessCentralEndpoint,
    #[serde(default)]
    pub limits: LimitSettings,
    /// Where the admins hear of failures: a webhook URL or an email address.
    #[serde(default)]
    pub notify: Option<String>,
    /// Free-form settings passed to plugins through the `settings` import
    /// (for example the override plugin's own choices).
    #[serde(default)]
    pub plugin_settings: BTreeMap<String, String>,
}

pub fn default_order_statuses() -> Vec<String> {
    vec!["Submitted".to_owned(), "Accepted".to_owned()]
}

pub fn default_unit_map() -> BTreeMap<String, String> {
    [
        ("Unit", "PCS"),
        ("Gram", "GR"),
        ("Kilogram", "KG"),
        ("Milligram", "MG"),
        ("Ounce", "OZ"),
        ("Pound", "LB"),
        ("Liter", "L"),
        ("Milliliter", "ML"),
    ]
    .into_iter()
    .map(|(leaflink, bc)| (leaflink.to_owned(), bc.to_owned()))
    .collect()
}

pub fn default_customer_numbering() -> CustomerNumbering {
    CustomerNumbering::LeafLinkId { prefix: "LL".to_owned() }
}

pub fn default_customer_match_key() -> CustomerMatchKey {
    CustomerMatchKey::ExternalId
}

#[cfg(test)]
mod tests {
    use super::TenantSettings;

    const EXAMPLE: &str = include_str!("../../../tenants/evergreen-farms/tenant.toml");

    #[test]
    fn example_tenant_file_parses() {
        let parsed = toml::from_str::<TenantSettings>(EXAMPLE);
        assert!(parsed.is_ok(), "{parsed:?}");
    }

    #[test]
    fn misspelt_key_rejected() {
        let misspelt = EXAMPLE.replacen("customer_match_key", "customer_match_kee", 1);
        let error = toml::from_str::<TenantSettings>(&misspelt).expect_err("a misspelt key must be rejected");
        assert!(error.to_string().contains("customer_match_kee"), "{error}");
    }

    #[test]
    fn misspelt_nested_key_rejected() {
        let misspelt = EXAMPLE.replacen("recorded_by", "recorded_bye", 1);
        let error = toml::from_str::<TenantSettings>(&misspelt).expect_err("a misspelt nested key must be rejected");
        assert!(error.to_string().contains("recorded_bye"), "{error}");
    }
}
