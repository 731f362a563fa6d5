//! Whole-list reads of LeafLink products and customers during a large
//! `orders-import` crawl.
//!
//! Order lines name their product by id and orders carry only a partial
//! customer, so each page of orders needs product and customer reads. Reading
//! them by id costs about one request per 100 new ids on every page. When the
//! whole catalog is smaller than the crawl's line count (or the customer list
//! is smaller than its order count), one crawl of the list costs fewer
//! requests. A flag in the run cache keeps each list to one read per run. A
//! failed read only logs a warning, because the by-id reads after it still
//! fill any gap.

use super::SyncContext;
use super::ports::{LeafLinkApi, Plugins};
use super::resolve::LEAFLINK_PAGE;
use crate::runtime::bindings::leaflink::{CustomerQuery, ProductQuery};

/// Crawls smaller than this many order lines read products by id only: the
/// by-id reads then cost a request or two in total.
const MIN_LINES_FOR_PRODUCT_CRAWL: u64 = 2 * LEAFLINK_PAGE as u64;
/// Crawls with fewer orders than this read customers by id only.
const MIN_ORDERS_FOR_CUSTOMER_CRAWL: u64 = 2 * LEAFLINK_PAGE as u64;
/// Largest catalog read whole. The cache keeps each whole product until item
/// creation uses it, at an estimated 1 KB each.
///
/// NOTE: at this limit that estimate is near 100 MB, half the importer's
/// memory target. Only the 5,000-product benchmark catalog was measured.
const MAX_PRODUCTS_READ_AHEAD: u64 = 100_000;
/// Largest customer list read whole. The cache keeps whole customers (about
/// 1 KB each) until their orders use them, so this bounds it near 20 MB.
const MAX_CUSTOMERS_READ_AHEAD: u64 = 20_000;

/// Reads the whole product catalog into `cx.cache.products`, once per
/// run, when the catalog has no more products than the crawl has order lines.
pub(crate) async fn read_product_catalog<P: Plugins>(cx: &mut SyncContext<'_, P>) {
    if cx.cache.products_read_ahead {
        return;
    }
    let Some(crawl) = cx.cache.crawl else { return };
    if crawl.lines < MIN_LINES_FOR_PRODUCT_CRAWL {
        return;
    }
    cx.cache.products_read_ahead = true;

    let query = ProductQuery { modified_from: None, skus: Vec::new(), ids: Vec::new(), limit: Some(LEAFLINK_PAGE) };
    let mut next = None;
    loop {
        let first = next.is_none();
        let page = match cx.leaflink.list_products(&query, next).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "reading the LeafLink product catalog failed; reading products by id instead");
                return;
            }
        };
        for product in page.products {
            cx.cache.products.insert(product.id, (product.sku.clone(), product.name.clone()));
            cx.cache.leaflink_products.insert(product.sku.clone(), product);
        }
        // The first page's `count` is the catalog size. A larger catalog
        // stops here, keeping the first page it already read.
        if first && (page.count > crawl.lines || page.count > MAX_PRODUCTS_READ_AHEAD) {
            tracing::debug!(catalog = page.count, lines = crawl.lines, "product catalog too large to read whole");
            return;
        }
        next = page.next;
        if next.is_none() {
            return;
        }
    }
}

/// Reads the whole customer list into `cx.cache.leaflink_customers`, once
/// per run, when the list has no more customers than the crawl has orders.
pub(crate) async fn read_customer_list<P: Plugins>(cx: &mut SyncContext<'_, P>) {
    if cx.cache.customers_read_ahead {
        return;
    }
    let Some(crawl) = cx.cache.crawl else { return };
    if crawl.orders < MIN_ORDERS_FOR_CUSTOMER_CRAWL {
        return;
    }
    cx.cache.customers_read_ahead = true;

    let query = CustomerQuery { modified_from: None, ids: Vec::new(), limit: Some(LEAFLINK_PAGE) };
    let mut next = None;
    loop {
        let first = next.is_none();
        let page = match cx.leaflink.list_customers(&query, next).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "reading the LeafLink customer list failed; reading customers by id instead");
                return;
            }
        };
        cx.cache.leaflink_customers.extend(page.customers.into_iter().map(|customer| (customer.id, customer)));
        if first && (page.count > crawl.orders || page.count > MAX_CUSTOMERS_READ_AHEAD) {
            tracing::debug!(customers = page.count, orders = crawl.orders, "customer list too large to read whole");
            return;
        }
        next = page.next;
        if next.is_none() {
            return;
        }
    }
}
