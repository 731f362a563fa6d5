//! Turns the sandbox's records into LeafLink's JSON shapes, one response at a
//! time, so nothing but the compact records stays in memory.
//!
//! Where LeafLink's published examples contradict its own schema, the JSON
//! follows the examples (reference notes, section 5): money `amount` is a JSON
//! number, `available_transitions` an array, `payment_balance` a number, a
//! line item's `product` an integer id, and a few product counters integers.

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::model::{Address, Company, Customer, LineItem, Order, Payment, Product, Stamp, Staff, Store};
use super::order_json::FieldFilter;

/// Choices that change how every response renders.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// Send money `amount` as a decimal string (the schema's type) instead of
    /// a JSON number (what the examples show).
    pub money_as_string: bool,
}

/// Formats a date-time as LeafLink does: microseconds and an explicit UTC
/// offset, e.g. `2020-06-10T15:15:03.776119-06:00`.
pub fn timestamp(stamp: Stamp) -> String {
    let instant = jiff::Timestamp::from_microsecond(stamp.micros).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let offset = jiff::tz::Offset::from_seconds(i32::from(stamp.offset_minutes) * 60).unwrap_or(jiff::tz::Offset::UTC);
    let local = offset.to_datetime(instant);
    let minutes = i32::from(stamp.offset_minutes);
    let sign = if minutes < 0 { '-' } else { '+' };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}{}{:02}:{:02}",
        local.year(),
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        local.second(),
        local.subsec_nanosecond() / 1000,
        sign,
        minutes.abs() / 60,
        minutes.abs() % 60,
    )
}

/// A JSON number holding the decimal's exact digits, trailing zeros dropped
/// as in the examples (`594`, `210.4`).
pub fn decimal_number(value: Decimal) -> Value {
    let text = value.normalize().to_string();
    match text.parse::<serde_json::Number>() {
        Ok(number) => Value::Number(number),
        Err(_) => Value::String(text),
    }
}

/// A quantity as LeafLink sends it: a decimal string with 4 places.
pub fn quantity(value: Decimal) -> Value {
    Value::String(quantity_text(value))
}

/// Formats a quantity as `quantity` sends it.
pub fn quantity_text(value: Decimal) -> String {
    let mut value = value;
    value.rescale(4);
    value.to_string()
}

/// Formats a decimal as a string with 2 places.
pub fn cents(value: Decimal) -> String {
    let mut value = value;
    value.rescale(2);
    value.to_string()
}

/// Formats a money amount as a string with at least 2 places. A price
/// stored with more places (LeafLink accepts an `ordered_unit_price` such as
/// 193.333) keeps them, so the line amount can be recomputed from it.
pub fn money_text(value: Decimal) -> String {
    let exact = value.normalize();
    if exact.scale() > 2 { exact.to_string() } else { cents(value) }
}

pub(super) fn external_ids(pairs: &[(Box<str>, Box<str>)]) -> Value {
    let map: Map<String, Value> =
        pairs.iter().map(|(key, value)| (key.to_string(), Value::String(value.to_string()))).collect();
    Value::Object(map)
}

pub(super) fn address(address: &Address) -> Value {
    json!({
        "address": &*address.address,
        "city": &*address.city,
        "state": &*address.state,
        "unit_number": &*address.unit_number,
        "zipcode": &*address.zipcode,
    })
}

pub struct Renderer<'a> {
    pub store: &'a Store,
    pub options: RenderOptions,
}

impl Renderer<'_> {
    /// A money object `{amount, currency}`.
    pub fn money(&self, amount: Decimal) -> Value {
        let amount = if self.options.money_as_string { Value::String(money_text(amount)) } else { decimal_number(amount) };
        json!({ "amount": amount, "currency": "USD" })
    }

    /// An order in the `OrderResponse` shape, as a `Value`. The list
    /// endpoint writes the same bytes without the tree (`write_order`).
    pub fn order(&self, order: &Order, with_lines: bool, with_customer: bool) -> Value {
        let mut out = Vec::new();
        self.write_order(&mut out, order, with_lines, with_customer, &FieldFilter::default());
        serde_json::from_slice(&out).expect("write_order writes valid JSON")
    }

    /// A line item in the `LineItemResponse` shape, as a `Value`.
    pub fn line_item(&self, index: usize, line: &LineItem) -> Value {
        let mut out = Vec::new();
        self.write_line_item(&mut out, index, line);
        serde_json::from_slice(&out).expect("write_line_item writes valid JSON")
    }

    /// A product in the `ProductResponse` shape; `with_data_items` adds
    /// `product_data_items`, which the PATCH response shape lacks.
    pub fn product(&self, product: &Product, with_data_items: bool) -> Value {
        let case = product.unit_multiplier > 1;
        let mut body = json!({
            "id": product.id,
            "created_on": timestamp(product.created_on),
            "last_edit": timestamp(product.last_edit),
            "drop_date": null,
            "dropped": null,
            "name": &*product.name,
            "sku": &*product.sku,
            "description": &*product.description,
            "quantity": quantity(product.quantity),
            "reserved_qty": quantity(product.reserved_qty),
            "available_inventory": decimal_number(product.available_inventory()),
            "display_name": &*product.name,
            "unit_multiplier": product.unit_multiplier,
            "retail_price": self.money(product.retail_price),
            "wholesale_price": self.money(product.wholesale_price),
            "sale_price": self.money(product.sale_price),
            "minimum_order": quantity(product.minimum_order),
            "maximum_order": product.maximum_order.map(quantity),
            "is_medical_line_item": false,
            "AVAILABLE_FOR_SAMPLES": true,
            "extern_acct_id": null,
            "extern_income_acct_id": "",
            "featured": false,
            "tagline": null,
            "featured_on_deals": false,
            "allow_fractional_quantities": false,
            "parent": null,
            "listing_state": product.listing_state,
            "display_listing_state": product.listing_state,
            "inventory_management": product.inventory_management,
            "unit_of_measure": product.unit_of_measure,
            "unit_denomination": { "id": 1, "value": "1.00000", "name": "One", "label": "1" },
            "category": product.category,
            "sub_category": product.sub_category,
            "grow_type": null,
            "seller": product.seller,
            "seller_internal_id": &*product.seller_internal_id,
            "brand": product.brand,
            "product_line": 164,
            "manufacturer": product.manufacturer,
            "strain_classification": product.strain_classification,
            "strain_classification_display": if product.strain_classification == "na" { "N/A" } else { product.strain_classification },
            "license": { "id": 2619, "number": "404R-00000", "type": "Recreational", "display_type": "Adult Use", "classification": "MIPS" },
            "children_count": 0,
            "strains": [],
            "price_schedule_price": self.money(product.wholesale_price),
            "image_count": 0,
            "is_ancillary": false,
            "s2s_conversion_amount": "1.0000",
            "extern_sts_ids": null,
            "modified": timestamp(product.modified),
            "has_deals_eligible_children": false,
            "discount_percent": 0,
            "base_units_per_unit": null,
            "external_ids": external_ids(&product.external_ids),
            "threshold_value": 0,
            "threshold_action": "unavailable",
            "reverse_threshold_value": 1,
            "reverse_threshold_action": "available",
            "show_quantity": true,
        });
        if case {
            body["sell_in_unit_of_measure"] = Value::String("Case".to_owned());
        }
        if with_data_items {
            body["product_data_items"] = json!([]);
        }
        body
    }

    /// A customer in the `CustomerResponse` shape. That schema marks no field
    /// nullable, so absent text is an empty string.
    pub fn customer(&self, customer: &Customer) -> Value {
        let address_json = address(&customer.address);
        let mut body = json!({
            "id": customer.id,
            "owner": customer.owner,
            "partner": customer.partner,
            "name": &*customer.name,
            "nickname": customer.nickname.as_deref().unwrap_or(""),
            "dba": &*customer.dba,
            "business_license_name": &*customer.name,
            "license_number": &*customer.license_number,
            "old_license_number": null,
            "license_inactive": false,
            "external_id": customer.external_id.as_deref().unwrap_or(""),
            "ext_acct_id": customer.ext_acct_id.as_deref().unwrap_or(""),
            "ein": "",
            "email": &*customer.email,
            "phone": &*customer.phone,
            "address": &*customer.address.address,
            "unit_number": &*customer.address.unit_number,
            "city": &*customer.address.city,
            "state": &*customer.address.state,
            "zipcode": &*customer.address.zipcode,
            "country": "US",
            "corporate_address": address_json.clone(),
            "delivery_address": address_json,
            "delivery_preferences": &*customer.delivery_preferences,
            "currency": "USD",
            "shipping_charge": "0.00",
            "discount_percent": "0.00",
            "managers": &customer.managers,
            "archived": customer.archived,
            "delinquent": customer.delinquent,
            "leaflink_source": false,
            "payment_methods": [],
            "available_payment_options": [],
            "external_ids": {},
            "created_on": timestamp(customer.created_on),
            "modified": timestamp(customer.modified),
        });
        if customer.partner.is_none() {
            // `partner` is typed integer without `nullable`: a customer with
            // no buyer company on LeafLink leaves it out.
            body.as_object_mut().map(|map| map.remove("partner"));
        }
        body
    }

    pub fn company(&self, company: &Company) -> Value {
        json!({
            "id": company.id,
            "name": &*company.name,
            "slug": &*company.slug,
            "dba": &*company.name,
            "buyer": company.buyer,
            "seller": company.seller,
            "address": &*company.address,
            "city": &*company.city,
            "state": &*company.state,
            "zipcode": &*company.zipcode,
            "batch_enabled": false,
            "sts_enabled": false,
            "has_accting": false,
        })
    }

    pub fn staff(&self, staff: &Staff) -> Value {
        json!({
            "id": staff.id,
            "user": staff.user,
            "company": staff.company,
            "is_admin": staff.is_admin,
            "is_active": true,
            "is_poc": false,
            "email": &*staff.email,
            "phone": "",
            "display_name": &*staff.display_name,
            "username": &*staff.username,
        })
    }

    pub fn payment(&self, index: usize, payment: &Payment) -> Value {
        let store = self.store;
        let recorder = store.staff(payment.recorded_by).map(|staff| staff.display_name.to_string()).unwrap_or_default();
        json!({
            "id": index + 1,
            "created_on": timestamp(payment.created_on),
            "modified": timestamp(payment.modified),
            "order": &*store.orders[payment.order as usize].number,
            "recorded_by": payment.recorded_by,
            "recorder_name": recorder,
            "total": { "amount": if self.options.money_as_string { Value::String(cents(payment.total)) } else { decimal_number(payment.total) }, "currency": &*payment.currency },
            "payment_date": timestamp(payment.payment_date),
            "reason": payment.reason.as_deref().unwrap_or(""),
            "payment_type": payment.payment_type,
        })
    }
}
