//! Products and items: products-import and products met in an order (LeafLink
//! product -> BC item), products-export (BC item -> new LeafLink product),
//! products-push (BC item -> LeafLink product patch) and products-pull
//! (LeafLink product -> BC item update).

use rust_decimal::Decimal;

use crate::error::{decimal_field, invalid_record};
use crate::pricing::{bc_unit_price, canonical, leaflink_case_price};
use crate::settings::{PriceField, ProductMaster, Settings};
use crate::text::{bc_len, fit_field};
use crate::types::{BcItem, LlNewProduct, LlProduct, LlProductPatch, Money, PluginError};
use leafbridge_guest_json::extras::{self, ExtrasWriter};
use serde_json::value::RawValue;

/// BC `items.number` is a Code[20]; `items.gtin` is a Text[14].
const ITEM_NUMBER_MAX: usize = 20;
const GTIN_MAX: usize = 14;

/// LeafLink `inventory_management` 1 = Managed.
const INVENTORY_MANAGED: i64 = 1;

/// LeafLink product fields (the `ProductCreate` schema) that a tenant may
/// default through `plugin.<field>` settings and that travel in `extras`.
const PRODUCT_DEFAULT_FIELDS: &[&str] = &[
    "drop_date", "description", "AVAILABLE_FOR_SAMPLES", "extern_acct_id", "extern_income_acct_id", "featured",
    "tagline", "allow_fractional_quantities", "parent", "listing_state", "display_listing_state",
    "sell_in_unit_of_measure", "unit_denomination", "category", "sub_category", "grow_type", "seller",
    "seller_internal_id", "brand", "product_line", "manufacturer", "strain_classification", "license", "strains",
    "extern_sts_ids", "base_units_per_unit", "external_ids", "threshold_value", "threshold_action",
    "reverse_threshold_value", "reverse_threshold_action", "show_quantity", "product_data_items",
];

fn product_record(product: &LlProduct) -> String {
    format!("product {} (sku {})", product.id, product.sku)
}

/// Returns the BC item number for a SKU: the SKU upper-cased (BC stores Code fields
/// upper-cased) when it fits a Code[20], else `None`.
pub fn item_number_for_sku(sku: &str) -> Option<String> {
    let sku = sku.trim();
    let fits = !sku.is_empty() && bc_len(sku) <= ITEM_NUMBER_MAX && !sku.chars().any(char::is_control);
    fits.then(|| sku.to_uppercase())
}

/// Maps a LeafLink product to the BC item to create.
///
/// `number` is the SKU when it fits; otherwise `LL<product id>`, with the full
/// SKU in `extras` as `sku` (and in `gtin` when it fits 14 characters), so the
/// cross-reference can still find it. `unitPrice` is set only when LeafLink is
/// the product master.
pub fn map_product(settings: &Settings, product: &LlProduct) -> Result<BcItem, PluginError> {
    let record = product_record(product);
    let mut extras = ExtrasWriter::new();

    let sku = product.sku.trim();
    if sku.is_empty() {
        return Err(invalid_record(&record, Some("sku"), "the product has no SKU"));
    }
    let (number, gtin) = match item_number_for_sku(sku) {
        Some(number) => (number, None),
        None => {
            extras.push_string("sku", sku);
            let gtin = (bc_len(sku) <= GTIN_MAX && !sku.chars().any(char::is_control)).then(|| sku.to_string());
            (format!("LL{}", product.id), gtin)
        }
    };

    let name = product.name.trim();
    if name.is_empty() {
        return Err(invalid_record(&record, Some("name"), "the product has no name"));
    }

    let base_unit_of_measure_code = product.unit_of_measure.as_deref().map(|unit| settings.bc_unit(unit)).transpose()?;

    let unit_price = if settings.product_master()? == Some(ProductMaster::LeafLink) {
        product_unit_price(&record, product, settings.price_field()?)?
    } else {
        None
    };

    extras.push_integer("leaflink_product_id", product.id);
    if let Some(last_edit) = product.last_edit.as_deref() {
        extras.push_string("last_edit", last_edit);
    }

    Ok(BcItem {
        id: None,
        number,
        display_name: fit_field("displayName", name, 100, &mut extras),
        gtin,
        base_unit_of_measure_code,
        item_category_code: None,
        unit_price,
        inventory: None,
        blocked: false,
        etag: None,
        last_modified: None,
        extras: extras.finish(),
    })
}

/// Returns the BC unit price for the product's case price in `field`.
fn product_unit_price(record: &str, product: &LlProduct, field: PriceField) -> Result<Option<String>, PluginError> {
    let Some(price) = price_of(product, field) else { return Ok(None) };
    let price = decimal_field(record, field.name(), &price.amount)?;
    // A zero price counts as no price, so BC keeps its own: a product with
    // no sale on can carry a sale price of 0.
    if price.is_zero() {
        return Ok(None);
    }
    let multiplier = positive_multiplier(record, &product.unit_multiplier)?;
    Ok(Some(canonical(bc_unit_price(price, multiplier))))
}

fn price_of(product: &LlProduct, field: PriceField) -> Option<&Money> {
    match field {
        PriceField::Wholesale => product.wholesale_price.as_ref(),
        PriceField::Retail => product.retail_price.as_ref(),
        PriceField::Sale => product.sale_price.as_ref(),
    }
}

fn positive_multiplier(record: &str, text: &str) -> Result<Decimal, PluginError> {
    let multiplier = decimal_field(record, "unit_multiplier", text)?;
    if multiplier <= Decimal::ZERO {
        return Err(invalid_record(record, Some("unit_multiplier"), format!("unit_multiplier must be positive, got {text}")));
    }
    Ok(multiplier)
}

/// Computes the BC item update a LeafLink product requires (products-pull).
///
/// Only the fields this flow carries are set (`displayName`, `unitPrice`,
/// `baseUnitOfMeasureCode`), so an update sends nothing else. Stock is not
/// pulled: BC owns it, and BC computes `inventory` from its item ledger.
pub fn item_update(settings: &Settings, product: &LlProduct, item: &BcItem) -> Result<BcItem, PluginError> {
    let record = product_record(product);
    let mut extras = ExtrasWriter::new();
    let name = product.name.trim();
    if name.is_empty() {
        return Err(invalid_record(&record, Some("name"), "the product has no name"));
    }
    let base_unit_of_measure_code = product.unit_of_measure.as_deref().map(|unit| settings.bc_unit(unit)).transpose()?;
    Ok(BcItem {
        id: item.id.clone(),
        number: item.number.clone(),
        display_name: fit_field("displayName", name, 100, &mut extras),
        gtin: None,
        base_unit_of_measure_code,
        item_category_code: None,
        unit_price: product_unit_price(&record, product, settings.price_field()?)?,
        inventory: None,
        blocked: item.blocked,
        etag: item.etag.clone(),
        last_modified: item.last_modified.clone(),
        extras: extras.finish(),
    })
}

/// Builds the LeafLink product to create for a BC item (products-export).
///
/// SKU, name, wholesale price and unit come from the item. The unit
/// multiplier, sale and retail prices, order limits, inventory management and
/// unit of measure name come from `plugin.<field>` tenant defaults, and every
/// other `ProductCreate` field a tenant defaults goes to `extras`.
pub fn new_product(settings: &Settings, item: &BcItem) -> Result<LlNewProduct, PluginError> {
    let record = format!("item {}", item.number);
    let currency = settings.company_currency().to_string();

    let sku = item.number.trim();
    if sku.is_empty() {
        return Err(invalid_record(&record, Some("number"), "the item has no number"));
    }
    let name = item.display_name.trim();
    if name.is_empty() {
        return Err(invalid_record(&record, Some("displayName"), "the item has no display name"));
    }
    let Some(unit_code) = item.base_unit_of_measure_code.as_deref().filter(|u| !u.trim().is_empty()) else {
        return Err(invalid_record(&record, Some("baseUnitOfMeasureCode"), "the item has no base unit of measure"));
    };
    let unit_of_measure = settings.leaflink_unit(unit_code)?;

    let multiplier_text = settings.plugin_default("unit_multiplier").unwrap_or("1");
    let multiplier = positive_multiplier("setting plugin.unit_multiplier", multiplier_text)?;
    let Some(unit_price) = item.unit_price.as_deref() else {
        return Err(invalid_record(&record, Some("unitPrice"), "the item has no unit price"));
    };
    let unit_price = decimal_field(&record, "unitPrice", unit_price)?;

    let money_default = |key: &str| -> Result<Option<Money>, PluginError> {
        settings
            .plugin_default(key)
            .map(|text| {
                decimal_field(&format!("setting plugin.{key}"), key, text)
                    .map(|amount| Money { amount: canonical(amount), currency: currency.clone() })
            })
            .transpose()
    };
    let decimal_default = |key: &str| -> Result<Option<String>, PluginError> {
        settings
            .plugin_default(key)
            .map(|text| decimal_field(&format!("setting plugin.{key}"), key, text).map(canonical))
            .transpose()
    };
    let inventory_management = match settings.plugin_default("inventory_management") {
        None => INVENTORY_MANAGED,
        Some(text) => text.parse().map_err(|_| {
            crate::error::configuration(format!("the setting `plugin.inventory_management` = {text:?} is not an integer id"))
        })?,
    };

    let mut extras = ExtrasWriter::new();
    for field in PRODUCT_DEFAULT_FIELDS {
        if let Some(value) = settings.plugin_default(field) {
            push_setting(&mut extras, field, value);
        }
    }

    Ok(LlNewProduct {
        sku: sku.to_string(),
        name: name.to_string(),
        display_name: Some(name.to_string()),
        description: None,
        unit_of_measure,
        unit_multiplier: canonical(multiplier),
        wholesale_price: Money { amount: canonical(leaflink_case_price(unit_price, multiplier)), currency: currency.clone() },
        retail_price: money_default("retail_price")?,
        sale_price: Some(money_default("sale_price")?.unwrap_or(Money { amount: "0".into(), currency })),
        minimum_order: decimal_default("minimum_order")?,
        maximum_order: decimal_default("maximum_order")?,
        inventory_management,
        unit_of_measure_name: settings.plugin_default("unit_of_measure_name").map(str::to_string),
        quantity: item.inventory.as_deref().map(|q| decimal_field(&record, "inventory", q).map(canonical)).transpose()?,
        extras: extras.finish(),
    })
}

/// Appends a setting value as JSON: the value itself when it is valid JSON
/// (`49`, `true`, `[1,2]`), else a JSON string.
fn push_setting(extras: &mut ExtrasWriter, field: &str, value: &str) {
    match serde_json::from_str::<&RawValue>(value) {
        Ok(json) => extras.push_raw(field, json),
        Err(_) => extras.push_string(field, value),
    }
}

/// Computes the LeafLink product patch a BC item requires (products-push). Only the
/// fields that differ are set: `displayName` -> `name`, `unitPrice` -> the
/// price field `products.price_field` names (`wholesale_price` by default; per
/// case, in the company currency), `inventory` -> `quantity`.
pub fn product_patch(settings: &Settings, item: &BcItem, product: &LlProduct) -> Result<LlProductPatch, PluginError> {
    let record = format!("item {}", item.number);
    let product_key = product_record(product);

    let name = item.display_name.trim();
    let name = (!name.is_empty() && name != product.name.trim()).then(|| name.to_string());

    let price_field = settings.price_field()?;
    let price = match item.unit_price.as_deref() {
        None => None,
        Some(text) => {
            let unit_price = decimal_field(&record, "unitPrice", text)?;
            let multiplier = positive_multiplier(&product_key, &product.unit_multiplier)?;
            let case_price = leaflink_case_price(unit_price, multiplier);
            let current = price_of(product, price_field)
                .map(|money| decimal_field(&product_key, price_field.name(), &money.amount))
                .transpose()?;
            (current != Some(case_price))
                .then(|| Money { amount: canonical(case_price), currency: settings.company_currency().to_string() })
        }
    };
    let (mut wholesale_price, mut retail_price, mut sale_price) = (None, None, None);
    match price_field {
        PriceField::Wholesale => wholesale_price = price,
        PriceField::Retail => retail_price = price,
        PriceField::Sale => sale_price = price,
    }

    let quantity = match item.inventory.as_deref() {
        None => None,
        Some(text) => {
            let inventory = decimal_field(&record, "inventory", text)?;
            let current = product.quantity.as_deref().map(|q| decimal_field(&product_key, "quantity", q)).transpose()?;
            (current != Some(inventory)).then(|| canonical(inventory))
        }
    };

    Ok(LlProductPatch { name, wholesale_price, retail_price, sale_price, quantity, extras: extras::EMPTY.into() })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn product() -> LlProduct {
        LlProduct {
            id: 2093,
            name: "Swiss Masters Chocolate Bar (Dark)".into(),
            sku: "swi-bar-dar-100".into(),
            display_name: Some("Swiss Masters Chocolate Bar (Dark)".into()),
            description: None,
            unit_of_measure: Some("Unit".into()),
            unit_multiplier: "12".into(),
            quantity: Some("800".into()),
            reserved_qty: Some("120".into()),
            wholesale_price: Some(Money { amount: "108".into(), currency: "USD".into() }),
            retail_price: Some(Money { amount: "18".into(), currency: "USD".into() }),
            sale_price: None,
            minimum_order: Some("1".into()),
            maximum_order: None,
            inventory_management: Some(1),
            listing_state: Some("Available".into()),
            last_edit: Some("2020-04-27T13:41:29.797149Z".into()),
            modified: None,
            extras: "{}".into(),
        }
    }

    fn item() -> BcItem {
        BcItem {
            id: Some("fca5738a-44e3-ea11-bb43-000d3a2feca1".into()),
            number: "SWI-BAR-DAR-100".into(),
            display_name: "Swiss Masters Chocolate Bar (Dark)".into(),
            gtin: None,
            base_unit_of_measure_code: Some("PCS".into()),
            item_category_code: None,
            unit_price: Some("9".into()),
            inventory: Some("800".into()),
            blocked: false,
            etag: Some("W/\"abc\"".into()),
            last_modified: None,
            extras: "{}".into(),
        }
    }

    #[test]
    fn sku_becomes_upper_case_number() {
        let mapped = map_product(&Settings::default(), &product()).unwrap();
        assert_eq!(mapped.number, "SWI-BAR-DAR-100");
        assert_eq!(mapped.base_unit_of_measure_code.as_deref(), Some("PCS"));
        assert_eq!(mapped.unit_price, None, "no price unless LeafLink is the product master");
    }

    #[test]
    fn long_sku_gets_short_number() {
        let mut source = product();
        source.sku = "SWISS-MASTERS-DARK-CHOCOLATE-100MG".into();
        let mapped = map_product(&Settings::default(), &source).unwrap();
        assert_eq!(mapped.number, "LL2093");
        assert_eq!(mapped.gtin, None, "34 characters do not fit a GTIN either");
        let sku = extras::field(&mapped.extras, "sku").unwrap();
        assert_eq!(sku, Some("\"SWISS-MASTERS-DARK-CHOCOLATE-100MG\""));
    }

    #[test]
    fn leaflink_master_sets_unit_price_per_unit() {
        let settings: Settings = [("product_master", "leaflink")].into_iter().collect();
        let mapped = map_product(&settings, &product()).unwrap();
        assert_eq!(mapped.unit_price.as_deref(), Some("9"));
    }

    #[test]
    fn unmapped_unit_is_configuration_error() {
        let mut source = product();
        source.unit_of_measure = Some("Bushel".into());
        assert!(matches!(map_product(&Settings::default(), &source), Err(PluginError::Configuration(_))));
    }

    #[test]
    fn new_product_from_item_and_defaults() {
        let settings: Settings = [
            ("plugin.unit_multiplier", "12"),
            ("plugin.brand", "49"),
            ("plugin.strain_classification", "na"),
            ("plugin.not_a_product_field", "x"),
        ]
        .into_iter()
        .collect();
        let created = new_product(&settings, &item()).unwrap();
        assert_eq!(created.sku, "SWI-BAR-DAR-100");
        assert_eq!(created.unit_of_measure, "Unit");
        assert_eq!(created.unit_multiplier, "12");
        assert_eq!(created.wholesale_price.amount, "108");
        assert_eq!(created.wholesale_price.currency, "USD");
        assert_eq!(created.sale_price.as_ref().unwrap().amount, "0");
        assert_eq!(created.inventory_management, 1);
        assert_eq!(created.extras, r#"{"brand":49,"strain_classification":"na"}"#);
    }

    #[test]
    fn new_product_without_unit_names_item() {
        let mut source = item();
        source.base_unit_of_measure_code = None;
        let PluginError::InvalidRecord(error) = new_product(&Settings::default(), &source).unwrap_err() else {
            panic!("expected invalid-record")
        };
        assert_eq!(error.record, "item SWI-BAR-DAR-100");
        assert_eq!(error.field.as_deref(), Some("baseUnitOfMeasureCode"));
    }

    #[test]
    fn patch_sets_only_changed_fields() {
        let patch = product_patch(&Settings::default(), &item(), &product()).unwrap();
        assert_eq!(patch, LlProductPatch { name: None, wholesale_price: None, retail_price: None, sale_price: None, quantity: None, extras: "{}".into() });

        let mut changed = item();
        changed.display_name = "Dark Bar".into();
        changed.unit_price = Some("9.5".into());
        changed.inventory = Some("650".into());
        let patch = product_patch(&Settings::default(), &changed, &product()).unwrap();
        assert_eq!(patch.name.as_deref(), Some("Dark Bar"));
        assert_eq!(patch.wholesale_price.unwrap().amount, "114");
        assert_eq!(patch.quantity.as_deref(), Some("650"));
    }

    #[test]
    fn item_update_carries_name_and_price() {
        let mut source = product();
        source.name = "Dark Bar".into();
        source.wholesale_price = Some(Money { amount: "120".into(), currency: "USD".into() });
        let updated = item_update(&Settings::default(), &source, &item()).unwrap();
        assert_eq!(updated.id, item().id);
        assert_eq!(updated.etag, item().etag);
        assert_eq!(updated.display_name, "Dark Bar");
        assert_eq!(updated.unit_price.as_deref(), Some("10"));
        assert_eq!(updated.inventory, None);
    }

    #[test]
    fn price_field_setting_picks_leaflink_price() {
        let settings: Settings = [("plugin.products.price_field", "sale_price")].into_iter().collect();
        let mut changed = item();
        changed.unit_price = Some("9.5".into());
        let patch = product_patch(&settings, &changed, &product()).unwrap();
        assert_eq!(patch.wholesale_price, None);
        assert_eq!(patch.sale_price.unwrap().amount, "114");

        let mut source = product();
        source.sale_price = Some(Money { amount: "60".into(), currency: "USD".into() });
        let updated = item_update(&settings, &source, &item()).unwrap();
        assert_eq!(updated.unit_price.as_deref(), Some("5"));
        source.sale_price = Some(Money { amount: "0.00".into(), currency: "USD".into() });
        let updated = item_update(&settings, &source, &item()).unwrap();
        assert_eq!(updated.unit_price, None, "a zero sale price leaves BC's price alone");

        let invalid: Settings = [("plugin.products.price_field", "list_price")].into_iter().collect();
        let error = product_patch(&invalid, &changed, &product()).unwrap_err();
        assert!(format!("{error:?}").contains("products.price_field"), "{error:?}");
    }
}
