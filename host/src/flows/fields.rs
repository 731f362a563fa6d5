//! The field values flows compare to tell a real change from an echo of
//! leafbridge's own write, and to settle a field both sides changed.
//!
//! Each record kind has one projection per side with the same field names,
//! so "LeafLink changed `price`" and "BC changed `price`" mean the same field.
//! Decimals are normalised ("12.50" and "12.5" are equal). An empty value
//! counts as missing, because BC returns `""` for a text field leafbridge
//! never set while a mapped record leaves the field out.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use sha2::{Digest, Sha256};

use crate::runtime::bindings::types::{BcCustomer, BcItem, BcSalesOrder, LlOrder, LlProduct, Money};
use crate::store::FieldValues;

/// Field names shared by product projections. An order line uses the
/// quantity and price names too (see `line_field`).
pub const NAME: &str = "name";
pub const PRICE: &str = "price";
pub const QUANTITY: &str = "quantity";

/// Which LeafLink price field BC `unitPrice` feeds; the tenant setting
/// `products.price_field` chooses, `wholesale_price` by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceField {
    Wholesale,
    Retail,
    Sale,
}

impl PriceField {
    pub fn from_settings(settings: &BTreeMap<String, String>) -> Self {
        match settings.get("products.price_field").map(String::as_str) {
            Some("retail_price") => PriceField::Retail,
            Some("sale_price") => PriceField::Sale,
            _ => PriceField::Wholesale,
        }
    }

    pub fn of(self, product: &LlProduct) -> Option<&Money> {
        match self {
            PriceField::Wholesale => product.wholesale_price.as_ref(),
            PriceField::Retail => product.retail_price.as_ref(),
            PriceField::Sale => product.sale_price.as_ref(),
        }
    }
}

/// A decimal string in canonical form; text that is not a decimal is kept
/// as it is so that it still compares unequal to any number.
pub fn normalize_decimal(text: &str) -> String {
    match Decimal::from_str(text.trim()) {
        Ok(value) => value.normalize().to_string(),
        Err(_) => text.to_owned(),
    }
}

fn insert(fields: &mut FieldValues, name: &str, value: Option<&str>) {
    if let Some(value) = value.filter(|value| !value.is_empty()) {
        fields.insert(name.to_owned(), value.to_owned());
    }
}

fn insert_decimal(fields: &mut FieldValues, name: &str, value: Option<&str>) {
    if let Some(value) = value.filter(|value| !value.trim().is_empty()) {
        fields.insert(name.to_owned(), normalize_decimal(value));
    }
}

/// Looks up `name`, reading an empty value as missing, so that field values
/// stored with empty values still compare equal to ones without.
fn non_empty_value<'a>(fields: &'a FieldValues, name: &str) -> Option<&'a String> {
    fields.get(name).filter(|value| !value.is_empty())
}

pub fn product_fields_of_item(item: &BcItem) -> FieldValues {
    let mut fields = FieldValues::new();
    insert(&mut fields, NAME, Some(&item.display_name));
    insert_decimal(&mut fields, PRICE, item.unit_price.as_deref());
    insert_decimal(&mut fields, QUANTITY, item.inventory.as_deref());
    fields
}

pub fn product_fields_of_product(product: &LlProduct, price_field: PriceField) -> FieldValues {
    let mut fields = FieldValues::new();
    insert(&mut fields, NAME, Some(&product.name));
    // A zero price counts as no price: a product with no sale on can carry a
    // sale price of 0, and copying it would set the BC price to 0.
    let price = price_field.of(product).map(|money| money.amount.as_str()).filter(|amount| !is_zero(amount));
    insert_decimal(&mut fields, PRICE, price);
    insert_decimal(&mut fields, QUANTITY, product.quantity.as_deref());
    fields
}

fn is_zero(text: &str) -> bool {
    Decimal::from_str(text.trim()).is_ok_and(|value| value.is_zero())
}

/// The BC customer fields leafbridge writes from LeafLink.
pub fn customer_fields(customer: &BcCustomer) -> FieldValues {
    let mut fields = FieldValues::new();
    insert(&mut fields, "displayName", Some(&customer.display_name));
    insert(&mut fields, "addressLine1", customer.address_line1.as_deref());
    insert(&mut fields, "addressLine2", customer.address_line2.as_deref());
    insert(&mut fields, "city", customer.city.as_deref());
    insert(&mut fields, "state", customer.state.as_deref());
    insert(&mut fields, "country", customer.country.as_deref());
    insert(&mut fields, "postalCode", customer.postal_code.as_deref());
    insert(&mut fields, "phoneNumber", customer.phone_number.as_deref());
    insert(&mut fields, "email", customer.email.as_deref());
    insert(&mut fields, "website", customer.website.as_deref());
    insert(&mut fields, "salespersonCode", customer.salesperson_code.as_deref());
    insert(&mut fields, "currencyCode", customer.currency_code.as_deref());
    fields
}

/// Returns the name of an order line's field, keyed by the LeafLink line id:
/// `line:<id>:quantity` or `line:<id>:price`. LeafLink's price is per case
/// and BC's per unit; quantities count units on both sides.
pub fn line_field(line_id: i64, field: &str) -> String {
    format!("line:{line_id}:{field}")
}

/// The LeafLink order state orders-pull and orders-push compare: status,
/// notes and each line's quantity and price, keyed by LeafLink line id.
pub fn order_fields_of_leaflink(order: &LlOrder) -> FieldValues {
    let mut fields = FieldValues::new();
    insert(&mut fields, "status", Some(&order.status));
    insert(&mut fields, "notes", order.notes.as_deref());
    insert(&mut fields, "delivery_preferences", order.delivery_preferences.as_deref());
    for line in &order.line_items {
        insert_decimal(&mut fields, &line_field(line.id, QUANTITY), Some(&line.quantity));
        insert_decimal(&mut fields, &line_field(line.id, PRICE), Some(&line.ordered_unit_price.amount));
    }
    fields
}

/// The BC order state: status, shipping and each item line's quantity and
/// price, keyed by the LeafLink line id the line came from.
pub fn order_fields_of_bc(order: &BcSalesOrder) -> FieldValues {
    let mut fields = FieldValues::new();
    insert(&mut fields, "status", order.status.as_deref());
    fields.insert("fully_shipped".to_owned(), order.fully_shipped.to_string());
    for line in &order.lines {
        let Some(line_id) = line.leaflink_line_id else { continue };
        insert_decimal(&mut fields, &line_field(line_id, QUANTITY), Some(&line.quantity));
        insert_decimal(&mut fields, &line_field(line_id, PRICE), Some(&line.unit_price));
        insert_decimal(&mut fields, &format!("line:{line_id}:shipped"), line.shipped_quantity.as_deref());
    }
    fields
}

/// SHA-256 of the field values, hex; what the cross-reference stores as the
/// hash of the state last written to a side. Empty values are left out, as
/// if missing.
pub fn hash(fields: &FieldValues) -> String {
    let mut hasher = Sha256::new();
    for (name, value) in fields.iter().filter(|(_, value)| !value.is_empty()) {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(value.as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

/// The names of fields whose value differs between `before` and `after`,
/// counting a field present on only one side as changed and an empty value
/// as missing.
pub fn changed_fields(before: &FieldValues, after: &FieldValues) -> Vec<String> {
    let mut names: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|name| non_empty_value(before, name) != non_empty_value(after, name))
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Returns true when field `name` differs between `before` and `after`,
/// counting an empty value as missing.
pub fn field_changed(before: &FieldValues, after: &FieldValues, name: &str) -> bool {
    non_empty_value(before, name) != non_empty_value(after, name)
}

/// Sets field `name` of `saved` back to its value in `baseline`, or removes
/// it when `baseline` has none. A flow uses it for a change it leaves to the
/// flow of the other direction, which finds the change only against the old value.
pub fn keep_baseline(saved: &mut FieldValues, baseline: &FieldValues, name: &str) {
    match baseline.get(name) {
        Some(value) => saved.insert(name.to_owned(), value.clone()),
        None => saved.remove(name),
    };
}

/// Returns the price of a case of `multiplier` units at `unit_price` each,
/// exact (no rounding), in canonical form. `None` when either is not a decimal.
pub fn case_price_of_unit(unit_price: &str, multiplier: &str) -> Option<String> {
    let unit_price = Decimal::from_str(unit_price.trim()).ok()?;
    let multiplier = Decimal::from_str(multiplier.trim()).ok()?;
    Some(unit_price.checked_mul(multiplier)?.normalize().to_string())
}

/// Returns BC's `unit_price` as the price of a case of `multiplier` units,
/// for a conflict record that compares it with a LeafLink case price, with
/// the sentence its reason ends with. `None` when either is not a decimal.
pub fn case_price_for_conflict(unit_price: &str, multiplier: &str) -> Option<(String, String)> {
    let case_price = case_price_of_unit(unit_price, multiplier)?;
    let note = format!(". Both prices are per case of {multiplier} units: BC's unitPrice is {unit_price} per unit, {case_price} per case");
    Some((case_price, note))
}

/// Returns true when a LeafLink case price and a BC unit price are the same
/// price under the pricing rule of the core mapping. That rule makes the case
/// price the unit price times `multiplier`, rounded to cents half away from
/// zero. It makes the unit price the case price over `multiplier`, rounded up
/// to BC's 5 decimal places only when it has more. Either conversion matching
/// counts, because each direction rounds its own way. Text that is not a
/// decimal compares as text.
pub fn prices_agree(case_price: &str, unit_price: &str, multiplier: &str) -> bool {
    let parsed = (Decimal::from_str(case_price.trim()), Decimal::from_str(unit_price.trim()), Decimal::from_str(multiplier.trim()));
    let (Ok(case_price), Ok(unit_price), Ok(multiplier)) = parsed else {
        return normalize_decimal(case_price) == normalize_decimal(unit_price);
    };
    if multiplier <= Decimal::ZERO {
        return case_price == unit_price;
    }
    let Some(case_of_unit) = unit_price.checked_mul(multiplier) else { return false };
    if case_of_unit.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero) == case_price {
        return true;
    }
    let Some(exact_unit) = case_price.checked_div(multiplier) else { return false };
    let unit_of_case = if exact_unit.normalize().scale() <= 5 {
        exact_unit
    } else {
        exact_unit.round_dp_with_strategy(5, RoundingStrategy::ToPositiveInfinity)
    };
    unit_of_case == unit_price
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_price_counts_as_none() {
        let product = LlProduct {
            id: 1,
            name: "Bar".into(),
            sku: "B-1".into(),
            display_name: None,
            description: None,
            unit_of_measure: None,
            unit_multiplier: "1".into(),
            quantity: None,
            reserved_qty: None,
            wholesale_price: Some(Money { amount: "12".into(), currency: "USD".into() }),
            retail_price: None,
            sale_price: Some(Money { amount: "0.00".into(), currency: "USD".into() }),
            minimum_order: None,
            maximum_order: None,
            inventory_management: None,
            listing_state: None,
            last_edit: None,
            modified: None,
            extras: "{}".into(),
        };
        assert_eq!(product_fields_of_product(&product, PriceField::Sale).get(PRICE), None);
        assert_eq!(product_fields_of_product(&product, PriceField::Wholesale).get(PRICE).map(String::as_str), Some("12"));
    }

    #[test]
    fn decimals_normalise() {
        assert_eq!(normalize_decimal("12.50"), "12.5");
        assert_eq!(normalize_decimal("800.0000"), "800");
        assert_eq!(normalize_decimal("abc"), "abc");
    }

    #[test]
    fn changed_fields_counts_one_sided() {
        let before: FieldValues = [("a".to_owned(), "1".to_owned()), ("b".to_owned(), "2".to_owned())].into();
        let after: FieldValues = [("a".to_owned(), "1".to_owned()), ("c".to_owned(), "3".to_owned())].into();
        assert_eq!(changed_fields(&before, &after), vec!["b".to_owned(), "c".to_owned()]);
    }

    #[test]
    fn case_and_unit_prices_agree() {
        assert!(prices_agree("150", "30", "5"));
        assert!(prices_agree("150.00", "30", "5"));
        assert!(!prices_agree("150", "31", "5"));
        // 100 / 3 is rounded up to 33.33334 in BC, and 33.33334 × 3 rounds back to 100.
        assert!(prices_agree("100", "33.33334", "3"));
        assert!(prices_agree("12", "12", "1"));
        assert!(!prices_agree("abc", "12", "1"));
    }

    #[test]
    fn case_price_is_exact() {
        assert_eq!(case_price_of_unit("1.23", "12").as_deref(), Some("14.76"));
        assert_eq!(case_price_of_unit("33.33334", "3").as_deref(), Some("100.00002"));
        assert_eq!(case_price_of_unit("x", "3"), None);
    }

    #[test]
    fn baseline_is_restored_or_removed() {
        let baseline: FieldValues = [("price".to_owned(), "10".to_owned())].into();
        let mut saved: FieldValues = [("price".to_owned(), "12".to_owned()), ("name".to_owned(), "New".to_owned())].into();
        keep_baseline(&mut saved, &baseline, "price");
        keep_baseline(&mut saved, &baseline, "name");
        assert_eq!(saved, baseline);
    }

    #[test]
    fn empty_value_equals_missing() {
        let with_empty: FieldValues = [("a".to_owned(), "1".to_owned()), ("b".to_owned(), String::new())].into();
        let without: FieldValues = [("a".to_owned(), "1".to_owned())].into();
        assert!(changed_fields(&with_empty, &without).is_empty());
        assert_eq!(hash(&with_empty), hash(&without));

        let mut fields = FieldValues::new();
        insert(&mut fields, "addressLine2", Some(""));
        insert_decimal(&mut fields, "price", Some(""));
        assert!(fields.is_empty(), "{fields:?}");
    }
}
