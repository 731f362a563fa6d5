//! Parsing BC API v2.0 responses into the contract's records.
//!
//! Decimals keep their JSON text exactly (`arbitrary_precision`), enum members
//! arrive in their escaped wire form (`Fixed_x0020_Asset`, BC reference notes
//! section 2.7), `@odata.etag` becomes `etag`, and every property the record
//! does not name goes to `extras`.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::fields::{FieldError, Fields};
use crate::types::{
    BcCustomer, BcCustomerPayment, BcItem, BcItemLedgerEntry, BcLineType, BcSalesInvoice, BcSalesOrder, BcSalesOrderLine,
    BcSalesperson, PluginError, RecordError, RemoteError,
};

/// One page of a collection: `value` and `@odata.nextLink`.
pub struct Page<'a> {
    pub next: Option<String>,
    pub values: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Collection<'a> {
    #[serde(borrow)]
    value: Vec<&'a RawValue>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

pub fn page(body: &str) -> Result<Page<'_>, PluginError> {
    let collection: Collection<'_> = serde_json::from_str(body)
        .map_err(|e| PluginError::Internal(format!("Business Central returned a malformed collection: {e}")))?;
    Ok(Page { next: collection.next_link.filter(|n| !n.is_empty()), values: collection.value })
}

fn record_error(record: &str, error: FieldError) -> PluginError {
    PluginError::InvalidRecord(RecordError {
        record: record.to_string(),
        field: (!error.field.is_empty()).then_some(error.field),
        reason: error.reason,
    })
}

fn missing(record: &str, field: &str) -> PluginError {
    PluginError::InvalidRecord(RecordError { record: record.into(), field: Some(field.into()), reason: format!("{field} is missing") })
}

/// Decodes the `_xHHHH_` escapes of an enum member name
/// (`In_x0020_Review` -> `In Review`).
pub fn decode_enum(wire: &str) -> String {
    let mut out = String::with_capacity(wire.len());
    let mut rest = wire;
    while let Some(start) = rest.find("_x") {
        let candidate = &rest[start..];
        let code = candidate.get(2..6).filter(|hex| hex.chars().all(|c| c.is_ascii_hexdigit()));
        match (code, candidate.as_bytes().get(6)) {
            (Some(hex), Some(b'_')) => {
                out.push_str(&rest[..start]);
                let ch = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32).unwrap_or('\u{fffd}');
                out.push(ch);
                rest = &candidate[7..];
            }
            _ => {
                out.push_str(&rest[..start + 2]);
                rest = &rest[start + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Returns the `lineType` of a sales line from its wire name (or its caption).
pub fn line_type(wire: &str) -> Option<BcLineType> {
    let decoded = decode_enum(wire);
    let key: String = decoded.chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_lowercase();
    match key.as_str() {
        "comment" | "" => Some(BcLineType::Comment),
        "account" | "glaccount" => Some(BcLineType::Account),
        "item" => Some(BcLineType::Item),
        "resource" => Some(BcLineType::Resource),
        "fixedasset" => Some(BcLineType::FixedAsset),
        "charge" | "chargeitem" => Some(BcLineType::Charge),
        "allocationaccount" => Some(BcLineType::AllocationAccount),
        _ => None,
    }
}

/// Returns the wire name BC expects for a line type.
pub fn line_type_wire(line_type: BcLineType) -> &'static str {
    match line_type {
        BcLineType::Comment => "Comment",
        BcLineType::Account => "Account",
        BcLineType::Item => "Item",
        BcLineType::Resource => "Resource",
        BcLineType::FixedAsset => "Fixed_x0020_Asset",
        BcLineType::Charge => "Charge",
        BcLineType::AllocationAccount => "Allocation_x0020_Account",
    }
}

fn object<'a>(raw: &'a RawValue, record: &str) -> Result<Fields<'a>, PluginError> {
    Fields::new(raw).map_err(|e| record_error(record, e))
}

/// Drops the OData control annotations (`@odata.context`, ...) other than the
/// etag, which callers have already taken.
fn drop_annotations(fields: &mut Fields<'_>) {
    for key in ["@odata.context", "@odata.id", "@odata.editLink", "@odata.type"] {
        fields.take_raw(key);
    }
}

pub fn customer(raw: &RawValue) -> Result<BcCustomer, PluginError> {
    let mut f = object(raw, "customer")?;
    let id = f.string("id").map_err(|e| record_error("customer", e))?;
    let record = format!("customer {}", id.as_deref().unwrap_or("?"));
    let at = |e| record_error(&record, e);
    let etag = f.string("@odata.etag").map_err(at)?;
    drop_annotations(&mut f);
    Ok(BcCustomer {
        id,
        number: f.string("number").map_err(at)?,
        display_name: f.string("displayName").map_err(at)?.unwrap_or_default(),
        address_line1: f.string("addressLine1").map_err(at)?,
        address_line2: f.string("addressLine2").map_err(at)?,
        city: f.string("city").map_err(at)?,
        state: f.string("state").map_err(at)?,
        country: f.string("country").map_err(at)?,
        postal_code: f.string("postalCode").map_err(at)?,
        phone_number: f.string("phoneNumber").map_err(at)?,
        email: f.string("email").map_err(at)?,
        website: f.string("website").map_err(at)?,
        salesperson_code: f.string("salespersonCode").map_err(at)?,
        currency_code: f.string("currencyCode").map_err(at)?,
        tax_registration_number: f.string("taxRegistrationNumber").map_err(at)?,
        etag,
        last_modified: f.timestamp("lastModifiedDateTime").map_err(at)?,
        extras: f.into_extras(),
    })
}

pub fn item(raw: &RawValue) -> Result<BcItem, PluginError> {
    let mut f = object(raw, "item")?;
    let id = f.string("id").map_err(|e| record_error("item", e))?;
    let record = format!("item {}", id.as_deref().unwrap_or("?"));
    let at = |e| record_error(&record, e);
    let etag = f.string("@odata.etag").map_err(at)?;
    drop_annotations(&mut f);
    Ok(BcItem {
        id,
        number: f.string("number").map_err(at)?.ok_or_else(|| missing(&record, "number"))?,
        display_name: f.string("displayName").map_err(at)?.unwrap_or_default(),
        gtin: f.string("gtin").map_err(at)?,
        base_unit_of_measure_code: f.string("baseUnitOfMeasureCode").map_err(at)?,
        item_category_code: f.string("itemCategoryCode").map_err(at)?,
        unit_price: f.decimal("unitPrice").map_err(at)?,
        inventory: f.decimal("inventory").map_err(at)?,
        blocked: f.boolean("blocked").map_err(at)?.unwrap_or(false),
        etag,
        last_modified: f.timestamp("lastModifiedDateTime").map_err(at)?,
        extras: f.into_extras(),
    })
}

pub fn sales_order_line(raw: &RawValue, order: &str) -> Result<BcSalesOrderLine, PluginError> {
    sales_order_line_fields(object(raw, order)?, order)
}

/// Parses a sales order line already split into its fields.
fn sales_order_line_fields(mut f: Fields<'_>, order: &str) -> Result<BcSalesOrderLine, PluginError> {
    let id = f.string("id").map_err(|e| record_error(order, e))?;
    let record = format!("{order} line {}", id.as_deref().unwrap_or("?"));
    let at = |e| record_error(&record, e);
    let etag = f.string("@odata.etag").map_err(at)?;
    drop_annotations(&mut f);
    let wire = f.string("lineType").map_err(at)?.unwrap_or_default();
    let line_type = line_type(&wire).ok_or_else(|| {
        PluginError::InvalidRecord(RecordError { record: record.clone(), field: Some("lineType".into()), reason: format!("unknown line type {wire:?}") })
    })?;
    Ok(BcSalesOrderLine {
        id,
        line_type,
        line_object_number: f.string("lineObjectNumber").map_err(at)?.filter(|n| !n.is_empty()),
        description: f.string("description").map_err(at)?.unwrap_or_default(),
        unit_of_measure_code: f.string("unitOfMeasureCode").map_err(at)?.filter(|c| !c.is_empty()),
        quantity: f.decimal("quantity").map_err(at)?.unwrap_or_else(|| "0".into()),
        unit_price: f.decimal("unitPrice").map_err(at)?.unwrap_or_else(|| "0".into()),
        discount_amount: f.decimal("discountAmount").map_err(at)?,
        amount_excluding_tax: f.decimal("amountExcludingTax").map_err(at)?,
        shipped_quantity: f.decimal("shippedQuantity").map_err(at)?,
        invoiced_quantity: f.decimal("invoicedQuantity").map_err(at)?,
        // BC has no standard property for it; the host fills it from the
        // cross-reference store.
        leaflink_line_id: None,
        etag,
        extras: f.into_extras(),
    })
}

pub fn sales_order(raw: &RawValue) -> Result<BcSalesOrder, PluginError> {
    // Splitting the order and its lines in one pass reads each line's text
    // once instead of three times. An order of any other shape takes the
    // field-by-field path, which reports what is wrong with it.
    let (mut f, split_lines) = match Fields::with_object_list(raw, "salesOrderLines") {
        Some((fields, lines)) => (fields, lines),
        None => (object(raw, "sales order")?, None),
    };
    let id = f.string("id").map_err(|e| record_error("sales order", e))?;
    let record = format!("sales order {}", id.as_deref().unwrap_or("?"));
    let at = |e| record_error(&record, e);
    let etag = f.string("@odata.etag").map_err(at)?;
    drop_annotations(&mut f);
    let lines = match (split_lines, f.take_raw("salesOrderLines")) {
        (Some(lines), _) => lines.into_iter().map(|line| sales_order_line_fields(line, &record)).collect::<Result<Vec<_>, _>>()?,
        (None, Some(raw)) => {
            let values: Vec<&RawValue> = serde_json::from_str(raw.get()).map_err(|e| {
                record_error(&record, FieldError { field: "salesOrderLines".into(), reason: format!("expected a list: {e}") })
            })?;
            values.into_iter().map(|line| sales_order_line(line, &record)).collect::<Result<Vec<_>, _>>()?
        }
        (None, None) => Vec::new(),
    };
    f.take_raw("salesOrderLines@odata.context");
    Ok(BcSalesOrder {
        id,
        number: f.string("number").map_err(at)?,
        external_document_number: f.string("externalDocumentNumber").map_err(at)?.unwrap_or_default(),
        order_date: f.string("orderDate").map_err(at)?.unwrap_or_default(),
        customer_id: f.string("customerId").map_err(at)?,
        customer_number: f.string("customerNumber").map_err(at)?,
        status: f.string("status").map_err(at)?,
        fully_shipped: f.boolean("fullyShipped").map_err(at)?.unwrap_or(false),
        total_amount_including_tax: f.decimal("totalAmountIncludingTax").map_err(at)?,
        lines,
        etag,
        last_modified: f.timestamp("lastModifiedDateTime").map_err(at)?,
        extras: f.into_extras(),
    })
}

pub fn sales_invoice(raw: &RawValue) -> Result<BcSalesInvoice, PluginError> {
    let mut f = object(raw, "sales invoice")?;
    let id = f.string("id").map_err(|e| record_error("sales invoice", e))?.ok_or_else(|| missing("sales invoice", "id"))?;
    let record = format!("sales invoice {id}");
    let at = |e| record_error(&record, e);
    f.take_raw("@odata.etag");
    drop_annotations(&mut f);
    Ok(BcSalesInvoice {
        number: f.string("number").map_err(at)?,
        external_document_number: f.string("externalDocumentNumber").map_err(at)?,
        order_id: f.string("orderId").map_err(at)?,
        order_number: f.string("orderNumber").map_err(at)?,
        customer_number: f.string("customerNumber").map_err(at)?,
        invoice_date: f.string("invoiceDate").map_err(at)?,
        total_amount_including_tax: f.decimal("totalAmountIncludingTax").map_err(at)?.unwrap_or_else(|| "0".into()),
        remaining_amount: f.decimal("remainingAmount").map_err(at)?.unwrap_or_else(|| "0".into()),
        status: f.string("status").map_err(at)?.unwrap_or_default(),
        last_modified: f.timestamp("lastModifiedDateTime").map_err(at)?,
        id,
        extras: f.into_extras(),
    })
}

pub fn customer_payment(raw: &RawValue) -> Result<BcCustomerPayment, PluginError> {
    let mut f = object(raw, "customer payment")?;
    let id = f.string("id").map_err(|e| record_error("customer payment", e))?;
    let record = format!("customer payment {}", id.as_deref().unwrap_or("?"));
    let at = |e| record_error(&record, e);
    f.take_raw("@odata.etag");
    drop_annotations(&mut f);
    Ok(BcCustomerPayment {
        id,
        journal_id: f.string("journalId").map_err(at)?,
        customer_number: f.string("customerNumber").map_err(at)?,
        posting_date: f.string("postingDate").map_err(at)?.ok_or_else(|| missing(&record, "postingDate"))?,
        document_number: f.string("documentNumber").map_err(at)?,
        external_document_number: f.string("externalDocumentNumber").map_err(at)?,
        amount: f.decimal("amount").map_err(at)?.ok_or_else(|| missing(&record, "amount"))?,
        applies_to_invoice_id: f.string("appliesToInvoiceId").map_err(at)?,
        applies_to_invoice_number: f.string("appliesToInvoiceNumber").map_err(at)?,
        description: f.string("description").map_err(at)?,
        last_modified: f.timestamp("lastModifiedDateTime").map_err(at)?,
        extras: f.into_extras(),
    })
}

pub fn salesperson(raw: &RawValue) -> Result<BcSalesperson, PluginError> {
    let mut f = object(raw, "salesperson")?;
    let id = f.string("id").map_err(|e| record_error("salesperson", e))?.ok_or_else(|| missing("salesperson", "id"))?;
    let at = |e| record_error(&format!("salesperson {id}"), e);
    Ok(BcSalesperson {
        code: f.string("code").map_err(at)?.unwrap_or_default(),
        display_name: f.string("displayName").map_err(at)?,
        email: f.string("email").map_err(at)?.filter(|e| !e.is_empty()),
        id,
    })
}

pub fn item_ledger_entry(raw: &RawValue) -> Result<BcItemLedgerEntry, PluginError> {
    let mut f = object(raw, "item ledger entry")?;
    let id = f.string("id").map_err(|e| record_error("item ledger entry", e))?.ok_or_else(|| missing("item ledger entry", "id"))?;
    let record = format!("item ledger entry {id}");
    let at = |e| record_error(&record, e);
    Ok(BcItemLedgerEntry {
        entry_number: f.integer("entryNumber").map_err(at)?.ok_or_else(|| missing(&record, "entryNumber"))?,
        item_number: f.string("itemNumber").map_err(at)?.unwrap_or_default(),
        posting_date: f.string("postingDate").map_err(at)?.unwrap_or_default(),
        entry_type: decode_enum(&f.string("entryType").map_err(at)?.unwrap_or_default()),
        quantity: f.decimal("quantity").map_err(at)?.unwrap_or_else(|| "0".into()),
        document_number: f.string("documentNumber").map_err(at)?.filter(|d| !d.is_empty()),
        id,
    })
}

/// Returns the body of a 2xx response as text, or BC's error (`{"error": {code,
/// message}}`) as `remote`.
pub fn success_body(status: u16, body: &[u8]) -> Result<&str, PluginError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| PluginError::Internal(format!("Business Central returned a response that is not UTF-8 (status {status}): {e}")))?;
    if (200..300).contains(&status) {
        return Ok(text);
    }
    Err(remote_error(status, serde_json::from_str::<serde_json::Value>(text).ok().as_ref(), text))
}

/// Returns a `remote` error from an error body, falling back to the raw text.
pub fn remote_error(status: u16, body: Option<&serde_json::Value>, text: &str) -> PluginError {
    let error = body.and_then(|b| b.get("error"));
    let code = error.and_then(|e| e.get("code")).and_then(|c| c.as_str()).map(str::to_string);
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| text.chars().take(500).collect());
    PluginError::Remote(RemoteError { status, code, message })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extras;

    fn raw(json: &str) -> &RawValue {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn enum_escapes_decoded() {
        assert_eq!(decode_enum("In_x0020_Review"), "In Review");
        assert_eq!(decode_enum("Positive_x0020_Adjmt_x002E_"), "Positive Adjmt.");
        assert_eq!(decode_enum("_x0020_"), " ");
        assert_eq!(decode_enum("Plain_xName"), "Plain_xName");
        assert_eq!(line_type("Fixed_x0020_Asset"), Some(BcLineType::FixedAsset));
        assert_eq!(line_type("Allocation_x0020_Account"), Some(BcLineType::AllocationAccount));
        assert_eq!(line_type("G_x002F_L_x0020_Account"), Some(BcLineType::Account));
        assert_eq!(line_type("Item"), Some(BcLineType::Item));
        assert_eq!(line_type("Bicycle"), None);
    }

    #[test]
    fn order_with_expanded_lines() {
        let body = r#"{"@odata.context": "x", "value": [{
            "@odata.etag": "W/\"JzQ0O2Zy\"", "id": "b6f4017a-b749-ee11-ad0b-a1422c0f7f1f", "number": "101005",
            "externalDocumentNumber": "a9bf6e2f", "orderDate": "2015-12-31", "customerNumber": "10000",
            "status": "In_x0020_Review", "fullyShipped": false, "totalAmountIncludingTax": 17773.66,
            "lastModifiedDateTime": "2023-09-02T17:49:38.5Z", "shortcutDimension2Code": "MEDIUM",
            "salesOrderLines": [{"@odata.etag": "W/\"l1\"", "id": "1e8cb9c0-44e3-ea11-bb43-000d3a2feca1", "lineType": "Item",
              "lineObjectNumber": "1996-S", "description": "ATLANTA Whiteboard, base", "unitOfMeasureCode": "PCS",
              "quantity": 12, "unitPrice": 1397.30000, "discountAmount": 0, "amountExcludingTax": 16767.6,
              "shippedQuantity": 0, "invoicedQuantity": 0, "taxPercent": 6.00002},
             {"id": "2e8cb9c0-44e3-ea11-bb43-000d3a2feca1", "lineType": "Fixed_x0020_Asset", "lineObjectNumber": "",
              "description": "Van", "quantity": "1", "unitPrice": "0"}]
          }], "@odata.nextLink": "http://127.0.0.1/api/v2.0/companies(x)/salesOrders?$skiptoken=1"}"#;
        let page = page(body).unwrap();
        assert_eq!(page.next.as_deref(), Some("http://127.0.0.1/api/v2.0/companies(x)/salesOrders?$skiptoken=1"));
        let order = sales_order(page.values[0]).unwrap();
        assert_eq!(order.etag.as_deref(), Some("W/\"JzQ0O2Zy\""));
        assert_eq!(order.status.as_deref(), Some("In_x0020_Review"));
        assert_eq!(order.total_amount_including_tax.as_deref(), Some("17773.66"));
        assert_eq!(order.lines.len(), 2);
        assert_eq!(order.lines[0].unit_price, "1397.3");
        assert_eq!(order.lines[0].quantity, "12");
        assert_eq!(order.lines[0].etag.as_deref(), Some("W/\"l1\""));
        assert_eq!(extras::field(&order.lines[0].extras, "taxPercent").unwrap(), Some("6.00002"));
        assert_eq!(order.lines[1].line_type, BcLineType::FixedAsset);
        assert_eq!(order.lines[1].line_object_number, None);
        assert!(extras::field(&order.extras, "shortcutDimension2Code").unwrap().is_some());
        let names: Vec<_> = extras::entries(&order.extras).unwrap().into_iter().map(|(name, _)| name).collect();
        assert!(!names.iter().any(|name| name.starts_with("@odata")), "{names:?}");
    }

    #[test]
    fn item_example() {
        let item = item(raw(
            r#"{"id": "fca5738a-44e3-ea11-bb43-000d3a2feca1", "number": "1896-S", "displayName": "ATHENS Desk",
                "type": "Inventory", "blocked": false, "gtin": "", "inventory": 4, "unitPrice": 1000.8,
                "baseUnitOfMeasureCode": "PCS", "lastModifiedDateTime": "2020-08-21T00:24:19.347Z"}"#,
        ))
        .unwrap();
        assert_eq!(item.unit_price.as_deref(), Some("1000.8"));
        assert_eq!(item.inventory.as_deref(), Some("4"));
        assert_eq!(item.etag, None);
        assert_eq!(extras::field(&item.extras, "type").unwrap(), Some("\"Inventory\""));
    }

    #[test]
    fn ledger_entry_example() {
        let entry = item_ledger_entry(raw(
            r#"{"@odata.etag": "W/\"x\"", "id": "44a76d24-52ff-eb11-bb76-000d3a220646", "entryNumber": 1, "itemNumber": "1100",
                "postingDate": "2022-06-01", "entryType": "Positive_x0020_Adjmt_x002E_", "documentNumber": "START-MANF",
                "quantity": 200}"#,
        ))
        .unwrap();
        assert_eq!(entry.entry_type, "Positive Adjmt.");
        assert_eq!(entry.quantity, "200");
    }

    #[test]
    fn payment_example() {
        let payment = customer_payment(raw(
            r#"{"id": "17cce948-c6a5-4861-8ff5-30428ed83207", "lineNumber": 10000, "customerNumber": "10400",
                "postingDate": "2015-12-31", "documentNumber": "1234", "amount": 1500, "appliesToInvoiceNumber": "100000"}"#,
        ))
        .unwrap();
        assert_eq!(payment.amount, "1500");
        assert_eq!(payment.posting_date, "2015-12-31");
    }

    #[test]
    fn error_body_becomes_remote() {
        let body = br#"{"error": {"code": "Request_EntityChanged", "message": "Another user has already changed the record."}}"#;
        let PluginError::Remote(error) = success_body(409, body).unwrap_err() else { panic!("expected remote") };
        assert_eq!(error.code.as_deref(), Some("Request_EntityChanged"));
        assert_eq!(error.status, 409);
    }
}
