//! Parsing LeafLink Marketplace API v2 responses into the contract's records.
//!
//! Tolerances (LeafLink reference notes, sections 3.4, 3.9 and 5): money
//! `amount` as a number or a string; quantities as decimal strings; date-times
//! with any offset, normalised to UTC; statuses in any case; line-item
//! `product` as an int, a string or an expanded object; missing optional
//! fields. Unknown fields go to `extras` with their JSON text.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::fields::{FieldError, Fields};
use crate::types::{LlCompanyStaff, LlCustomer, LlLineItem, LlOrder, LlPayment, LlProduct, PluginError, RecordError};

/// One page of a list call: the `{count, next, previous, results}` envelope,
/// or a bare JSON array (as `/orders-received/{number}/line-items/` returns).
pub struct Page<'a> {
    pub count: u64,
    pub next: Option<String>,
    pub results: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    count: Option<u64>,
    next: Option<String>,
    #[serde(borrow)]
    results: Vec<&'a RawValue>,
}

/// Splits a list response into its records, without parsing them yet.
pub fn page(body: &str) -> Result<Page<'_>, PluginError> {
    if body.trim_start().starts_with('[') {
        let results: Vec<&RawValue> = serde_json::from_str(body).map_err(|e| malformed("list response", &e))?;
        return Ok(Page { count: results.len() as u64, next: None, results });
    }
    let envelope: Envelope<'_> = serde_json::from_str(body).map_err(|e| malformed("list response", &e))?;
    let count = envelope.count.unwrap_or(envelope.results.len() as u64);
    Ok(Page { count, next: envelope.next.filter(|n| !n.is_empty()), results: envelope.results })
}

fn malformed(what: &str, error: &serde_json::Error) -> PluginError {
    PluginError::Internal(format!("LeafLink returned a malformed {what}: {error}"))
}

fn record_error(record: &str, error: FieldError) -> PluginError {
    PluginError::InvalidRecord(RecordError {
        record: record.to_string(),
        field: (!error.field.is_empty()).then_some(error.field),
        reason: error.reason,
    })
}

/// "submitted", "SUBMITTED" -> "Submitted", the spelling LeafLink responses use.
pub fn capitalise_status(status: &str) -> String {
    let lower = status.trim().to_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Parses an order (`OrderResponse`), with its line items when present.
pub fn order(raw: &RawValue, currency: &str) -> Result<LlOrder, PluginError> {
    // Splitting the order and its line items in one pass reads each line's
    // text once instead of three times. An order of any other shape takes the
    // field-by-field path, which reports what is wrong with it.
    let (mut fields, split_line_items) = match Fields::with_object_list(raw, "line_items") {
        Some((fields, line_items)) => (fields, line_items),
        None => (Fields::new(raw).map_err(|e| record_error("order", e))?, None),
    };
    let number = fields
        .string("number")
        .map_err(|e| record_error("order", e))?
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| record_error("order", FieldError { field: "number".into(), reason: "the order has no number".into() }))?;
    let record = format!("order {number}");
    let at = |e| record_error(&record, e);

    let (customer_id, customer_display_name) = match fields.take_raw("customer") {
        Some(customer) => order_customer(customer).map_err(at)?,
        None => (None, None),
    };
    let customer_id = match customer_id {
        Some(id) => id,
        None => fields.integer("customer_id").map_err(at)?.ok_or_else(|| {
            record_error(&record, FieldError { field: "customer".into(), reason: "the order has no customer id".into() })
        })?,
    };

    let line_items = match (split_line_items, fields.take_raw("line_items")) {
        (Some(items), _) => {
            items.into_iter().map(|item| line_item_fields(item, Some(&number), currency)).collect::<Result<Vec<_>, _>>()?
        }
        (None, Some(raw)) => {
            let items: Vec<&RawValue> = serde_json::from_str(raw.get()).map_err(|e| {
                record_error(&record, FieldError { field: "line_items".into(), reason: format!("expected a list: {e}") })
            })?;
            items.into_iter().map(|item| line_item(item, Some(&number), currency)).collect::<Result<Vec<_>, _>>()?
        }
        (None, None) => Vec::new(),
    };

    let created_on = fields.timestamp("created_on").map_err(at)?.unwrap_or_default();
    let modified = fields.timestamp("modified").map_err(at)?.unwrap_or_else(|| created_on.clone());

    let mut order = LlOrder {
        short_id: fields.string("short_id").map_err(at)?.unwrap_or_default(),
        customer_id,
        customer_display_name: customer_display_name.unwrap_or_default(),
        status: capitalise_status(&fields.string("status").map_err(at)?.unwrap_or_default()),
        shipping_charge: fields.money("shipping_charge", currency).map_err(at)?,
        total: fields.money("total", currency).map_err(at)?,
        notes: fields.string("notes").map_err(at)?,
        delivery_preferences: fields.string("delivery_preferences").map_err(at)?,
        paid: fields.boolean("paid").map_err(at)?.unwrap_or(false),
        paid_date: fields.string("paid_date").map_err(at)?.map(|d| d.get(..10).unwrap_or(&d).to_string()),
        created_on,
        modified,
        sales_reps: fields.id_list("sales_reps").map_err(at)?,
        line_items,
        number,
        extras: String::new(),
    };
    // `available_transitions` is typed string in the spec but is a list of
    // state names; a comma-separated string is turned into that list.
    let transitions = fields.take_raw("available_transitions");
    let mut extras = fields.into_extras_writer();
    if let Some(text) = transitions {
        match serde_json::from_str::<String>(text.get()) {
            Ok(joined) => {
                let list = joined.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.to_string())).collect();
                extras.push_json("available_transitions", &Value::Array(list));
            }
            Err(_) => extras.push_raw("available_transitions", text),
        }
    }
    order.extras = extras.finish();
    Ok(order)
}

/// Returns the order's `customer`: the light `{id, display_name}` shape or a full
/// customer (`include_children=customer`), whose display name is the nickname
/// if set, else the name.
fn order_customer(raw: &RawValue) -> Result<(Option<i64>, Option<String>), FieldError> {
    if !raw.get().trim_start().starts_with('{') {
        let id = crate::fields::integer_value(raw)
            .ok_or_else(|| FieldError { field: "customer".into(), reason: format!("expected a customer id, got {}", raw.get()) })?;
        return Ok((Some(id), None));
    }
    let mut customer = Fields::new(raw)?;
    let id = customer.integer("id")?;
    let display = customer.string("display_name")?;
    let nickname = customer.string("nickname")?.filter(|n| !n.trim().is_empty());
    let name = customer.string("name")?;
    Ok((id, display.or(nickname).or(name)))
}

/// Parses a line item (`LineItemResponse`). `order` is the parent order's
/// number when the item came inside an order.
///
/// The response has no `sku` or `name` of its own; they are read from an
/// expanded `product` object or from `frozen_data` when present.
/// NOTE: the layout of `frozen_data` is undocumented. A line with neither
/// source gets an empty SKU, which the core mapping rejects for that order.
pub fn line_item(raw: &RawValue, order: Option<&str>, currency: &str) -> Result<LlLineItem, PluginError> {
    let fields = Fields::new(raw).map_err(|e| record_error("line item", e))?;
    line_item_fields(fields, order, currency)
}

/// Parses a line item already split into its fields.
fn line_item_fields(mut fields: Fields<'_>, order: Option<&str>, currency: &str) -> Result<LlLineItem, PluginError> {
    let id = fields.integer("id").map_err(|e| record_error("line item", e))?.ok_or_else(|| {
        record_error(&format!("order {} line item", order.unwrap_or("?")), FieldError { field: "id".into(), reason: "the line item has no id".into() })
    })?;
    let order_number = fields.string("order").ok().flatten().or_else(|| order.map(str::to_string)).unwrap_or_default();
    let record = format!("order {order_number} line {id}");
    let at = |e| record_error(&record, e);

    let (product, mut sku, mut name) = match fields.take_raw("product") {
        Some(raw) if raw.get().trim_start().starts_with('{') => {
            let mut product = Fields::new(raw).map_err(at)?;
            (product.integer("id").map_err(at)?, product.string("sku").map_err(at)?, product.string("name").map_err(at)?)
        }
        Some(raw) => {
            let id = crate::fields::integer_value(raw).ok_or_else(|| {
                record_error(&record, FieldError { field: "product".into(), reason: format!("expected a product id, got {}", raw.get()) })
            })?;
            (Some(id), None, None)
        }
        None => (None, None, None),
    };
    sku = fields.string("sku").map_err(at)?.or(sku);
    name = fields.string("name").map_err(at)?.or(name);
    if (sku.is_none() || name.is_none())
        && let Some(frozen) = fields.peek("frozen_data").and_then(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).ok())
    {
        let find = |key: &str| {
            frozen.get(key).or_else(|| frozen.get("product").and_then(|p| p.get(key))).and_then(|v| v.as_str()).map(str::to_string)
        };
        sku = sku.or_else(|| find("sku"));
        name = name.or_else(|| find("name")).or_else(|| find("product_name"));
    }

    let ordered_unit_price = fields.money("ordered_unit_price", currency).map_err(at)?.ok_or_else(|| {
        record_error(&record, FieldError { field: "ordered_unit_price".into(), reason: "the line item has no price".into() })
    })?;

    Ok(LlLineItem {
        id,
        order: order_number.clone(),
        product: product.unwrap_or_default(),
        sku: sku.unwrap_or_default(),
        name: name.unwrap_or_default(),
        quantity: fields.decimal("quantity").map_err(at)?.unwrap_or_else(|| "0".into()),
        unit_multiplier: fields.decimal("unit_multiplier").map_err(at)?.unwrap_or_else(|| "1".into()),
        unit_of_measure: fields.string("unit_of_measure").map_err(at)?,
        ordered_unit_price,
        sale_price: fields.money("sale_price", currency).map_err(at)?,
        extras: fields.into_extras(),
    })
}

/// Parses a product (`ProductResponse`).
pub fn product(raw: &RawValue, currency: &str) -> Result<LlProduct, PluginError> {
    let mut fields = Fields::new(raw).map_err(|e| record_error("product", e))?;
    let id = fields.integer("id").map_err(|e| record_error("product", e))?.ok_or_else(|| {
        record_error("product", FieldError { field: "id".into(), reason: "the product has no id".into() })
    })?;
    let record = format!("product {id}");
    let at = |e| record_error(&record, e);
    Ok(LlProduct {
        id,
        name: fields.string("name").map_err(at)?.unwrap_or_default(),
        sku: fields.string("sku").map_err(at)?.unwrap_or_default(),
        display_name: fields.string("display_name").map_err(at)?,
        description: fields.string("description").map_err(at)?,
        unit_of_measure: fields.string("unit_of_measure").map_err(at)?,
        unit_multiplier: fields.decimal("unit_multiplier").map_err(at)?.unwrap_or_else(|| "1".into()),
        quantity: fields.decimal("quantity").map_err(at)?,
        reserved_qty: fields.decimal("reserved_qty").map_err(at)?,
        wholesale_price: fields.money("wholesale_price", currency).map_err(at)?,
        retail_price: fields.money("retail_price", currency).map_err(at)?,
        sale_price: fields.money("sale_price", currency).map_err(at)?,
        minimum_order: fields.decimal("minimum_order").map_err(at)?,
        maximum_order: fields.decimal("maximum_order").map_err(at)?,
        inventory_management: fields.integer("inventory_management").map_err(at)?,
        listing_state: fields.string("listing_state").map_err(at)?,
        last_edit: fields.timestamp("last_edit").map_err(at)?,
        modified: fields.timestamp("modified").map_err(at)?,
        extras: fields.into_extras(),
    })
}

/// Parses a customer (`CustomerResponse`).
pub fn customer(raw: &RawValue) -> Result<LlCustomer, PluginError> {
    let mut fields = Fields::new(raw).map_err(|e| record_error("customer", e))?;
    let id = fields.integer("id").map_err(|e| record_error("customer", e))?.ok_or_else(|| {
        record_error("customer", FieldError { field: "id".into(), reason: "the customer has no id".into() })
    })?;
    let record = format!("customer {id}");
    let at = |e| record_error(&record, e);
    Ok(LlCustomer {
        id,
        name: fields.string("name").map_err(at)?.unwrap_or_default(),
        nickname: fields.string("nickname").map_err(at)?,
        external_id: fields.string("external_id").map_err(at)?,
        license_number: fields.string("license_number").map_err(at)?,
        website: fields.string("website").map_err(at)?,
        address: fields.string("address").map_err(at)?,
        unit_number: fields.string("unit_number").map_err(at)?,
        zipcode: fields.string("zipcode").map_err(at)?,
        city: fields.string("city").map_err(at)?,
        county: fields.string("county").map_err(at)?,
        state: fields.string("state").map_err(at)?,
        country: fields.string("country").map_err(at)?,
        phone: fields.string("phone").map_err(at)?,
        email: fields.string("email").map_err(at)?,
        currency: fields.string("currency").map_err(at)?,
        status: fields.integer("status").map_err(at)?,
        archived: fields.boolean("archived").map_err(at)?.unwrap_or(false),
        managers: fields.id_list("managers").map_err(at)?,
        modified: fields.timestamp("modified").map_err(at)?,
        extras: fields.into_extras(),
    })
}

/// Parses an order payment (`OrderPaymentResponse`).
pub fn payment(raw: &RawValue, currency: &str) -> Result<LlPayment, PluginError> {
    let mut fields = Fields::new(raw).map_err(|e| record_error("payment", e))?;
    let id = fields.integer("id").map_err(|e| record_error("payment", e))?;
    let record = match id {
        Some(id) => format!("payment {id}"),
        None => "payment".to_string(),
    };
    let at = |e| record_error(&record, e);
    Ok(LlPayment {
        id,
        order: fields.string("order").map_err(at)?.unwrap_or_default(),
        total: fields.money("total", currency).map_err(at)?.ok_or_else(|| {
            record_error(&record, FieldError { field: "total".into(), reason: "the payment has no total".into() })
        })?,
        payment_date: fields.timestamp("payment_date").map_err(at)?.unwrap_or_default(),
        payment_type: fields.string("payment_type").map_err(at)?,
        reason: fields.string("reason").map_err(at)?,
        recorded_by: fields.integer("recorded_by").map_err(at)?,
        extras: fields.into_extras(),
    })
}

/// Parses a company staff member (`CompanyStaffResponse`).
pub fn staff(raw: &RawValue) -> Result<LlCompanyStaff, PluginError> {
    let mut fields = Fields::new(raw).map_err(|e| record_error("company staff", e))?;
    let id = fields.integer("id").map_err(|e| record_error("company staff", e))?.ok_or_else(|| {
        record_error("company staff", FieldError { field: "id".into(), reason: "the staff member has no id".into() })
    })?;
    let at = |e| record_error(&format!("company staff {id}"), e);
    Ok(LlCompanyStaff {
        id,
        email: fields.string("email").map_err(at)?,
        display_name: fields.string("display_name").map_err(at)?,
        is_active: fields.boolean("is_active").map_err(at)?.unwrap_or(true),
    })
}

/// Returns the message of a LeafLink error body: DRF's `detail`, else the body text
/// (at most 500 characters).
pub fn error_message(body: &str) -> String {
    #[derive(Deserialize)]
    struct Detail {
        detail: String,
    }
    if let Ok(detail) = serde_json::from_str::<Detail>(body) {
        return detail.detail;
    }
    let body = body.trim();
    match body.char_indices().nth(500) {
        Some((index, _)) => format!("{}...", &body[..index]),
        None => body.to_string(),
    }
}

/// Returns the body of a 2xx response as text, or the API's error as `remote`.
pub fn success_body(status: u16, body: &[u8]) -> Result<&str, PluginError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| PluginError::Internal(format!("LeafLink returned a response that is not UTF-8 (status {status}): {e}")))?;
    if (200..300).contains(&status) {
        Ok(text)
    } else {
        Err(PluginError::Remote(crate::types::RemoteError { status, code: None, message: error_message(text) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extras;

    /// The spec's `OrderResponse` example (trimmed), with line items added in
    /// the shapes the spec and its examples use.
    const ORDER_PAGE: &str = r#"{"count": 2, "next": "https://app.leaflink.com/api/v2/orders-received/?limit=1&offset=1", "previous": null,
      "results": [{
        "number": "aec108ac-a1f4-40fa-966e-a12ga9bf6e2f", "short_id": "a9bf6e2f",
        "created_on": "2020-06-10T15:15:03.776119-06:00", "modified": "2020-06-10T16:14:49.494713-06:00",
        "customer": {"id": 148515, "display_name": "Good Vibrations Dispensary", "ext_acct_id": null, "delinquent": false},
        "status": "ACCEPTED", "shipping_charge": {"amount": 0, "currency": "USD"}, "total": {"amount": "594.00", "currency": "USD"},
        "notes": "", "delivery_preferences": "Monday - Wednesday Only Please", "paid": false, "paid_date": null,
        "sales_reps": [{"id": 13, "user": "John Doe"}], "payment_balance": 594,
        "available_transitions": ["fulfilled", "rejected"], "credits": "420.10", "external_ids": {"system-name": "45897"},
        "line_items": [
          {"id": 1, "order": "aec108ac-a1f4-40fa-966e-a12ga9bf6e2f", "product": "2093", "quantity": "30.0000",
           "unit_multiplier": 12, "ordered_unit_price": {"amount": 108, "currency": "USD"},
           "sale_price": {"amount": "0.00", "currency": "USD"}, "unit_of_measure": "Unit", "wholesale_price": "108.00",
           "frozen_data": {"product": {"sku": "SWI-BAR-DAR-100", "name": "Swiss Masters Chocolate Bar (Dark)"}}},
          {"id": 2, "product": {"id": 2094, "sku": "GUM-7", "name": "Gummies"}, "quantity": "7.5",
           "unit_multiplier": "1", "ordered_unit_price": {"amount": 210.40, "currency": "USD"}, "sale_price": null}
        ]
      }]}"#;

    fn first_order() -> LlOrder {
        let page = page(ORDER_PAGE).unwrap();
        assert_eq!(page.count, 2);
        assert_eq!(page.next.as_deref(), Some("https://app.leaflink.com/api/v2/orders-received/?limit=1&offset=1"));
        order(page.results[0], "USD").unwrap()
    }

    #[test]
    fn order_header_parsed() {
        let order = first_order();
        assert_eq!(order.number, "aec108ac-a1f4-40fa-966e-a12ga9bf6e2f");
        assert_eq!(order.short_id, "a9bf6e2f");
        assert_eq!(order.customer_id, 148515);
        assert_eq!(order.customer_display_name, "Good Vibrations Dispensary");
        assert_eq!(order.status, "Accepted");
        assert_eq!(order.created_on, "2020-06-10T21:15:03.776119Z");
        assert_eq!(order.modified, "2020-06-10T22:14:49.494713Z");
        assert_eq!(order.shipping_charge.as_ref().unwrap().amount, "0");
        assert_eq!(order.total.as_ref().unwrap().amount, "594");
        assert_eq!(order.sales_reps, vec![13]);
        assert_eq!(order.paid_date, None);
    }

    #[test]
    fn order_unknown_fields_become_extras() {
        let order = first_order();
        let extra = |name: &str| extras::field(&order.extras, name).unwrap();
        assert_eq!(extra("credits"), Some("\"420.10\""));
        assert_eq!(extra("payment_balance"), Some("594"));
        assert_eq!(extra("available_transitions"), Some("[\"fulfilled\", \"rejected\"]"));
        assert_eq!(extra("external_ids"), Some("{\"system-name\": \"45897\"}"));
        assert_eq!(extra("number"), None, "typed fields are not repeated");
    }

    #[test]
    fn line_items_parsed_tolerantly() {
        let order = first_order();
        let first = &order.line_items[0];
        assert_eq!(first.product, 2093);
        assert_eq!(first.sku, "SWI-BAR-DAR-100");
        assert_eq!(first.name, "Swiss Masters Chocolate Bar (Dark)");
        assert_eq!(first.quantity, "30");
        assert_eq!(first.unit_multiplier, "12");
        assert_eq!(first.ordered_unit_price.amount, "108");
        assert!(extras::field(&first.extras, "frozen_data").unwrap().is_some());
        let second = &order.line_items[1];
        assert_eq!(second.order, "aec108ac-a1f4-40fa-966e-a12ga9bf6e2f", "inherits the parent order");
        assert_eq!((second.product, second.sku.as_str()), (2094, "GUM-7"));
        assert_eq!(second.ordered_unit_price.amount, "210.4");
        assert_eq!(second.sale_price, None);
    }

    #[test]
    fn bare_array_page() {
        let body = r#"[{"id": 5, "order": "o-1", "product": 9, "quantity": "1.0000", "unit_multiplier": 1,
                        "ordered_unit_price": {"amount": "5", "currency": "USD"}}]"#;
        let page = page(body).unwrap();
        assert_eq!(page.count, 1);
        assert_eq!(page.next, None);
        let item = line_item(page.results[0], None, "USD").unwrap();
        assert_eq!((item.id, item.order.as_str(), item.product), (5, "o-1", 9));
    }

    #[test]
    fn order_without_number_is_an_error() {
        let raw: &RawValue = serde_json::from_str(r#"{"short_id": "x", "customer": {"id": 1}}"#).unwrap();
        let PluginError::InvalidRecord(error) = order(raw, "USD").unwrap_err() else { panic!("expected invalid-record") };
        assert_eq!(error.field.as_deref(), Some("number"));
    }

    #[test]
    fn bad_quantity_names_order_line_and_field() {
        let raw: &RawValue = serde_json::from_str(
            r#"{"number": "o-9", "customer": 4, "line_items": [{"id": 17, "product": 1, "quantity": "lots",
                 "ordered_unit_price": {"amount": 1, "currency": "USD"}}]}"#,
        )
        .unwrap();
        let PluginError::InvalidRecord(error) = order(raw, "USD").unwrap_err() else { panic!("expected invalid-record") };
        assert_eq!(error.record, "order o-9 line 17");
        assert_eq!(error.field.as_deref(), Some("quantity"));
    }

    #[test]
    fn product_example_parsed() {
        let raw: &RawValue = serde_json::from_str(
            r#"{"id": 2093, "created_on": "2020-02-19T00:36:22.353448-06:00", "last_edit": "2020-04-27T07:41:29.797149-06:00",
                "name": "Swiss Masters Chocolate Bar (Dark)", "sku": "SWI-BAR-DAR-100", "quantity": "800.0000",
                "reserved_qty": "120.0000", "unit_multiplier": 12, "retail_price": {"amount": 18, "currency": "USD"},
                "wholesale_price": {"amount": 108, "currency": "USD"}, "minimum_order": "1.0000", "maximum_order": null,
                "inventory_management": "1", "unit_of_measure": "Unit", "listing_state": "Available", "brand": 49}"#,
        )
        .unwrap();
        let product = product(raw, "USD").unwrap();
        assert_eq!(product.quantity.as_deref(), Some("800"));
        assert_eq!(product.unit_multiplier, "12");
        assert_eq!(product.inventory_management, Some(1));
        assert_eq!(product.last_edit.as_deref(), Some("2020-04-27T13:41:29.797149Z"));
        assert_eq!(product.maximum_order, None);
        assert_eq!(extras::field(&product.extras, "brand").unwrap(), Some("49"));
    }

    #[test]
    fn customer_parsed() {
        let raw: &RawValue = serde_json::from_str(
            r#"{"id": 148515, "name": "Good Vibrations", "managers": [13, "14"], "archived": false, "status": 3,
                "modified": "2020-06-10T16:14:49-06:00", "zipcode": "81143", "lat": 38.0}"#,
        )
        .unwrap();
        let customer = customer(raw).unwrap();
        assert_eq!(customer.managers, vec![13, 14]);
        assert_eq!(customer.modified.as_deref(), Some("2020-06-10T22:14:49Z"));
        assert_eq!(extras::field(&customer.extras, "lat").unwrap(), Some("38.0"));
    }

    #[test]
    fn error_status_becomes_remote() {
        let PluginError::Remote(error) = success_body(400, br#"{"detail": "Invalid status."}"#).unwrap_err() else {
            panic!("expected remote")
        };
        assert_eq!(error.status, 400);
        assert_eq!(error.message, "Invalid status.");
        assert_eq!(success_body(200, b"{}").unwrap(), "{}");
    }

    #[test]
    fn status_capitalised() {
        assert_eq!(capitalise_status("submitted"), "Submitted");
        assert_eq!(capitalise_status("BACKORDER"), "Backorder");
    }
}
