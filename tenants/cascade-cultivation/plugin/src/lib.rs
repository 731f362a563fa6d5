//! Cascade Cultivation's override plugin (the `tenant-overrides` world).
//!
//! Cascade keeps its catalogue in Business Central, so new LeafLink products
//! come from BC items. The owner chose these LeafLink fields:
//! - `wholesale_price`: the BC item `unitPrice` times the case size
//!   (`unit_multiplier`), because LeafLink's wholesale price is a case price;
//! - `minimum_order`: the setting `overrides.minimum_order` (default 1);
//! - `inventory_management`: the setting `overrides.inventory_management`
//!   (1 Managed, 2 Unlimited, 3 Inherited; default 1);
//! - `unit_of_measure_name`: a readable name for the BC base unit of measure;
//! - `retail_price`, when the core sets none: the wholesale price times the
//!   setting `overrides.retail_markup` (default 2).
//!
//! Settings are the tenant's `plugin_settings`, read under the `plugin.` prefix.
//!
//! It also changes one field of the core's result: every payment it records in
//! LeafLink has payment type `ach`, since Cascade is paid by bank transfer.

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "tenant-overrides",
    });
}

use std::str::FromStr;

use bindings::exports::leafbridge::plugin::overrides::Guest;
use bindings::leafbridge::plugin::settings;
use bindings::leafbridge::plugin::types::{
    BcCustomer, BcCustomerPayment, BcItem, BcSalesOrder, LlCustomer, LlNewProduct, LlOrder, LlPayment, LlProduct,
    LlProductPatch, Money, PluginError, RecordError,
};
use rust_decimal::Decimal;

struct Overrides;

/// A readable unit name for a BC unit of measure code.
fn unit_name(code: &str) -> &'static str {
    match code {
        "PCS" => "Each",
        "GR" => "Gram",
        "KG" => "Kilogram",
        "MG" => "Milligram",
        "OZ" => "Ounce",
        "LB" => "Pound",
        "L" => "Liter",
        "ML" => "Milliliter",
        _ => "Unit",
    }
}

fn invalid(item: &BcItem, field: &str, reason: String) -> PluginError {
    PluginError::InvalidRecord(RecordError { record: format!("sku {}", item.number), field: Some(field.to_owned()), reason })
}

/// A decimal from the tenant's `plugin_settings`, which the host serves
/// under the `plugin.` prefix.
fn decimal_setting(key: &str, default: &str) -> Result<Decimal, PluginError> {
    let text = settings::get(&format!("plugin.{key}")).unwrap_or_else(|| default.to_owned());
    Decimal::from_str(text.trim())
        .map_err(|error| PluginError::Configuration(format!("setting {key} = {text:?} is not a decimal: {error}")))
}

impl Guest for Overrides {
    fn customer(_source: LlCustomer, mapped: BcCustomer) -> Result<BcCustomer, PluginError> {
        Ok(mapped)
    }

    fn item(_source: LlProduct, mapped: BcItem) -> Result<BcItem, PluginError> {
        Ok(mapped)
    }

    fn sales_order(_source: LlOrder, mapped: BcSalesOrder) -> Result<BcSalesOrder, PluginError> {
        Ok(mapped)
    }

    fn new_product(source: BcItem, mut mapped: LlNewProduct) -> Result<LlNewProduct, PluginError> {
        let unit_price = source
            .unit_price
            .as_deref()
            .ok_or_else(|| invalid(&source, "unitPrice", "the item has no unit price to set the wholesale price from".to_owned()))?;
        let unit_price = Decimal::from_str(unit_price)
            .map_err(|error| invalid(&source, "unitPrice", format!("{unit_price:?} is not a decimal: {error}")))?;
        let case_size = Decimal::from_str(&mapped.unit_multiplier).unwrap_or(Decimal::ONE);
        let wholesale = (unit_price * case_size).round_dp(2);
        let currency = mapped.wholesale_price.currency.clone();
        mapped.wholesale_price = Money { amount: wholesale.normalize().to_string(), currency: currency.clone() };
        if mapped.retail_price.is_none() {
            let markup = decimal_setting("overrides.retail_markup", "2")?;
            mapped.retail_price = Some(Money { amount: (wholesale * markup).round_dp(2).normalize().to_string(), currency });
        }

        mapped.minimum_order = Some(decimal_setting("overrides.minimum_order", "1")?.normalize().to_string());
        let management = decimal_setting("overrides.inventory_management", "1")?;
        mapped.inventory_management = match management.to_string().as_str() {
            "1" => 1,
            "2" => 2,
            "3" => 3,
            other => return Err(PluginError::Configuration(format!("setting overrides.inventory_management = {other} must be 1, 2 or 3"))),
        };
        let code = source.base_unit_of_measure_code.as_deref().unwrap_or("PCS");
        mapped.unit_of_measure_name = Some(unit_name(code).to_owned());
        Ok(mapped)
    }

    fn product_patch(_source: BcItem, mapped: LlProductPatch) -> Result<LlProductPatch, PluginError> {
        Ok(mapped)
    }

    fn payment(_source: BcCustomerPayment, mut mapped: LlPayment) -> Result<LlPayment, PluginError> {
        mapped.payment_type = Some("ach".to_owned());
        Ok(mapped)
    }
}

bindings::export!(Overrides with_types_in bindings);
