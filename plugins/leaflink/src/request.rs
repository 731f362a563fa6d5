//! Building LeafLink Marketplace API v2 requests.
//!
//! Every path ends with `/` (a path without it gets 400, LeafLink reference
//! notes section 1). Lists send `limit` (capped at 100, the page size public
//! clients use; the maximum is undocumented) and follow `next` as given.

use serde_json::{Map, Value, json};

use crate::http::{Method, Request};
use crate::leaflink::{CustomerQuery, LineItemPatch, OrderQuery, ProductQuery};
use crate::types::{LlNewProduct, LlPayment, LlProductPatch, Money, PluginError};

pub const MAX_PAGE_SIZE: u32 = 100;
const USER_AGENT: &str = "leafbridge";

/// Transition actions LeafLink documents for `/transition/{action}/`.
pub const TRANSITION_ACTIONS: [&str; 7] = ["submit", "accept", "fulfill", "cancel", "reject", "ship", "complete"];

/// The API root from the `leaflink.base_url` setting, without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    base: String,
}

impl Api {
    pub fn new(base_url: &str) -> Result<Self, PluginError> {
        let base = base_url.trim().trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(PluginError::Configuration(format!(
                "the setting `leaflink.base_url` = {base_url:?} is not an http(s) URL; set it to the API root, e.g. https://app.leaflink.com/api/v2"
            )));
        }
        Ok(Api { base: base.to_string() })
    }

    /// `{base}/{segments joined by /}/?{query}`; each segment is
    /// percent-encoded.
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> String {
        let mut url = self.base.clone();
        for segment in segments {
            url.push('/');
            url.push_str(&encode(segment));
        }
        url.push('/');
        for (index, (key, value)) in query.iter().enumerate() {
            url.push(if index == 0 { '?' } else { '&' });
            url.push_str(key);
            url.push('=');
            url.push_str(&encode(value));
        }
        url
    }

    /// Checks a `next` URL from LeafLink: it is used verbatim when it lies under
    /// the API root and rejected otherwise.
    fn next_url(&self, next: &str) -> Result<String, PluginError> {
        if next.starts_with(&format!("{}/", self.base)) {
            Ok(next.to_string())
        } else {
            Err(PluginError::Internal(format!("LeafLink returned a next link outside {}: {next}", self.base)))
        }
    }

    pub fn list_orders(&self, query: &OrderQuery, next: Option<&str>) -> Result<Request, PluginError> {
        if let Some(next) = next {
            return Ok(get(self.next_url(next)?));
        }
        let mut params = vec![("limit", limit(query.limit).to_string()), ("include_children", "line_items,customer".into())];
        if let Some(from) = &query.modified_from {
            params.push(("modified__gte", from.clone()));
        }
        if let Some(from) = &query.created_from {
            params.push(("created_on__gte", from.clone()));
        }
        if !query.statuses.is_empty() {
            // The status filter takes lowercase state names.
            let statuses: Vec<String> = query.statuses.iter().map(|s| s.trim().to_lowercase()).collect();
            params.push(("status", statuses.join(",")));
        }
        if !query.numbers.is_empty() {
            // NOTE: the spec documents `number` as one UUID; a comma list
            // follows the general filter convention but is unverified.
            params.push(("number", query.numbers.join(",")));
        }
        Ok(get(self.url(&["orders-received"], &params)))
    }

    pub fn get_order(&self, number: &str) -> Request {
        get(self.url(&["orders-received", number], &[("include_children", "line_items,customer".into())]))
    }

    pub fn list_order_line_items(&self, number: &str) -> Request {
        get(self.url(&["orders-received", number, "line-items"], &[]))
    }

    /// `POST /orders-received/{number}/transition/{action}/`, with no body.
    pub fn transition_order(&self, number: &str, action: &str) -> Result<Request, PluginError> {
        let action = action.trim().to_lowercase();
        if !TRANSITION_ACTIONS.contains(&action.as_str()) {
            return Err(PluginError::InvalidRecord(crate::types::RecordError {
                record: format!("order {number}"),
                field: Some("action".into()),
                reason: format!("{action:?} is not a LeafLink transition; expected one of {}", TRANSITION_ACTIONS.join(", ")),
            }));
        }
        Ok(request(Method::Post, self.url(&["orders-received", number, "transition", &action], &[]), None, false))
    }

    pub fn set_order_paid(&self, number: &str, paid: bool, paid_date: Option<&str>) -> Request {
        let body = json!({ "paid": paid, "paid_date": paid_date });
        request(Method::Patch, self.url(&["orders-received", number], &[]), Some(body), true)
    }

    pub fn update_line_item(&self, patch: &LineItemPatch) -> Request {
        let mut body = Map::new();
        if let Some(quantity) = &patch.quantity {
            body.insert("quantity".into(), Value::String(quantity.clone()));
        }
        if let Some(price) = &patch.ordered_unit_price {
            body.insert("ordered_unit_price".into(), money(price));
        }
        request(Method::Patch, self.url(&["line-items", &patch.id.to_string()], &[]), Some(Value::Object(body)), true)
    }

    pub fn list_products(&self, query: &ProductQuery, next: Option<&str>) -> Result<Request, PluginError> {
        if let Some(next) = next {
            return Ok(get(self.next_url(next)?));
        }
        let mut params = vec![("limit", limit(query.limit).to_string())];
        if let Some(from) = &query.modified_from {
            params.push(("modified__gte", from.clone()));
        }
        if !query.skus.is_empty() {
            params.push(("sku", query.skus.join(",")));
        }
        if !query.ids.is_empty() {
            params.push(("id", join_ids(&query.ids)));
        }
        Ok(get(self.url(&["products"], &params)))
    }

    /// `POST /products/`. The body starts from the tenant defaults, then the
    /// record's `extras`, then its typed fields, so a record value always
    /// wins over a default.
    pub fn create_product(&self, product: &LlNewProduct, defaults: &Map<String, Value>) -> Result<Request, PluginError> {
        let mut body = defaults.clone();
        insert_extras(&mut body, &product.extras, || format!("new product {}", product.sku))?;
        let typed = json!({
            "sku": product.sku,
            "name": product.name,
            "unit_of_measure": product.unit_of_measure,
            "unit_multiplier": decimal_number(&product.unit_multiplier),
            "wholesale_price": money(&product.wholesale_price),
            "inventory_management": product.inventory_management,
        });
        body.extend(typed.as_object().cloned().unwrap_or_default());
        insert_some(&mut body, "display_name", product.display_name.clone().map(Value::String));
        insert_some(&mut body, "description", product.description.clone().map(Value::String));
        insert_some(&mut body, "retail_price", product.retail_price.as_ref().map(money));
        insert_some(&mut body, "sale_price", product.sale_price.as_ref().map(money));
        insert_some(&mut body, "minimum_order", product.minimum_order.clone().map(Value::String));
        insert_some(&mut body, "maximum_order", product.maximum_order.clone().map(Value::String));
        insert_some(&mut body, "quantity", product.quantity.clone().map(Value::String));
        if let Some(name) = &product.unit_of_measure_name {
            body.entry("unit_denomination").or_insert_with(|| json!({ "name": name }));
        }
        // The description is required on create; so the name is used in its place.
        body.entry("description").or_insert_with(|| Value::String(product.name.clone()));
        Ok(request(Method::Post, self.url(&["products"], &[]), Some(Value::Object(body)), false))
    }

    pub fn update_product(&self, id: i64, patch: &LlProductPatch) -> Result<Request, PluginError> {
        let mut body = Map::new();
        insert_extras(&mut body, &patch.extras, || format!("product {id}"))?;
        insert_some(&mut body, "name", patch.name.clone().map(Value::String));
        insert_some(&mut body, "wholesale_price", patch.wholesale_price.as_ref().map(money));
        insert_some(&mut body, "retail_price", patch.retail_price.as_ref().map(money));
        insert_some(&mut body, "sale_price", patch.sale_price.as_ref().map(money));
        insert_some(&mut body, "quantity", patch.quantity.clone().map(Value::String));
        Ok(request(Method::Patch, self.url(&["products", &id.to_string()], &[]), Some(Value::Object(body)), true))
    }

    pub fn list_customers(&self, query: &CustomerQuery, next: Option<&str>) -> Result<Request, PluginError> {
        if let Some(next) = next {
            return Ok(get(self.next_url(next)?));
        }
        let mut params = vec![("limit", limit(query.limit).to_string())];
        if let Some(from) = &query.modified_from {
            params.push(("modified__gte", from.clone()));
        }
        if !query.ids.is_empty() {
            params.push(("id__in", join_ids(&query.ids)));
        }
        Ok(get(self.url(&["customers"], &params)))
    }

    pub fn list_company_staff(&self, next: Option<&str>) -> Result<Request, PluginError> {
        match next {
            Some(next) => Ok(get(self.next_url(next)?)),
            None => Ok(get(self.url(&["company-staff"], &[("limit", MAX_PAGE_SIZE.to_string())]))),
        }
    }

    /// `POST /order-payments/`; `recorded_by` is the payment's own or the
    /// `leaflink.recorded_by` setting, because LeafLink requires it.
    pub fn create_payment(&self, payment: &LlPayment, recorded_by: Option<i64>) -> Result<Request, PluginError> {
        let Some(recorded_by) = payment.recorded_by.or(recorded_by) else {
            return Err(PluginError::Configuration(
                "the setting `leaflink.recorded_by` is missing; set it to the company-staff id that records payments with `leafbridge tenant edit TENANT --leaflink-recorded-by ID`".into(),
            ));
        };
        let mut body = json!({
            "order": payment.order,
            "recorded_by": recorded_by,
            "total": money(&payment.total),
            "payment_date": payment.payment_date,
        });
        let object = body.as_object_mut().expect("a JSON object literal");
        insert_some(object, "payment_type", payment.payment_type.clone().map(Value::String));
        insert_some(object, "reason", payment.reason.clone().map(Value::String));
        Ok(request(Method::Post, self.url(&["order-payments"], &[]), Some(body), false))
    }

    pub fn list_payments(&self, order: &str, next: Option<&str>) -> Result<Request, PluginError> {
        match next {
            Some(next) => Ok(get(self.next_url(next)?)),
            None => Ok(get(self.url(&["orders-received", order, "payments"], &[]))),
        }
    }
}

fn limit(requested: Option<u32>) -> u32 {
    requested.unwrap_or(MAX_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE)
}

fn join_ids(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// Returns a money value as LeafLink writes it: `{amount, currency}` with the amount
/// as a decimal string, never a float.
fn money(value: &Money) -> Value {
    json!({ "amount": value.amount, "currency": value.currency })
}

/// Returns an integer-valued decimal as a JSON number (`unit_multiplier` is an int),
/// else the decimal string.
fn decimal_number(text: &str) -> Value {
    match text.parse::<i64>() {
        Ok(n) => Value::from(n),
        Err(_) => Value::String(text.to_string()),
    }
}

/// Inserts every field of a record's `extras` object into `body`, replacing a
/// field of the same name. `record` names the record in the error.
fn insert_extras(body: &mut Map<String, Value>, extras: &str, record: impl FnOnce() -> String) -> Result<(), PluginError> {
    if crate::extras::is_empty(extras) {
        return Ok(());
    }
    let fields = serde_json::from_str::<Map<String, Value>>(extras).map_err(|e| {
        PluginError::InvalidRecord(crate::types::RecordError {
            record: record(),
            field: Some("extras".to_string()),
            reason: format!("the extras are not a JSON object: {e}"),
        })
    })?;
    body.extend(fields);
    Ok(())
}

fn insert_some(body: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        body.insert(key.to_string(), value);
    }
}

fn get(url: String) -> Request {
    request(Method::Get, url, None, true)
}

fn request(method: Method, url: String, body: Option<Value>, idempotent: bool) -> Request {
    let mut headers = vec![("User-Agent".to_string(), USER_AGENT.to_string()), ("Accept".to_string(), "application/json".to_string())];
    if body.is_some() {
        headers.push(("Content-Type".to_string(), "application/json".to_string()));
    }
    Request { method, url, headers, body: body.map(|b| b.to_string().into_bytes()), idempotent }
}

/// Percent-encodes everything except RFC 3986 unreserved characters and `,`
/// (LeafLink filters take comma-separated lists).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `ProductCreate` fields a tenant may default through `plugin.<field>`.
const PRODUCT_FIELDS: &[&str] = &[
    "drop_date", "description", "quantity", "unit_multiplier", "retail_price", "wholesale_price", "sale_price",
    "minimum_order", "maximum_order", "AVAILABLE_FOR_SAMPLES", "extern_acct_id", "extern_income_acct_id", "featured",
    "tagline", "allow_fractional_quantities", "parent", "listing_state", "display_listing_state",
    "inventory_management", "unit_of_measure", "sell_in_unit_of_measure", "unit_denomination", "category",
    "sub_category", "grow_type", "seller", "seller_internal_id", "brand", "product_line", "manufacturer",
    "strain_classification", "license", "strains", "extern_sts_ids", "base_units_per_unit", "external_ids",
    "threshold_value", "threshold_action", "reverse_threshold_value", "reverse_threshold_action", "show_quantity",
    "product_data_items",
];

/// Returns the tenant defaults for a product create: `seller` from
/// `leaflink.company_id`, then each `plugin.<field>` setting that names a
/// `ProductCreate` field (a setting that is valid JSON is sent as that JSON,
/// anything else as a string). `entries` are the `plugin.` settings.
pub fn product_defaults(company_id: Option<&str>, entries: &[(String, String)]) -> Result<Map<String, Value>, PluginError> {
    let mut defaults = Map::new();
    if let Some(company) = company_id.map(str::trim).filter(|c| !c.is_empty()) {
        let id: i64 = company.parse().map_err(|_| {
            PluginError::Configuration(format!("the setting `leaflink.company_id` = {company:?} is not a LeafLink company id"))
        })?;
        defaults.insert("seller".into(), Value::from(id));
    }
    for (key, value) in entries {
        let Some(field) = key.strip_prefix("plugin.") else { continue };
        if !PRODUCT_FIELDS.contains(&field) || value.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(value.trim()).unwrap_or_else(|_| Value::String(value.clone()));
        defaults.insert(field.to_string(), value);
    }
    Ok(defaults)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> Api {
        Api::new("http://127.0.0.1:8080/api/v2/").unwrap()
    }

    fn order_query() -> OrderQuery {
        OrderQuery { modified_from: None, created_from: None, statuses: vec![], numbers: vec![], limit: None }
    }

    #[test]
    fn list_orders_url_has_filters_and_trailing_slash() {
        let query = OrderQuery {
            modified_from: Some("2024-01-15T00:00:00Z".into()),
            statuses: vec!["Submitted".into(), "ACCEPTED".into()],
            limit: Some(500),
            ..order_query()
        };
        let request = api().list_orders(&query, None).unwrap();
        assert_eq!(
            request.url,
            "http://127.0.0.1:8080/api/v2/orders-received/?limit=100&include_children=line_items,customer&modified__gte=2024-01-15T00%3A00%3A00Z&status=submitted,accepted"
        );
        assert_eq!(request.method, Method::Get);
        assert!(request.idempotent);
        assert!(request.headers.contains(&("User-Agent".into(), "leafbridge".into())));
    }

    #[test]
    fn next_link_followed_verbatim() {
        let next = "http://127.0.0.1:8080/api/v2/orders-received/?limit=100&offset=100&include_children=line_items,customer";
        assert_eq!(api().list_orders(&order_query(), Some(next)).unwrap().url, next);
    }

    #[test]
    fn next_link_to_other_host_rejected() {
        assert!(api().list_orders(&order_query(), Some("http://169.254.169.254/latest/")).is_err());
        // A sibling path that merely shares the prefix is not under the root.
        assert!(api().list_orders(&order_query(), Some("http://127.0.0.1:8080/api/v2x/")).is_err());
    }

    #[test]
    fn transition_is_post_without_body() {
        let request = api().transition_order("aec108ac-a1f4", "Fulfill").unwrap();
        assert_eq!(request.url, "http://127.0.0.1:8080/api/v2/orders-received/aec108ac-a1f4/transition/fulfill/");
        assert_eq!(request.method, Method::Post);
        assert_eq!(request.body, None);
        assert!(!request.idempotent);
        assert!(api().transition_order("x", "teleport").is_err());
    }

    #[test]
    fn path_segments_are_encoded() {
        let request = api().get_order("../../admin?x=1");
        assert!(request.url.starts_with("http://127.0.0.1:8080/api/v2/orders-received/..%2F..%2Fadmin%3Fx%3D1/"), "{}", request.url);
    }

    #[test]
    fn paid_patch_body() {
        let request = api().set_order_paid("n1", true, Some("2024-02-01"));
        assert_eq!(request.method, Method::Patch);
        assert!(request.idempotent);
        let body: Value = serde_json::from_slice(&request.body.unwrap()).unwrap();
        assert_eq!(body, json!({"paid": true, "paid_date": "2024-02-01"}));
    }

    #[test]
    fn line_item_patch_sends_only_set_fields() {
        let patch = LineItemPatch { id: 7, quantity: Some("24".into()), ordered_unit_price: None };
        let request = api().update_line_item(&patch);
        assert_eq!(request.url, "http://127.0.0.1:8080/api/v2/line-items/7/");
        let body: Value = serde_json::from_slice(&request.body.unwrap()).unwrap();
        assert_eq!(body, json!({"quantity": "24"}));
    }

    #[test]
    fn product_create_merges_defaults_extras_and_fields() {
        let product = LlNewProduct {
            sku: "SWI-1".into(),
            name: "Dark Bar".into(),
            display_name: None,
            description: None,
            unit_of_measure: "Unit".into(),
            unit_multiplier: "12".into(),
            wholesale_price: Money { amount: "108".into(), currency: "USD".into() },
            retail_price: None,
            sale_price: Some(Money { amount: "0".into(), currency: "USD".into() }),
            minimum_order: Some("1".into()),
            maximum_order: None,
            inventory_management: 1,
            unit_of_measure_name: None,
            quantity: None,
            extras: r#"{"brand":50,"tags":["a \"b\""]}"#.into(),
        };
        let entries = vec![
            ("plugin.brand".to_string(), "49".to_string()),
            ("plugin.strain_classification".to_string(), "na".to_string()),
            ("plugin.payment_type".to_string(), "ach".to_string()),
        ];
        let defaults = product_defaults(Some("3721"), &entries).unwrap();
        let request = api().create_product(&product, &defaults).unwrap();
        assert!(!request.idempotent);
        let body: Value = serde_json::from_slice(&request.body.unwrap()).unwrap();
        assert_eq!(body["seller"], json!(3721));
        assert_eq!(body["brand"], json!(50), "the record's extra wins over the default");
        assert_eq!(body["tags"], json!(["a \"b\""]), "an extra the defaults lack is added");
        assert_eq!(body["strain_classification"], json!("na"));
        assert_eq!(body.get("payment_type"), None, "not a product field");
        assert_eq!(body["unit_multiplier"], json!(12));
        assert_eq!(body["wholesale_price"], json!({"amount": "108", "currency": "USD"}));
        assert_eq!(body["description"], json!("Dark Bar"));
    }

    #[test]
    fn product_patch_rejects_invalid_extras() {
        let patch = LlProductPatch { name: None, wholesale_price: None, retail_price: None, sale_price: None, quantity: None, extras: "[1]".into() };
        let Err(PluginError::InvalidRecord(error)) = api().update_product(7, &patch) else { panic!("expected invalid-record") };
        assert_eq!(error.record, "product 7");
        assert_eq!(error.field.as_deref(), Some("extras"));
    }

    #[test]
    fn payment_needs_recorded_by() {
        let payment = LlPayment {
            id: None,
            order: "n1".into(),
            total: Money { amount: "1500".into(), currency: "USD".into() },
            payment_date: "2015-12-31T07:00:00Z".into(),
            payment_type: Some("ach".into()),
            reason: None,
            recorded_by: None,
            extras: "{}".into(),
        };
        assert!(matches!(api().create_payment(&payment, None), Err(PluginError::Configuration(_))));
        let request = api().create_payment(&payment, Some(13)).unwrap();
        assert_eq!(request.url, "http://127.0.0.1:8080/api/v2/order-payments/");
        let body: Value = serde_json::from_slice(&request.body.unwrap()).unwrap();
        assert_eq!(body["recorded_by"], json!(13));
        assert_eq!(body["total"], json!({"amount": "1500", "currency": "USD"}));
    }

    #[test]
    fn customers_filter_by_id_list() {
        let query = CustomerQuery { modified_from: None, ids: vec![1, 2], limit: Some(0) };
        assert_eq!(api().list_customers(&query, None).unwrap().url, "http://127.0.0.1:8080/api/v2/customers/?limit=1&id__in=1,2");
    }

    #[test]
    fn base_url_must_be_http() {
        assert!(matches!(Api::new("ftp://x"), Err(PluginError::Configuration(_))));
    }
}
