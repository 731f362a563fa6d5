//! `orders-push` (BC order state reaches LeafLink) and `orders-pull` (a
//! buyer's change in LeafLink reaches BC) for orders leafbridge imported.
//!
//! Ownership after import: status and line quantity and price belong to BC;
//! cancellation, notes and delivery preferences belong to LeafLink. BC has no
//! property for the LeafLink line id, so each BC line is matched to its
//! LeafLink line through the ids stored at import.
//!
//! Line values sync field by field. Each direction writes only the line
//! fields its source changed since the last sync and records a conflict only
//! for a field both sides changed. A field changed only on the other side is
//! left to the other flow, so that side's last-synced value is saved unchanged
//! and the other flow still finds the change.

use std::collections::{HashMap, HashSet};

use super::fields::{self, PRICE, QUANTITY, changed_fields, line_field};
use super::orders_import::order_record;
use super::ports::{ApiError, BusinessCentralApi, LeafLinkApi, MappingApi, Plugins};
use super::resolve::{LEAFLINK_PAGE, LOOKUP_CHUNK, query_on};
use super::{FlowError, SyncContext};
use crate::runtime::bindings::business_central::{Query, Write, Written};
use crate::runtime::bindings::leaflink::{LineItemPatch, OrderQuery};
use crate::runtime::bindings::types::{BcLineType, BcSalesOrder, BcSalesOrderLine, LlOrder};
use crate::store::{Conflict, CrossReference, FieldValues, RecordKind};

/// LeafLink statuses in the order an order moves through them, with the
/// transition action that leaves each.
const STATUS_PATH: [(&str, &str); 4] = [("Submitted", "accept"), ("Accepted", "fulfill"), ("Fulfilled", "ship"), ("Shipped", "complete")];

/// The cross-reference value that marks an order deleted in BC before it was
/// invoiced. Its value is the time leafbridge noticed, and it makes the
/// conflict record happen once.
const DELETED_IN_BC: &str = "deleted_in_bc";

/// Statuses LeafLink owns: an order in one of them is never moved by BC.
const LEAFLINK_FINAL: [&str; 3] = ["Cancelled", "Rejected", "Combined"];

/// The transition actions that take an order from `status` to Complete.
fn actions_to_complete(status: &str) -> Vec<String> {
    let start = STATUS_PATH.iter().position(|(from, _)| from.eq_ignore_ascii_case(status));
    match start {
        Some(start) => STATUS_PATH[start..].iter().map(|(_, action)| (*action).to_owned()).collect(),
        None => Vec::new(),
    }
}

/// Fills each BC line's LeafLink line id from the ids stored at import.
/// Returns whether BC line ids were stored, which makes an unpaired line a
/// sign of one added or deleted after the import.
fn attach_line_ids(order: &mut BcSalesOrder, xref: &CrossReference) -> bool {
    let by_bc_id: HashMap<&str, i64> = xref
        .stored
        .iter()
        .filter_map(|(name, value)| {
            let id = name.strip_prefix("line:")?.strip_suffix(":bc_id")?;
            Some((value.as_str(), id.parse().ok()?))
        })
        .collect();
    for line in &mut order.lines {
        if line.leaflink_line_id.is_none() {
            line.leaflink_line_id = line.id.as_deref().and_then(|id| by_bc_id.get(id).copied());
        }
    }
    if !by_bc_id.is_empty() {
        // A line without a stored id was added in BC after the import and
        // has no LeafLink line.
        return true;
    }

    // Without stored BC line ids, lines pair by position: the k-th item line
    // came from the k-th LeafLink line. That holds only while BC has exactly
    // the lines it was given, because an added or deleted line shifts them.
    let in_order: Vec<i64> = xref
        .stored
        .get("line_ids")
        .map(|ids| ids.split(',').filter_map(|id| id.parse().ok()).collect())
        .unwrap_or_default();
    let item_lines: Vec<&mut BcSalesOrderLine> = order.lines.iter_mut().filter(|line| line.line_type == BcLineType::Item).collect();
    if item_lines.len() == in_order.len() {
        for (line, leaflink_id) in item_lines.into_iter().zip(in_order) {
            if line.leaflink_line_id.is_none() {
                line.leaflink_line_id = Some(leaflink_id);
            }
        }
    }
    false
}

fn cursor_query<P: Plugins>(cx: &SyncContext<'_, P>) -> Result<Option<String>, FlowError> {
    let cursor = cx.store.cursor(cx.tenant_name(), cx.flow.name()).map_err(|e| cx.store_error(e))?;
    Ok(cursor.map(|cursor| cursor.read_from().to_string()))
}

fn parse_time(text: Option<&str>) -> Option<jiff::Timestamp> {
    text.and_then(|text| text.parse().ok())
}

/// `orders-push`: BC sales orders (and the invoices posted from them) that
/// changed since the cursor push their status and lines to LeafLink.
pub(crate) async fn push<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<(), FlowError> {
    let since = cursor_query(cx)?;
    let query = Query { modified_after: since, field: None, values: Vec::new(), page_size: None };
    let mut newest: Option<jiff::Timestamp> = None;
    let mut seen = HashSet::new();

    let mut next = None;
    loop {
        let page = cx
            .business_central
            .list_sales_orders(&query, next)
            .await
            .map_err(|e| cx.api_error("listing BC sales orders", e))?;
        for order in page.orders {
            newest = newest.max(parse_time(order.last_modified.as_deref()));
            seen.extend(order.id.clone());
            cx.count_read(1);
            push_order(cx, order).await?;
        }
        next = page.next;
        if next.is_none() {
            break;
        }
    }

    // An order BC shipped and invoiced leaves `salesOrders`; its posted
    // invoice completes the LeafLink order.
    let mut next = None;
    loop {
        let page = cx
            .business_central
            .list_sales_invoices(&query, next)
            .await
            .map_err(|e| cx.api_error("listing BC sales invoices", e))?;
        for invoice in page.invoices {
            newest = newest.max(parse_time(invoice.last_modified.as_deref()));
            let Some(order_id) = invoice.order_id.as_deref() else { continue };
            let Some(xref) = cx.store.xref_by_bc_id(cx.tenant_name(), RecordKind::Order, order_id).map_err(|e| cx.store_error(e))? else {
                continue;
            };
            cx.count_read(1);
            if xref.stored.get("invoice").map(String::as_str) == Some(invoice.id.as_str()) {
                cx.counts.skipped += 1;
                continue;
            }
            seen.insert(order_id.to_owned());
            complete_order(cx, xref, &invoice.id).await?;
        }
        next = page.next;
        if next.is_none() {
            break;
        }
    }

    detect_deleted_orders(cx, &seen).await?;

    if let Some(newest) = newest
        && cx.transient_failures == 0
    {
        cx.advance_cursor(newest)?;
    }
    Ok(())
}

async fn push_order<P: Plugins>(cx: &mut SyncContext<'_, P>, mut order: BcSalesOrder) -> Result<(), FlowError> {
    let Some(bc_id) = order.id.clone() else {
        cx.counts.skipped += 1;
        return Ok(());
    };
    let Some(mut xref) = cx.store.xref_by_bc_id(cx.tenant_name(), RecordKind::Order, &bc_id).map_err(|e| cx.store_error(e))? else {
        cx.counts.skipped += 1;
        return Ok(());
    };
    let line_ids_stored = attach_line_ids(&mut order, &xref);
    let bc_now = fields::order_fields_of_bc(&order);
    if bc_now == xref.bc_fields {
        cx.counts.skipped += 1;
        return Ok(());
    }
    let record = order_record(&xref.leaflink_key);

    let current = match cx.leaflink.get_order(&xref.leaflink_key).await {
        Ok(Some(current)) => current,
        Ok(None) => return cx.fail(&record, "the LeafLink order was not found", false),
        Err(error) => return cx.fail_api(&record, &error),
    };
    if LEAFLINK_FINAL.iter().any(|status| status.eq_ignore_ascii_case(&current.status)) {
        cx.conflict(Conflict {
            flow: cx.flow.name().to_owned(),
            record: record.clone(),
            field: Some("status".to_owned()),
            winner: "leaflink".to_owned(),
            leaflink_value: Some(current.status.clone()),
            business_central_value: order.status.clone(),
            reason: "the order was cancelled or rejected in LeafLink, which owns cancellation; BC changes are not pushed".to_owned(),
            detected: jiff::Timestamp::now(),
        })?;
        xref.bc_fields = bc_now;
        cx.store.put_xref(cx.tenant_name(), RecordKind::Order, &xref).map_err(|e| cx.store_error(e))?;
        cx.counts.skipped += 1;
        return Ok(());
    }

    if line_ids_stored {
        record_unpaired_lines(cx, &record, &order, &current)?;
    }

    let changes = match cx.mapping.order_changes_for_leaflink(&order, &current).await {
        Ok(changes) => changes,
        Err(error) => return cx.fail_api(&record, &error),
    };
    let leaflink_now = fields::order_fields_of_leaflink(&current);
    let changed_in_leaflink = changed_fields(&xref.leaflink_fields, &leaflink_now);
    let changed_in_bc = changed_fields(&xref.bc_fields, &bc_now);

    // Only the line fields BC changed since the last sync are pushed. BC owns
    // order lines after import, so a field both sides changed gets BC's value
    // and a conflict record keeps the buyer's.
    let mut patches = Vec::new();
    for line in &changes.lines {
        let quantity_name = line_field(line.id, QUANTITY);
        let price_name = line_field(line.id, PRICE);
        let quantity = line.quantity.clone().filter(|_| changed_in_bc.contains(&quantity_name));
        let price = line.ordered_unit_price.clone().filter(|_| changed_in_bc.contains(&price_name));
        for (name, pushed) in [(&quantity_name, quantity.is_some()), (&price_name, price.is_some())] {
            if pushed && changed_in_leaflink.contains(name) {
                record_line_conflict(cx, &record, name, &current, &leaflink_now, &bc_now)?;
            }
        }
        if quantity.is_some() || price.is_some() {
            patches.push(LineItemPatch { id: line.id, quantity, ordered_unit_price: price });
        }
    }
    // A line field the buyer changed and BC did not is orders-pull's to
    // carry, so its last-synced LeafLink value is saved unchanged.
    let deferred: Vec<&String> =
        changed_in_leaflink.iter().filter(|name| is_line_value(name) && !changed_in_bc.contains(*name)).collect();

    let result = async {
        for action in &changes.transitions {
            cx.leaflink.transition_order(&current.number, action).await?;
        }
        for patch in &patches {
            cx.leaflink.update_line_item(patch).await?;
        }
        let written = !changes.transitions.is_empty() || !patches.is_empty();
        let after = if written { cx.leaflink.get_order(&current.number).await?.unwrap_or(current.clone()) } else { current.clone() };
        Ok::<_, ApiError>((written, after))
    };
    match result.await {
        Ok((written, after)) => {
            let before = std::mem::replace(&mut xref.leaflink_fields, fields::order_fields_of_leaflink(&after));
            for name in deferred {
                fields::keep_baseline(&mut xref.leaflink_fields, &before, name);
            }
            xref.bc_fields = bc_now;
            xref.stored.insert("status".to_owned(), after.status.clone());
            cx.store.put_xref(cx.tenant_name(), RecordKind::Order, &xref).map_err(|e| cx.store_error(e))?;
            if written {
                cx.counts.written += 1;
            } else {
                cx.counts.skipped += 1;
            }
            cx.succeeded(&record)
        }
        Err(error) => cx.fail_api(&record, &error),
    }
}

/// Returns true when `name` is a line's quantity or price, the line values
/// both order flows write.
fn is_line_value(name: &str) -> bool {
    name.strip_prefix("line:").is_some_and(|rest| matches!(rest.rsplit(':').next(), Some(QUANTITY | PRICE)))
}

/// Records a conflict on a line field both sides changed to different
/// values. BC owns order lines after import, so BC's value wins. LeafLink
/// prices a line per case and BC per unit, so a price conflict stores BC's
/// price per case as well and its reason keeps BC's unit price.
fn record_line_conflict<P: Plugins>(
    cx: &SyncContext<'_, P>,
    record: &str,
    name: &str,
    leaflink_order: &LlOrder,
    leaflink_now: &FieldValues,
    bc_now: &FieldValues,
) -> Result<(), FlowError> {
    let mut business_central_value = bc_now.get(name).cloned();
    let mut reason = format!("both sides changed {name} since the last sync; BC owns order lines after import");
    let multiplier = line_multiplier(leaflink_order, name);
    if name.rsplit(':').next() == Some(PRICE)
        && let Some(multiplier) = multiplier
        && let Some(unit_price) = bc_now.get(name)
        && let Some((case_price, note)) = fields::case_price_for_conflict(unit_price, multiplier)
    {
        reason.push_str(&note);
        business_central_value = Some(case_price);
    }
    cx.conflict(Conflict {
        flow: cx.flow.name().to_owned(),
        record: record.to_owned(),
        field: Some(name.to_owned()),
        winner: "business-central".to_owned(),
        leaflink_value: leaflink_now.get(name).cloned(),
        business_central_value,
        reason,
        detected: jiff::Timestamp::now(),
    })
}

/// Returns the `unit_multiplier` of the LeafLink line that a line field name refers to.
fn line_multiplier<'a>(order: &'a LlOrder, name: &str) -> Option<&'a str> {
    let id: i64 = name.strip_prefix("line:")?.split(':').next()?.parse().ok()?;
    order.line_items.iter().find(|line| line.id == id).map(|line| line.unit_multiplier.as_str())
}

/// Moves the LeafLink order of an invoiced BC order to Complete.
async fn complete_order<P: Plugins>(cx: &mut SyncContext<'_, P>, mut xref: CrossReference, invoice_id: &str) -> Result<(), FlowError> {
    let record = order_record(&xref.leaflink_key);
    let result = async {
        let Some(current) = cx.leaflink.get_order(&xref.leaflink_key).await? else {
            return Ok(None);
        };
        if LEAFLINK_FINAL.iter().any(|status| status.eq_ignore_ascii_case(&current.status)) {
            return Ok(Some((false, current)));
        }
        let actions = actions_to_complete(&current.status);
        let mut after = current;
        for action in &actions {
            after = cx.leaflink.transition_order(&after.number, action).await?;
        }
        Ok::<_, ApiError>(Some((!actions.is_empty(), after)))
    };
    match result.await {
        Ok(Some((written, after))) => {
            xref.leaflink_fields = fields::order_fields_of_leaflink(&after);
            xref.stored.insert("status".to_owned(), after.status.clone());
            xref.stored.insert("invoice".to_owned(), invoice_id.to_owned());
            cx.store.put_xref(cx.tenant_name(), RecordKind::Order, &xref).map_err(|e| cx.store_error(e))?;
            if written {
                cx.counts.written += 1;
            } else {
                cx.counts.skipped += 1;
            }
            cx.succeeded(&record)
        }
        Ok(None) => cx.fail(&record, "the LeafLink order was not found", false),
        Err(error) => cx.fail_api(&record, &error),
    }
}

/// The reason stored on the conflict record of an order deleted in BC.
const DELETED_REASON: &str = "the BC sales order was deleted before it was invoiced; a person decides whether to cancel or reject the LeafLink order or to create the BC order again (leafbridge never rejects it automatically)";

/// BC order numbers, out of `numbers`, that a sales invoice was posted from.
async fn posted_order_numbers<P: Plugins>(cx: &SyncContext<'_, P>, numbers: &[String]) -> Result<HashSet<String>, ApiError> {
    let mut posted = HashSet::new();
    for chunk in numbers.chunks(LOOKUP_CHUNK) {
        let mut next = None;
        loop {
            let page = cx.business_central.list_sales_invoices(&query_on("orderNumber", chunk.to_vec()), next).await?;
            posted.extend(page.invoices.into_iter().filter_map(|invoice| invoice.order_number));
            next = page.next;
            if next.is_none() {
                break;
            }
        }
    }
    Ok(posted)
}

/// Records a conflict for an imported order that BC no longer has and never
/// invoiced, once per order: the status map sends such an order to a person,
/// never to an automatic `reject`.
/// Records a conflict for a person when BC has item lines that came from no
/// LeafLink line, or lacks LeafLink lines, because lines were added to or
/// deleted from the BC order after the import. The order syncs carry only
/// each paired line's quantity and price. A conflict already recorded with
/// the same lines is left as it is.
fn record_unpaired_lines<P: Plugins>(cx: &mut SyncContext<'_, P>, record: &str, order: &BcSalesOrder, current: &LlOrder) -> Result<(), FlowError> {
    let paired: HashSet<i64> = order.lines.iter().filter_map(|line| line.leaflink_line_id).collect();
    let added: Vec<String> = order
        .lines
        .iter()
        .filter(|line| line.line_type == BcLineType::Item && line.leaflink_line_id.is_none())
        .map(|line| format!("{} x {}", line.line_object_number.as_deref().unwrap_or("?"), line.quantity))
        .collect();
    let missing: Vec<String> =
        current.line_items.iter().filter(|line| !paired.contains(&line.id)).map(|line| format!("line {} (sku {})", line.id, line.sku)).collect();
    if added.is_empty() && missing.is_empty() {
        return Ok(());
    }
    let business_central_value = Some(if added.is_empty() { "no added lines".to_owned() } else { format!("added lines: {}", added.join(", ")) });
    let previous = cx.store.conflict(cx.tenant_name(), cx.flow.name(), record, Some("lines")).map_err(|e| cx.store_error(e))?;
    if previous.is_some_and(|previous| previous.business_central_value == business_central_value) {
        return Ok(());
    }
    cx.conflict(Conflict {
        flow: cx.flow.name().to_owned(),
        record: record.to_owned(),
        field: Some("lines".to_owned()),
        winner: "undecided".to_owned(),
        leaflink_value: Some(if missing.is_empty() { "no lines missing in BC".to_owned() } else { format!("missing in BC: {}", missing.join(", ")) }),
        business_central_value,
        reason: "lines were added to or deleted from the BC order after the import, and leafbridge carries only the quantity and \
                 price of paired lines; make the two orders match by hand"
            .to_owned(),
        detected: jiff::Timestamp::now(),
    })
}

fn record_deleted_order<P: Plugins>(cx: &mut SyncContext<'_, P>, xref: &mut CrossReference, leaflink_status: Option<&str>) -> Result<(), FlowError> {
    if xref.stored.contains_key(DELETED_IN_BC) {
        cx.counts.skipped += 1;
        return Ok(());
    }
    let record = order_record(&xref.leaflink_key);
    tracing::warn!(record, bc_number = xref.bc_number.as_deref().unwrap_or(""), "the BC sales order was deleted before it was invoiced");
    cx.conflict(Conflict {
        flow: cx.flow.name().to_owned(),
        record,
        field: Some("order".to_owned()),
        winner: "undecided".to_owned(),
        leaflink_value: leaflink_status.map(str::to_owned).or_else(|| xref.stored.get("status").cloned()),
        business_central_value: Some(format!("sales order {} deleted", xref.bc_number.as_deref().unwrap_or("?"))),
        reason: DELETED_REASON.to_owned(),
        detected: jiff::Timestamp::now(),
    })?;
    xref.stored.insert(DELETED_IN_BC.to_owned(), jiff::Timestamp::now().to_string());
    cx.store.put_xref(cx.tenant_name(), RecordKind::Order, xref).map_err(|e| cx.store_error(e))?;
    cx.counts.skipped += 1;
    Ok(())
}

/// Finds imported orders that are still open on both sides but that BC no
/// longer has. The BC listing the push reads does not report deletions, so
/// each open order this push did not read is looked up by number, 50 per
/// request. An order missing from both orders and invoices was deleted.
/// NOTE: this reads every open imported order's cross-reference on each push,
/// so its cost grows with the number of orders not yet invoiced.
async fn detect_deleted_orders<P: Plugins>(cx: &mut SyncContext<'_, P>, seen: &HashSet<String>) -> Result<(), FlowError> {
    let xrefs = cx.store.xrefs(cx.tenant_name(), RecordKind::Order).map_err(|e| cx.store_error(e))?;
    let open: Vec<CrossReference> = xrefs
        .into_iter()
        .filter(|xref| !xref.stored.contains_key("invoice") && !xref.stored.contains_key(DELETED_IN_BC))
        .filter(|xref| xref.bc_id.as_ref().is_some_and(|id| !seen.contains(id)) && xref.bc_number.is_some())
        .filter(|xref| {
            let status = xref.stored.get("status").map(String::as_str).unwrap_or("");
            !LEAFLINK_FINAL.iter().chain(["Complete"].iter()).any(|done| done.eq_ignore_ascii_case(status))
        })
        .collect();
    if open.is_empty() {
        return Ok(());
    }

    let numbers: Vec<String> = open.iter().filter_map(|xref| xref.bc_number.clone()).collect();
    let mut present = HashSet::new();
    for chunk in numbers.chunks(LOOKUP_CHUNK) {
        let mut next = None;
        loop {
            let page = cx
                .business_central
                .list_sales_orders(&query_on("number", chunk.to_vec()), next)
                .await
                .map_err(|e| cx.api_error("looking up BC sales orders by number", e))?;
            present.extend(page.orders.into_iter().filter_map(|order| order.number));
            next = page.next;
            if next.is_none() {
                break;
            }
        }
    }
    let missing: Vec<String> = numbers.into_iter().filter(|number| !present.contains(number)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let posted = posted_order_numbers(cx, &missing).await.map_err(|e| cx.api_error("reading BC sales invoices", e))?;
    for mut xref in open {
        let number = xref.bc_number.clone().unwrap_or_default();
        if missing.contains(&number) && !posted.contains(&number) {
            cx.count_read(1);
            record_deleted_order(cx, &mut xref, None)?;
        }
    }
    Ok(())
}

/// `orders-pull`: LeafLink orders changed since the cursor update their BC
/// orders: the status into the store, line quantity and price into the lines.
pub(crate) async fn pull<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<(), FlowError> {
    let query = OrderQuery {
        modified_from: cursor_query(cx)?,
        created_from: Some(cx.tenant.go_live.to_string()),
        statuses: Vec::new(),
        numbers: Vec::new(),
        limit: Some(LEAFLINK_PAGE),
    };
    let mut newest: Option<jiff::Timestamp> = None;
    let mut next = None;
    loop {
        let page = cx
            .leaflink
            .list_orders(&query, next)
            .await
            .map_err(|e| cx.api_error("listing LeafLink orders", e))?;
        cx.count_read(page.orders.len() as u64);
        let mut changed = Vec::new();
        for order in page.orders {
            newest = newest.max(parse_time(Some(&order.modified)));
            let xref = cx.store.xref(cx.tenant_name(), RecordKind::Order, &order.number).map_err(|e| cx.store_error(e))?;
            match xref {
                Some(xref) if xref.leaflink_fields != fields::order_fields_of_leaflink(&order) => changed.push((order, xref)),
                _ => cx.counts.skipped += 1,
            }
        }
        pull_page(cx, changed).await?;
        next = page.next;
        if next.is_none() {
            break;
        }
    }
    if let Some(newest) = newest
        && cx.transient_failures == 0
    {
        cx.advance_cursor(newest)?;
    }
    Ok(())
}

async fn pull_page<P: Plugins>(cx: &mut SyncContext<'_, P>, changed: Vec<(LlOrder, CrossReference)>) -> Result<(), FlowError> {
    if changed.is_empty() {
        return Ok(());
    }
    let numbers: Vec<String> = changed.iter().filter_map(|(_, xref)| xref.bc_number.clone()).collect();
    let mut bc_orders: HashMap<String, BcSalesOrder> = HashMap::new();
    for chunk in numbers.chunks(LOOKUP_CHUNK) {
        let mut next = None;
        loop {
            let page = cx
                .business_central
                .list_sales_orders(&query_on("number", chunk.to_vec()), next)
                .await
                .map_err(|e| cx.api_error("reading BC sales orders", e))?;
            for order in page.orders {
                if let Some(number) = order.number.clone() {
                    bc_orders.insert(number, order);
                }
            }
            next = page.next;
            if next.is_none() {
                break;
            }
        }
    }

    // An order missing from `salesOrders` was either posted (shipped and
    // invoiced, so an invoice names it) or deleted in BC.
    let missing: Vec<String> = changed
        .iter()
        .filter_map(|(_, xref)| xref.bc_number.clone())
        .filter(|number| !bc_orders.contains_key(number))
        .collect();
    let posted = posted_order_numbers(cx, &missing).await.map_err(|e| cx.api_error("reading BC sales invoices", e))?;

    let mut writes = Vec::new();
    let mut pending = Vec::new();
    for (order, mut xref) in changed {
        let record = order_record(&order.number);
        let Some(mut current) = xref.bc_number.as_ref().and_then(|number| bc_orders.get(number)).cloned() else {
            let number = xref.bc_number.clone().unwrap_or_default();
            if !posted.contains(&number) {
                record_deleted_order(cx, &mut xref, Some(&order.status))?;
                continue;
            }
            // Posted (shipped and invoiced) in BC: nothing left to update there.
            xref.leaflink_fields = fields::order_fields_of_leaflink(&order);
            xref.stored.insert("status".to_owned(), order.status.clone());
            cx.store.put_xref(cx.tenant_name(), RecordKind::Order, &xref).map_err(|e| cx.store_error(e))?;
            cx.counts.skipped += 1;
            continue;
        };
        attach_line_ids(&mut current, &xref);
        if LEAFLINK_FINAL.iter().any(|status| status.eq_ignore_ascii_case(&order.status)) {
            cx.conflict(Conflict {
                flow: cx.flow.name().to_owned(),
                record: record.clone(),
                field: Some("status".to_owned()),
                winner: "leaflink".to_owned(),
                leaflink_value: Some(order.status.clone()),
                business_central_value: current.status.clone(),
                reason: "the order was cancelled or rejected in LeafLink; a person must cancel or delete the BC order".to_owned(),
                detected: jiff::Timestamp::now(),
            })?;
        }

        // A line with no recorded BC value (its ids were not read at import)
        // has no baseline, so it does not count as changed in BC.
        let bc_now = fields::order_fields_of_bc(&current);
        let changed_in_bc: Vec<String> =
            changed_fields(&xref.bc_fields, &bc_now).into_iter().filter(|name| xref.bc_fields.contains_key(name)).collect();
        let leaflink_now = fields::order_fields_of_leaflink(&order);
        let changed_in_leaflink = changed_fields(&xref.leaflink_fields, &leaflink_now);
        let compared = ComparedOrder { leaflink_now, changed_in_leaflink, bc_now, changed_in_bc };
        let (target, lines_to_write) = order_for_bc(cx, &record, &order, &current, &compared)?;
        let changes = match cx.mapping.order_changes_for_bc(&target, &current).await {
            Ok(changes) => changes,
            Err(error) => {
                cx.fail_api(&record, &error)?;
                continue;
            }
        };
        let lines: Vec<BcSalesOrderLine> = changes
            .lines
            .into_iter()
            .filter(|line| line.leaflink_line_id.is_some_and(|id| lines_to_write.contains(&id)))
            .collect();
        let kept_in_bc = compared.changed_in_bc;
        xref.stored.insert("status".to_owned(), changes.leaflink_status.clone());
        let order_id = current.id.clone().unwrap_or_default();
        for line in &lines {
            writes.push(Write::UpdateSalesOrderLine((order_id.clone(), line.clone())));
        }
        pending.push((order, xref, current, lines.len(), kept_in_bc));
    }

    let results = if writes.is_empty() {
        Vec::new()
    } else {
        cx.flush_store()?;
        match cx.business_central.apply(&writes).await {
            Ok(results) => results,
            Err(error) => {
                for (order, ..) in &pending {
                    cx.fail_api(&order_record(&order.number), &error)?;
                }
                return Ok(());
            }
        }
    };
    let mut results = results.into_iter();
    for (order, mut xref, mut current, line_count, kept_in_bc) in pending {
        let record = order_record(&order.number);
        let mut failure = None;
        for _ in 0..line_count {
            match results.next() {
                Some(Ok(Written::SalesOrderLine(line))) => {
                    if let Some(existing) = current.lines.iter_mut().find(|existing| existing.id == line.id) {
                        let leaflink_line_id = existing.leaflink_line_id;
                        *existing = line;
                        existing.leaflink_line_id = existing.leaflink_line_id.or(leaflink_line_id);
                    }
                }
                Some(Ok(other)) => failure = Some(ApiError::Call(format!("BC returned an unexpected record for a line update: {other:?}"))),
                Some(Err(error)) => failure = Some(ApiError::Plugin(error)),
                None => failure = Some(ApiError::Call("BC returned fewer results than writes".to_owned())),
            }
        }
        if let Some(error) = failure {
            cx.fail_api(&record, &error)?;
            continue;
        }
        xref.leaflink_fields = fields::order_fields_of_leaflink(&order);
        // A pull never carries BC's changes, so each field BC changed (a line
        // BC kept against the buyer's change, a BC-only line change, status)
        // keeps its old BC value in the cross-reference. The next orders-push
        // then finds BC's value changed and writes it to LeafLink.
        let before = std::mem::replace(&mut xref.bc_fields, fields::order_fields_of_bc(&current));
        for name in &kept_in_bc {
            fields::keep_baseline(&mut xref.bc_fields, &before, name);
        }
        cx.store.put_xref(cx.tenant_name(), RecordKind::Order, &xref).map_err(|e| cx.store_error(e))?;
        if line_count > 0 {
            cx.counts.written += 1;
        } else {
            cx.counts.skipped += 1;
        }
        cx.succeeded(&record)?;
    }
    Ok(())
}

/// One order's field values on both sides and the fields each side changed
/// since the last sync.
struct ComparedOrder {
    leaflink_now: FieldValues,
    changed_in_leaflink: Vec<String>,
    bc_now: FieldValues,
    changed_in_bc: Vec<String>,
}

/// Builds the LeafLink order as orders-pull writes it to BC. A line field
/// the buyer changed and BC did not keeps the buyer's value. Every other line
/// field takes BC's value, so the mapping prices the line with BC's quantity
/// or price where BC keeps it. Records a conflict for each line field both
/// sides changed to different values, which BC wins. Returns that order and
/// the LeafLink ids of the lines with a field to write.
fn order_for_bc<P: Plugins>(
    cx: &SyncContext<'_, P>,
    record: &str,
    order: &LlOrder,
    current: &BcSalesOrder,
    compared: &ComparedOrder,
) -> Result<(LlOrder, HashSet<i64>), FlowError> {
    let ComparedOrder { leaflink_now, changed_in_leaflink, bc_now, changed_in_bc } = compared;
    let mut target = order.clone();
    let mut lines_to_write = HashSet::new();
    for line in &mut target.line_items {
        let bc_line = current.lines.iter().find(|bc_line| bc_line.line_type == BcLineType::Item && bc_line.leaflink_line_id == Some(line.id));
        let Some(bc_line) = bc_line else { continue };

        let quantity_name = line_field(line.id, QUANTITY);
        let in_leaflink = changed_in_leaflink.contains(&quantity_name);
        let in_bc = changed_in_bc.contains(&quantity_name);
        if in_leaflink && !in_bc {
            lines_to_write.insert(line.id);
        } else {
            if in_leaflink && leaflink_now.get(&quantity_name) != bc_now.get(&quantity_name) {
                record_line_conflict(cx, record, &quantity_name, order, leaflink_now, bc_now)?;
            }
            line.quantity = bc_line.quantity.clone();
        }

        let price_name = line_field(line.id, PRICE);
        let in_leaflink = changed_in_leaflink.contains(&price_name);
        let in_bc = changed_in_bc.contains(&price_name);
        if in_leaflink && !in_bc {
            lines_to_write.insert(line.id);
        } else if in_bc {
            let agree = fields::prices_agree(&line.ordered_unit_price.amount, &bc_line.unit_price, &line.unit_multiplier);
            if in_leaflink && !agree {
                record_line_conflict(cx, record, &price_name, order, leaflink_now, bc_now)?;
            }
            // BC's unit price times the multiplier, exact, maps back to the
            // same unit price, because BC keeps at most 5 decimal places.
            if let Some(case_price) = fields::case_price_of_unit(&bc_line.unit_price, &line.unit_multiplier) {
                line.ordered_unit_price.amount = case_price;
            }
        }
    }
    Ok((target, lines_to_write))
}

#[cfg(test)]
mod tests {
    use super::actions_to_complete;

    #[test]
    fn accepted_order_needs_three_actions() {
        assert_eq!(actions_to_complete("Accepted"), vec!["fulfill", "ship", "complete"]);
        assert!(actions_to_complete("Complete").is_empty());
    }
}
