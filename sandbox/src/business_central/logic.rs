//! Business rules of the company: inserts and updates with BC's validation
//! (unknown and read-only properties, field lengths, enums, related records),
//! number series, document totals, `shipAndInvoice`, journal posting and the
//! inventory adjustment that a PATCH of `items.inventory` posts.
//!
//! Choices where the reference leaves the behaviour open:
//! - Tax is not modelled: every `taxPercent` and tax amount is 0, so
//!   `amountIncludingTax` equals `amountExcludingTax`.
//! - `customerPayments.amount` is positive for money received, as in the
//!   published create example (`amount: 1500`). Posting lowers the applied
//!   invoice's `remainingAmount` by at most that amount, and it rejects a
//!   payment of zero or less.

use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::cell::{Cell, from_json};
use super::error::BcError;
use super::schema::{EntitySet, schema};
use super::store::{Row, Store, new_row_id};

pub const DOCUMENT_LINES: &[(&str, &str)] = &[("salesOrders", "salesOrderLines"), ("salesInvoices", "salesInvoiceLines")];

/// Code lists whose `code` identifies a record, so a second record with the same code is rejected.
const UNIQUE_CODE_SETS: &[&str] = &[
    "unitsOfMeasure",
    "itemCategories",
    "currencies",
    "countriesRegions",
    "paymentTerms",
    "paymentMethods",
    "shipmentMethods",
    "salespeoplePurchasers",
    "locations",
    "dimensions",
];

pub fn round2(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

pub fn today() -> Date {
    Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date()
}

fn set_schema(set: &str) -> &'static EntitySet {
    schema().set(set).unwrap_or_else(|| panic!("no entity set {set}"))
}

/// Reads one property of a row by name.
pub fn value(set: &str, row: &Row, name: &str) -> Cell {
    let entity = set_schema(set);
    row.value(entity, entity.col(name))
}

pub fn text(set: &str, row: &Row, name: &str) -> String {
    value(set, row, name).as_str().unwrap_or_default().to_owned()
}

pub fn decimal(set: &str, row: &Row, name: &str) -> Decimal {
    value(set, row, name).as_dec().unwrap_or_default()
}

pub fn guid(set: &str, row: &Row, name: &str) -> Uuid {
    value(set, row, name).as_guid().unwrap_or_default()
}

pub fn put(set: &str, row: &mut Row, name: &str, cell: Cell) {
    let entity = set_schema(set);
    row.set(entity, entity.col(name), cell);
}

/// Moves `lastModifiedDateTime` forward on every write. BC keeps it to the
/// millisecond, so two writes in the same millisecond get 1 ms apart, which
/// keeps `lastModifiedDateTime gt <cursor>` polling exact.
fn touch(set: &str, row: &mut Row) {
    if set_schema(set).column("lastModifiedDateTime").is_none() {
        return;
    }
    let now = Timestamp::now().round(jiff::Unit::Millisecond).unwrap_or_else(|_| Timestamp::now());
    let stamp = match value(set, row, "lastModifiedDateTime") {
        Cell::Time(previous) if previous >= now => previous + jiff::SignedDuration::from_millis(1),
        _ => now,
    };
    put(set, row, "lastModifiedDateTime", Cell::Time(stamp));
}

fn related_missing(field: &str, table: &str, related: &str, value: &str) -> BcError {
    BcError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "Application_FieldValidationException",
        format!("The field {field} of table {table} contains a value ({value}) that cannot be found in the related table ({related})."),
    )
}

/// Copies the request properties onto a row, with BC's errors. `skip` names
/// the deep-insert lines property, which `insert` handles apart.
fn apply_body(
    set: &str,
    row: &mut Row,
    body: &Map<String, Value>,
    skip: Option<&str>,
    inserting: bool,
) -> Result<Vec<String>, BcError> {
    let entity = set_schema(set);
    let mut touched = Vec::new();
    for (name, json) in body {
        if name.starts_with("@odata.") || skip == Some(name.as_str()) {
            continue;
        }
        let Some(column) = entity.column(name) else {
            if entity.navigation.iter().any(|navigation| navigation == name) {
                return Err(BcError::bad_request(format!(
                    "The navigation property '{name}' can only be written in a deep insert of a new {}.",
                    entity.entity
                )));
            }
            return Err(BcError::bad_request(format!(
                "The property '{name}' does not exist on type 'Microsoft.NAV.{}'. Make sure to only use property names that are defined by the type.",
                entity.entity
            )));
        };
        let property = &entity.properties[column];
        // API v2.0 lets a client choose the `id` of a new record.
        let client_id = inserting && name == "id";
        if property.read_only && !client_id {
            return Err(BcError::read_only(name));
        }
        let cell = from_json(&entity.entity, property, json)?;
        row.set(entity, column, cell);
        touched.push(name.clone());
    }
    Ok(touched)
}

/// Creates an entity from a POST body; `parent` is the foreign key set by a
/// navigation path such as `salesOrders({id})/salesOrderLines`.
pub fn insert(store: &mut Store, set: &str, body: &Value, parent: Option<(&str, Uuid)>) -> Result<Uuid, BcError> {
    let entity = set_schema(set);
    if !entity.insert_allowed {
        return Err(BcError::method_not_allowed(format!("'POST' requests for '{set}' of EdmType 'Entity' are not allowed.")));
    }
    let Some(body) = body.as_object() else {
        return Err(BcError::bad_request("Invalid Request Body: a JSON object was expected."));
    };
    let line_set = DOCUMENT_LINES.iter().find(|(header, _)| *header == set).map(|(_, lines)| *lines);
    let deep_lines: &[Value] = match line_set {
        Some(lines) => match body.get(lines) {
            Some(Value::Array(items)) => items,
            Some(_) => return Err(BcError::bad_request(format!("The property '{lines}' must be an array."))),
            None => &[],
        },
        None => &[],
    };
    for line in deep_lines {
        // BC 22 and later fail a deep insert whose lines carry `sequence`
        // with this message, so the sandbox rejects it the same way.
        if line.get("sequence").is_some() {
            return Err(BcError::dialog("You cannot change the value of the SystemId field."));
        }
    }

    match line_set {
        Some(lines) if !deep_lines.is_empty() => {
            // A deep insert is one transaction in BC: a rejected line rolls
            // back the header, the lines before it and the numbers they took.
            let savepoint = store.savepoint();
            let inserted = insert_document(store, set, lines, body, deep_lines, parent);
            match inserted {
                Ok(_) => store.release(savepoint),
                Err(_) => store.rollback_to(savepoint),
            }
            inserted
        }
        _ => insert_row(store, set, body, line_set, parent),
    }
}

/// Inserts a document header and then its deep-inserted lines, summing the
/// header totals once at the end instead of once per line.
fn insert_document(
    store: &mut Store,
    set: &str,
    lines: &str,
    body: &Map<String, Value>,
    deep_lines: &[Value],
    parent: Option<(&str, Uuid)>,
) -> Result<Uuid, BcError> {
    let id = insert_row(store, set, body, Some(lines), parent)?;
    store.defer_totals = true;
    let inserted: Result<(), BcError> =
        deep_lines.iter().try_for_each(|line| insert(store, lines, line, Some(("documentId", id))).map(|_| ()));
    store.defer_totals = false;
    inserted?;
    recompute_totals(store, set, id);
    Ok(id)
}

/// Validates and stores one entity from the properties of a POST body,
/// except the deep-insert lines property `skip`.
fn insert_row(
    store: &mut Store,
    set: &str,
    body: &Map<String, Value>,
    skip: Option<&str>,
    parent: Option<(&str, Uuid)>,
) -> Result<Uuid, BcError> {
    let entity = set_schema(set);
    let mut row = Row::new(new_row_id());
    let touched = apply_body(set, &mut row, body, skip, true)?;
    if touched.iter().any(|name| name == "id") {
        row.id = guid(set, &row, "id");
        if row.id.is_nil() {
            row.id = new_row_id();
        }
    }
    if store.get(set, &row.id).is_some() {
        return Err(BcError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "Internal_EntityWithSameKeyExists",
            format!("The record in table {} already exists. Identification fields and values: Id='{}'", entity.entity, row.id),
        ));
    }
    set_id(set, &mut row);
    if let Some((column, parent_id)) = parent {
        put(set, &mut row, column, Cell::Guid(parent_id));
    }
    prepare(store, set, &mut row, None, &touched)?;
    touch(set, &mut row);
    let id = row.id;
    store.save(set, row);
    after_save(store, set, id)?;
    Ok(id)
}

/// Applies a PATCH body to an existing entity.
pub fn update(store: &mut Store, set: &str, id: Uuid, body: &Value) -> Result<(), BcError> {
    let entity = set_schema(set);
    if !entity.modify_allowed {
        return Err(BcError::method_not_allowed(format!("'PATCH' requests for '{set}' of EdmType 'Entity' are not allowed.")));
    }
    let Some(body) = body.as_object() else {
        return Err(BcError::bad_request("Invalid Request Body: a JSON object was expected."));
    };
    let before = store.get(set, &id).cloned().ok_or_else(|| BcError::record_not_found(&entity.entity, &id.to_string()))?;
    let mut row = before.clone();
    let touched = apply_body(set, &mut row, body, None, false)?;
    prepare(store, set, &mut row, Some(&before), &touched)?;
    touch(set, &mut row);
    store.save(set, row);
    after_save(store, set, id)
}

pub fn delete(store: &mut Store, set: &str, id: Uuid) -> Result<(), BcError> {
    let entity = set_schema(set);
    if !entity.delete_allowed {
        return Err(BcError::method_not_allowed(format!("'DELETE' requests for '{set}' of EdmType 'Entity' are not allowed.")));
    }
    let row = store.delete(set, &id).ok_or_else(|| BcError::record_not_found(&entity.entity, &id.to_string()))?;
    if let Some((_, lines)) = DOCUMENT_LINES.iter().find(|(header, _)| *header == set) {
        let line_ids: Vec<Uuid> = child_rows(store, lines, "documentId", id).iter().map(|line| line.id).collect();
        for line_id in line_ids {
            store.delete(lines, &line_id);
        }
    }
    if let Some((header, _)) = DOCUMENT_LINES.iter().find(|(_, lines)| *lines == set) {
        recompute_totals(store, header, guid(set, &row, "documentId"));
    }
    if set == "customerPaymentJournals" {
        store.delete("journals", &id);
    }
    Ok(())
}

pub fn child_rows(store: &Store, set: &str, column: &str, parent: Uuid) -> Vec<Row> {
    child_refs(store, set, column, parent).into_iter().cloned().collect()
}

/// Finds the rows of `set` whose `column` is `parent`, borrowed from the store.
pub fn child_refs<'s>(store: &'s Store, set: &str, column: &str, parent: Uuid) -> Vec<&'s Row> {
    let table = store.table(set);
    let entity = table.schema();
    table.find_by(entity.col(column), &Cell::Guid(parent))
}

fn find_one(store: &Store, set: &str, column: &str, key: &str) -> Option<Row> {
    find_one_ref(store, set, column, key).cloned()
}

fn find_one_ref<'s>(store: &'s Store, set: &str, column: &str, key: &str) -> Option<&'s Row> {
    let table = store.table(set);
    table.first_by(table.schema().col(column), &Cell::str(key))
}

fn require_unique(store: &Store, set: &str, row: &Row, column: &str) -> Result<(), BcError> {
    let key = text(set, row, column);
    if let Some(existing) = find_one(store, set, column, &key)
        && existing.id != row.id {
            return Err(BcError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "Internal_EntityWithSameKeyExists",
                format!("The record in table {} already exists. Identification fields and values: {column}='{key}'", set_schema(set).entity),
            ));
        }
    Ok(())
}

/// Resolves a pair such as `customerId`/`customerNumber` against a related
/// set: whichever was sent sets the other, and a mismatch is rejected.
fn resolve_pair(
    store: &Store,
    set: &str,
    row: &mut Row,
    touched: &[String],
    (id_column, code_column): (&str, &str),
    (related_set, related_code): (&str, &str),
) -> Result<Option<Row>, BcError> {
    // BC's own examples send an empty GUID next to a code to mean "use the code".
    let id_sent = touched.iter().any(|name| name == id_column) && !guid(set, row, id_column).is_nil();
    let code_sent = touched.iter().any(|name| name == code_column);
    let entity = set_schema(set);
    let label = &entity.entity;
    let related = if id_sent {
        let id = guid(set, row, id_column);
        Some(store.get(related_set, &id).cloned().ok_or_else(|| related_missing(id_column, label, related_set, &id.to_string()))?)
    } else if code_sent {
        let code = text(set, row, code_column);
        if code.is_empty() {
            None
        } else {
            Some(find_one(store, related_set, related_code, &code).ok_or_else(|| related_missing(code_column, label, related_set, &code))?)
        }
    } else if touched.iter().any(|name| name == id_column) {
        None
    } else {
        let id = guid(set, row, id_column);
        return Ok(store.get(related_set, &id).cloned());
    };
    if id_sent && code_sent {
        let code = text(set, row, code_column);
        let related_value = related.as_ref().map(|found| text(related_set, found, related_code)).unwrap_or_default();
        if code != related_value {
            return Err(BcError::dialog(format!("The {id_column} and {code_column} values do not match a single {related_set} record.")));
        }
    }
    put(set, row, id_column, Cell::Guid(related.as_ref().map(|found| found.id).unwrap_or_default()));
    put(set, row, code_column, Cell::str(&related.as_ref().map(|found| text(related_set, found, related_code)).unwrap_or_default()));
    Ok(related)
}

/// Entity-specific defaults and validation before a row is stored.
fn prepare(store: &mut Store, set: &str, row: &mut Row, before: Option<&Row>, touched: &[String]) -> Result<(), BcError> {
    let inserting = before.is_none();
    let sent = |name: &str| touched.iter().any(|touched_name| touched_name == name);
    if UNIQUE_CODE_SETS.contains(&set) {
        if text(set, row, "code").is_empty() {
            return Err(BcError::dialog(format!("The code of a new {} must not be blank.", set_schema(set).entity)));
        }
        require_unique(store, set, row, "code")?;
    }
    match set {
        "customers" => {
            if text(set, row, "number").is_empty() {
                put(set, row, "number", Cell::str(&store.next_number("C", 20010)));
            }
            require_unique(store, set, row, "number")?;
            resolve_pair(store, set, row, touched, ("currencyId", "currencyCode"), ("currencies", "code"))?;
        }
        "items" => {
            if inserting && sent("inventory") {
                return Err(BcError::dialog("Inventory cannot be changed during on insert."));
            }
            if text(set, row, "number").is_empty() {
                put(set, row, "number", Cell::str(&store.next_number("I", 70010)));
            }
            require_unique(store, set, row, "number")?;
            resolve_pair(store, set, row, touched, ("baseUnitOfMeasureId", "baseUnitOfMeasureCode"), ("unitsOfMeasure", "code"))?;
            resolve_pair(store, set, row, touched, ("itemCategoryId", "itemCategoryCode"), ("itemCategories", "code"))?;
            if let Some(before) = before {
                let change = decimal(set, row, "inventory") - decimal(set, before, "inventory");
                if !change.is_zero() {
                    post_adjustment(store, row, change);
                }
            }
        }
        "salesOrders" | "salesInvoices" => prepare_document(store, set, row, inserting, touched)?,
        "salesOrderLines" | "salesInvoiceLines" => prepare_line(store, set, row, before, touched)?,
        "customerPayments" => prepare_payment(store, row, inserting, touched)?,
        "journalLines" => {
            let journal = guid(set, row, "journalId");
            let batch = store
                .get("journals", &journal)
                .cloned()
                .ok_or_else(|| BcError::dialog("You must specify a journal id (journalId) for the journal line."))?;
            put(set, row, "journalDisplayName", Cell::str(&text("journals", &batch, "code")));
            if inserting && value(set, row, "lineNumber") == Cell::Int(0) {
                let last = child_rows(store, set, "journalId", journal).iter().filter_map(|line| match value(set, line, "lineNumber") {
                    Cell::Int(number) => Some(number),
                    _ => None,
                }).max().unwrap_or(0);
                put(set, row, "lineNumber", Cell::Int(last + 10000));
            }
            if value(set, row, "postingDate") == super::cell::default_cell(&super::schema::EdmType::Date) {
                put(set, row, "postingDate", Cell::Date(today()));
            }
        }
        _ => {}
    }
    Ok(())
}

fn prepare_document(store: &mut Store, set: &str, row: &mut Row, inserting: bool, touched: &[String]) -> Result<(), BcError> {
    let customer = resolve_pair(store, set, row, touched, ("customerId", "customerNumber"), ("customers", "number"))?;
    let Some(customer) = customer else {
        return Err(BcError::dialog("A customerNumber or a customerID must be provided."));
    };
    if inserting {
        let number = match set {
            "salesOrders" => store.next_number("S-ORD", 101001),
            _ => store.next_number("S-INV", 102001),
        };
        put(set, row, "number", Cell::str(&number));
        put(set, row, "status", Cell::str("Draft"));
        let date_column = if set == "salesOrders" { "orderDate" } else { "invoiceDate" };
        let empty_date = super::cell::default_cell(&super::schema::EdmType::Date);
        if value(set, row, date_column) == empty_date {
            put(set, row, date_column, Cell::Date(today()));
        }
        if value(set, row, "postingDate") == empty_date {
            put(set, row, "postingDate", Cell::Date(today()));
        }
    }
    let customer_changed = inserting || touched.iter().any(|name| name == "customerId" || name == "customerNumber");
    if customer_changed {
        let name = text("customers", &customer, "displayName");
        put(set, row, "customerName", Cell::str(&name));
        put(set, row, "billToName", Cell::str(&name));
        put(set, row, "billToCustomerId", Cell::Guid(customer.id));
        put(set, row, "billToCustomerNumber", Cell::str(&text("customers", &customer, "number")));
        for (document, customer_column) in [
            ("AddressLine1", "addressLine1"),
            ("AddressLine2", "addressLine2"),
            ("City", "city"),
            ("Country", "country"),
            ("State", "state"),
            ("PostCode", "postalCode"),
        ] {
            let address = text("customers", &customer, customer_column);
            put(set, row, &format!("billTo{document}"), Cell::str(&address));
            for prefix in ["sellTo", "shipTo"] {
                let column = format!("{prefix}{document}");
                if !touched.contains(&column) {
                    put(set, row, &column, Cell::str(&address));
                }
            }
        }
        if !touched.iter().any(|name| name == "shipToName") {
            put(set, row, "shipToName", Cell::str(&name));
        }
        for column in ["email", "phoneNumber"] {
            if !touched.iter().any(|name| name == column) {
                put(set, row, column, Cell::str(&text("customers", &customer, column)));
            }
        }
        if !touched.iter().any(|name| name == "currencyCode" || name == "currencyId") {
            put(set, row, "currencyCode", Cell::str(&text("customers", &customer, "currencyCode")));
        }
        if !touched.iter().any(|name| name == "salesperson") {
            put(set, row, "salesperson", Cell::str(&text("customers", &customer, "salespersonCode")));
        }
    }
    if touched.iter().any(|name| name == "currencyCode" || name == "currencyId") {
        resolve_pair(store, set, row, touched, ("currencyId", "currencyCode"), ("currencies", "code"))?;
    }
    if !inserting && touched.iter().any(|name| name == "discountAmount") {
        apply_totals(store, set, row);
    }
    Ok(())
}

fn prepare_line(store: &mut Store, set: &str, row: &mut Row, before: Option<&Row>, touched: &[String]) -> Result<(), BcError> {
    let header_set = if set == "salesOrderLines" { "salesOrders" } else { "salesInvoices" };
    let document = guid(set, row, "documentId");
    if document.is_nil() {
        return Err(BcError::dialog("You must specify a document id to get the lines."));
    }
    let Some(header) = store.get(header_set, &document) else {
        return Err(BcError::record_not_found(&set_schema(header_set).entity, &document.to_string()));
    };
    if set == "salesInvoiceLines" && text(header_set, header, "status") != "Draft" {
        return Err(BcError::dialog("A posted sales invoice cannot be changed."));
    }
    let sent = |name: &str| touched.iter().any(|touched_name| touched_name == name);
    let inserting = before.is_none();
    if inserting && value(set, row, "sequence") == Cell::Int(0) {
        let last = child_refs(store, set, "documentId", document)
            .into_iter()
            .filter_map(|line| match value(set, line, "sequence") {
                Cell::Int(number) => Some(number),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        put(set, row, "sequence", Cell::Int(last + 10000));
    }
    if inserting && !sent("lineType") {
        // NOTE: inferred default: a line that names an account is an Account
        // line, one that names an item or object number is an Item line.
        if sent("accountId") && !sent("itemId") {
            put(set, row, "lineType", Cell::str("Account"));
        } else if sent("itemId") || sent("lineObjectNumber") {
            put(set, row, "lineType", Cell::str("Item"));
        }
    }
    let line_type = text(set, row, "lineType");
    match line_type.as_str() {
        "Item" => {
            let item = if sent("itemId") || (!sent("lineObjectNumber") && !guid(set, row, "itemId").is_nil()) {
                let id = guid(set, row, "itemId");
                store.get("items", &id).ok_or_else(|| related_missing("itemId", "salesOrderLine", "Item", &id.to_string()))?
            } else {
                let number = text(set, row, "lineObjectNumber");
                if number.is_empty() {
                    return Err(BcError::dialog("An itemId or a lineObjectNumber must be provided for an item line."));
                }
                find_one_ref(store, "items", "number", &number.to_uppercase()).ok_or_else(|| related_missing("lineObjectNumber", "salesOrderLine", "Item", &number))?
            };
            if value("items", item, "blocked") == Cell::Bool(true) {
                return Err(BcError::dialog(format!("Blocked must be equal to 'No' in Item: No.={}. Current value is 'Yes'.", text("items", item, "number"))));
            }
            put(set, row, "itemId", Cell::Guid(item.id));
            put(set, row, "lineObjectNumber", value("items", item, "number"));
            if inserting && !sent("description") {
                put(set, row, "description", value("items", item, "displayName"));
            }
            if inserting && !sent("unitPrice") {
                put(set, row, "unitPrice", Cell::Dec(decimal("items", item, "unitPrice")));
            }
            if !sent("unitOfMeasureId") && !sent("unitOfMeasureCode") && inserting {
                put(set, row, "unitOfMeasureId", Cell::Guid(guid("items", item, "baseUnitOfMeasureId")));
                put(set, row, "unitOfMeasureCode", value("items", item, "baseUnitOfMeasureCode"));
            } else {
                // NOTE: BC requires an Item Unit of Measure of this item; API
                // v2.0 does not expose those, so any known unit is accepted.
                resolve_pair(store, set, row, touched, ("unitOfMeasureId", "unitOfMeasureCode"), ("unitsOfMeasure", "code"))?;
            }
        }
        "Account" => {
            let number = text(set, row, "lineObjectNumber");
            let account = super::seed::GL_ACCOUNTS.iter().find(|(id, account_number, _)| {
                *account_number == number || (sent("accountId") && Uuid::parse_str(id).ok() == Some(guid(set, row, "accountId")))
            });
            let Some((id, account_number, name)) = account else {
                return Err(related_missing("lineObjectNumber", "salesOrderLine", "G/L Account", &number));
            };
            put(set, row, "accountId", Cell::Guid(Uuid::parse_str(id).unwrap_or_default()));
            put(set, row, "lineObjectNumber", Cell::str(account_number));
            if inserting && !sent("description") {
                put(set, row, "description", Cell::str(name));
            }
        }
        "Comment" => {}
        other => {
            return Err(BcError::dialog(format!("Line type {other} is not supported by this sandbox; use Item, Account or Comment.")));
        }
    }

    // unitPrice keeps BC's default unit-amount precision of 5 decimals.
    let unit_price = decimal(set, row, "unitPrice").round_dp_with_strategy(5, RoundingStrategy::MidpointAwayFromZero);
    put(set, row, "unitPrice", Cell::Dec(unit_price));
    let quantity = decimal(set, row, "quantity");
    if quantity.is_sign_negative() {
        return Err(BcError::dialog("Quantity must not be negative."));
    }
    if set == "salesOrderLines" && (inserting || sent("quantity")) {
        if !sent("shipQuantity") {
            put(set, row, "shipQuantity", Cell::Dec(quantity));
        }
        if !sent("invoiceQuantity") {
            put(set, row, "invoiceQuantity", Cell::Dec(quantity));
        }
    }
    let gross = round2(quantity * unit_price);
    let mut discount = decimal(set, row, "discountAmount");
    if sent("discountPercent") && !sent("discountAmount") {
        discount = round2(gross * decimal(set, row, "discountPercent") / Decimal::ONE_HUNDRED);
    } else if !gross.is_zero() {
        let percent = (discount * Decimal::ONE_HUNDRED / gross).round_dp_with_strategy(5, RoundingStrategy::MidpointAwayFromZero);
        put(set, row, "discountPercent", Cell::Dec(percent));
    }
    if discount > gross {
        return Err(BcError::dialog(format!("The line discount amount {discount} is greater than the line amount {gross}.")));
    }
    put(set, row, "discountAmount", Cell::Dec(discount));
    let amount = gross - discount;
    for column in ["amountExcludingTax", "amountIncludingTax", "netAmount", "netAmountIncludingTax"] {
        put(set, row, column, Cell::Dec(amount));
    }
    for column in ["taxPercent", "totalTaxAmount", "netTaxAmount", "invoiceDiscountAllocation"] {
        put(set, row, column, Cell::Dec(Decimal::ZERO));
    }
    Ok(())
}

fn prepare_payment(store: &mut Store, row: &mut Row, inserting: bool, touched: &[String]) -> Result<(), BcError> {
    let set = "customerPayments";
    let mut journal = guid(set, row, "journalId");
    if journal.is_nil() {
        // NOTE: the company-level POST in the published example names no
        // journal. The sandbox then uses the default payment journal, an
        // inferred behaviour of the page's journal lookup.
        journal = store.table("customerPaymentJournals").rows().next().map(|row| row.id).unwrap_or_default();
    }
    let batch = store
        .get("customerPaymentJournals", &journal)
        .cloned()
        .ok_or_else(|| BcError::dialog("You must specify a journal id (journalId) for the customer payment."))?;
    put(set, row, "journalId", Cell::Guid(journal));
    put(set, row, "journalDisplayName", Cell::str(&text("customerPaymentJournals", &batch, "code")));
    if inserting && value(set, row, "lineNumber") == Cell::Int(0) {
        let last = child_rows(store, set, "journalId", journal)
            .iter()
            .filter_map(|line| match value(set, line, "lineNumber") {
                Cell::Int(number) => Some(number),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        put(set, row, "lineNumber", Cell::Int(last + 10000));
    }
    resolve_pair(store, set, row, touched, ("customerId", "customerNumber"), ("customers", "number"))?;
    let invoice = resolve_pair(store, set, row, touched, ("appliesToInvoiceId", "appliesToInvoiceNumber"), ("salesInvoices", "number"))?;
    if let Some(invoice) = invoice {
        let customer = guid(set, row, "customerId");
        let invoice_customer = guid("salesInvoices", &invoice, "customerId");
        if !customer.is_nil() && customer != invoice_customer {
            return Err(BcError::dialog("The invoice that the payment applies to belongs to another customer."));
        }
        if customer.is_nil() {
            put(set, row, "customerId", Cell::Guid(invoice_customer));
            put(set, row, "customerNumber", Cell::str(&text("salesInvoices", &invoice, "customerNumber")));
        }
    }
    if value(set, row, "postingDate") == super::cell::default_cell(&super::schema::EdmType::Date) {
        put(set, row, "postingDate", Cell::Date(today()));
    }
    Ok(())
}

/// Follow-up writes once a row is stored: document totals and mirrored rows.
/// Follow-up writes after the row `id` of `set` was saved.
fn after_save(store: &mut Store, set: &str, id: Uuid) -> Result<(), BcError> {
    if let Some((header, _)) = DOCUMENT_LINES.iter().find(|(_, lines)| *lines == set)
        && !store.defer_totals {
            let document = store.get(set, &id).map(|row| guid(set, row, "documentId")).unwrap_or_default();
            recompute_totals(store, header, document);
        }
    if set == "customerPaymentJournals" {
        let Some(row) = store.get(set, &id).cloned() else { return Ok(()) };
        let row = &row;
        // A payment journal is a Gen. Journal Batch, reachable through
        // `journals` with the same id, which is how it is posted.
        let mut batch = store.get("journals", &row.id).cloned().unwrap_or_else(|| Row::new(row.id));
        put("journals", &mut batch, "id", Cell::Guid(row.id));
        for column in ["code", "displayName", "balancingAccountId", "balancingAccountNumber", "lastModifiedDateTime"] {
            put("journals", &mut batch, column, value(set, row, column));
        }
        put("journals", &mut batch, "templateDisplayName", Cell::str(super::seed::PAYMENT_TEMPLATE));
        store.save("journals", batch);
    }
    Ok(())
}

fn apply_totals(store: &Store, header_set: &str, header: &mut Row) {
    let lines_set = if header_set == "salesOrders" { "salesOrderLines" } else { "salesInvoiceLines" };
    let lines = child_refs(store, lines_set, "documentId", header.id);
    let sum: Decimal = lines.into_iter().map(|line| decimal(lines_set, line, "amountExcludingTax")).sum();
    let total = sum - decimal(header_set, header, "discountAmount");
    put(header_set, header, "totalAmountExcludingTax", Cell::Dec(total));
    put(header_set, header, "totalTaxAmount", Cell::Dec(Decimal::ZERO));
    put(header_set, header, "totalAmountIncludingTax", Cell::Dec(total));
}

/// Recomputes a document header's totals after a line change. This also
/// moves the header's `lastModifiedDateTime` and ETag, because a line change
/// notifies the header in BC.
pub fn recompute_totals(store: &mut Store, header_set: &str, header_id: Uuid) {
    let Some(mut header) = store.get(header_set, &header_id).cloned() else { return };
    apply_totals(store, header_set, &mut header);
    touch(header_set, &mut header);
    store.save(header_set, header);
}

fn next_entry_number(store: &Store) -> i64 {
    store.table("itemLedgerEntries").len() as i64 + 1
}

/// Posts an item journal adjustment for a PATCH of `items.inventory`: the
/// document number is the item number and the posting date is today (UTC).
fn post_adjustment(store: &mut Store, item: &Row, change: Decimal) {
    let set = "itemLedgerEntries";
    let mut entry = Row::new(new_row_id());
    set_id(set, &mut entry);
    put(set, &mut entry, "entryNumber", Cell::Int(next_entry_number(store)));
    put(set, &mut entry, "itemNumber", Cell::str(&text("items", item, "number")));
    put(set, &mut entry, "postingDate", Cell::Date(today()));
    let kind = if change.is_sign_positive() { "Positive_x0020_Adjmt_x002E_" } else { "Negative_x0020_Adjmt_x002E_" };
    put(set, &mut entry, "entryType", Cell::str(kind));
    put(set, &mut entry, "documentNumber", Cell::str(&text("items", item, "number")));
    put(set, &mut entry, "quantity", Cell::Dec(change));
    put(set, &mut entry, "costAmountActual", Cell::Dec(round2(change * decimal("items", item, "unitCost"))));
    touch(set, &mut entry);
    store.save(set, entry);
}

/// Copies the properties two entity sets share by name.
fn copy_shared(from_set: &str, from: &Row, to_set: &str, to: &mut Row, skip: &[&str]) {
    let source = set_schema(from_set);
    let target = set_schema(to_set);
    for (column, property) in target.properties.iter().enumerate() {
        if skip.contains(&property.name.as_str()) {
            continue;
        }
        if let Some(source_column) = source.column(&property.name)
            && source.properties[source_column].edm == property.edm {
                to.set(target, column, from.value(source, source_column));
            }
    }
}

/// `salesOrders({id})/Microsoft.NAV.shipAndInvoice`: posts the shipment and
/// the invoice, moves inventory, writes the item ledger, and removes the
/// order (BC deletes a fully invoiced order). Returns the posted invoice id.
pub fn ship_and_invoice(store: &mut Store, order_id: Uuid) -> Result<Uuid, BcError> {
    let order = store.get("salesOrders", &order_id).cloned().ok_or_else(|| BcError::record_not_found("salesOrder", &order_id.to_string()))?;
    let lines = child_rows(store, "salesOrderLines", "documentId", order_id);
    let postable: Vec<&Row> = lines.iter().filter(|line| text("salesOrderLines", line, "lineType") != "Comment" && !decimal("salesOrderLines", line, "quantity").is_zero()).collect();
    if postable.is_empty() {
        return Err(BcError::dialog("There is nothing to post."));
    }
    let customer_id = guid("salesOrders", &order, "customerId");
    let customer = store.get("customers", &customer_id).cloned().ok_or_else(|| BcError::record_not_found("customer", &customer_id.to_string()))?;
    let blocked = text("customers", &customer, "blocked");
    if blocked == "Ship" || blocked == "Invoice" || blocked == "All" {
        return Err(BcError::dialog(format!("You cannot ship or invoice for customer {} because it is blocked ({blocked}).", text("customers", &customer, "number"))));
    }
    let posting_date = value("salesOrders", &order, "postingDate");
    let order_number = text("salesOrders", &order, "number");
    let shipment_number = store.next_number("S-SHPT", 102001);
    let invoice_number = store.next_number("PS-INV", 103001);

    let mut shipment = Row::new(new_row_id());
    copy_shared("salesOrders", &order, "salesShipments", &mut shipment, &["id", "number", "lastModifiedDateTime"]);
    set_id("salesShipments", &mut shipment);
    put("salesShipments", &mut shipment, "number", Cell::str(&shipment_number));
    put("salesShipments", &mut shipment, "orderNumber", Cell::str(&order_number));
    put("salesShipments", &mut shipment, "invoiceDate", posting_date.clone());
    put("salesShipments", &mut shipment, "dueDate", posting_date.clone());
    touch("salesShipments", &mut shipment);
    store.save("salesShipments", shipment);

    let mut invoice = Row::new(new_row_id());
    copy_shared("salesOrders", &order, "salesInvoices", &mut invoice, &["id", "number", "status", "lastModifiedDateTime"]);
    set_id("salesInvoices", &mut invoice);
    put("salesInvoices", &mut invoice, "number", Cell::str(&invoice_number));
    put("salesInvoices", &mut invoice, "orderId", Cell::Guid(order_id));
    put("salesInvoices", &mut invoice, "orderNumber", Cell::str(&order_number));
    put("salesInvoices", &mut invoice, "invoiceDate", posting_date.clone());
    // NOTE: payment terms are not evaluated, so the due date is the posting date.
    put("salesInvoices", &mut invoice, "dueDate", posting_date.clone());
    put("salesInvoices", &mut invoice, "status", Cell::str("Open"));
    let total = decimal("salesOrders", &order, "totalAmountIncludingTax");
    put("salesInvoices", &mut invoice, "remainingAmount", Cell::Dec(total));
    touch("salesInvoices", &mut invoice);
    let invoice_id = invoice.id;
    store.save("salesInvoices", invoice);

    for line in &lines {
        let mut invoice_line = Row::new(new_row_id());
        copy_shared("salesOrderLines", line, "salesInvoiceLines", &mut invoice_line, &["id"]);
        set_id("salesInvoiceLines", &mut invoice_line);
        put("salesInvoiceLines", &mut invoice_line, "documentId", Cell::Guid(invoice_id));
        store.save("salesInvoiceLines", invoice_line);

        if text("salesOrderLines", line, "lineType") != "Item" {
            continue;
        }
        let quantity = decimal("salesOrderLines", line, "quantity");
        let item_id = guid("salesOrderLines", line, "itemId");
        let Some(mut item) = store.get("items", &item_id).cloned() else { continue };
        // NOTE: item units of measure are not in API v2.0, so the ledger
        // quantity is the line quantity with no conversion to the base unit.
        let inventory = decimal("items", &item, "inventory") - quantity;
        put("items", &mut item, "inventory", Cell::Dec(inventory));
        touch("items", &mut item);
        let unit_cost = decimal("items", &item, "unitCost");
        let item_number = text("items", &item, "number");
        store.save("items", item);

        let set = "itemLedgerEntries";
        let mut entry = Row::new(new_row_id());
        set_id(set, &mut entry);
        put(set, &mut entry, "entryNumber", Cell::Int(next_entry_number(store)));
        put(set, &mut entry, "itemNumber", Cell::str(&item_number));
        put(set, &mut entry, "postingDate", posting_date.clone());
        put(set, &mut entry, "entryType", Cell::str("Sale"));
        put(set, &mut entry, "sourceNumber", Cell::str(&text("customers", &customer, "number")));
        put(set, &mut entry, "sourceType", Cell::str("Customer"));
        put(set, &mut entry, "documentNumber", Cell::str(&shipment_number));
        put(set, &mut entry, "documentType", Cell::str("Sales_x0020_Shipment"));
        put(set, &mut entry, "description", value("salesOrderLines", line, "description"));
        put(set, &mut entry, "quantity", Cell::Dec(-quantity));
        put(set, &mut entry, "salesAmountActual", Cell::Dec(decimal("salesOrderLines", line, "amountExcludingTax")));
        put(set, &mut entry, "costAmountActual", Cell::Dec(-round2(quantity * unit_cost)));
        touch(set, &mut entry);
        store.save(set, entry);
    }

    let mut customer = customer;
    let balance = decimal("customers", &customer, "balanceDue") + total;
    put("customers", &mut customer, "balanceDue", Cell::Dec(balance));
    touch("customers", &mut customer);
    store.save("customers", customer);

    for line in &lines {
        store.delete("salesOrderLines", &line.id);
    }
    store.delete("salesOrders", &order_id);
    Ok(invoice_id)
}

/// `salesInvoices({id})/Microsoft.NAV.post` for a draft invoice.
pub fn post_invoice(store: &mut Store, invoice_id: Uuid) -> Result<(), BcError> {
    let mut invoice = store.get("salesInvoices", &invoice_id).cloned().ok_or_else(|| BcError::record_not_found("salesInvoice", &invoice_id.to_string()))?;
    if text("salesInvoices", &invoice, "status") != "Draft" {
        return Err(BcError::dialog("The sales invoice has already been posted."));
    }
    if child_rows(store, "salesInvoiceLines", "documentId", invoice_id).is_empty() {
        return Err(BcError::dialog("There is nothing to post."));
    }
    let total = decimal("salesInvoices", &invoice, "totalAmountIncludingTax");
    let number = store.next_number("PS-INV", 103001);
    put("salesInvoices", &mut invoice, "number", Cell::str(&number));
    put("salesInvoices", &mut invoice, "status", Cell::str("Open"));
    put("salesInvoices", &mut invoice, "remainingAmount", Cell::Dec(total));
    touch("salesInvoices", &mut invoice);
    let customer_id = guid("salesInvoices", &invoice, "customerId");
    store.save("salesInvoices", invoice);
    if let Some(mut customer) = store.get("customers", &customer_id).cloned() {
        let balance = decimal("customers", &customer, "balanceDue") + total;
        put("customers", &mut customer, "balanceDue", Cell::Dec(balance));
        store.save("customers", customer);
    }
    Ok(())
}

/// `journals({id})/Microsoft.NAV.post`: posts every line of the batch. For a
/// payment batch each payment lowers its invoice's `remainingAmount` and
/// marks it `Paid` at zero; all lines are checked before any is posted.
pub fn post_journal(store: &mut Store, journal_id: Uuid) -> Result<(), BcError> {
    if store.get("journals", &journal_id).is_none() {
        return Err(BcError::record_not_found("journal", &journal_id.to_string()));
    }
    let payments = child_rows(store, "customerPayments", "journalId", journal_id);
    let lines = child_rows(store, "journalLines", "journalId", journal_id);
    if payments.is_empty() && lines.is_empty() {
        return Err(BcError::dialog("There is nothing to post."));
    }
    let set = "customerPayments";
    for payment in &payments {
        let line_number = match value(set, payment, "lineNumber") {
            Cell::Int(number) => number,
            _ => 0,
        };
        if decimal(set, payment, "amount") <= Decimal::ZERO {
            return Err(BcError::dialog(format!("The amount of payment line {line_number} must be positive (money received from the customer).")));
        }
        if store.get("customers", &guid(set, payment, "customerId")).is_none() {
            return Err(BcError::dialog(format!("Payment line {line_number} has no customer; set customerId or customerNumber.")));
        }
        let invoice_id = guid(set, payment, "appliesToInvoiceId");
        if !invoice_id.is_nil() {
            let invoice = store.get("salesInvoices", &invoice_id).ok_or_else(|| BcError::record_not_found("salesInvoice", &invoice_id.to_string()))?;
            if text("salesInvoices", invoice, "status") == "Draft" {
                return Err(BcError::dialog(format!("Payment line {line_number} applies to a sales invoice that is not posted.")));
            }
        }
    }
    for payment in payments {
        let amount = decimal(set, &payment, "amount");
        let invoice_id = guid(set, &payment, "appliesToInvoiceId");
        if let Some(mut invoice) = store.get("salesInvoices", &invoice_id).cloned() {
            let remaining = decimal("salesInvoices", &invoice, "remainingAmount");
            let left = (remaining - amount).max(Decimal::ZERO);
            put("salesInvoices", &mut invoice, "remainingAmount", Cell::Dec(left));
            if left.is_zero() {
                put("salesInvoices", &mut invoice, "status", Cell::str("Paid"));
            }
            touch("salesInvoices", &mut invoice);
            store.save("salesInvoices", invoice);
        }
        let customer_id = guid(set, &payment, "customerId");
        if let Some(mut customer) = store.get("customers", &customer_id).cloned() {
            let balance = decimal("customers", &customer, "balanceDue") - amount;
            put("customers", &mut customer, "balanceDue", Cell::Dec(balance));
            touch("customers", &mut customer);
            store.save("customers", customer);
        }
        store.delete(set, &payment.id);
    }
    // NOTE: general journal lines are removed when posted, but no G/L entries
    // are modelled.
    for line in lines {
        store.delete("journalLines", &line.id);
    }
    Ok(())
}

/// Writes a row's key into its `id` property.
fn set_id(set: &str, row: &mut Row) {
    let id = row.id;
    put(set, row, "id", Cell::Guid(id));
}
