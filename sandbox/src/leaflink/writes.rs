//! The LeafLink sandbox's write endpoints: order create and patch, line-item
//! patch, product create, patch and archive, and order payments. Each one
//! validates the whole body before it changes anything, so a rejected request
//! leaves no partial write, and each write bumps the `modified` of the record
//! it changes.

use axum::http::StatusCode;
use axum::response::Response;
use rust_decimal::Decimal;

use super::body::{BodyReader, merge_external_ids};
use super::http::{Request, created_response, detail, error_response, ok_response};
use super::model::{
    DiscountType, FieldErrors, LISTING_STATES, LeafLinkError, NewLine, NewOrder, PAYMENT_TYPES, Payment,
    Product, STRAIN_CLASSIFICATIONS, Status, Store, UNITS_OF_MEASURE,
};

/// Notes fields are at most 2000 characters (`OrderResponse` schema).
const NOTES_MAX: usize = 2000;
const TEXT_MAX: usize = 255;

fn invalid(errors: FieldErrors) -> Response {
    error_response(&LeafLinkError::Invalid(errors))
}

fn discount_type(reader: &mut BodyReader<'_>) -> Option<DiscountType> {
    match reader.choice("discount_type", &["%", "$"])? {
        "$" => Some(DiscountType::Amount),
        _ => Some(DiscountType::Percent),
    }
}

fn tax_type_is_valid(reader: &mut BodyReader<'_>) {
    let _ = reader.choice("tax_type", &["%"]);
}

/// `POST /orders-received/` (BETA since 2.39.0): `seller`, `customer`,
/// `status` (Draft or Submitted) and `line_items` are required.
pub fn create_order(request: &Request<'_>, mut reader: BodyReader<'_>) -> Response {
    reader.require(&["seller", "customer", "status", "line_items"]);
    let seller = reader.integer("seller", false).flatten();
    let customer = match reader.map().get("customer") {
        Some(serde_json::Value::Object(object)) => object.get("id").and_then(serde_json::Value::as_u64),
        Some(other) => other.as_u64(),
        None => None,
    };
    if reader.has("customer") && customer.is_none() {
        reader.errors.add("customer", "Expected an object with an integer \"id\".");
    }
    let status = match reader.choice("status", &["Draft", "Submitted"]) {
        Some("Draft") => Status::Draft,
        _ => Status::Submitted,
    };
    let mut lines = Vec::new();
    if let Some(value) = reader.map().get("line_items") {
        match value.as_array() {
            Some(items) => {
                for item in items {
                    match item.as_object() {
                        Some(object) => {
                            let mut line_reader = BodyReader::new(object);
                            line_reader.require(&["product", "quantity", "ordered_unit_price", "sale_price"]);
                            let product = line_reader.integer("product", false).flatten();
                            let quantity = line_reader.decimal("quantity", false).flatten();
                            let price = line_reader.money("ordered_unit_price");
                            let sale = line_reader.money("sale_price");
                            let notes = line_reader.string("notes", NOTES_MAX, true).flatten();
                            let is_sample = line_reader.boolean("is_sample").unwrap_or(false);
                            for (field, messages) in line_reader.errors.0 {
                                for message in messages {
                                    reader.errors.add("line_items", format!("{field}: {message}"));
                                }
                            }
                            if let (Some(product), Some(quantity)) = (product, quantity) {
                                let product = u32::try_from(product).unwrap_or(u32::MAX);
                                lines.push(NewLine {
                                    product,
                                    quantity,
                                    ordered_unit_price: price,
                                    sale_price: sale,
                                    notes,
                                    is_sample,
                                });
                            }
                        }
                        None => reader.errors.add("line_items", "Each line item must be an object."),
                    }
                }
            }
            None => reader.errors.add("line_items", "Expected a list of items."),
        }
    }
    let external_id_seller = reader.string("external_id_seller", TEXT_MAX, true).flatten();
    let notes = reader.string("notes", NOTES_MAX, true).flatten();
    let delivery_preferences = reader.string("delivery_preferences", NOTES_MAX, true).flatten();
    let shipping_charge = if reader.has("shipping_charge") { reader.money("shipping_charge") } else { None };
    let discount = reader.decimal("discount", false).flatten();
    let kind = if reader.has("discount_type") { discount_type(&mut reader) } else { None };
    let tax = reader.decimal("tax_amount", false).flatten();
    tax_type_is_valid(&mut reader);
    let sales_reps = if reader.has("sales_reps") { reader.id_objects("sales_reps") } else { None };
    let state = request.state;
    if let Some(seller) = seller
        && seller != i64::from(state.company)
    {
        reader.errors.add("seller", format!("Invalid pk \"{seller}\" - object does not exist."));
    }
    if !reader.errors.is_empty() {
        return invalid(reader.errors);
    }

    let mut new = NewOrder::new(customer.and_then(|id| u32::try_from(id).ok()).unwrap_or(u32::MAX), lines);
    new.status = status;
    new.external_id_seller = external_id_seller;
    new.notes = notes;
    new.delivery_preferences = delivery_preferences;
    new.shipping_charge = shipping_charge.unwrap_or_default();
    new.discount = discount.unwrap_or_default();
    new.discount_type = kind.unwrap_or(DiscountType::Percent);
    new.tax_amount = tax.unwrap_or_default();
    new.sales_reps = sales_reps.unwrap_or_default();
    let mut store = state.write();
    let number = uuid::Uuid::new_v4().to_string();
    match store.place_order(state.company, state.editor, new, number) {
        Ok(index) => created_response(request_renderer(request, &store).order(&store.orders[index], true, false)),
        Err(error) => error_response(&error),
    }
}

fn request_renderer<'s>(request: &Request<'_>, store: &'s Store) -> super::render::Renderer<'s> {
    super::render::Renderer { store, options: request.state.render }
}

/// A validated line-item change, applied only after the whole request passed.
#[derive(Debug, Default)]
struct LineChange {
    quantity: Option<Decimal>,
    ordered_unit_price: Option<Decimal>,
    sale_price: Option<Decimal>,
    notes: Option<Option<String>>,
    is_sample: Option<bool>,
    is_packed: Option<bool>,
    packed_at: Option<Option<super::model::Stamp>>,
    packed_by: Option<Option<i64>>,
    position: Option<Option<i64>>,
    batch: Option<Option<i64>>,
}

/// Reads the fields `PATCH /line-items/{id}/` accepts.
fn read_line_change(reader: &mut BodyReader<'_>) -> LineChange {
    let quantity = reader.decimal("quantity", false).flatten();
    if quantity.is_some_and(|quantity| quantity < Decimal::ZERO) {
        reader.errors.add("quantity", "Ensure this value is greater than or equal to 0.");
    }
    LineChange {
        quantity,
        ordered_unit_price: reader.money("ordered_unit_price"),
        sale_price: reader.money("sale_price"),
        notes: reader.string("notes", NOTES_MAX, true),
        is_sample: reader.boolean("is_sample"),
        is_packed: reader.boolean("is_packed"),
        packed_at: reader.datetime("packed_at", true),
        packed_by: reader.integer("packed_by", true),
        position: reader.integer("position", true),
        batch: reader.integer("batch", true),
    }
}

fn apply_line_change(store: &mut Store, index: usize, change: LineChange) {
    if let Some(quantity) = change.quantity {
        store.set_line_quantity(index, quantity);
    }
    let line = &mut store.lines[index];
    if let Some(price) = change.ordered_unit_price {
        line.ordered_unit_price = price;
    }
    if let Some(price) = change.sale_price {
        line.sale_price = price;
    }
    if let Some(notes) = change.notes {
        line.notes = notes.map(Into::into);
    }
    if let Some(flag) = change.is_sample {
        line.is_sample = flag;
    }
    if let Some(flag) = change.is_packed {
        line.is_packed = flag;
    }
    if let Some(at) = change.packed_at {
        line.packed_at = at;
    }
    if let Some(by) = change.packed_by {
        line.packed_by = by.and_then(|by| u32::try_from(by).ok());
    }
    if let Some(position) = change.position {
        line.position = position.and_then(|position| u32::try_from(position).ok());
    }
    if let Some(batch) = change.batch {
        line.batch = batch.and_then(|batch| u32::try_from(batch).ok());
    }
}

/// `PATCH /line-items/{id}/`. Any change to a line bumps its order's
/// `modified`, so an incremental poll of orders finds a changed quantity or
/// price.
pub fn patch_line_item(request: &Request<'_>, id: &str, mut reader: BodyReader<'_>) -> Response {
    let change = read_line_change(&mut reader);
    if !reader.errors.is_empty() {
        return invalid(reader.errors);
    }
    let mut store = request.state.write();
    let Some(index) = id.parse().ok().and_then(|id| store.line_index(id)) else {
        return detail(StatusCode::NOT_FOUND, "Not found.");
    };
    let order = store.lines[index].order as usize;
    if request.company.is_some_and(|company| store.orders[order].seller != company) {
        return detail(StatusCode::NOT_FOUND, "Not found.");
    }
    apply_line_change(&mut store, index, change);
    store.touch_order(order, Some(request.state.editor));
    ok_response(request_renderer(request, &store).line_item(index, &store.lines[index]))
}

/// `PATCH /orders-received/{number}/` with the fields the reference lists as
/// patchable (notes, section 3.3), and child `line_items` by `id`. Read-only
/// fields such as `status` are ignored, as DRF ignores them; statuses change
/// only through transitions.
pub fn patch_order(request: &Request<'_>, number: &str, mut reader: BodyReader<'_>) -> Response {
    let discount = reader.decimal("discount", false).flatten();
    let kind = if reader.has("discount_type") { discount_type(&mut reader) } else { None };
    let tax = reader.decimal("tax_amount", false).flatten();
    tax_type_is_valid(&mut reader);
    let shipping = if reader.has("shipping_charge") { reader.money("shipping_charge") } else { None };
    let payment_term = reader.string("payment_term", TEXT_MAX, true);
    let payment_due_date = reader.datetime("payment_due_date", true);
    let paid = reader.boolean("paid");
    let paid_date = reader.date("paid_date", true);
    let ship_date = reader.datetime("ship_date", true);
    let shipping_details = reader.string("shipping_details", NOTES_MAX, true);
    let notes = reader.string("notes", NOTES_MAX, true);
    let internal_notes = reader.string("internal_notes", NOTES_MAX, true);
    let delivery_preferences = reader.string("delivery_preferences", NOTES_MAX, true);
    let classification = reader.string("classification", TEXT_MAX, false).flatten();
    let sales_reps = if reader.has("sales_reps") { reader.id_objects("sales_reps") } else { None };
    let external_ids = if reader.has("external_ids") { reader.external_ids("external_ids") } else { None };

    let mut line_changes: Vec<(u64, LineChange)> = Vec::new();
    if let Some(value) = reader.map().get("line_items") {
        match value.as_array() {
            Some(items) => {
                for item in items {
                    let Some(object) = item.as_object() else {
                        reader.errors.add("line_items", "Each line item must be an object.");
                        continue;
                    };
                    let mut line_reader = BodyReader::new(object);
                    let id = line_reader.integer("id", false).flatten().and_then(|id| u64::try_from(id).ok());
                    let change = read_line_change(&mut line_reader);
                    for (field, messages) in line_reader.errors.0 {
                        for message in messages {
                            reader.errors.add("line_items", format!("{field}: {message}"));
                        }
                    }
                    match id {
                        Some(id) => line_changes.push((id, change)),
                        None => reader.errors.add("line_items", "Each line item needs its integer \"id\"."),
                    }
                }
            }
            None => reader.errors.add("line_items", "Expected a list of items."),
        }
    }

    let mut store = request.state.write();
    let Some(index) = store.order_index(number) else {
        return detail(StatusCode::NOT_FOUND, "Not found.");
    };
    if request.company.is_some_and(|company| store.orders[index].seller != company) {
        return detail(StatusCode::NOT_FOUND, "Not found.");
    }
    let mut line_indexes = Vec::with_capacity(line_changes.len());
    for (id, _) in &line_changes {
        match store.line_index(*id).filter(|&line| store.lines[line].order as usize == index) {
            Some(line) => line_indexes.push(line),
            None => reader.errors.add("line_items", format!("Line item {id} is not on this order.")),
        }
    }
    if let Some(reps) = &sales_reps {
        for rep in reps {
            if store.staff(*rep).is_none() {
                reader.errors.add("sales_reps", format!("Invalid pk \"{rep}\" - object does not exist."));
            }
        }
    }
    if !reader.errors.is_empty() {
        return invalid(reader.errors);
    }

    for (line, (_, change)) in line_indexes.into_iter().zip(line_changes) {
        apply_line_change(&mut store, line, change);
    }
    let order = &mut store.orders[index];
    if let Some(discount) = discount {
        order.discount = discount;
    }
    if let Some(kind) = kind {
        order.discount_type = kind;
    }
    if let Some(tax) = tax {
        order.tax_amount = tax;
    }
    if let Some(shipping) = shipping {
        order.shipping_charge = shipping;
    }
    if let Some(term) = payment_term {
        order.payment_term = term.map(Into::into);
    }
    if let Some(due) = payment_due_date {
        order.payment_due_date = due;
    }
    if let Some(paid) = paid {
        order.paid = paid;
    }
    if let Some(date) = paid_date {
        order.paid_date = date;
    }
    if let Some(ship) = ship_date {
        order.ship_date = ship;
    }
    if let Some(details) = shipping_details {
        order.shipping_details = details.map(Into::into);
    }
    if let Some(notes) = notes {
        order.notes = notes.map(Into::into);
    }
    if let Some(notes) = internal_notes {
        order.internal_notes = notes.map(Into::into);
    }
    if let Some(preferences) = delivery_preferences {
        order.delivery_preferences = preferences.map(Into::into);
    }
    if let Some(classification) = classification {
        order.classification = classification.into();
    }
    if let Some(reps) = sales_reps {
        order.sales_reps = reps;
    }
    if let Some(changes) = external_ids {
        merge_external_ids(&mut order.external_ids, changes);
    }
    store.touch_order(index, Some(request.state.editor));
    let with_lines = reader.has("line_items");
    ok_response(request_renderer(request, &store).order(&store.orders[index], with_lines, false))
}

/// Fields `POST /products/` requires (reference notes, section 3.6).
const PRODUCT_REQUIRED: [&str; 19] = [
    "name", "description", "retail_price", "wholesale_price", "sale_price", "minimum_order", "maximum_order",
    "listing_state", "inventory_management", "unit_of_measure", "unit_denomination", "category", "sub_category",
    "seller", "brand", "manufacturer", "strain_classification", "sku", "license",
];

fn unit_of_measure(reader: &mut BodyReader<'_>) -> Option<&'static str> {
    // "Case" has been rejected as a unit of measure since 2.27.
    reader.choice("unit_of_measure", &UNITS_OF_MEASURE)
}

fn inventory_management(reader: &mut BodyReader<'_>) -> Option<u8> {
    let value = reader.integer("inventory_management", false).flatten()?;
    match u8::try_from(value) {
        Ok(value @ 1..=3) => Some(value),
        _ => {
            reader.errors.add("inventory_management", format!("\"{value}\" is not a valid choice."));
            None
        }
    }
}

fn unit_multiplier(reader: &mut BodyReader<'_>) -> Option<u32> {
    let value = reader.integer("unit_multiplier", false).flatten()?;
    match u32::try_from(value) {
        Ok(value) if value >= 1 => Some(value),
        _ => {
            reader.errors.add("unit_multiplier", "Ensure this value is greater than or equal to 1.");
            None
        }
    }
}

fn small_id(reader: &mut BodyReader<'_>, name: &str) -> Option<u32> {
    let value = reader.integer(name, false).flatten()?;
    match u32::try_from(value) {
        Ok(value) => Some(value),
        Err(_) => {
            reader.errors.add(name, format!("Invalid pk \"{value}\" - object does not exist."));
            None
        }
    }
}

/// `POST /products/`. A repeated POST creates a second product: LeafLink
/// declares no idempotency key, so the sandbox lets a naive retry duplicate.
pub fn create_product(request: &Request<'_>, mut reader: BodyReader<'_>) -> Response {
    reader.require(&PRODUCT_REQUIRED);
    let name = reader.string("name", TEXT_MAX, false).flatten();
    let sku = reader.string("sku", TEXT_MAX, false).flatten();
    let description = reader.string("description", 20_000, false).flatten();
    let retail = reader.money("retail_price");
    let wholesale = reader.money("wholesale_price");
    let sale = reader.money("sale_price");
    let minimum = reader.decimal("minimum_order", false).flatten();
    let maximum = reader.decimal("maximum_order", true).flatten();
    let listing_state = reader.choice("listing_state", &LISTING_STATES);
    let management = inventory_management(&mut reader);
    let unit = unit_of_measure(&mut reader);
    let category = small_id(&mut reader, "category");
    let sub_category = small_id(&mut reader, "sub_category");
    let seller = small_id(&mut reader, "seller");
    let brand = small_id(&mut reader, "brand");
    let manufacturer = small_id(&mut reader, "manufacturer");
    let strain = reader.choice("strain_classification", &STRAIN_CLASSIFICATIONS);
    let multiplier = if reader.has("unit_multiplier") { unit_multiplier(&mut reader) } else { Some(1) };
    let quantity = reader.decimal("quantity", false).flatten();
    let internal_id = reader.string("seller_internal_id", TEXT_MAX, true).flatten();
    let external_ids = if reader.has("external_ids") { reader.external_ids("external_ids") } else { None };
    for (field, value) in [("unit_denomination", "unit_denomination"), ("license", "license")] {
        if reader.map().get(value).is_some_and(serde_json::Value::is_null) {
            reader.errors.add(field, "This field may not be null.");
        }
    }
    let mut store = request.state.write();
    if let Some(seller) = seller
        && store.company(seller).is_none()
    {
        reader.errors.add("seller", format!("Invalid pk \"{seller}\" - object does not exist."));
    }
    if !reader.errors.is_empty() {
        return invalid(reader.errors);
    }
    let (Some(name), Some(sku), Some(seller)) = (name, sku, seller) else {
        return invalid(FieldErrors::single("non_field_errors", "Invalid data."));
    };
    let now = store.now(-360);
    let id = store.next_product_id();
    let mut external = Vec::new();
    merge_external_ids(&mut external, external_ids.unwrap_or_default());
    let product = Product {
        id,
        seller,
        manufacturer: manufacturer.unwrap_or(seller),
        brand: brand.unwrap_or_default(),
        name: name.into(),
        sku: sku.into(),
        description: description.unwrap_or_default().into(),
        seller_internal_id: internal_id.unwrap_or_default().into(),
        quantity: quantity.unwrap_or_default(),
        reserved_qty: Decimal::ZERO,
        unit_multiplier: multiplier.unwrap_or(1),
        retail_price: retail.unwrap_or_default(),
        wholesale_price: wholesale.unwrap_or_default(),
        sale_price: sale.unwrap_or_default(),
        minimum_order: minimum.unwrap_or(Decimal::ONE),
        maximum_order: maximum,
        listing_state: listing_state.unwrap_or("Available"),
        inventory_management: management.unwrap_or(1),
        unit_of_measure: unit.unwrap_or("Unit"),
        category: category.unwrap_or_default(),
        sub_category: sub_category.unwrap_or_default(),
        strain_classification: strain.unwrap_or("na"),
        external_ids: external.into_iter().collect(),
        created_on: now,
        last_edit: now,
        modified: now,
    };
    let index = store.push_product(product) as usize;
    created_response(request_renderer(request, &store).product(&store.products[index], true))
}

/// `PATCH /products/{id}/`. `available_inventory` sets `quantity` to the
/// given value plus what open orders reserve (since 2.20).
pub fn patch_product(request: &Request<'_>, id: &str, mut reader: BodyReader<'_>) -> Response {
    let name = reader.string("name", TEXT_MAX, false).flatten();
    let sku = reader.string("sku", TEXT_MAX, false).flatten();
    let description = reader.string("description", 20_000, false).flatten();
    let retail = if reader.has("retail_price") { reader.money("retail_price") } else { None };
    let wholesale = if reader.has("wholesale_price") { reader.money("wholesale_price") } else { None };
    let sale = if reader.has("sale_price") { reader.money("sale_price") } else { None };
    let quantity = reader.decimal("quantity", false).flatten();
    let available = reader.decimal("available_inventory", false).flatten();
    let minimum = reader.decimal("minimum_order", false).flatten();
    let maximum = reader.decimal("maximum_order", true);
    let listing_state = if reader.has("listing_state") { reader.choice("listing_state", &LISTING_STATES) } else { None };
    let unit = if reader.has("unit_of_measure") { unit_of_measure(&mut reader) } else { None };
    let strain = if reader.has("strain_classification") {
        reader.choice("strain_classification", &STRAIN_CLASSIFICATIONS)
    } else {
        None
    };
    let management = if reader.has("inventory_management") { inventory_management(&mut reader) } else { None };
    let multiplier = if reader.has("unit_multiplier") { unit_multiplier(&mut reader) } else { None };
    let internal_id = reader.string("seller_internal_id", TEXT_MAX, true);
    let external_ids = if reader.has("external_ids") { reader.external_ids("external_ids") } else { None };
    if !reader.errors.is_empty() {
        return invalid(reader.errors);
    }
    let mut store = request.state.write();
    let Some(index) = id.parse().ok().and_then(|id| store.product_index(id)) else {
        return detail(StatusCode::NOT_FOUND, "Not found.");
    };
    if request.company.is_some_and(|company| store.products[index].seller != company) {
        return detail(StatusCode::NOT_FOUND, "Not found.");
    }
    let old_sku = store.products[index].sku.clone();
    let product = &mut store.products[index];
    if let Some(name) = name {
        product.name = name.into();
    }
    if let Some(sku) = &sku {
        product.sku = sku.as_str().into();
    }
    if let Some(description) = description {
        product.description = description.into();
    }
    if let Some(price) = retail {
        product.retail_price = price;
    }
    if let Some(price) = wholesale {
        product.wholesale_price = price;
    }
    if let Some(price) = sale {
        product.sale_price = price;
    }
    if let Some(quantity) = quantity {
        product.quantity = quantity;
    }
    if let Some(available) = available {
        product.quantity = available + product.reserved_qty;
    }
    if let Some(minimum) = minimum {
        product.minimum_order = minimum;
    }
    if let Some(maximum) = maximum {
        product.maximum_order = maximum;
    }
    if let Some(state) = listing_state {
        product.listing_state = state;
    }
    if let Some(unit) = unit {
        product.unit_of_measure = unit;
    }
    if let Some(strain) = strain {
        product.strain_classification = strain;
    }
    if let Some(management) = management {
        product.inventory_management = management;
    }
    if let Some(multiplier) = multiplier {
        product.unit_multiplier = multiplier;
    }
    if let Some(internal_id) = internal_id {
        product.seller_internal_id = internal_id.unwrap_or_default().into();
    }
    if let Some(changes) = external_ids {
        merge_external_ids(&mut product.external_ids, changes);
    }
    if sku.is_some() {
        store.reindex_sku(index, &old_sku);
    }
    store.touch_product(index);
    // The PATCH response is `ProductUpdateResponse`, which has no
    // `product_data_items`.
    ok_response(request_renderer(request, &store).product(&store.products[index], false))
}

/// `DELETE /products/{id}/` archives the product and returns it.
pub fn archive_product(request: &Request<'_>, id: &str) -> Response {
    let mut store = request.state.write();
    let Some(index) = id.parse().ok().and_then(|id| store.product_index(id)) else {
        return detail(StatusCode::NOT_FOUND, "Not found.");
    };
    store.products[index].listing_state = "Archived";
    store.touch_product(index);
    ok_response(request_renderer(request, &store).product(&store.products[index], true))
}

/// `POST /order-payments/`: `order`, `recorded_by`, `total` and
/// `payment_date` are required.
///
/// NOTE: LeafLink does not document whether a payment that covers the
/// balance sets the order's `paid` (reference notes, section 3.5). The
/// sandbox leaves `paid` alone, so a client must set `paid` and `paid_date`
/// itself, as the notes advise. The payment lowers `payment_balance` and bumps the order's
/// `modified`.
pub fn create_payment(request: &Request<'_>, mut reader: BodyReader<'_>) -> Response {
    reader.require(&["order", "recorded_by", "total", "payment_date"]);
    let order = reader.string("order", 64, false).flatten();
    let recorded_by = small_id(&mut reader, "recorded_by");
    let total = reader.money("total");
    let currency = reader
        .map()
        .get("total")
        .and_then(|total| total.get("currency"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or("USD")
        .to_owned();
    let payment_date = reader.datetime("payment_date", false).flatten();
    let reason = reader.string("reason", NOTES_MAX, true).flatten();
    let payment_type = if reader.has("payment_type") { reader.choice("payment_type", &PAYMENT_TYPES) } else { Some("other") };
    let mut store = request.state.write();
    let order_index = order.as_deref().and_then(|number| store.order_index(number));
    if let (Some(number), None) = (&order, order_index) {
        reader.errors.add("order", format!("Invalid pk \"{number}\" - object does not exist."));
    }
    if let Some(staff) = recorded_by
        && store.staff(staff).is_none()
    {
        reader.errors.add("recorded_by", format!("Invalid pk \"{staff}\" - object does not exist."));
    }
    if !reader.errors.is_empty() {
        return invalid(reader.errors);
    }
    let (Some(order_index), Some(recorded_by), Some(total), Some(payment_date)) =
        (order_index, recorded_by, total, payment_date)
    else {
        return invalid(FieldErrors::single("non_field_errors", "Invalid data."));
    };
    let now = store.now(payment_date.offset_minutes);
    let index = store.add_payment(Payment {
        order: order_index as u32,
        recorded_by,
        total,
        currency: currency.into(),
        payment_date,
        reason: reason.map(Into::into),
        payment_type: payment_type.unwrap_or("other"),
        created_on: now,
        modified: now,
    });
    store.touch_order(order_index, None);
    created_response(request_renderer(request, &store).payment(index, &store.payments[index]))
}
