//! Writes orders and line items straight into JSON bytes, without building a
//! `serde_json::Value` tree, because the order list is the LeafLink
//! sandbox's busiest response. The bytes equal those of the tree rendering.

use std::collections::BTreeMap;
use std::io::Write as _;

use rust_decimal::Decimal;

use super::model::{Address, LineItem, Order, Stamp, Store};
use super::render::{Renderer, cents, money_text, quantity_text, timestamp};
pub use crate::json_writer::FieldFilter;
use crate::json_writer::{ObjectWriter, write_decimal_number, write_optional_str, write_str};

fn write_optional_timestamp(out: &mut Vec<u8>, stamp: Option<Stamp>) {
    write_optional_str(out, stamp.map(timestamp).as_deref());
}

fn write_address(out: &mut Vec<u8>, address: &Address) {
    out.extend_from_slice(b"{\"address\":");
    write_str(out, &address.address);
    out.extend_from_slice(b",\"city\":");
    write_str(out, &address.city);
    out.extend_from_slice(b",\"state\":");
    write_str(out, &address.state);
    out.extend_from_slice(b",\"unit_number\":");
    write_str(out, &address.unit_number);
    out.extend_from_slice(b",\"zipcode\":");
    write_str(out, &address.zipcode);
    out.push(b'}');
}

fn write_external_ids(out: &mut Vec<u8>, pairs: &[(Box<str>, Box<str>)]) {
    // Collected into a sorted map first, so that order and repeated keys
    // match the map `render` builds.
    let map: BTreeMap<&str, &str> = pairs.iter().map(|(key, value)| (&**key, &**value)).collect();
    out.push(b'{');
    for (position, (key, value)) in map.into_iter().enumerate() {
        if position > 0 {
            out.push(b',');
        }
        write_str(out, key);
        out.push(b':');
        write_str(out, value);
    }
    out.push(b'}');
}

impl Renderer<'_> {
    /// Writes a money object `{amount, currency}`.
    fn write_money(&self, out: &mut Vec<u8>, amount: Decimal) {
        out.extend_from_slice(b"{\"amount\":");
        if self.options.money_as_string {
            write_str(out, &money_text(amount));
        } else {
            write_decimal_number(out, amount);
        }
        out.extend_from_slice(b",\"currency\":\"USD\"}");
    }

    /// Appends an order as `GET /orders-received/` lists it. `filter` applies
    /// `fields_include` and `fields_exclude` to its top-level keys.
    pub fn write_order(&self, out: &mut Vec<u8>, order: &Order, with_lines: bool, with_customer: bool, filter: &FieldFilter<'_>) {
        let store = self.store;
        let totals = store.totals(order);
        let customer = store.customer(order.customer);
        let mut object = ObjectWriter::new(Some(filter), 56);

        object.str("number", &order.number);
        let short_id = order.short_id();
        object.str("short_id", short_id);
        object.optional_str("external_id_seller", order.external_id_seller.as_deref());
        object.optional_str("external_id_buyer", order.external_id_buyer.as_deref());
        object.optional_str("ext_acct_id", order.ext_acct_id.as_deref());
        object.str("created_on", &timestamp(order.created_on));
        object.str("user", store.staff(order.user).map(|staff| &*staff.username).unwrap_or(""));
        object.optional_integer("buyer", order.buyer);
        object.integer("seller", order.seller);
        object.field("customer", |out| match customer {
            Some(customer) if with_customer => {
                // The embedded customer reuses its `Value` rendering.
                let _ = serde_json::to_writer(&mut *out, &self.customer(customer));
            }
            Some(customer) => {
                out.extend_from_slice(b"{\"delinquent\":");
                out.extend_from_slice(if customer.delinquent { b"true" } else { b"false" });
                out.extend_from_slice(b",\"display_name\":");
                write_str(out, customer.display_name());
                out.extend_from_slice(b",\"ext_acct_id\":");
                write_optional_str(out, customer.ext_acct_id.as_deref());
                let _ = write!(out, ",\"id\":{}}}", customer.id);
            }
            None => {
                let _ = write!(out, "{{\"delinquent\":false,\"display_name\":\"\",\"ext_acct_id\":null,\"id\":{}}}", order.customer);
            }
        });
        object.raw("brand", "null");
        object.str("status", order.status.name());
        object.bool("manual", order.manual);
        object.field("discount", |out| write_decimal_number(out, order.discount));
        object.str("discount_type", order.discount_type.symbol());
        object.field("tax_amount", |out| write_decimal_number(out, order.tax_amount));
        object.str("tax_type", "%");
        object.str("final_tax", &cents(totals.tax));
        object.field("shipping_charge", |out| self.write_money(out, order.shipping_charge));
        object.field("total", |out| self.write_money(out, totals.total));
        object.optional_str("payment_term", order.payment_term.as_deref());
        object.raw("payment_methods", if order.payment_term.is_some() { "[\"ACH\"]" } else { "null" });
        object.field("payment_due_date", |out| write_optional_timestamp(out, order.payment_due_date));
        object.bool("paid", order.paid);
        object.optional_str("paid_date", order.paid_date.map(|date| date.to_string()).as_deref());
        object.field("ship_date", |out| write_optional_timestamp(out, order.ship_date));
        object.optional_str("shipping_details", order.shipping_details.as_deref());
        object.optional_str("notes", order.notes.as_deref());
        object.optional_str("internal_notes", order.internal_notes.as_deref());
        object.optional_str("delivery_preferences", order.delivery_preferences.as_deref());
        object.field("sales_reps", |out| {
            out.push(b'[');
            for (position, &id) in order.sales_reps.iter().enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                let _ = write!(out, "{{\"id\":{id},\"user\":");
                write_str(out, store.staff(id).map(|staff| &*staff.display_name).unwrap_or(""));
                out.push(b'}');
            }
            out.push(b']');
        });
        object.str("classification", &order.classification);
        object.field("payment_balance", |out| write_decimal_number(out, totals.balance()));
        object.field("available_transitions", |out| {
            out.push(b'[');
            for (position, name) in order.status.available_transitions().into_iter().enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                write_str(out, name);
            }
            out.push(b']');
        });
        object.str("modified", &timestamp(order.modified));
        object.bool("has_special_requests", order.has_special_requests);
        object.raw("delivery_provider", "null");
        object.raw("order_taxes", "[]");
        object.raw("delivery_info", "null");
        object.bool("is_combination", false);
        object.bool("llf_payment_method", false);
        object.str("credits", &cents(order.credits));
        // `facility_id` is typed integer without `nullable`; leaving it out
        // keeps the body valid for orders placed without a facility.
        if let Some(facility) = order.facility_id {
            object.integer("facility_id", facility);
        }
        object.str("order_number", &order.number);
        object.str("order_seller_number", order.external_id_seller.as_deref().unwrap_or(short_id));
        object.str("order_buyer_number", order.external_id_buyer.as_deref().unwrap_or(short_id));
        object.str("order_short_number", short_id);
        object.str("distributor", "");
        object.field("external_ids", |out| write_external_ids(out, &order.external_ids));
        let default_address = Address::default();
        let (corporate, delivery) = match (&order.addresses, customer) {
            (Some(pair), _) => (&pair.0, &pair.1),
            (None, Some(customer)) => (&customer.address, &customer.address),
            (None, None) => (&default_address, &default_address),
        };
        object.field("corporate_address", |out| write_address(out, corporate));
        object.field("delivery_address", |out| write_address(out, delivery));
        if with_lines {
            object.field("line_items", |out| {
                out.push(b'[');
                for (position, &line) in order.lines.iter().enumerate() {
                    if position > 0 {
                        out.push(b',');
                    }
                    self.write_line_item(out, line as usize, &store.lines[line as usize]);
                }
                out.push(b']');
            });
        }
        object.finish(out);
    }

    /// Appends a line item in the `LineItemResponse` shape.
    pub fn write_line_item(&self, out: &mut Vec<u8>, index: usize, line: &LineItem) {
        let store = self.store;
        let order = &store.orders[line.order as usize];
        let unit_of_measure = store.product(line.product).map(|product| product.unit_of_measure).unwrap_or("Unit");
        let mut object = ObjectWriter::new(None, 24);
        object.integer("id", Store::line_id(index));
        object.field("ordered_unit_price", |out| self.write_money(out, line.ordered_unit_price));
        object.str("quantity", &quantity_text(line.quantity));
        object.str("order", &order.number);
        object.str("order_id", &order.number);
        object.integer("product", line.product);
        object.optional_str("notes", line.notes.as_deref());
        object.bool("is_sample", line.is_sample);
        object.field("sale_price", |out| self.write_money(out, line.sale_price));
        object.integer("unit_multiplier", line.unit_multiplier);
        object.bool("is_medical_line_item", false);
        object.bool("is_packed", line.is_packed);
        object.field("packed_at", |out| write_optional_timestamp(out, line.packed_at));
        object.optional_integer("packed_by", line.packed_by);
        object.str("unit_of_measure", unit_of_measure);
        object.optional_integer("position", line.position);
        object.integer("bulk_units", line.bulk_units());
        object.bool("on_sale", line.sale_price > Decimal::ZERO && line.sale_price < line.ordered_unit_price);
        object.bool("is_backorder", false);
        object.optional_integer("batch", line.batch);
        object.str("package_tags", "");
        object.raw("frozen_data", "{}");
        object.optional_str("wholesale_price", line.wholesale_price.map(cents).as_deref());
        object.finish(out);
    }
}

#[cfg(test)]
mod tests {
    //! The order and line-item writers against the `Value` tree rendering
    //! they replaced, kept here verbatim as the reference.

    use rust_decimal::Decimal;
    use serde_json::{Value, json};

    use super::super::model::{Address, LineItem, Order, Stamp, Status, Store};
    use super::super::render::{RenderOptions, Renderer, address, cents, decimal_number, external_ids, quantity, timestamp};
    use super::FieldFilter;
    use crate::SeedConfig;

    fn optional_timestamp(stamp: Option<Stamp>) -> Value {
        stamp.map(timestamp).map(Value::String).unwrap_or(Value::Null)
    }

    fn optional_text(text: &Option<Box<str>>) -> Value {
        text.as_deref().map(|text| Value::String(text.to_owned())).unwrap_or(Value::Null)
    }

    pub fn tree_order(renderer: &Renderer<'_>, order: &Order, with_lines: bool, with_customer: bool) -> Value {
        let store = renderer.store;
        let totals = store.totals(order);
        let customer = store.customer(order.customer);
        let customer_json = match customer {
            Some(customer) if with_customer => renderer.customer(customer),
            Some(customer) => json!({
                "id": customer.id,
                "display_name": customer.display_name(),
                "ext_acct_id": optional_text(&customer.ext_acct_id),
                "delinquent": customer.delinquent,
            }),
            None => json!({ "id": order.customer, "display_name": "", "ext_acct_id": null, "delinquent": false }),
        };
        let (corporate, delivery) = match (&order.addresses, customer) {
            (Some(pair), _) => (address(&pair.0), address(&pair.1)),
            (None, Some(customer)) => (address(&customer.address), address(&customer.address)),
            (None, None) => (address(&Address::default()), address(&Address::default())),
        };
        let sales_reps: Vec<Value> = order
            .sales_reps
            .iter()
            .map(|&id| json!({ "id": id, "user": store.staff(id).map(|staff| &*staff.display_name).unwrap_or("") }))
            .collect();
        let username = store.staff(order.user).map(|staff| staff.username.to_string()).unwrap_or_default();
        let short_id = order.short_id();
        let seller_number = order.external_id_seller.as_deref().unwrap_or(short_id);
        let buyer_number = order.external_id_buyer.as_deref().unwrap_or(short_id);
        let mut body = json!({
            "number": &*order.number,
            "short_id": short_id,
            "external_id_seller": optional_text(&order.external_id_seller),
            "external_id_buyer": optional_text(&order.external_id_buyer),
            "ext_acct_id": optional_text(&order.ext_acct_id),
            "created_on": timestamp(order.created_on),
            "user": username,
            "buyer": order.buyer,
            "seller": order.seller,
            "customer": customer_json,
            "brand": null,
            "status": order.status.name(),
            "manual": order.manual,
            "discount": decimal_number(order.discount),
            "discount_type": order.discount_type.symbol(),
            "tax_amount": decimal_number(order.tax_amount),
            "tax_type": "%",
            "final_tax": cents(totals.tax),
            "shipping_charge": renderer.money(order.shipping_charge),
            "total": renderer.money(totals.total),
            "payment_term": order.payment_term.as_deref(),
            "payment_methods": order.payment_term.as_ref().map(|_| vec!["ACH"]),
            "payment_due_date": optional_timestamp(order.payment_due_date),
            "paid": order.paid,
            "paid_date": order.paid_date.map(|date| date.to_string()),
            "ship_date": optional_timestamp(order.ship_date),
            "shipping_details": optional_text(&order.shipping_details),
            "notes": optional_text(&order.notes),
            "internal_notes": optional_text(&order.internal_notes),
            "delivery_preferences": optional_text(&order.delivery_preferences),
            "sales_reps": sales_reps,
            "classification": &*order.classification,
            "payment_balance": decimal_number(totals.balance()),
            "available_transitions": order.status.available_transitions(),
            "modified": timestamp(order.modified),
            "has_special_requests": order.has_special_requests,
            "delivery_provider": null,
            "order_taxes": [],
            "delivery_info": null,
            "is_combination": false,
            "llf_payment_method": false,
            "credits": cents(order.credits),
            "facility_id": order.facility_id,
            "order_number": &*order.number,
            "order_seller_number": seller_number,
            "order_buyer_number": buyer_number,
            "order_short_number": short_id,
            "distributor": "",
            "external_ids": external_ids(&order.external_ids),
            "corporate_address": corporate,
            "delivery_address": delivery,
        });
        if order.facility_id.is_none() {
            // `facility_id` is typed integer without `nullable`; leaving it
            // out keeps the body valid for orders placed without a facility.
            body.as_object_mut().map(|map| map.remove("facility_id"));
        }
        if with_lines {
            let lines: Vec<Value> =
                order.lines.iter().map(|&line| tree_line_item(renderer, line as usize, &store.lines[line as usize])).collect();
            body["line_items"] = Value::Array(lines);
        }
        body
    }

    pub fn tree_line_item(renderer: &Renderer<'_>, index: usize, line: &LineItem) -> Value {
        let store = renderer.store;
        let order = &store.orders[line.order as usize];
        let unit_of_measure = store.product(line.product).map(|product| product.unit_of_measure).unwrap_or("Unit");
        json!({
            "id": Store::line_id(index),
            "ordered_unit_price": renderer.money(line.ordered_unit_price),
            "quantity": quantity(line.quantity),
            "order": &*order.number,
            "order_id": &*order.number,
            "product": line.product,
            "notes": optional_text(&line.notes),
            "is_sample": line.is_sample,
            "sale_price": renderer.money(line.sale_price),
            "unit_multiplier": line.unit_multiplier,
            "is_medical_line_item": false,
            "is_packed": line.is_packed,
            "packed_at": optional_timestamp(line.packed_at),
            "packed_by": line.packed_by,
            "unit_of_measure": unit_of_measure,
            "position": line.position,
            "bulk_units": line.bulk_units(),
            "on_sale": line.sale_price > Decimal::ZERO && line.sale_price < line.ordered_unit_price,
            "is_backorder": false,
            "batch": line.batch,
            "package_tags": "",
            "frozen_data": {},
            "wholesale_price": line.wholesale_price.map(cents),
        })
    }

    /// `http::sparse` on a tree: keeps the included keys, drops the excluded ones.
    fn tree_sparse(mut value: Value, filter: &FieldFilter<'_>) -> Value {
        if let Some(map) = value.as_object_mut() {
            if let Some(include) = &filter.include {
                map.retain(|key, _| include.contains(&key.as_str()));
            }
            if let Some(exclude) = &filter.exclude {
                map.retain(|key, _| !exclude.contains(&key.as_str()));
            }
        }
        value
    }

    fn seeded_store() -> Store {
        let config = SeedConfig { customers: 40, products: 60, orders: 300, random_seed: 11 };
        super::super::seed::build(&config, &[])
    }

    /// Orders that reach the rarer branches: no captured addresses, an
    /// unknown customer, a facility, external ids, packed and batched lines.
    fn add_edge_orders(store: &mut Store) {
        let template = store.orders[store.orders.len() - 1].clone();
        let mut without_addresses = template.clone();
        without_addresses.number = "edge-without-addresses-0001".into();
        without_addresses.addresses = None;
        without_addresses.facility_id = Some(7);
        without_addresses.external_ids = vec![("b".into(), "2".into()), ("a".into(), "1\"quoted\"".into())];
        without_addresses.notes = Some("tab\tand \u{e9}".into());
        without_addresses.status = Status::Accepted;
        store.orders.push(without_addresses);
        let mut unknown_customer = template;
        unknown_customer.number = "edge-unknown-customer-0002".into();
        unknown_customer.customer = 999_999;
        unknown_customer.addresses = None;
        unknown_customer.discount = Decimal::new(12_500, 3);
        store.orders.push(unknown_customer);
        if let Some(line) = store.lines.first_mut() {
            line.packed_at = Some(Stamp::new(1_700_000_000_123_456, -360));
            line.packed_by = Some(13);
            line.batch = Some(5);
            line.position = None;
            line.wholesale_price = None;
        }
    }

    fn written_order(renderer: &Renderer<'_>, order: &Order, lines: bool, customer: bool, filter: &FieldFilter<'_>) -> String {
        let mut out = Vec::new();
        renderer.write_order(&mut out, order, lines, customer, filter);
        String::from_utf8(out).expect("the writer writes UTF-8")
    }

    #[test]
    fn written_orders_equal_tree_bytes() {
        let mut store = seeded_store();
        add_edge_orders(&mut store);
        let filters = [
            FieldFilter::default(),
            FieldFilter { include: Some(vec!["number", "line_items", "total", "facility_id"]), exclude: None },
            FieldFilter { include: None, exclude: Some(vec!["customer", "line_items", "created_on"]) },
            FieldFilter { include: Some(vec!["number", "customer"]), exclude: Some(vec!["customer"]) },
        ];
        for money_as_string in [false, true] {
            let renderer = Renderer { store: &store, options: RenderOptions { money_as_string } };
            for order in &store.orders {
                for (lines, customer) in [(false, false), (true, false), (false, true), (true, true)] {
                    for filter in &filters {
                        let expected = tree_sparse(tree_order(&renderer, order, lines, customer), filter).to_string();
                        let written = written_order(&renderer, order, lines, customer, filter);
                        assert_eq!(
                            written, expected,
                            "order {} (lines {lines}, customer {customer}, money as string {money_as_string}, filter {filter:?})",
                            order.number
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn written_line_items_equal_tree_bytes() {
        let mut store = seeded_store();
        add_edge_orders(&mut store);
        for money_as_string in [false, true] {
            let renderer = Renderer { store: &store, options: RenderOptions { money_as_string } };
            for (index, line) in store.lines.iter().enumerate() {
                let mut out = Vec::new();
                renderer.write_line_item(&mut out, index, line);
                let written = String::from_utf8(out).expect("the writer writes UTF-8");
                assert_eq!(written, tree_line_item(&renderer, index, line).to_string(), "line {index}");
            }
        }
    }

    #[test]
    fn order_value_equals_tree() {
        let store = seeded_store();
        let renderer = Renderer { store: &store, options: RenderOptions::default() };
        let order = &store.orders[0];
        assert_eq!(renderer.order(order, true, false), tree_order(&renderer, order, true, false));
        assert_eq!(renderer.line_item(0, &store.lines[0]), tree_line_item(&renderer, 0, &store.lines[0]));
    }

    #[test]
    fn edge_orders_cover_rare_fields() {
        let mut store = seeded_store();
        add_edge_orders(&mut store);
        let renderer = Renderer { store: &store, options: RenderOptions::default() };
        let edge = &store.orders[store.orders.len() - 2];
        let value = renderer.order(edge, false, false);
        assert_eq!(value["facility_id"], json!(7));
        assert_eq!(value["external_ids"], json!({ "a": "1\"quoted\"", "b": "2" }));
        assert_eq!(value["notes"], json!("tab\tand \u{e9}"));
        let unknown = renderer.order(&store.orders[store.orders.len() - 1], false, false);
        assert_eq!(unknown["customer"]["display_name"], json!(""));
        assert_eq!(unknown["delivery_address"]["city"], json!(""));
        assert_eq!(unknown["discount"].to_string(), "12.5");
        assert!(unknown.get("facility_id").is_none(), "an order without a facility has no facility_id");
    }
}
