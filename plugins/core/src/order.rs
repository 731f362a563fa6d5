//! Sales orders: orders-import (LeafLink order -> BC sales order), orders-push
//! (BC order state -> LeafLink transitions and line changes) and orders-pull
//! (LeafLink order -> BC line changes).

use rust_decimal::Decimal;

use crate::error::{decimal_field, decimal_field_with, invalid_record};
use crate::pricing::{canonical, leaflink_line_amount, leaflink_line_price, price_line, round2};
use crate::settings::Settings;
use crate::text::{bc_len, fit_field, split_for_lines};
use crate::types::{BcLineType, BcSalesOrder, BcSalesOrderLine, LlLineItem, LlOrder, PluginError};
use leafbridge_guest_json::extras::{self, ExtrasWriter};
use crate::{BcOrderChanges, LeaflinkOrderChanges, LineItemChange, OrderContext};

/// BC `salesOrders.externalDocumentNumber` is a Text[35].
const EXTERNAL_DOCUMENT_NUMBER_MAX: usize = 35;
/// BC `salesOrderLines.description` is a Text[100].
const DESCRIPTION_MAX: usize = 100;
const FREIGHT_DESCRIPTION: &str = "Shipping charge";
const DELIVERY_PREFIX: &str = "Delivery: ";

fn order_record(order: &LlOrder) -> String {
    format!("order {}", order.number)
}

fn line_record(order: &LlOrder, line: &LlLineItem) -> String {
    format!("order {} line {}", order.number, line.id)
}

/// Returns the BC `orderDate` for a LeafLink `created_on`: its calendar date in the
/// tenant's time zone, so an order placed at 23:30 local time keeps that local
/// day whatever the UTC date is.
pub fn order_date(settings: &Settings, order: &LlOrder) -> Result<String, PluginError> {
    let tz = settings.time_zone()?;
    let created: jiff::Timestamp = order.created_on.trim().parse().map_err(|e| {
        invalid_record(order_record(order), Some("created_on"), format!("{:?} is not an RFC 3339 timestamp: {e}", order.created_on))
    })?;
    Ok(created.to_zoned(tz).date().to_string())
}

/// Maps a LeafLink order to the BC sales order to create: one Item line per
/// line item, an Account line for a shipping charge, and Comment lines for
/// notes and delivery preferences.
pub fn map_order(settings: &Settings, order: &LlOrder, context: &OrderContext) -> Result<BcSalesOrder, PluginError> {
    // Record names are built only on error paths, because most orders map
    // cleanly and formatting a name per order and per line showed in profiles.
    let record = || order_record(order);

    let short_id = order.short_id.trim();
    if short_id.is_empty() {
        return Err(invalid_record(record(), Some("short_id"), "the order has no short_id"));
    }
    // The external document number is how an order is found again after a
    // lost store, so a value BC would cut short is an error, not a truncation.
    if bc_len(short_id) > EXTERNAL_DOCUMENT_NUMBER_MAX {
        return Err(invalid_record(
            record(),
            Some("short_id"),
            format!("short_id {short_id:?} is longer than BC's {EXTERNAL_DOCUMENT_NUMBER_MAX}-character externalDocumentNumber"),
        ));
    }
    let customer_number = context.customer_number.trim();
    if customer_number.is_empty() {
        return Err(invalid_record(record(), Some("customer"), "no BC customer number was resolved for the order's customer"));
    }

    let mut lines = Vec::with_capacity(order.line_items.len() + 2);
    for line in &order.line_items {
        lines.push(map_line(settings, order, line, context)?);
    }
    if let Some(freight) = freight_line(settings, order)? {
        lines.push(freight);
    }
    if let Some(notes) = order.notes.as_deref() {
        lines.extend(comment_lines(notes));
    }
    if let Some(preferences) = order.delivery_preferences.as_deref().filter(|p| !p.trim().is_empty()) {
        lines.extend(comment_lines(&format!("{DELIVERY_PREFIX}{}", preferences.trim())));
    }

    Ok(BcSalesOrder {
        id: None,
        number: None,
        external_document_number: short_id.to_string(),
        order_date: order_date(settings, order)?,
        customer_id: None,
        customer_number: Some(customer_number.to_string()),
        status: None,
        fully_shipped: false,
        total_amount_including_tax: None,
        lines,
        etag: None,
        last_modified: None,
        extras: order_extras(order),
    })
}

/// Builds the order's `extras`: the LeafLink status, which BC has no property for.
fn order_extras(order: &LlOrder) -> String {
    let mut extras = ExtrasWriter::new();
    extras.push_string("leaflink_status", &order.status);
    extras.finish()
}

/// One Item line for one LeafLink line item, priced per the shared rule.
fn map_line(settings: &Settings, order: &LlOrder, line: &LlLineItem, context: &OrderContext) -> Result<BcSalesOrderLine, PluginError> {
    let record = || line_record(order, line);
    let mut extras = ExtrasWriter::new();

    let item_number = context
        .items
        .iter()
        .find(|(sku, _)| sku == &line.sku)
        .or_else(|| context.items.iter().find(|(sku, _)| sku.trim().eq_ignore_ascii_case(line.sku.trim())))
        .map(|(_, number)| number.clone())
        .ok_or_else(|| invalid_record(record(), Some("sku"), format!("no BC item number was resolved for SKU {:?}", line.sku)))?;

    let pricing = LinePrice::of(record, line)?;
    let unit_of_measure_code = line.unit_of_measure.as_deref().map(|unit| settings.bc_unit(unit)).transpose()?;

    let description = if line.name.trim().is_empty() { line.sku.trim() } else { line.name.trim() };
    let description = fit_field("description", description, DESCRIPTION_MAX, &mut extras);

    if let Some(sale_price) = line.sale_price.as_ref() {
        let mut price = ExtrasWriter::with_capacity(sale_price.amount.len() + sale_price.currency.len() + 30);
        price.push_string("amount", &sale_price.amount);
        price.push_string("currency", &sale_price.currency);
        extras.push_json_text("sale_price", &price.finish());
    }
    extras.push_integer("leaflink_product_id", line.product);

    Ok(BcSalesOrderLine {
        id: None,
        line_type: BcLineType::Item,
        line_object_number: Some(item_number),
        description,
        unit_of_measure_code,
        quantity: canonical(pricing.quantity),
        unit_price: canonical(pricing.unit_price),
        discount_amount: (!pricing.discount_amount.is_zero()).then(|| canonical(pricing.discount_amount)),
        amount_excluding_tax: Some(canonical(pricing.amount)),
        shipped_quantity: None,
        invoiced_quantity: None,
        leaflink_line_id: Some(line.id),
        etag: None,
        extras: extras.finish(),
    })
}

/// A LeafLink line item's numbers on the BC side.
struct LinePrice {
    quantity: Decimal,
    multiplier: Decimal,
    unit_price: Decimal,
    discount_amount: Decimal,
    amount: Decimal,
}

impl LinePrice {
    /// Prices `line`. `record` builds the line's record name for an error.
    fn of(record: impl Fn() -> String, line: &LlLineItem) -> Result<Self, PluginError> {
        let quantity = decimal_field_with(&record, "quantity", &line.quantity)?;
        let multiplier = decimal_field_with(&record, "unit_multiplier", &line.unit_multiplier)?;
        let price = decimal_field_with(&record, "ordered_unit_price", &line.ordered_unit_price.amount)?;
        if quantity.is_sign_negative() && !quantity.is_zero() {
            return Err(invalid_record(record(), Some("quantity"), format!("quantity {} is negative", line.quantity)));
        }
        if multiplier <= Decimal::ZERO {
            return Err(invalid_record(record(), Some("unit_multiplier"), format!("unit_multiplier must be positive, got {}", line.unit_multiplier)));
        }
        if price.is_sign_negative() && !price.is_zero() {
            return Err(invalid_record(record(), Some("ordered_unit_price"), format!("price {} is negative", line.ordered_unit_price.amount)));
        }
        let pricing = price_line(price, quantity, multiplier);
        Ok(LinePrice {
            quantity,
            multiplier,
            unit_price: pricing.unit_price,
            discount_amount: pricing.discount_amount,
            amount: pricing.amount,
        })
    }
}

/// Returns an Account line on `freight_account` for a positive shipping charge.
fn freight_line(settings: &Settings, order: &LlOrder) -> Result<Option<BcSalesOrderLine>, PluginError> {
    let Some(charge) = order.shipping_charge.as_ref() else { return Ok(None) };
    let amount = decimal_field_with(|| order_record(order), "shipping_charge", &charge.amount)?;
    if amount <= Decimal::ZERO {
        return Ok(None);
    }
    Ok(Some(BcSalesOrderLine {
        id: None,
        line_type: BcLineType::Account,
        line_object_number: Some(settings.freight_account()?.to_string()),
        description: FREIGHT_DESCRIPTION.into(),
        unit_of_measure_code: None,
        quantity: "1".into(),
        unit_price: canonical(amount),
        discount_amount: None,
        amount_excluding_tax: Some(canonical(amount)),
        shipped_quantity: None,
        invoiced_quantity: None,
        leaflink_line_id: None,
        etag: None,
        extras: extras::EMPTY.into(),
    }))
}

/// Comment lines carrying `text`, split at BC's description length.
fn comment_lines(text: &str) -> impl Iterator<Item = BcSalesOrderLine> {
    split_for_lines(text, DESCRIPTION_MAX).into_iter().map(|piece| BcSalesOrderLine {
        id: None,
        line_type: BcLineType::Comment,
        line_object_number: None,
        description: piece,
        unit_of_measure_code: None,
        quantity: "0".into(),
        unit_price: "0".into(),
        discount_amount: None,
        amount_excluding_tax: None,
        shipped_quantity: None,
        invoiced_quantity: None,
        leaflink_line_id: None,
        etag: None,
        extras: extras::EMPTY.into(),
    })
}

/// LeafLink order statuses in their life-cycle order. `Backorder` sits with
/// `Accepted` because no documented action leaves it other than `fulfill`.
fn status_rank(status: &str) -> Option<u8> {
    match status.trim().to_ascii_lowercase().as_str() {
        "draft" => Some(0),
        "submitted" => Some(1),
        "accepted" | "backorder" => Some(2),
        "fulfilled" => Some(3),
        "shipped" => Some(4),
        "complete" => Some(5),
        // Rejected, Cancelled and Combined are final: nothing is pushed.
        _ => None,
    }
}

/// The transition actions and the status rank each one reaches.
const TRANSITIONS: [(&str, u8); 4] = [("accept", 2), ("fulfill", 3), ("ship", 4), ("complete", 5)];

/// Computes the LeafLink transitions and line changes a BC order requires (orders-push).
///
/// Status map (BC -> LeafLink): `status` Open -> `accept`; fully shipped ->
/// `fulfill`, then `ship`; fully invoiced (every Item line invoiced in full) ->
/// `complete`. Only the actions ahead of the LeafLink order's current status
/// are returned, in order. Lines: each BC Item line that came from a LeafLink
/// line reports its quantity and per-case price when they differ.
pub fn order_changes_for_leaflink(order: &BcSalesOrder, current: &LlOrder) -> Result<LeaflinkOrderChanges, PluginError> {
    let record = order_record(current);
    let item_lines: Vec<&BcSalesOrderLine> = order.lines.iter().filter(|l| l.line_type == BcLineType::Item).collect();

    let fully_invoiced = !item_lines.is_empty()
        && item_lines.iter().try_fold(true, |all, line| -> Result<bool, PluginError> {
            let quantity = decimal_field(&record, "quantity", &line.quantity)?;
            let invoiced = line.invoiced_quantity.as_deref().map(|q| decimal_field(&record, "invoicedQuantity", q)).transpose()?;
            Ok(all && invoiced.is_some_and(|invoiced| invoiced >= quantity))
        })?;
    let released = order.status.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("open"));

    let target = if fully_invoiced {
        5
    } else if order.fully_shipped {
        4
    } else if released {
        2
    } else {
        0
    };
    let transitions = match status_rank(&current.status) {
        Some(now) => TRANSITIONS
            .iter()
            .filter(|(_, reaches)| *reaches > now && *reaches <= target)
            .map(|(action, _)| action.to_string())
            .collect(),
        None => Vec::new(),
    };

    let mut lines = Vec::new();
    for bc_line in &item_lines {
        let Some(line_id) = bc_line.leaflink_line_id else { continue };
        // NOTE: a BC line with no LeafLink line (added in BC) is not pushed;
        // the contract has no line create for LeafLink.
        let Some(ll_line) = current.line_items.iter().find(|l| l.id == line_id) else { continue };
        let ll_record = line_record(current, ll_line);
        let ll_price = LinePrice::of(|| ll_record.clone(), ll_line)?;

        let quantity = decimal_field(&ll_record, "BC quantity", &bc_line.quantity)?;
        let unit_price = decimal_field(&ll_record, "BC unitPrice", &bc_line.unit_price)?;
        let bc_amount = bc_line_amount(&ll_record, bc_line, quantity, unit_price)?;
        let quantity_change = (quantity != ll_price.quantity).then(|| canonical(quantity));

        // The LeafLink price changes when BC's unit price differs from the one
        // the LeafLink price gives, or when the LeafLink line amount would
        // differ from BC's, unless LeafLink already has the price BC's line needs.
        let leaflink_price = decimal_field(&ll_record, "ordered_unit_price", &ll_line.ordered_unit_price.amount)?;
        let target_price = leaflink_line_price(unit_price, ll_price.multiplier, quantity, bc_amount);
        let differs = unit_price != ll_price.unit_price || leaflink_line_amount(leaflink_price, quantity, ll_price.multiplier) != bc_amount;
        let price_change = (differs && target_price != leaflink_price).then(|| crate::types::Money {
            amount: canonical(target_price),
            currency: ll_line.ordered_unit_price.currency.clone(),
        });
        if quantity_change.is_some() || price_change.is_some() {
            lines.push(LineItemChange { id: line_id, quantity: quantity_change, ordered_unit_price: price_change });
        }
    }

    Ok(LeaflinkOrderChanges { transitions, lines })
}

/// Computes a BC Item line's amount as BC does: `round2(quantity × unitPrice) − discountAmount`.
fn bc_line_amount(record: &str, line: &BcSalesOrderLine, quantity: Decimal, unit_price: Decimal) -> Result<Decimal, PluginError> {
    let discount = line.discount_amount.as_deref().map(|d| decimal_field(record, "BC discountAmount", d)).transpose()?.unwrap_or(Decimal::ZERO);
    Ok(round2(quantity * unit_price) - discount)
}

/// Computes the BC line changes a LeafLink order requires (orders-pull). Each BC
/// Item line linked to a LeafLink line is re-priced per the shared rule and
/// returned (with its `id` and `etag`) when quantity, unit price or discount
/// differ; `discountAmount` is always set on a returned line so a discount
/// that is no longer needed is cleared.
pub fn order_changes_for_bc(order: &LlOrder, current: &BcSalesOrder) -> Result<BcOrderChanges, PluginError> {
    let mut lines = Vec::new();
    for bc_line in current.lines.iter().filter(|l| l.line_type == BcLineType::Item) {
        let Some(line_id) = bc_line.leaflink_line_id else { continue };
        let Some(ll_line) = order.line_items.iter().find(|l| l.id == line_id) else { continue };
        let record = line_record(order, ll_line);
        let wanted = LinePrice::of(|| record.clone(), ll_line)?;

        let quantity = decimal_field(&record, "BC quantity", &bc_line.quantity)?;
        let unit_price = decimal_field(&record, "BC unitPrice", &bc_line.unit_price)?;
        let discount = bc_line
            .discount_amount
            .as_deref()
            .map(|d| decimal_field(&record, "BC discountAmount", d))
            .transpose()?
            .unwrap_or(Decimal::ZERO);
        if quantity == wanted.quantity && unit_price == wanted.unit_price && discount == wanted.discount_amount {
            continue;
        }
        lines.push(BcSalesOrderLine {
            quantity: canonical(wanted.quantity),
            unit_price: canonical(wanted.unit_price),
            discount_amount: Some(canonical(wanted.discount_amount)),
            amount_excluding_tax: Some(canonical(wanted.amount)),
            ..bc_line.clone()
        });
    }
    Ok(BcOrderChanges { leaflink_status: order.status.clone(), lines })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::{parse_decimal, round2};
    use crate::types::Money;

    fn settings() -> Settings {
        [("time_zone", "America/Denver"), ("freight_account", "6110")].into_iter().collect()
    }

    fn line(id: i64, sku: &str, quantity: &str, multiplier: &str, price: &str) -> LlLineItem {
        LlLineItem {
            id,
            order: "aec108ac-a1f4-40fa-966e-a12ga9bf6e2f".into(),
            product: 2093,
            sku: sku.into(),
            name: format!("Product {sku}"),
            quantity: quantity.into(),
            unit_multiplier: multiplier.into(),
            unit_of_measure: Some("Unit".into()),
            ordered_unit_price: Money { amount: price.into(), currency: "USD".into() },
            sale_price: Some(Money { amount: "0".into(), currency: "USD".into() }),
            extras: "{}".into(),
        }
    }

    pub(crate) fn order() -> LlOrder {
        LlOrder {
            number: "aec108ac-a1f4-40fa-966e-a12ga9bf6e2f".into(),
            short_id: "a9bf6e2f".into(),
            customer_id: 148515,
            customer_display_name: "Good Vibrations Dispensary".into(),
            status: "Accepted".into(),
            shipping_charge: Some(Money { amount: "25".into(), currency: "USD".into() }),
            total: Some(Money { amount: "594".into(), currency: "USD".into() }),
            notes: Some("".into()),
            delivery_preferences: Some("Monday - Wednesday Only Please".into()),
            paid: false,
            paid_date: None,
            created_on: "2020-06-10T21:15:03.776119Z".into(),
            modified: "2020-06-10T22:14:49.494713Z".into(),
            sales_reps: vec![13],
            line_items: vec![line(1, "SWI-1", "30", "12", "108"), line(2, "GUM-7", "1000", "3", "10")],
            extras: "{}".into(),
        }
    }

    fn context() -> OrderContext {
        OrderContext {
            customer_number: "LL148515".into(),
            items: vec![("SWI-1".into(), "SWI-1".into()), ("GUM-7".into(), "LL4411".into())],
        }
    }

    fn d(text: &str) -> Decimal {
        parse_decimal(text).unwrap()
    }

    /// BC's line amount for a mapped line.
    fn bc_amount(line: &BcSalesOrderLine) -> Decimal {
        let discount = line.discount_amount.as_deref().map(d).unwrap_or_default();
        round2(d(&line.quantity) * d(&line.unit_price)) - discount
    }

    #[test]
    fn header_fields() {
        let mapped = map_order(&settings(), &order(), &context()).unwrap();
        assert_eq!(mapped.external_document_number, "a9bf6e2f");
        assert_eq!(mapped.customer_number.as_deref(), Some("LL148515"));
        assert_eq!(mapped.order_date, "2020-06-10");
    }

    #[test]
    fn line_amounts_match_leaflink_to_the_cent() {
        let source = order();
        let mapped = map_order(&settings(), &source, &context()).unwrap();
        let items: Vec<_> = mapped.lines.iter().filter(|l| l.line_type == BcLineType::Item).collect();
        assert_eq!(items.len(), 2);
        // Multiplier 12: 108 × 30 / 12 = 270.00.
        assert_eq!(bc_amount(items[0]), d("270"));
        assert_eq!(items[0].unit_price, "9");
        assert_eq!(items[0].quantity, "30");
        assert_eq!(items[0].discount_amount, None);
        // Multiplier 3: 10 × 1000 / 3 = 3333.33, unit price rounds up to 3.33334.
        assert_eq!(bc_amount(items[1]), d("3333.33"));
        assert_eq!(items[1].discount_amount.as_deref(), Some("0.01"));
        assert_eq!(items[1].line_object_number.as_deref(), Some("LL4411"));
        assert_eq!(items[1].leaflink_line_id, Some(2));
        assert_eq!(items[1].unit_of_measure_code.as_deref(), Some("PCS"));
    }

    #[test]
    fn multiplier_one_line() {
        let mut source = order();
        source.line_items = vec![line(9, "SWI-1", "7", "1", "12.35")];
        let mapped = map_order(&settings(), &source, &context()).unwrap();
        let item = &mapped.lines[0];
        assert_eq!(item.unit_price, "12.35");
        assert_eq!(item.discount_amount, None);
        assert_eq!(bc_amount(item), d("86.45"));
    }

    #[test]
    fn near_midnight_local_date() {
        let mut source = order();
        // 23:30 in Denver (UTC-6 in June) is 05:30 UTC the next day.
        source.created_on = "2020-06-11T05:30:00Z".into();
        assert_eq!(map_order(&settings(), &source, &context()).unwrap().order_date, "2020-06-10");
        // The same instant written with an offset gives the same date.
        source.created_on = "2020-06-10T23:30:00-06:00".into();
        assert_eq!(map_order(&settings(), &source, &context()).unwrap().order_date, "2020-06-10");
        // In a zone east of UTC it is already the 11th.
        let tokyo: Settings = [("time_zone", "Asia/Tokyo"), ("freight_account", "6110")].into_iter().collect();
        assert_eq!(map_order(&tokyo, &source, &context()).unwrap().order_date, "2020-06-11");
    }

    #[test]
    fn shipping_charge_becomes_account_line() {
        let mapped = map_order(&settings(), &order(), &context()).unwrap();
        let freight: Vec<_> = mapped.lines.iter().filter(|l| l.line_type == BcLineType::Account).collect();
        assert_eq!(freight.len(), 1);
        assert_eq!(freight[0].line_object_number.as_deref(), Some("6110"));
        assert_eq!(freight[0].quantity, "1");
        assert_eq!(freight[0].unit_price, "25");
    }

    #[test]
    fn zero_or_absent_shipping_charge_is_skipped() {
        let mut source = order();
        source.shipping_charge = Some(Money { amount: "0.00".into(), currency: "USD".into() });
        let mapped = map_order(&settings(), &source, &context()).unwrap();
        assert!(mapped.lines.iter().all(|l| l.line_type != BcLineType::Account));
        source.shipping_charge = None;
        // Without a charge, a missing freight account is not an error.
        let no_freight: Settings = [("time_zone", "UTC")].into_iter().collect();
        assert!(map_order(&no_freight, &source, &context()).is_ok());
    }

    #[test]
    fn missing_freight_account_is_configuration_error() {
        let no_freight: Settings = [("time_zone", "UTC")].into_iter().collect();
        assert!(matches!(map_order(&no_freight, &order(), &context()), Err(PluginError::Configuration(_))));
    }

    #[test]
    fn notes_split_into_comment_lines() {
        let mut source = order();
        source.notes = Some("Rückruf vor Lieferung bitte – ".repeat(8));
        let mapped = map_order(&settings(), &source, &context()).unwrap();
        let comments: Vec<_> = mapped.lines.iter().filter(|l| l.line_type == BcLineType::Comment).collect();
        assert!(comments.len() >= 3, "{} comment lines", comments.len());
        for comment in &comments {
            assert!(bc_len(&comment.description) <= 100);
            assert_eq!(comment.line_object_number, None);
        }
        let last = comments.last().unwrap();
        assert_eq!(last.description, "Delivery: Monday - Wednesday Only Please");
    }

    #[test]
    fn unknown_sku_names_order_and_line() {
        let mut source = order();
        source.line_items.push(line(17, "NOPE", "1", "1", "1"));
        let PluginError::InvalidRecord(error) = map_order(&settings(), &source, &context()).unwrap_err() else {
            panic!("expected invalid-record")
        };
        assert_eq!(error.record, "order aec108ac-a1f4-40fa-966e-a12ga9bf6e2f line 17");
        assert_eq!(error.field.as_deref(), Some("sku"));
    }

    #[test]
    fn malformed_quantity_names_field() {
        let mut source = order();
        source.line_items[0].quantity = "thirty".into();
        let PluginError::InvalidRecord(error) = map_order(&settings(), &source, &context()).unwrap_err() else {
            panic!("expected invalid-record")
        };
        assert_eq!(error.field.as_deref(), Some("quantity"));
    }

    #[test]
    fn extras_carry_status_and_line_sources() {
        let mapped = map_order(&settings(), &order(), &context()).unwrap();
        assert_eq!(extras::field(&mapped.extras, "leaflink_status").unwrap(), Some("\"Accepted\""));
        let line = &mapped.lines[0];
        assert_eq!(extras::field(&line.extras, "leaflink_product_id").unwrap(), Some("2093"));
        assert_eq!(extras::field(&line.extras, "sale_price").unwrap(), Some(r#"{"amount":"0","currency":"USD"}"#));
        assert_eq!(extras::field(&line.extras, "description_full").unwrap(), None);
    }

    #[test]
    fn over_long_description_keeps_full_name() {
        let mut source = order();
        source.line_items[0].name = "Ж".repeat(150);
        let mapped = map_order(&settings(), &source, &context()).unwrap();
        assert_eq!(mapped.lines[0].description.chars().count(), 100);
        let full = extras::field(&mapped.lines[0].extras, "description_full").unwrap();
        assert_eq!(full, Some(format!("\"{}\"", "Ж".repeat(150)).as_str()));
    }

    #[test]
    fn over_long_short_id_is_rejected() {
        let mut source = order();
        source.short_id = "x".repeat(36);
        assert!(matches!(map_order(&settings(), &source, &context()), Err(PluginError::InvalidRecord(_))));
    }

    #[test]
    fn missing_time_zone_is_configuration_error() {
        let settings: Settings = [("freight_account", "6110")].into_iter().collect();
        assert!(matches!(map_order(&settings, &order(), &context()), Err(PluginError::Configuration(_))));
    }

    fn bc_order(status: &str, shipped: bool, invoiced: bool) -> BcSalesOrder {
        let mapped = map_order(&settings(), &order(), &context()).unwrap();
        let lines = mapped
            .lines
            .into_iter()
            .map(|mut l| {
                if l.line_type == BcLineType::Item {
                    l.id = Some(format!("line-{}", l.leaflink_line_id.unwrap()));
                    l.etag = Some("W/\"1\"".into());
                    if invoiced {
                        l.invoiced_quantity = Some(l.quantity.clone());
                    }
                }
                l
            })
            .collect();
        BcSalesOrder { status: Some(status.into()), fully_shipped: shipped, lines, ..map_order(&settings(), &order(), &context()).unwrap() }
    }

    #[test]
    fn status_map_returns_actions_ahead() {
        let mut current = order();
        current.status = "Submitted".into();
        let changes = order_changes_for_leaflink(&bc_order("Open", false, false), &current).unwrap();
        assert_eq!(changes.transitions, vec!["accept"]);
        assert!(changes.lines.is_empty());

        current.status = "Accepted".into();
        let changes = order_changes_for_leaflink(&bc_order("Open", true, false), &current).unwrap();
        assert_eq!(changes.transitions, vec!["fulfill", "ship"]);

        current.status = "Shipped".into();
        let changes = order_changes_for_leaflink(&bc_order("Open", true, true), &current).unwrap();
        assert_eq!(changes.transitions, vec!["complete"]);

        current.status = "Complete".into();
        assert!(order_changes_for_leaflink(&bc_order("Open", true, true), &current).unwrap().transitions.is_empty());

        current.status = "Submitted".into();
        assert!(order_changes_for_leaflink(&bc_order("Draft", false, false), &current).unwrap().transitions.is_empty());

        current.status = "Cancelled".into();
        assert!(order_changes_for_leaflink(&bc_order("Open", true, true), &current).unwrap().transitions.is_empty());
    }

    #[test]
    fn line_changes_pushed_per_case() {
        let mut bc = bc_order("Open", false, false);
        bc.lines[0].quantity = "24".into();
        bc.lines[0].unit_price = "9.5".into();
        let changes = order_changes_for_leaflink(&bc, &order()).unwrap();
        assert_eq!(changes.lines.len(), 1);
        assert_eq!(changes.lines[0].id, 1);
        assert_eq!(changes.lines[0].quantity.as_deref(), Some("24"));
        assert_eq!(changes.lines[0].ordered_unit_price.as_ref().unwrap().amount, "114");
    }

    #[test]
    fn pushed_price_keeps_line_amount() {
        // 30 units at 19.3333 in cases of 10: BC's line is 580.00, so the
        // case price is 193.333, not 193.33 (a line of 579.99).
        let mut current = order();
        current.line_items[0].unit_multiplier = "10".into();
        let mut bc = bc_order("Open", false, false);
        bc.lines[0].quantity = "30".into();
        bc.lines[0].unit_price = "19.3333".into();
        bc.lines[0].discount_amount = None;
        let changes = order_changes_for_leaflink(&bc, &current).unwrap();
        assert_eq!(changes.lines.len(), 1);
        assert_eq!(changes.lines[0].ordered_unit_price.as_ref().unwrap().amount, "193.333");

        // LeafLink with that price has nothing left to change.
        current.line_items[0].quantity = "30".into();
        current.line_items[0].ordered_unit_price.amount = "193.333".into();
        let again = order_changes_for_leaflink(&bc, &current).unwrap();
        assert!(again.lines.is_empty(), "{:?}", again.lines);
    }

    #[test]
    fn pull_returns_only_changed_lines() {
        let bc = bc_order("Open", false, false);
        let unchanged = order_changes_for_bc(&order(), &bc).unwrap();
        assert_eq!(unchanged.leaflink_status, "Accepted");
        assert!(unchanged.lines.is_empty());

        let mut changed = order();
        changed.line_items[0].quantity = "36".into();
        let changes = order_changes_for_bc(&changed, &bc).unwrap();
        assert_eq!(changes.lines.len(), 1);
        assert_eq!(changes.lines[0].id.as_deref(), Some("line-1"));
        assert_eq!(changes.lines[0].etag.as_deref(), Some("W/\"1\""));
        assert_eq!(changes.lines[0].quantity, "36");
        assert_eq!(changes.lines[0].discount_amount.as_deref(), Some("0"));
        assert_eq!(bc_amount(&changes.lines[0]), d("324"));
    }
}
