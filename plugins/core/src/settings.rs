//! The tenant settings the mappings read, with their documented defaults.

use std::collections::BTreeMap;

use crate::error::configuration;
use crate::types::PluginError;

/// The BC customer numbering scheme (`customer_numbering`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerNumbering {
    /// `number` = `customer_numbering.prefix` + the LeafLink customer id.
    LeafLinkId,
    /// BC assigns the number from its number series.
    BcSeries,
}

/// The side that creates products (`product_master`).
/// The LeafLink price field that BC `unitPrice` feeds and is fed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceField {
    Wholesale,
    Retail,
    Sale,
}

impl PriceField {
    /// Returns the LeafLink field name.
    pub fn name(self) -> &'static str {
        match self {
            PriceField::Wholesale => "wholesale_price",
            PriceField::Retail => "retail_price",
            PriceField::Sale => "sale_price",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductMaster {
    BusinessCentral,
    LeafLink,
}

/// The BC unit of measure code for each LeafLink unit until a tenant sets
/// `unit_map.<unit>` itself.
const DEFAULT_UNIT_MAP: [(&str, &str); 8] = [
    ("Unit", "PCS"),
    ("Gram", "GR"),
    ("Kilogram", "KG"),
    ("Milligram", "MG"),
    ("Ounce", "OZ"),
    ("Pound", "LB"),
    ("Liter", "L"),
    ("Milliliter", "ML"),
];

const UNIT_MAP_PREFIX: &str = "unit_map.";
const DEFAULT_CUSTOMER_PREFIX: &str = "LL";
const DEFAULT_COMPANY_CURRENCY: &str = "USD";

/// A tenant's non-secret settings, keyed as in the `settings` import
/// (`time_zone`, `unit_map.Gram`, `plugin.brand`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    values: BTreeMap<String, String>,
    /// The `unit_map.<unit>` entries of `values`, keyed by the LeafLink unit
    /// alone, so mapping an order line looks its unit up without building a key.
    unit_map: BTreeMap<String, String>,
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Settings {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let values: BTreeMap<String, String> = iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let mut settings = Settings { values, unit_map: BTreeMap::new() };
        settings.unit_map =
            settings.with_prefix(UNIT_MAP_PREFIX).map(|(unit, code)| (unit.to_owned(), code.to_owned())).collect();
        settings
    }
}

impl Settings {
    /// Reads every setting through the host's `settings` import.
    #[cfg(target_arch = "wasm32")]
    pub fn from_host() -> Self {
        crate::bindings::leafbridge::plugin::settings::entries("").into_iter().collect()
    }

    /// Returns the trimmed value of `key`; a blank value counts as unset.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// Every setting whose key starts with `prefix`, with the prefix removed.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.values
            .range(prefix.to_string()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(move |(k, v)| (&k[prefix.len()..], v.as_str()))
    }

    /// Returns the IANA time zone that turns LeafLink timestamps into BC dates.
    pub fn time_zone(&self) -> Result<jiff::tz::TimeZone, PluginError> {
        let name = self
            .get("time_zone")
            .ok_or_else(|| configuration("the setting `time_zone` is missing; set it to an IANA name such as America/Denver"))?;
        jiff::tz::TimeZone::get(name)
            .map_err(|e| configuration(format!("the setting `time_zone` = {name:?} is not a known IANA time zone: {e}")))
    }

    /// Returns the G/L account for shipping charges; required only when an order has one.
    pub fn freight_account(&self) -> Result<&str, PluginError> {
        self.get("freight_account").ok_or_else(|| {
            configuration("the setting `freight_account` is missing; set it to the BC G/L account number for shipping charges")
        })
    }

    pub fn customer_numbering(&self) -> Result<CustomerNumbering, PluginError> {
        match self.get("customer_numbering") {
            None | Some("leaflink-id") => Ok(CustomerNumbering::LeafLinkId),
            Some("bc-series") => Ok(CustomerNumbering::BcSeries),
            Some(other) => Err(configuration(format!(
                "the setting `customer_numbering` = {other:?} is invalid; expected `leaflink-id` or `bc-series`"
            ))),
        }
    }

    pub fn customer_prefix(&self) -> &str {
        // An explicitly empty prefix is allowed, so read the raw value.
        self.values.get("customer_numbering.prefix").map(|v| v.trim()).unwrap_or(DEFAULT_CUSTOMER_PREFIX)
    }

    pub fn product_master(&self) -> Result<Option<ProductMaster>, PluginError> {
        match self.get("product_master") {
            None => Ok(None),
            Some("business-central") => Ok(Some(ProductMaster::BusinessCentral)),
            Some("leaflink") => Ok(Some(ProductMaster::LeafLink)),
            Some(other) => Err(configuration(format!(
                "the setting `product_master` = {other:?} is invalid; expected `business-central` or `leaflink`"
            ))),
        }
    }

    /// Returns the LeafLink price field the tenant setting
    /// `products.price_field` names, `wholesale_price` when it is unset.
    pub fn price_field(&self) -> Result<PriceField, PluginError> {
        match self.get("plugin.products.price_field").map(str::trim) {
            None | Some("wholesale_price") => Ok(PriceField::Wholesale),
            Some("retail_price") => Ok(PriceField::Retail),
            Some("sale_price") => Ok(PriceField::Sale),
            Some(other) => Err(configuration(format!(
                "the setting `products.price_field` = {other:?} is invalid; expected `wholesale_price`, `retail_price` or `sale_price`"
            ))),
        }
    }

    /// Returns the company's own currency (`company_currency`, default USD), which BC
    /// expresses as a blank currency code.
    pub fn company_currency(&self) -> &str {
        self.get("company_currency").unwrap_or(DEFAULT_COMPANY_CURRENCY)
    }

    /// Returns the BC unit of measure code for a LeafLink unit: `unit_map.<unit>`, else
    /// the documented default. An unknown unit, or one a tenant set to blank,
    /// is a configuration error, never a guess.
    pub fn bc_unit(&self, leaflink_unit: &str) -> Result<String, PluginError> {
        if let Some(raw) = self.unit_map.get(leaflink_unit) {
            let code = raw.trim();
            if code.is_empty() {
                return Err(configuration(format!(
                    "the setting `{UNIT_MAP_PREFIX}{leaflink_unit}` is blank; set the BC unit of measure code for LeafLink unit {leaflink_unit:?}"
                )));
            }
            return Ok(code.to_uppercase());
        }
        DEFAULT_UNIT_MAP
            .iter()
            .find(|(unit, _)| *unit == leaflink_unit)
            .map(|(_, code)| code.to_string())
            .ok_or_else(|| {
                configuration(format!(
                    "no BC unit of measure for LeafLink unit {leaflink_unit:?}; set `{UNIT_MAP_PREFIX}{leaflink_unit}` to a BC unit of measure code"
                ))
            })
    }

    /// Returns the LeafLink unit for a BC unit of measure code (the reverse of the unit
    /// map). Tenant settings take precedence over the defaults; codes compare
    /// case-insensitively because BC stores Code fields upper-cased.
    pub fn leaflink_unit(&self, bc_code: &str) -> Result<String, PluginError> {
        let wanted = bc_code.trim().to_uppercase();
        if let Some((unit, _)) = self.with_prefix("unit_map.").find(|(_, code)| code.trim().to_uppercase() == wanted) {
            return Ok(unit.to_string());
        }
        DEFAULT_UNIT_MAP
            .iter()
            .filter(|(unit, _)| !self.values.contains_key(&format!("unit_map.{unit}")))
            .find(|(_, code)| *code == wanted)
            .map(|(unit, _)| unit.to_string())
            .ok_or_else(|| {
                configuration(format!(
                    "no LeafLink unit maps to BC unit of measure {bc_code:?}; add a `unit_map.<LeafLink unit>` setting with that code"
                ))
            })
    }

    /// Returns the BC salesperson code for a LeafLink company-staff id, if mapped.
    pub fn salesperson_code(&self, staff_id: i64) -> Option<String> {
        self.get(&format!("salesperson_map.{staff_id}")).map(str::to_uppercase)
    }

    /// Returns a tenant default under `plugin.<key>`.
    pub fn plugin_default(&self, key: &str) -> Option<&str> {
        self.get(&format!("plugin.{key}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_map_setting_overrides_default() {
        let settings: Settings = [("unit_map.Gram", "g")].into_iter().collect();
        assert_eq!(settings.bc_unit("Gram").unwrap(), "G");
        assert_eq!(settings.bc_unit("Unit").unwrap(), "PCS");
    }

    #[test]
    fn unknown_unit_is_configuration_error() {
        let settings = Settings::default();
        let error = settings.bc_unit("Case").unwrap_err();
        let PluginError::Configuration(message) = error else { panic!("expected configuration error, got {error:?}") };
        assert!(message.contains("\"Case\""), "{message}");
        assert!(message.contains("unit_map.Case"), "{message}");
    }

    #[test]
    fn blank_unit_setting_is_configuration_error() {
        let settings: Settings = [("unit_map.Gram", " ")].into_iter().collect();
        assert!(matches!(settings.bc_unit("Gram"), Err(PluginError::Configuration(_))));
    }

    #[test]
    fn reverse_unit_map() {
        let settings: Settings = [("unit_map.Gram", "GRAM")].into_iter().collect();
        assert_eq!(settings.leaflink_unit("gram").unwrap(), "Gram");
        assert_eq!(settings.leaflink_unit("PCS").unwrap(), "Unit");
        // The default GR no longer maps back once Gram has its own code.
        assert!(settings.leaflink_unit("GR").is_err());
    }

    #[test]
    fn prefix_iteration_stops_at_prefix_end() {
        let settings: Settings =
            [("plugin.brand", "49"), ("plugin.category", "7"), ("pluginx", "no"), ("product_master", "leaflink")]
                .into_iter()
                .collect();
        let found: Vec<_> = settings.with_prefix("plugin.").collect();
        assert_eq!(found, vec![("brand", "49"), ("category", "7")]);
    }

    #[test]
    fn invalid_time_zone_names_the_value() {
        let settings: Settings = [("time_zone", "Mars/Olympus")].into_iter().collect();
        let Err(PluginError::Configuration(message)) = settings.time_zone() else { panic!("expected an error") };
        assert!(message.contains("Mars/Olympus"));
    }
}
