//! `orders-import`: LeafLink orders become BC sales orders, with their new
//! customers and items.
//!
//! Per page of up to 100 orders: skip the ones already cross-referenced,
//! resolve customers and items (cached for the run, looked up in batches,
//! created through one `apply` call), look the remaining orders up in BC by
//! `externalDocumentNumber` (open orders, then posted invoices, because BC
//! removes an order from `salesOrders` when it is shipped and invoiced), map
//! the page with one `map_orders` call, apply the tenant's overrides and
//! create the orders with one `apply` call (the connector sends `$batch`
//! requests of deep inserts).
//!
//! Three pages are in progress at once: the next page is read from LeafLink,
//! this one is prepared (steps 1 to 4), and the last one's orders are created
//! in BC through a second connector session. The last page is recorded
//! before this one's creates start.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Instant;

use super::fields;
use super::ports::{ApiError, ApiResult, Applied, Background, BusinessCentralApi, LeafLinkApi, MappingApi, OverridesApi, Plugins};
use super::resolve::{self, LEAFLINK_PAGE, LOOKUP_CHUNK, query_on};
use super::context::CrawlSize;
use super::{FlowError, SyncContext};
use crate::runtime::bindings::business_central::{Write, Written};
use crate::runtime::bindings::leaflink::{OrderQuery, ProductQuery};
use crate::runtime::bindings::mapping::OrderContext;
use crate::runtime::bindings::NO_EXTRAS;
use crate::runtime::bindings::types::{BcLineType, BcSalesOrder, BcSalesOrderLine, LlOrder};
use crate::store::{CrossReference, FieldValues, RecordKind};

pub(crate) fn order_record(number: &str) -> String {
    format!("order {number}")
}

pub(crate) async fn run<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<(), FlowError> {
    let flow = cx.flow.name();
    let go_live = cx.tenant.go_live;
    let cursor = cx.store.cursor(cx.tenant_name(), flow).map_err(|e| cx.store_error(e))?;

    // Dead letters due for a retry are read again by number: the cursor may
    // already be past them.
    let retried = retry_dead_letters(cx).await?;
    // The crawl passes over orders whose last failure a rerun alone will not
    // fix until their retry is due, and over the orders just retried, so no
    // order is sent twice in one run.
    let now = jiff::Timestamp::now();
    let held_back: HashSet<String> = cx
        .store
        .dead_letters(cx.tenant_name())
        .map_err(|e| cx.store_error(e))?
        .into_iter()
        .filter(|letter| letter.flow == flow)
        .filter(|letter| retried.contains(&letter.record) || (!letter.transient && letter.next_retry > now))
        .map(|letter| letter.record)
        .collect();

    let query = OrderQuery {
        modified_from: cursor.map(|cursor| cursor.read_from().to_string()),
        created_from: Some(go_live.to_string()),
        statuses: cx.tenant.order_statuses_to_import.clone(),
        numbers: Vec::new(),
        limit: Some(LEAFLINK_PAGE),
    };
    let mut newest: Option<jiff::Timestamp> = None;
    let started = Instant::now();
    let mut page = cx
        .leaflink
        .list_orders(&query, None)
        .await
        .map_err(|error| cx.api_error("listing LeafLink orders", error))?;
    cx.add_phase_time("list_orders", started);
    // The next page is read while this one is imported, in a task of its
    // own, so the LeafLink request and the parsing of its page run on another
    // thread while this one maps and writes to BC. Reading a page writes
    // nothing, so a crash between the two loses nothing.
    let leaflink = cx.leaflink;
    let mut in_flight: Option<PageInFlight> = None;
    let mut shift = ListShift::new(page.count);
    loop {
        shift.page(page.count, page.orders.len());
        if cx.cache.crawl.is_none() && !page.orders.is_empty() {
            let lines: u64 = page.orders.iter().map(|order| order.line_items.len() as u64).sum();
            let orders = page.count.max(page.orders.len() as u64);
            cx.cache.crawl = Some(CrawlSize { orders, lines: orders * lines / page.orders.len() as u64 });
        }
        for order in &page.orders {
            if let Ok(modified) = order.modified.parse::<jiff::Timestamp>() {
                newest = newest.max(Some(modified));
            }
        }
        let next = page.next.take();
        let read_next = async {
            let started = Instant::now();
            let next_page = match next {
                Some(next) => Some(leaflink.list_orders_ahead(query.clone(), next).await),
                None => None,
            };
            (next_page, started.elapsed())
        };
        let mut orders = std::mem::take(&mut page.orders);
        let before = orders.len();
        orders.retain(|order| !held_back.contains(&order_record(&order.number)));
        let waiting = (before - orders.len()) as u64;
        cx.count_read(waiting);
        cx.counts.skipped += waiting;
        // This page is prepared while the last page's orders are still on
        // their way to BC; its own orders go once the last page's are
        // recorded. An error stops the crawl only after the orders in flight
        // are recorded, so no created order is left without its
        // cross-reference.
        let (prepared, (next_page, reading)) = tokio::join!(prepare_page(cx, orders, in_flight.as_ref()), read_next);
        *cx.phases.entry("list_orders").or_default() += reading;
        if let Some(previous) = in_flight.take() {
            finish_page(cx, previous).await?;
        }
        in_flight = start_page(cx, prepared?)?;
        match next_page {
            Some(Ok(next_page)) => page = next_page,
            Some(Err(error)) => {
                if let Some(last) = in_flight.take() {
                    finish_page(cx, last).await?;
                }
                return Err(cx.api_error("listing LeafLink orders", error));
            }
            None => break,
        }
    }
    if let Some(last) = in_flight.take() {
        finish_page(cx, last).await?;
    }

    // The cursor moves only after the whole crawl: LeafLink lists are not
    // ordered by `modified`, so a page's newest order is no bound on the
    // pages after it. A crawl cut short rereads from the old cursor and skips
    // what it already imported through the cross-references. Records that
    // failed for a reason a rerun may fix hold the cursor back, and so does a
    // list that lost orders during the crawl.
    let skipped_by_shift = shift.may_have_skipped();
    if skipped_by_shift {
        tracing::warn!(
            counted_first = shift.first_count,
            counted_last = shift.last_count,
            listed = shift.listed,
            "orders left the LeafLink list during the crawl, so later pages may have skipped some; the cursor stays for the next run to read them"
        );
    }
    if let Some(newest) = newest
        && cx.transient_failures == 0
        && !skipped_by_shift
    {
        cx.advance_cursor(newest)?;
    }
    Ok(())
}

/// Tracks the `count` of each page to tell whether the order list changed
/// during a crawl. LeafLink pages by offset, so when orders on pages already read
/// leave the list (they change to a status the query leaves out), every
/// later order moves up and the next offset passes over as many orders as
/// left. Orders that join the list only move others down, which reads some
/// twice, and the cross-references skip those.
///
/// NOTE: an order leaving and another joining between the same two pages
/// keep the count unchanged, so that skip goes unnoticed here. The overlap
/// window does not cover it either when the skipped order is older.
struct ListShift {
    first_count: u64,
    last_count: u64,
    shrank: bool,
    listed: u64,
}

impl ListShift {
    fn new(first_count: u64) -> Self {
        Self { first_count, last_count: first_count, shrank: false, listed: 0 }
    }

    fn page(&mut self, count: u64, orders: usize) {
        self.shrank |= count < self.last_count;
        self.last_count = count;
        self.listed += orders as u64;
    }

    /// True when the count fell between two pages, or the crawl listed fewer
    /// orders than the first page counted.
    fn may_have_skipped(&self) -> bool {
        self.shrank || self.listed < self.first_count
    }
}

/// Reads the orders whose dead letters are due, by number, and imports them.
/// Returns the records it retried.
async fn retry_dead_letters<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<HashSet<String>, FlowError> {
    let now = jiff::Timestamp::now();
    let letters = cx.store.dead_letters(cx.tenant_name()).map_err(|e| cx.store_error(e))?;
    let numbers: Vec<String> = letters
        .into_iter()
        .filter(|letter| letter.flow == cx.flow.name() && letter.next_retry <= now)
        .filter_map(|letter| letter.record.strip_prefix("order ").map(str::to_owned))
        .collect();
    for chunk in numbers.chunks(LEAFLINK_PAGE as usize) {
        let query = OrderQuery {
            modified_from: None,
            created_from: None,
            statuses: Vec::new(),
            numbers: chunk.to_vec(),
            limit: Some(LEAFLINK_PAGE),
        };
        let page = cx
            .leaflink
            .list_orders(&query, None)
            .await
            .map_err(|error| cx.api_error("reading LeafLink orders to retry", error))?;
        import_page(cx, page.orders).await?;
    }
    Ok(numbers.iter().map(|number| order_record(number)).collect())
}

/// Imports one page of orders; a failing order becomes a dead letter and the
/// rest of the page continues.
async fn import_page<P: Plugins>(cx: &mut SyncContext<'_, P>, orders: Vec<LlOrder>) -> Result<(), FlowError> {
    let prepared = prepare_page(cx, orders, None).await?;
    if let Some(page) = start_page(cx, prepared)? {
        finish_page(cx, page).await?;
    }
    Ok(())
}

/// The sales orders of one page, mapped and ready to create, with the
/// LeafLink order behind each.
struct PreparedPage {
    writes: Vec<Write>,
    sources: Vec<LlOrder>,
}

/// A page whose sales orders are being created in the background.
struct PageInFlight {
    sources: Vec<LlOrder>,
    numbers: HashSet<String>,
    call: Background<ApiResult<Applied>>,
}

/// Steps 1 to 4 of a page: everything before the orders are created. An
/// order that is part of `in_flight` (listed again on this page) is left to
/// that page.
async fn prepare_page<P: Plugins>(
    cx: &mut SyncContext<'_, P>,
    orders: Vec<LlOrder>,
    in_flight: Option<&PageInFlight>,
) -> Result<Option<PreparedPage>, FlowError> {
    cx.count_read(orders.len() as u64);

    // 1. Keep the orders that are new to leafbridge and importable.
    let started = Instant::now();
    let mut seen = BTreeSet::new();
    let mut pending = Vec::new();
    for order in orders {
        if !seen.insert(order.number.clone()) || in_flight.is_some_and(|page| page.numbers.contains(&order.number)) {
            cx.counts.skipped += 1;
            continue;
        }
        if !is_importable(cx, &order) {
            cx.counts.skipped += 1;
            continue;
        }
        let known = cx.store.has_xref(cx.tenant_name(), RecordKind::Order, &order.number).map_err(|e| cx.store_error(e))?;
        if known {
            cx.counts.skipped += 1;
            continue;
        }
        pending.push(order);
    }
    cx.add_phase_time("skip_known", started);
    if pending.is_empty() {
        return Ok(None);
    }

    // 2. Fill in SKUs the line items lack (LeafLink line items name their
    // product by id), then resolve customers and items; an order whose
    // customer or item failed fails with that reason.
    let started = Instant::now();
    let pending = fill_line_skus_and_names(cx, pending).await?;
    cx.add_phase_time("line_products", started);
    let started = Instant::now();
    let customer_ids: Vec<i64> = pending.iter().map(|order| order.customer_id).collect::<BTreeSet<_>>().into_iter().collect();
    let (customers, customer_failures) = resolve::resolve_customers(cx, &customer_ids).await?;
    cx.add_phase_time("customers", started);
    let started = Instant::now();
    let skus: Vec<String> = pending
        .iter()
        .flat_map(|order| order.line_items.iter().map(|line| line.sku.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let (items, item_failures) = resolve::resolve_items(cx, &skus).await?;
    cx.add_phase_time("items", started);

    let mut ready = Vec::new();
    for order in pending {
        let record = order_record(&order.number);
        if let Some(reason) = customer_failures.get(&order.customer_id) {
            let transient = !reason.starts_with("invalid") && !reason.contains("not found") && !reason.starts_with(resolve::PROPOSAL_PENDING);
            cx.fail(&record, &format!("customer {} could not be resolved: {reason}", order.customer_id), transient)?;
            continue;
        }
        if let Some((sku, reason)) = order.line_items.iter().find_map(|line| item_failures.get(&line.sku).map(|reason| (&line.sku, reason))) {
            let transient = !reason.starts_with("invalid") && !reason.starts_with("unknown SKU") && !reason.starts_with(resolve::PROPOSAL_PENDING);
            cx.fail(&record, &format!("SKU {sku:?} could not be resolved: {reason}"), transient)?;
            continue;
        }
        let Some(customer_number) = customers.get(&order.customer_id).cloned() else {
            cx.fail(&record, &format!("customer {} could not be resolved", order.customer_id), true)?;
            continue;
        };
        let context = OrderContext {
            customer_number,
            items: order
                .line_items
                .iter()
                .filter_map(|line| items.get(&line.sku).map(|number| (line.sku.clone(), number.clone())))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        ready.push((order, context));
    }
    if ready.is_empty() {
        return Ok(None);
    }

    // 3. Orders BC already has (a lost store, or a create whose response was
    // lost) are recorded, not created again.
    // `externalDocumentNumber` is a Code field that BC stores in upper case,
    // so both the lookup and the match use the upper-case short id.
    let started = Instant::now();
    let short_ids: Vec<String> = ready.iter().map(|(order, _)| order.short_id.to_uppercase()).collect();
    let found = find_existing_orders(cx, &short_ids).await;
    cx.add_phase_time("find_existing", started);
    let mut existing = match found {
        Ok(existing) => existing,
        Err(error) => {
            for (order, _) in &ready {
                cx.fail_api(&order_record(&order.number), &error)?;
            }
            return Ok(None);
        }
    };
    let mut to_map = Vec::new();
    for (order, context) in ready {
        match existing.remove(&order.short_id.to_uppercase()) {
            Some(found) => {
                save_order_xref(cx, &order, found, "found")?;
                cx.counts.skipped += 1;
                cx.succeeded(&order_record(&order.number))?;
            }
            None => to_map.push((order, context)),
        }
    }
    if to_map.is_empty() {
        return Ok(None);
    }

    // 4. Map the page with the core, then the tenant's overrides.
    let started = Instant::now();
    let mapped = cx.mapping.map_orders(&to_map).await;
    cx.add_phase_time("map", started);
    let results = match mapped {
        Ok(results) => results,
        Err(error) => {
            for (order, _) in &to_map {
                cx.fail_api(&order_record(&order.number), &error)?;
            }
            return Ok(None);
        }
    };
    let started = Instant::now();
    let mut writes = Vec::new();
    let mut sources = Vec::new();
    for ((order, _), result) in to_map.into_iter().zip(results) {
        let record = order_record(&order.number);
        let mapped = match result {
            Ok(mapped) => cx.overrides.sales_order(&order, mapped).await,
            Err(error) => Err(ApiError::Plugin(error)),
        };
        match mapped {
            Ok(mapped) => {
                writes.push(Write::CreateSalesOrder(mapped));
                sources.push(order);
            }
            Err(error) => cx.fail_api(&record, &error)?,
        }
    }
    cx.add_phase_time("overrides", started);
    if writes.is_empty() {
        return Ok(None);
    }

    Ok(Some(PreparedPage { writes, sources }))
}

/// 5. Starts creating the page's orders in one `apply` call, in the
/// background. The store is flushed first, so the dead letters and
/// cross-references of the steps before are on disk when BC creates
/// anything.
fn start_page<P: Plugins>(cx: &mut SyncContext<'_, P>, page: Option<PreparedPage>) -> Result<Option<PageInFlight>, FlowError> {
    let Some(PreparedPage { writes, sources }) = page else { return Ok(None) };
    let started = Instant::now();
    cx.flush_store()?;
    cx.add_phase_time("store_flush", started);
    let numbers = sources.iter().map(|order| order.number.clone()).collect();
    Ok(Some(PageInFlight { sources, numbers, call: cx.business_central.apply_in_background(writes) }))
}

/// 6. Waits for the page's creates and records what BC returned.
async fn finish_page<P: Plugins>(cx: &mut SyncContext<'_, P>, page: PageInFlight) -> Result<(), FlowError> {
    let PageInFlight { sources, call, .. } = page;
    let started = Instant::now();
    let applied = call.await;
    cx.add_phase_time("create", started);
    let started = Instant::now();
    let Applied { writes, results } = match applied {
        Ok(applied) => applied,
        Err(error) => {
            for order in &sources {
                cx.fail_api(&order_record(&order.number), &error)?;
            }
            return Ok(());
        }
    };
    // The orders sent move out of the writes, so no copy of them is kept.
    let sent_orders = writes.into_iter().map(|write| match write {
        Write::CreateSalesOrder(sent) => sent,
        _ => unreachable!("this page writes only sales orders"),
    });
    let mut created_orders = Vec::new();
    for ((order, sent), result) in sources.into_iter().zip(sent_orders).zip(results) {
        let record = order_record(&order.number);
        match result {
            Ok(Written::SalesOrder(created)) => created_orders.push((order, sent, created)),
            Ok(other) => cx.fail(&record, &format!("BC returned an unexpected record for an order write: {other:?}"), true)?,
            Err(error) => cx.fail_api(&record, &ApiError::Plugin(error))?,
        }
    }
    cx.add_phase_time("record_created", started);
    let started = Instant::now();
    read_created_lines(cx, &mut created_orders).await;
    cx.add_phase_time("read_created_lines", started);
    let started = Instant::now();
    for (order, sent, mut created) in created_orders {
        carry_line_ids(&sent, &mut created);
        save_order_xref(cx, &order, created, "created")?;
        cx.counts.written += 1;
        cx.succeeded(&order_record(&order.number))?;
    }
    cx.add_phase_time("record_created", started);
    Ok(())
}

/// Reads back the lines of created orders whose create response had none,
/// because each BC line id is paired with its LeafLink line id. The sandbox
/// returns a created order without its lines. One request reads up to
/// `LOOKUP_CHUNK` orders. A failed read is logged and leaves the order
/// without line ids, so orders-push and orders-pull pair its lines by
/// position.
async fn read_created_lines<P: Plugins>(cx: &SyncContext<'_, P>, created: &mut [(LlOrder, BcSalesOrder, BcSalesOrder)]) {
    let ids: Vec<String> = created
        .iter()
        .filter(|(_, sent, created)| created.lines.is_empty() && !sent.lines.is_empty())
        .filter_map(|(_, _, created)| created.id.clone())
        .collect();
    let mut lines_by_id: HashMap<String, Vec<_>> = HashMap::new();
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        let mut next = None;
        loop {
            match cx.business_central.list_sales_orders(&query_on("id", chunk.to_vec()), next).await {
                Ok(page) => {
                    for order in page.orders {
                        if let Some(id) = order.id {
                            lines_by_id.insert(id, order.lines);
                        }
                    }
                    next = page.next;
                }
                Err(error) => {
                    tracing::warn!(%error, orders = chunk.len(), "reading the lines of created BC orders failed; their line ids are not stored");
                    next = None;
                }
            }
            if next.is_none() {
                break;
            }
        }
    }
    for (_, _, order) in created.iter_mut() {
        if let Some(lines) = order.id.as_ref().and_then(|id| lines_by_id.remove(id)) {
            order.lines = lines;
        }
    }
}

/// Sets each line's `sku` and `name` from its product when the line has
/// none: LeafLink line items carry neither of their own, and the BC line
/// `description` is the product name. Products are cached for the run; a
/// large crawl reads the whole catalog once, and products still unknown are
/// read by id, 100 per request. An order whose product cannot be read fails.
async fn fill_line_skus_and_names<P: Plugins>(cx: &mut SyncContext<'_, P>, orders: Vec<LlOrder>) -> Result<Vec<LlOrder>, FlowError> {
    let unknown_ids = |cx: &SyncContext<'_, P>| -> Vec<i64> {
        orders
            .iter()
            .flat_map(|order| order.line_items.iter())
            .filter(|line| (line.sku.trim().is_empty() || line.name.trim().is_empty()) && !cx.cache.products.contains_key(&line.product))
            .map(|line| line.product)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let mut ids = unknown_ids(cx);
    if !ids.is_empty() {
        load_products_from_store(cx)?;
        ids = unknown_ids(cx);
    }
    if !ids.is_empty() {
        super::read_ahead::read_product_catalog(cx).await;
        ids = unknown_ids(cx);
    }
    let mut failure = None;
    for chunk in ids.chunks(LEAFLINK_PAGE as usize) {
        let query = ProductQuery { modified_from: None, skus: Vec::new(), ids: chunk.to_vec(), limit: Some(LEAFLINK_PAGE) };
        let mut next = None;
        loop {
            match cx.leaflink.list_products(&query, next).await {
                Ok(page) => {
                    cx.cache.products.extend(page.products.into_iter().map(|product| (product.id, (product.sku, product.name))));
                    next = page.next;
                }
                Err(error) => {
                    failure = Some(error);
                    next = None;
                }
            }
            if next.is_none() {
                break;
            }
        }
    }
    let mut filled = Vec::with_capacity(orders.len());
    for mut order in orders {
        let mut missing = None;
        for line in &mut order.line_items {
            if !line.sku.trim().is_empty() && !line.name.trim().is_empty() {
                continue;
            }
            match cx.cache.products.get(&line.product) {
                Some((sku, name)) => {
                    if line.sku.trim().is_empty() {
                        line.sku = sku.clone();
                    }
                    if line.name.trim().is_empty() {
                        line.name = name.clone();
                    }
                }
                // A line that has its SKU can still be imported, with the
                // SKU as its description.
                None if !line.sku.trim().is_empty() => {}
                None => missing = Some(line.product),
            }
        }
        match (missing, &failure) {
            (None, _) => filled.push(order),
            (Some(_), Some(error)) => cx.fail_api(&order_record(&order.number), error)?,
            (Some(product), None) => {
                cx.fail(&order_record(&order.number), &format!("line product {product} was not found in LeafLink"), false)?
            }
        }
    }
    Ok(filled)
}

/// Fills `cx.cache.products` from the item cross-references, once per run:
/// each one made by `products-import` or `orders-import` stores its LeafLink
/// product id, SKU and name, so a catalog already in BC needs no LeafLink
/// product reads.
///
/// NOTE: the name is the one last read from LeafLink, so a product renamed in
/// LeafLink since then gives the old name as the BC line description until
/// products-pull reads it again.
fn load_products_from_store<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<(), FlowError> {
    if cx.cache.products_from_store {
        return Ok(());
    }
    cx.cache.products_from_store = true;
    let xrefs = cx.store.xrefs(cx.tenant_name(), RecordKind::Item).map_err(|e| cx.store_error(e))?;
    for xref in xrefs {
        let Some(id) = xref.stored.get("leaflink_product_id").and_then(|id| id.parse::<i64>().ok()) else { continue };
        let Some(name) = xref.leaflink_fields.get(fields::NAME) else { continue };
        cx.cache.products.entry(id).or_insert_with(|| (xref.leaflink_key.clone(), name.clone()));
    }
    Ok(())
}

/// Copies the LeafLink line id of each sent Item line onto the Item line BC
/// returned in the same position (BC keeps the lines in the order they were
/// sent), since BC has no property that carries it back. Nothing is copied
/// when BC returned another number of Item lines.
fn carry_line_ids(sent: &BcSalesOrder, created: &mut BcSalesOrder) {
    let sent_ids: Vec<Option<i64>> = sent.lines.iter().filter(|line| line.line_type == BcLineType::Item).map(|line| line.leaflink_line_id).collect();
    pair_item_lines(created, &sent_ids);
}

/// Sets the LeafLink line id of the k-th BC Item line to `leaflink_ids[k]`
/// where the line has none, if the counts agree.
fn pair_item_lines(bc: &mut BcSalesOrder, leaflink_ids: &[Option<i64>]) {
    let item_lines: Vec<&mut BcSalesOrderLine> = bc.lines.iter_mut().filter(|line| line.line_type == BcLineType::Item).collect();
    if item_lines.len() != leaflink_ids.len() {
        return;
    }
    for (line, leaflink_id) in item_lines.into_iter().zip(leaflink_ids) {
        if line.leaflink_line_id.is_none() {
            line.leaflink_line_id = *leaflink_id;
        }
    }
}

/// Created after go-live and in an importable status. The query filters on
/// both already; this check keeps a retried or misfiltered order out.
fn is_importable<P: Plugins>(cx: &SyncContext<'_, P>, order: &LlOrder) -> bool {
    let created_after_go_live = order
        .created_on
        .parse::<jiff::Timestamp>()
        .is_ok_and(|created| created >= cx.tenant.go_live);
    let status_ok = cx
        .tenant
        .order_statuses_to_import
        .iter()
        .any(|status| status.eq_ignore_ascii_case(&order.status));
    created_after_go_live && status_ok
}

/// BC orders and posted invoices whose `externalDocumentNumber` is one of
/// `short_ids` (upper case), keyed by that number in upper case. An invoice stands in for an order BC
/// already shipped and invoiced.
async fn find_existing_orders<P: Plugins>(
    cx: &SyncContext<'_, P>,
    short_ids: &[String],
) -> Result<HashMap<String, BcSalesOrder>, ApiError> {
    let mut found = HashMap::new();
    for chunk in short_ids.chunks(LOOKUP_CHUNK) {
        let query = query_on("externalDocumentNumber", chunk.to_vec());
        let mut next = None;
        loop {
            let page = cx.business_central.list_sales_orders(&query, next).await?;
            for order in page.orders {
                found.insert(order.external_document_number.to_uppercase(), order);
            }
            next = page.next;
            if next.is_none() {
                break;
            }
        }
    }
    let unseen: Vec<String> = short_ids.iter().filter(|id| !found.contains_key(*id)).cloned().collect();
    for chunk in unseen.chunks(LOOKUP_CHUNK) {
        let query = query_on("externalDocumentNumber", chunk.to_vec());
        let mut next = None;
        loop {
            let page = cx.business_central.list_sales_invoices(&query, next).await?;
            for invoice in page.invoices {
                let Some(external) = invoice.external_document_number.clone() else { continue };
                found.entry(external.to_uppercase()).or_insert_with(|| BcSalesOrder {
                    id: invoice.order_id.clone(),
                    number: invoice.order_number.clone(),
                    external_document_number: external,
                    order_date: invoice.invoice_date.clone().unwrap_or_default(),
                    customer_id: None,
                    customer_number: invoice.customer_number.clone(),
                    status: Some("Invoiced".to_owned()),
                    fully_shipped: true,
                    total_amount_including_tax: Some(invoice.total_amount_including_tax.clone()),
                    lines: Vec::new(),
                    etag: None,
                    last_modified: invoice.last_modified.clone(),
                    extras: NO_EXTRAS.to_owned(),
                });
            }
            next = page.next;
            if next.is_none() {
                break;
            }
        }
    }
    Ok(found)
}

/// Records order <-> BC order, with both sides' state for orders-push and
/// orders-pull and the LeafLink values BC has no property for.
pub(crate) fn save_order_xref<P: Plugins>(
    cx: &mut SyncContext<'_, P>,
    order: &LlOrder,
    mut bc: BcSalesOrder,
    origin: &str,
) -> Result<(), FlowError> {
    let mut stored = FieldValues::new();
    stored.insert("short_id".to_owned(), order.short_id.clone());
    stored.insert("status".to_owned(), order.status.clone());
    stored.insert("created_on".to_owned(), order.created_on.clone());
    stored.insert("modified".to_owned(), order.modified.clone());
    stored.insert("customer_id".to_owned(), order.customer_id.to_string());
    // The LeafLink line ids in order: the mapping emits one BC item line per
    // LeafLink line in this order, which pairs the lines when BC's response
    // did not return them.
    let line_ids: Vec<String> = order.line_items.iter().map(|line| line.id.to_string()).collect();
    stored.insert("line_ids".to_owned(), line_ids.join(","));
    for line in &order.line_items {
        stored.insert(format!("line:{}:product", line.id), line.product.to_string());
        if let Some(sale_price) = &line.sale_price {
            stored.insert(format!("line:{}:sale_price", line.id), sale_price.amount.clone());
        }
    }
    // An order found in BC (after a lost store) has its lines but not their
    // LeafLink ids. The mapping emitted one Item line per LeafLink line, in
    // order, so they pair by position.
    let leaflink_ids: Vec<Option<i64>> = order.line_items.iter().map(|line| Some(line.id)).collect();
    pair_item_lines(&mut bc, &leaflink_ids);
    for line in &bc.lines {
        if let (Some(leaflink_id), Some(bc_id)) = (line.leaflink_line_id, &line.id) {
            stored.insert(format!("line:{leaflink_id}:bc_id"), bc_id.clone());
        }
    }
    let xref = CrossReference {
        leaflink_key: order.number.clone(),
        bc_id: bc.id.clone(),
        bc_number: bc.number.clone(),
        leaflink_fields: fields::order_fields_of_leaflink(order),
        bc_fields: fields::order_fields_of_bc(&bc),
        stored,
        origin: origin.to_owned(),
        updated: None,
    };
    cx.store.put_xref(cx.tenant_name(), RecordKind::Order, &xref).map_err(|e| cx.store_error(e))
}
