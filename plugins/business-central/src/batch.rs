//! `apply`: writes grouped into JSON `$batch` requests.
//!
//! Each batch holds at most 100 operations (BC's limit online) and is sent
//! without `Isolation: snapshot`, so one bad record fails alone instead of
//! rolling back the others. A sales order is one deep insert (header with its
//! `salesOrderLines`, never a line `sequence`, which BC 22 and later reject in
//! a deep insert). Updates send `If-Match` with the record's etag (`*` when
//! absent) and only the fields that are set; read-only properties are never
//! sent. BC reference notes, sections 2.3 and 2.4.

use std::collections::HashMap;

use std::fmt::Write as _;

use leafbridge_guest_json::extras::write_json_string;
use serde::Deserialize;
use serde_json::Value;

use crate::business_central::{Write, Written};
use crate::http::{Method, Request};
use crate::odata::{Api, is_guid};
use crate::parse;
use crate::types::{BcCustomer, BcItem, BcLineType, BcSalesOrder, BcSalesOrderLine, PluginError, RecordError};

/// BC online accepts at most 100 operations in one `$batch`.
pub const MAX_BATCH_OPERATIONS: usize = 100;

/// Which record a write returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Customer,
    Item,
    SalesOrder,
    SalesOrderLine,
}

/// One `$batch` POST and the writes it carries, by their index in `apply`.
pub struct Batch {
    pub request: Request,
    operations: Vec<(usize, Kind)>,
}

/// The batches to send for a list of writes, plus the writes rejected before
/// sending (by index).
pub struct Plan {
    pub batches: Vec<Batch>,
    pub results: Vec<Option<Result<Written, PluginError>>>,
}

impl Plan {
    /// Every write's result; a write with none recorded failed without an
    /// answer.
    pub fn into_results(self) -> Vec<Result<Written, PluginError>> {
        self.results
            .into_iter()
            .enumerate()
            .map(|(index, result)| {
                result.unwrap_or_else(|| Err(PluginError::Internal(format!("write {index} got no response from Business Central"))))
            })
            .collect()
    }
}

/// Builds the `$batch` requests for `writes`.
pub fn plan(api: &Api, writes: &[Write]) -> Plan {
    let mut results: Vec<Option<Result<Written, PluginError>>> = vec![None; writes.len()];
    let mut operations = Vec::new();
    for (index, write) in writes.iter().enumerate() {
        match operation(api, index, write) {
            Ok((kind, body)) => operations.push((index, kind, body)),
            Err(error) => results[index] = Some(Err(error)),
        }
    }

    let batches = operations
        .chunks(MAX_BATCH_OPERATIONS)
        .map(|chunk| {
            let length: usize = chunk.iter().map(|(_, _, request)| request.len() + 1).sum();
            let mut body = String::with_capacity(length + 16);
            body.push_str("{\"requests\":[");
            for (position, (_, _, request)) in chunk.iter().enumerate() {
                if position > 0 {
                    body.push(',');
                }
                body.push_str(request);
            }
            body.push_str("]}");
            let body = body.into_bytes();
            Batch {
                request: Request {
                    method: Method::Post,
                    url: format!("{}/$batch", api.base()),
                    headers: vec![
                        ("Content-Type".into(), "application/json".into()),
                        ("Accept".into(), "application/json".into()),
                        ("User-Agent".into(), "leafbridge".into()),
                    ],
                    body: Some(body),
                    // A batch may contain inserts, so repeating it could
                    // create records twice.
                    idempotent: false,
                },
                operations: chunk.iter().map(|(index, kind, _)| (*index, *kind)).collect(),
            }
        })
        .collect();
    Plan { batches, results }
}

/// Records the outcome of one batch's POST.
pub fn record_response(plan: &mut Plan, batch: &Batch, status: u16, body: &[u8]) {
    let text = match parse::success_body(status, body) {
        Ok(text) => text,
        Err(error) => return fail_batch(plan, batch, &error),
    };
    #[derive(Deserialize)]
    struct Responses {
        responses: Vec<InnerResponse>,
    }
    #[derive(Deserialize)]
    struct InnerResponse {
        id: Option<Value>,
        status: u16,
        body: Option<Box<serde_json::value::RawValue>>,
    }
    let responses = match serde_json::from_str::<Responses>(text) {
        Ok(r) => r.responses,
        Err(e) => {
            return fail_batch(plan, batch, &PluginError::Internal(format!("Business Central returned a malformed $batch response: {e}")));
        }
    };
    // Inner responses carry the request id; their order is not relied on.
    let mut by_id: HashMap<String, InnerResponse> = HashMap::new();
    for response in responses {
        let id = match &response.id {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        by_id.insert(id, response);
    }
    for (index, kind) in &batch.operations {
        let result = match by_id.remove(&index.to_string()) {
            None => Err(PluginError::Internal(format!("the $batch response has no entry for write {index}"))),
            Some(inner) => inner_result(*kind, inner.status, inner.body.as_deref()),
        };
        plan.results[*index] = Some(result);
    }
}

/// Marks every write of `batch` as failed with `error`.
pub fn fail_batch(plan: &mut Plan, batch: &Batch, error: &PluginError) {
    for (index, _) in &batch.operations {
        plan.results[*index] = Some(Err(error.clone()));
    }
}

fn inner_result(kind: Kind, status: u16, body: Option<&serde_json::value::RawValue>) -> Result<Written, PluginError> {
    if !(200..300).contains(&status) {
        let text = body.map(|b| b.get()).unwrap_or("");
        let value = serde_json::from_str::<Value>(text).ok();
        return Err(parse::remote_error(status, value.as_ref(), text));
    }
    let Some(body) = body else {
        return Err(PluginError::Internal(format!("Business Central returned status {status} with no record")));
    };
    Ok(match kind {
        Kind::Customer => Written::Customer(parse::customer(body)?),
        Kind::Item => Written::Item(parse::item(body)?),
        Kind::SalesOrder => Written::SalesOrder(parse::sales_order(body)?),
        Kind::SalesOrderLine => Written::SalesOrderLine(parse::sales_order_line(body, "sales order")?),
    })
}

/// Builds one inner request of a `$batch` as JSON text, with the request id `index`.
fn operation(api: &Api, index: usize, write: &Write) -> Result<(Kind, String), PluginError> {
    let (kind, method, path, etag, body) = match write {
        Write::CreateCustomer(c) => (Kind::Customer, "POST", "customers".to_string(), None, customer_body(c)),
        Write::UpdateCustomer(c) => {
            let id = record_id("customer", c.id.as_deref(), c.number.as_deref())?;
            (Kind::Customer, "PATCH", format!("customers({id})"), Some(etag_or_any(&c.etag)), customer_body(c))
        }
        Write::CreateItem(i) => (Kind::Item, "POST", "items".to_string(), None, item_body(i)),
        Write::UpdateItem(i) => {
            let id = record_id("item", i.id.as_deref(), Some(&i.number))?;
            (Kind::Item, "PATCH", format!("items({id})"), Some(etag_or_any(&i.etag)), item_body(i))
        }
        Write::CreateSalesOrder(o) => (Kind::SalesOrder, "POST", "salesOrders".to_string(), None, sales_order_body(o, true)),
        Write::UpdateSalesOrder(o) => {
            let id = record_id("sales order", o.id.as_deref(), o.number.as_deref())?;
            (Kind::SalesOrder, "PATCH", format!("salesOrders({id})"), Some(etag_or_any(&o.etag)), sales_order_body(o, false))
        }
        Write::UpdateSalesOrderLine((order_id, line)) => {
            let order_id = record_id("sales order", Some(order_id), None)?;
            let line_id = record_id(&format!("sales order {order_id} line"), line.id.as_deref(), None)?;
            (
                Kind::SalesOrderLine,
                "PATCH",
                format!("salesOrders({order_id})/salesOrderLines({line_id})"),
                Some(etag_or_any(&line.etag)),
                line_update_body(line),
            )
        }
    };

    let mut out = String::with_capacity(body.len() + 200);
    let mut request = ObjectWriter::open(&mut out);
    request.json("body", &body);
    request.key("headers");
    let mut headers = ObjectWriter::open(request.out);
    headers.string("Content-Type", "application/json");
    if let Some(etag) = &etag {
        headers.string("If-Match", etag);
    }
    headers.close();
    request.string("id", &index.to_string());
    request.string("method", method);
    request.string("url", &api.relative(&path));
    request.close();
    Ok((kind, out))
}

fn etag_or_any(etag: &Option<String>) -> String {
    etag.clone().filter(|e| !e.is_empty()).unwrap_or_else(|| "*".into())
}

/// Returns the GUID an update addresses; a missing or malformed id rejects the write.
fn record_id(what: &str, id: Option<&str>, number: Option<&str>) -> Result<String, PluginError> {
    match id.map(str::trim) {
        Some(id) if is_guid(id) => Ok(id.to_string()),
        other => Err(PluginError::InvalidRecord(RecordError {
            record: format!("{what} {}", number.unwrap_or("?")),
            field: Some("id".into()),
            reason: match other {
                Some(id) => format!("{id:?} is not a BC id (GUID)"),
                None => "an update needs the record's BC id".into(),
            },
        })),
    }
}

/// Writes one compact JSON object into a `String`, field by field.
///
/// The request bodies are written with their keys in byte order, which is
/// the order a `serde_json::Map` (a `BTreeMap` without `preserve_order`)
/// serializes. So the text is the same bytes as the object serialized as a
/// `serde_json::Value`, without building the `Value` tree.
struct ObjectWriter<'o> {
    out: &'o mut String,
    empty: bool,
}

impl<'o> ObjectWriter<'o> {
    fn open(out: &'o mut String) -> Self {
        out.push('{');
        ObjectWriter { out, empty: true }
    }

    /// Writes the separator and the key with its colon; the caller writes the value.
    fn key(&mut self, key: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        write_json_string(self.out, key);
        self.out.push(':');
    }

    fn string(&mut self, key: &str, value: &str) {
        self.key(key);
        write_json_string(self.out, value);
    }

    fn optional_string(&mut self, key: &str, value: &Option<String>) {
        if let Some(value) = value {
            self.string(key, value);
        }
    }

    fn boolean(&mut self, key: &str, value: bool) {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
    }

    /// Writes a decimal string as a JSON number with the same digits, or as a
    /// JSON string when it is not a valid number.
    fn number(&mut self, key: &str, text: &str) {
        self.key(key);
        match serde_json::from_str::<serde_json::Number>(text.trim()) {
            // With `arbitrary_precision` a `Number` prints its exact digits.
            Ok(number) => {
                let _ = write!(self.out, "{number}");
            }
            Err(_) => write_json_string(self.out, text),
        }
    }

    fn optional_number(&mut self, key: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.number(key, text);
        }
    }

    /// Writes `json`, which the caller built as valid JSON text.
    fn json(&mut self, key: &str, json: &str) {
        self.key(key);
        self.out.push_str(json);
    }

    fn close(self) {
        self.out.push('}');
    }
}

fn customer_body(c: &BcCustomer) -> String {
    let mut out = String::with_capacity(256);
    let mut body = ObjectWriter::open(&mut out);
    body.optional_string("addressLine1", &c.address_line1);
    body.optional_string("addressLine2", &c.address_line2);
    body.optional_string("city", &c.city);
    body.optional_string("country", &c.country);
    body.optional_string("currencyCode", &c.currency_code);
    body.string("displayName", &c.display_name);
    body.optional_string("email", &c.email);
    body.optional_string("number", &c.number);
    body.optional_string("phoneNumber", &c.phone_number);
    body.optional_string("postalCode", &c.postal_code);
    body.optional_string("salespersonCode", &c.salesperson_code);
    body.optional_string("state", &c.state);
    body.optional_string("taxRegistrationNumber", &c.tax_registration_number);
    body.optional_string("website", &c.website);
    body.close();
    out
}

fn item_body(i: &BcItem) -> String {
    let mut out = String::with_capacity(256);
    let mut body = ObjectWriter::open(&mut out);
    body.optional_string("baseUnitOfMeasureCode", &i.base_unit_of_measure_code);
    body.boolean("blocked", i.blocked);
    body.string("displayName", &i.display_name);
    body.optional_string("gtin", &i.gtin);
    body.optional_number("inventory", i.inventory.as_deref());
    body.optional_string("itemCategoryCode", &i.item_category_code);
    body.string("number", &i.number);
    body.optional_number("unitPrice", i.unit_price.as_deref());
    body.close();
    out
}

/// Builds the body of a sales order: the header, plus the lines on create. `status` and the
/// totals are read-only, so they are never sent.
fn sales_order_body(o: &BcSalesOrder, with_lines: bool) -> String {
    let mut out = String::with_capacity(256 + if with_lines { o.lines.len() * 200 } else { 0 });
    let mut body = ObjectWriter::open(&mut out);
    body.optional_string("customerId", &o.customer_id);
    // customerId and customerNumber must agree when both are sent; the id wins.
    if o.customer_id.is_none() {
        body.optional_string("customerNumber", &o.customer_number);
    }
    body.string("externalDocumentNumber", &o.external_document_number);
    if !with_lines && o.fully_shipped {
        body.boolean("fullyShipped", true);
    }
    if !o.order_date.is_empty() {
        body.string("orderDate", &o.order_date);
    }
    if with_lines {
        body.key("salesOrderLines");
        body.out.push('[');
        for (position, line) in o.lines.iter().enumerate() {
            if position > 0 {
                body.out.push(',');
            }
            write_new_line(body.out, line);
        }
        body.out.push(']');
    }
    body.close();
    out
}

fn write_new_line(out: &mut String, line: &BcSalesOrderLine) {
    let priced = line.line_type != BcLineType::Comment;
    let mut body = ObjectWriter::open(out);
    body.string("description", &line.description);
    if priced {
        body.optional_number("discountAmount", line.discount_amount.as_deref());
        body.optional_string("lineObjectNumber", &line.line_object_number);
    }
    body.string("lineType", parse::line_type_wire(line.line_type));
    if priced {
        body.number("quantity", &line.quantity);
        body.optional_string("unitOfMeasureCode", &line.unit_of_measure_code);
        body.number("unitPrice", &line.unit_price);
    }
    body.close();
}

/// Builds a line update body with description, quantity, unit price and
/// discount only, because re-sending the item number or unit of measure makes BC re-validate the line
/// and reset its price.
fn line_update_body(line: &BcSalesOrderLine) -> String {
    let mut out = String::with_capacity(128);
    let mut body = ObjectWriter::open(&mut out);
    body.string("description", &line.description);
    if line.line_type != BcLineType::Comment {
        body.optional_number("discountAmount", line.discount_amount.as_deref());
        body.number("quantity", &line.quantity);
        body.number("unitPrice", &line.unit_price);
    }
    body.close();
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const COMPANY: &str = "c04c550b-593f-ee11-be74-6045bdc8c285";
    const ITEM_ID: &str = "7ce0af2e-0963-460f-9b1f-0014aea3e117";

    fn api() -> Api {
        Api::new("http://127.0.0.1:9090/api/v2.0", COMPANY).unwrap()
    }

    fn item(id: Option<&str>) -> BcItem {
        BcItem {
            id: id.map(str::to_string),
            number: "SWI-1".into(),
            display_name: "Touring Bicycle v2".into(),
            gtin: None,
            base_unit_of_measure_code: Some("PCS".into()),
            item_category_code: None,
            unit_price: Some("1397.30".into()),
            inventory: None,
            blocked: false,
            etag: None,
            last_modified: None,
            extras: "{}".into(),
        }
    }

    fn line(line_type: BcLineType, number: Option<&str>, quantity: &str, price: &str) -> BcSalesOrderLine {
        BcSalesOrderLine {
            id: None,
            line_type,
            line_object_number: number.map(str::to_string),
            description: "d".into(),
            unit_of_measure_code: None,
            quantity: quantity.into(),
            unit_price: price.into(),
            discount_amount: Some("0.01".into()),
            amount_excluding_tax: Some("3333.33".into()),
            shipped_quantity: None,
            invoiced_quantity: None,
            leaflink_line_id: Some(2),
            etag: None,
            extras: "{}".into(),
        }
    }

    fn order() -> BcSalesOrder {
        BcSalesOrder {
            id: None,
            number: None,
            external_document_number: "a9bf6e2f".into(),
            order_date: "2020-06-10".into(),
            customer_id: None,
            customer_number: Some("LL148515".into()),
            status: Some("Open".into()),
            fully_shipped: false,
            total_amount_including_tax: Some("1".into()),
            lines: vec![line(BcLineType::Item, Some("LL4411"), "1000", "3.33334"), line(BcLineType::Comment, None, "0", "0")],
            etag: None,
            last_modified: None,
            extras: "{}".into(),
        }
    }

    fn body(batch: &Batch) -> Value {
        serde_json::from_slice(batch.request.body.as_ref().unwrap()).unwrap()
    }

    #[test]
    fn deep_insert_without_sequence_or_read_only() {
        let plan = plan(&api(), &[Write::CreateSalesOrder(order())]);
        assert_eq!(plan.batches.len(), 1);
        let batch = &plan.batches[0];
        assert_eq!(batch.request.url, "http://127.0.0.1:9090/api/v2.0/$batch");
        assert!(!batch.request.idempotent);
        assert!(!batch.request.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("Isolation")));
        let request = &body(batch)["requests"][0];
        assert_eq!(request["method"], "POST");
        assert_eq!(request["url"], format!("companies({COMPANY})/salesOrders"));
        let order = &request["body"];
        assert_eq!(order["externalDocumentNumber"], "a9bf6e2f");
        assert_eq!(order["customerNumber"], "LL148515");
        assert!(order.get("status").is_none());
        assert!(order.get("totalAmountIncludingTax").is_none());
        let lines = order["salesOrderLines"].as_array().unwrap();
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.get("sequence").is_none() && l.get("amountExcludingTax").is_none()));
        // Decimals go out as JSON numbers with their exact digits.
        assert_eq!(serde_json::to_string(&lines[0]["unitPrice"]).unwrap(), "3.33334");
        assert_eq!(serde_json::to_string(&lines[0]["discountAmount"]).unwrap(), "0.01");
        assert_eq!(lines[1], json!({"lineType": "Comment", "description": "d"}));
    }

    #[test]
    fn body_is_compact_with_sorted_keys() {
        let customer = BcCustomer {
            id: Some("5d115c9c-44e3-ea11-bb43-000d3a2feca1".into()),
            number: Some("LL1".into()),
            display_name: "Quote \" and \\ and \n".into(),
            address_line1: None,
            address_line2: None,
            city: Some("Zürich".into()),
            state: None,
            country: None,
            postal_code: None,
            phone_number: None,
            email: None,
            website: None,
            salesperson_code: None,
            currency_code: None,
            tax_registration_number: None,
            etag: None,
            last_modified: None,
            extras: "{}".into(),
        };
        let writes = vec![
            Write::CreateSalesOrder(order()),
            Write::UpdateItem(item(Some(ITEM_ID))),
            Write::UpdateCustomer(customer),
            Write::UpdateSalesOrder(BcSalesOrder { id: Some(ITEM_ID.into()), fully_shipped: true, ..order() }),
        ];
        let plan = plan(&api(), &writes);
        let sent = std::str::from_utf8(plan.batches[0].request.body.as_ref().unwrap()).unwrap();
        // A `Value` re-serializes with sorted keys and exact digits, so the text
        // the writer sent must come back unchanged.
        assert_eq!(serde_json::to_string(&body(&plan.batches[0])).unwrap(), sent);
        assert_eq!(body(&plan.batches[0])["requests"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn update_sends_if_match_and_set_fields() {
        let mut tagged = item(Some(ITEM_ID));
        tagged.etag = Some("W/\"JzQ0\"".into());
        let plan = plan(&api(), &[Write::UpdateItem(tagged), Write::UpdateItem(item(Some(ITEM_ID)))]);
        let requests = body(&plan.batches[0])["requests"].clone();
        assert_eq!(requests[0]["method"], "PATCH");
        assert_eq!(requests[0]["url"], format!("companies({COMPANY})/items({ITEM_ID})"));
        assert_eq!(requests[0]["headers"]["If-Match"], "W/\"JzQ0\"");
        assert_eq!(requests[1]["headers"]["If-Match"], "*");
        assert!(requests[0]["body"].get("gtin").is_none());
        assert!(requests[0]["body"].get("inventory").is_none());
    }

    #[test]
    fn update_without_id_fails_alone() {
        let plan = plan(&api(), &[Write::UpdateItem(item(None)), Write::CreateItem(item(None))]);
        assert!(matches!(&plan.results[0], Some(Err(PluginError::InvalidRecord(_)))));
        assert!(plan.results[1].is_none());
        assert_eq!(body(&plan.batches[0])["requests"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn batches_hold_at_most_100() {
        let writes: Vec<Write> = (0..250).map(|_| Write::CreateItem(item(None))).collect();
        let plan = plan(&api(), &writes);
        let sizes: Vec<usize> = plan.batches.iter().map(|b| body(b)["requests"].as_array().unwrap().len()).collect();
        assert_eq!(sizes, vec![100, 100, 50]);
        assert_eq!(body(&plan.batches[2])["requests"][0]["id"], "200");
    }

    #[test]
    fn inner_responses_map_to_each_write() {
        let writes = vec![Write::CreateItem(item(None)), Write::UpdateItem(item(Some(ITEM_ID)))];
        let mut plan = plan(&api(), &writes);
        let response = br#"{"responses": [
            {"id": "1", "status": 400, "headers": {}, "body": {"error": {"code": "Unknown", "message": "'Invalid Type' is not an option."}}},
            {"id": "0", "status": 201, "headers": {}, "body": {"@odata.etag": "W/\"1\"", "id": "7ce0af2e-0963-460f-9b1f-0014aea3e117",
              "number": "SWI-1", "displayName": "Touring Bicycle v2", "unitPrice": 1397.3, "blocked": false}}
        ]}"#;
        let batch = plan.batches.remove(0);
        record_response(&mut plan, &batch, 200, response);
        let results = plan.into_results();
        let Ok(Written::Item(created)) = &results[0] else { panic!("expected a written item, got {:?}", results[0]) };
        assert_eq!(created.etag.as_deref(), Some("W/\"1\""));
        assert_eq!(created.unit_price.as_deref(), Some("1397.3"));
        let Err(PluginError::Remote(error)) = &results[1] else { panic!("expected remote error") };
        assert_eq!(error.status, 400);
        assert_eq!(error.code.as_deref(), Some("Unknown"));
    }

    #[test]
    fn failed_batch_fails_its_writes() {
        let mut plan = plan(&api(), &[Write::CreateItem(item(None))]);
        let batch = plan.batches.remove(0);
        record_response(&mut plan, &batch, 503, br#"{"error": {"code": "Unavailable", "message": "busy"}}"#);
        assert!(matches!(&plan.into_results()[0], Err(PluginError::Remote(_))));
    }

    #[test]
    fn line_update_addresses_the_line() {
        let order_id = "b6f4017a-b749-ee11-ad0b-a1422c0f7f1f";
        let mut changed = line(BcLineType::Item, Some("LL4411"), "36", "9");
        changed.id = Some("1e8cb9c0-44e3-ea11-bb43-000d3a2feca1".into());
        changed.etag = Some("W/\"l\"".into());
        let plan = plan(&api(), &[Write::UpdateSalesOrderLine((order_id.into(), changed))]);
        let request = &body(&plan.batches[0])["requests"][0];
        assert_eq!(
            request["url"],
            format!("companies({COMPANY})/salesOrders({order_id})/salesOrderLines(1e8cb9c0-44e3-ea11-bb43-000d3a2feca1)")
        );
        assert_eq!(request["headers"]["If-Match"], "W/\"l\"");
        assert!(request["body"].get("lineObjectNumber").is_none());
        assert_eq!(serde_json::to_string(&request["body"]["quantity"]).unwrap(), "36");
    }
}
