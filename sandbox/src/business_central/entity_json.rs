//! Writes entities straight into JSON bytes, without building a
//! `serde_json::Value` tree, because `$batch` deep inserts and `$expand`
//! lists are the BC sandbox's busiest responses. The bytes equal those of
//! serializing the tree that `render` returns.

use serde_json::{Map, Value};

use super::cell::{Cell, default_cell, format_timestamp};
use super::error::BcError;
use super::http::{child_link, reference_link};
use super::logic;
use super::odata::{self, Expand};
use super::schema::{EntitySet, schema};
use super::store::{Row, Store};
use crate::json_writer::{write_decimal_number, write_display, write_str};

/// Renders an entity as a JSON object: `@odata.etag`, the selected
/// properties and the expanded navigation properties.
pub fn render(store: &Store, set: &EntitySet, row: &Row, select: Option<&[usize]>, expand: &[Expand]) -> Result<Map<String, Value>, BcError> {
    let mut out = Vec::with_capacity(2048);
    write_entity(&mut out, store, set, row, select, expand, None)?;
    Ok(serde_json::from_slice(&out).expect("write_entity writes a valid JSON object"))
}

/// Appends an entity as `render` renders it, with `@odata.context` first
/// when `context` is given. An unknown `$expand` name or an invalid nested
/// query option fails the whole entity, and `out` then contains a partial
/// object that the caller must drop.
pub fn write_entity(
    out: &mut Vec<u8>,
    store: &Store,
    set: &EntitySet,
    row: &Row,
    select: Option<&[usize]>,
    expand: &[Expand],
    context: Option<&str>,
) -> Result<(), BcError> {
    // Keys go out in the byte order a serialized map has. `@` sorts before
    // every property name, and `@odata.context` before `@odata.etag`.
    out.push(b'{');
    if let Some(context) = context {
        out.extend_from_slice(b"\"@odata.context\":");
        write_str(out, context);
        out.push(b',');
    }
    out.extend_from_slice(b"\"@odata.etag\":");
    write_str(out, &row.etag());

    // Expanded values are written first, in request order, so that the
    // first failing item is the one reported, as when the tree was built.
    // They then merge into the sorted property names. A map insert keeps
    // the last of equal keys, so a repeated `$expand` item, or one named
    // like a property, wins over what came before it.
    let mut expanded = Vec::new();
    let mut expands: Vec<(&str, usize, usize, usize)> = Vec::with_capacity(expand.len());
    for (position, item) in expand.iter().enumerate() {
        let start = expanded.len();
        write_expanded(&mut expanded, store, set, row, item)?;
        expands.push((item.name.as_str(), position, start, expanded.len()));
    }
    expands.sort_unstable();
    let mut expands = expands.into_iter().peekable();
    let mut columns = set
        .sorted_columns
        .iter()
        .copied()
        .filter(|column| select.is_none_or(|selected| selected.contains(column)))
        .peekable();
    loop {
        let column_name = columns.peek().map(|&column| set.properties[column].name.as_str());
        let expand_name = expands.peek().map(|&(name, ..)| name);
        let take_column = match (column_name, expand_name) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(column_name), Some(expand_name)) => column_name < expand_name,
        };
        if take_column {
            let Some(column) = columns.next() else { break };
            let property = &set.properties[column];
            write_key(out, &property.name);
            match row.get(column) {
                Some(cell) => write_cell(out, cell),
                None => write_cell(out, &default_cell(&property.edm)),
            }
        } else {
            let Some((name, _, start, end)) = expands.next() else { break };
            if column_name == Some(name) {
                columns.next();
            }
            if expands.peek().is_some_and(|&(next_name, ..)| next_name == name) {
                // A later item of the same name replaces this one.
                continue;
            }
            write_key(out, name);
            out.extend_from_slice(&expanded[start..end]);
        }
    }
    out.push(b'}');
    Ok(())
}

/// Appends `,"key":`, for every key after `@odata.etag`.
fn write_key(out: &mut Vec<u8>, key: &str) {
    out.push(b',');
    write_str(out, key);
    out.push(b':');
}

/// Appends the value of one `$expand` item: the array of child entities or
/// the related entity (`null` when there is none).
fn write_expanded(out: &mut Vec<u8>, store: &Store, set: &EntitySet, row: &Row, item: &Expand) -> Result<(), BcError> {
    if let Some((child_set, column)) = child_link(&set.set, &item.name) {
        let child = schema().set(child_set).ok_or_else(|| BcError::not_found_segment(child_set))?;
        let query = odata::parse_query(child, &item.options)?;
        out.push(b'[');
        let mut first = true;
        for child_row in logic::child_refs(store, child_set, column, row.id) {
            if query.filter.as_ref().is_some_and(|filter| !odata::matches(child, child_row, filter)) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            write_entity(out, store, child, child_row, query.select.as_deref(), &query.expand, None)?;
        }
        out.push(b']');
        Ok(())
    } else if let Some((target_set, column)) = reference_link(set, &item.name) {
        let target = schema().set(target_set).ok_or_else(|| BcError::not_found_segment(target_set))?;
        let query = odata::parse_query(target, &item.options)?;
        match row.get(column).and_then(Cell::as_guid).and_then(|id| store.get(target_set, &id)) {
            Some(related) => write_entity(out, store, target, related, query.select.as_deref(), &query.expand, None),
            None => {
                out.extend_from_slice(b"null");
                Ok(())
            }
        }
    } else {
        Err(BcError::bad_request(format!(
            "Could not find a property named '{}' on type 'Microsoft.NAV.{}'.",
            item.name, set.entity
        )))
    }
}

/// Appends a value as `cell::to_json` renders it.
fn write_cell(out: &mut Vec<u8>, cell: &Cell) {
    match cell {
        Cell::Bool(value) => out.extend_from_slice(if *value { b"true" } else { b"false" }),
        Cell::Int(value) => write_display(out, value),
        Cell::Dec(value) => write_decimal_number(out, *value),
        Cell::Str(text) => write_str(out, text),
        Cell::Guid(value) => write_str(out, value.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer())),
        Cell::Date(value) => write_str(out, &value.to_string()),
        Cell::Time(value) => write_str(out, &format_timestamp(*value)),
    }
}

#[cfg(test)]
mod tests {
    //! The entity writer against the `Value` tree rendering it replaced,
    //! kept here verbatim as the reference.

    use std::str::FromStr;

    use rust_decimal::Decimal;
    use serde_json::{Map, Value, json};

    use super::super::cell::{Cell, format_timestamp};
    use super::super::error::BcError;
    use super::super::http::{child_link, reference_link};
    use super::super::logic;
    use super::super::odata::{self, Expand, Query};
    use super::super::schema::{EntitySet, schema};
    use super::super::seed;
    use super::super::store::{Row, Store};
    use super::write_entity;
    use crate::BusinessCentralSeed;

    /// Renders a value as BC writes it in JSON.
    fn to_json(cell: &Cell) -> Value {
        match cell {
            Cell::Bool(value) => Value::Bool(*value),
            Cell::Int(value) => Value::from(*value),
            Cell::Dec(value) => decimal_json(*value),
            Cell::Str(text) => Value::String(text.to_string()),
            Cell::Guid(value) => Value::String(value.to_string()),
            Cell::Date(value) => Value::String(value.to_string()),
            Cell::Time(value) => Value::String(format_timestamp(*value)),
        }
    }

    fn decimal_json(value: Decimal) -> Value {
        let text = value.normalize().to_string();
        match serde_json::Number::from_str(&text) {
            Ok(number) => Value::Number(number),
            Err(_) => Value::String(text),
        }
    }

    /// Renders an entity: `@odata.etag`, then the selected properties in the
    /// order of the API page, then expanded navigation properties.
    fn tree_render(store: &Store, set: &EntitySet, row: &Row, select: Option<&[usize]>, expand: &[Expand]) -> Result<Map<String, Value>, BcError> {
        let mut body = Map::new();
        body.insert("@odata.etag".into(), json!(row.etag()));
        for (column, property) in set.properties.iter().enumerate() {
            if select.is_some_and(|selected| !selected.contains(&column)) {
                continue;
            }
            body.insert(property.name.clone(), to_json(&row.value(set, column)));
        }
        for item in expand {
            let options: Vec<(String, String)> = item.options.clone();
            if let Some((child_set, column)) = child_link(&set.set, &item.name) {
                let child = schema().set(child_set).ok_or_else(|| BcError::not_found_segment(child_set))?;
                let query: Query = odata::parse_query(child, &options)?;
                let mut children = Vec::new();
                for child_row in logic::child_refs(store, child_set, column, row.id) {
                    if query.filter.as_ref().is_none_or(|filter| odata::matches(child, child_row, filter)) {
                        children.push(Value::Object(tree_render(store, child, child_row, query.select.as_deref(), &query.expand)?));
                    }
                }
                body.insert(item.name.clone(), Value::Array(children));
            } else if let Some((target_set, column)) = reference_link(set, &item.name) {
                let target = schema().set(target_set).ok_or_else(|| BcError::not_found_segment(target_set))?;
                let query: Query = odata::parse_query(target, &options)?;
                let related = row.value(set, column).as_guid().and_then(|id| store.get(target_set, &id));
                let value = match related {
                    Some(related) => Value::Object(tree_render(store, target, related, query.select.as_deref(), &query.expand)?),
                    None => Value::Null,
                };
                body.insert(item.name.clone(), value);
            } else {
                return Err(BcError::bad_request(format!(
                    "Could not find a property named '{}' on type 'Microsoft.NAV.{}'.",
                    item.name, set.entity
                )));
            }
        }
        Ok(body)
    }

    fn seeded_store() -> Store {
        let mut store = Store::new();
        seed::seed(&mut store, 5, &BusinessCentralSeed { customers: 6, items: 12, orders: 10 });
        store
    }

    fn written(store: &Store, set: &EntitySet, row: &Row, select: Option<&[usize]>, expand: &[Expand], context: Option<&str>) -> Result<String, BcError> {
        let mut out = Vec::new();
        write_entity(&mut out, store, set, row, select, expand, context)?;
        Ok(String::from_utf8(out).expect("the writer writes UTF-8"))
    }

    #[test]
    fn written_entities_equal_tree_bytes() {
        let store = seeded_store();
        let mut compared = 0;
        for set in &schema().sets {
            for row in store.table(&set.set).rows() {
                let expected = Value::Object(tree_render(&store, set, row, None, &[]).expect("renders")).to_string();
                assert_eq!(written(&store, set, row, None, &[], None).expect("writes"), expected, "{} {}", set.set, row.id);
                compared += 1;
            }
        }
        assert!(compared > 100, "the seeded store has rows of many sets, compared {compared}");
    }

    #[test]
    fn written_expands_and_selects_equal_tree_bytes() {
        let store = seeded_store();
        let orders = schema().set("salesOrders").expect("salesOrders");
        let expands = [
            "salesOrderLines",
            "salesOrderLines($select=sequence,quantity,itemId)",
            "salesOrderLines($filter=quantity gt 3)",
            "customer,salesOrderLines",
            "customer($select=number,displayName)",
            "salesOrderLines,salesOrderLines",
        ];
        let select = [orders.col("number"), orders.col("externalDocumentNumber"), orders.col("totalAmountIncludingTax")];
        let mut compared = 0;
        for row in store.table("salesOrders").rows() {
            for text in expands {
                let expand = odata::parse_expand(text).expect("valid $expand");
                for select in [None, Some(&select[..])] {
                    let expected = Value::Object(tree_render(&store, orders, row, select, &expand).expect("renders")).to_string();
                    let actual = written(&store, orders, row, select, &expand, None).expect("writes");
                    assert_eq!(actual, expected, "order {} with $expand={text}", row.id);
                    compared += 1;
                }
            }
        }
        assert!(compared > 0, "the seed has sales orders");
    }

    #[test]
    fn written_context_comes_first() {
        let store = seeded_store();
        let customers = schema().set("customers").expect("customers");
        let row = store.table("customers").rows().next().expect("a customer");
        let mut expected = tree_render(&store, customers, row, None, &[]).expect("renders");
        expected.insert("@odata.context".into(), json!("http://127.0.0.1/$metadata#customers/$entity"));
        let actual = written(&store, customers, row, None, &[], Some("http://127.0.0.1/$metadata#customers/$entity")).expect("writes");
        assert!(actual.starts_with("{\"@odata.context\":"), "{actual}");
        assert_eq!(actual, Value::Object(expected).to_string());
    }

    #[test]
    fn written_invalid_expand_fails_like_tree() {
        let store = seeded_store();
        let orders = schema().set("salesOrders").expect("salesOrders");
        let row = store.table("salesOrders").rows().next().expect("a sales order");
        for text in ["noSuchNavigation", "zeta,alpha", "salesOrderLines($select=nope),customer", "customer,salesOrderLines($top=x)"] {
            let expand = odata::parse_expand(text).expect("valid syntax");
            let expected = tree_render(&store, orders, row, None, &expand).expect_err("an invalid $expand");
            let actual = written(&store, orders, row, None, &expand, None).expect_err("an invalid $expand");
            assert_eq!(actual.status, expected.status, "$expand={text}");
            assert_eq!(actual.message, expected.message, "$expand={text}");
        }
    }

    #[test]
    fn written_cells_equal_to_json() {
        let cells = [
            Cell::Bool(true),
            Cell::Int(-42),
            Cell::Dec(Decimal::from_str("12.5000").expect("decimal")),
            Cell::Dec(Decimal::ZERO),
            Cell::str("quote \" and \\ and \u{1}"),
            Cell::Guid(uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef)),
            Cell::Date(jiff::civil::Date::constant(1, 1, 1)),
            Cell::Time(jiff::Timestamp::from_millisecond(1_700_000_000_123).expect("timestamp")),
        ];
        for cell in cells {
            let mut out = Vec::new();
            super::write_cell(&mut out, &cell);
            assert_eq!(String::from_utf8(out).expect("UTF-8"), to_json(&cell).to_string(), "{cell:?}");
        }
    }
}
