//! The `business-central` export: builds each request, sends it through the
//! host's `http` import and parses the response.

use serde_json::value::RawValue;

use crate::bindings::leafbridge::plugin::settings;
use crate::business_central::{
    CustomerPage, Guest, ItemPage, LedgerPage, PaymentPage, Query, SalesInvoicePage, SalesOrderPage, SalespersonPage, Write,
    Written,
};
use crate::http::{self, HttpError, Request};
use crate::odata::Api;
use crate::types::PluginError;
use crate::{batch, parse};

struct Connector;

fn api() -> Result<Api, PluginError> {
    let base = settings::get("business_central.base_url").ok_or_else(|| {
        PluginError::Configuration("the setting `business_central.base_url` is missing; set it to the API root ending in /api/v2.0".into())
    })?;
    let company = settings::get("business_central.company_id").ok_or_else(|| {
        PluginError::Configuration("the setting `business_central.company_id` is missing; set it to the BC company GUID".into())
    })?;
    Api::new(&base, &company)
}

fn describe(error: &HttpError) -> String {
    match error {
        HttpError::NotAllowed(m) => format!("request not allowed: {m}"),
        HttpError::InvalidRequest(m) => format!("invalid request: {m}"),
        HttpError::Timeout(m) => format!("timed out: {m}"),
        HttpError::Connection(m) => format!("connection failed: {m}"),
        HttpError::RetriesExhausted(r) => format!("retries exhausted, last status {}", r.status),
        HttpError::Credentials(m) => format!("credentials unavailable: {m}"),
    }
}

/// Sends `request` and returns the status and body; a refusal by the host
/// becomes `http`, a final 429/5xx becomes `remote`.
fn send(request: Request) -> Result<(u16, Vec<u8>), PluginError> {
    match http::send(&request) {
        Ok(response) => Ok((response.status, response.body)),
        Err(HttpError::RetriesExhausted(response)) => {
            parse::success_body(response.status, &response.body)?;
            Err(PluginError::Http(format!("Business Central kept failing with status {}", response.status)))
        }
        Err(error) => Err(PluginError::Http(describe(&error))),
    }
}

/// Lists one page of `entity_set` and parses each entity with `parse_one`.
fn list<T>(
    entity_set: &str,
    query: &Query,
    expand: Option<&str>,
    next: Option<String>,
    parse_one: impl Fn(&RawValue) -> Result<T, PluginError>,
) -> Result<(Vec<T>, Option<String>), PluginError> {
    let (status, body) = send(api()?.list(entity_set, query, expand, next.as_deref())?)?;
    let text = parse::success_body(status, &body)?;
    let page = parse::page(text)?;
    let records = page.values.iter().map(|raw| parse_one(raw)).collect::<Result<Vec<_>, _>>()?;
    Ok((records, page.next))
}

fn no_filter() -> Query {
    Query { modified_after: None, field: None, values: Vec::new(), page_size: None }
}

impl Guest for Connector {
    fn list_customers(query: Query, next: Option<String>) -> Result<CustomerPage, PluginError> {
        let (customers, next) = list("customers", &query, None, next, parse::customer)?;
        Ok(CustomerPage { customers, next })
    }

    fn list_items(query: Query, next: Option<String>) -> Result<ItemPage, PluginError> {
        let (items, next) = list("items", &query, None, next, parse::item)?;
        Ok(ItemPage { items, next })
    }

    fn list_sales_orders(query: Query, next: Option<String>) -> Result<SalesOrderPage, PluginError> {
        let (orders, next) = list("salesOrders", &query, Some("salesOrderLines"), next, parse::sales_order)?;
        Ok(SalesOrderPage { orders, next })
    }

    fn list_sales_invoices(query: Query, next: Option<String>) -> Result<SalesInvoicePage, PluginError> {
        let (invoices, next) = list("salesInvoices", &query, None, next, parse::sales_invoice)?;
        Ok(SalesInvoicePage { invoices, next })
    }

    fn list_customer_payments(query: Query, next: Option<String>) -> Result<PaymentPage, PluginError> {
        let (payments, next) = list("customerPayments", &query, None, next, parse::customer_payment)?;
        Ok(PaymentPage { payments, next })
    }

    fn list_salespeople(next: Option<String>) -> Result<SalespersonPage, PluginError> {
        let (salespeople, next) = list("salespeoplePurchasers", &no_filter(), None, next, parse::salesperson)?;
        Ok(SalespersonPage { salespeople, next })
    }

    fn list_item_ledger_entries(query: Query, next: Option<String>) -> Result<LedgerPage, PluginError> {
        let (entries, next) = list("itemLedgerEntries", &query, None, next, parse::item_ledger_entry)?;
        Ok(LedgerPage { entries, next })
    }

    fn apply(writes: Vec<Write>) -> Result<Vec<Result<Written, PluginError>>, PluginError> {
        let api = api()?;
        let mut plan = batch::plan(&api, &writes);
        let batches = std::mem::take(&mut plan.batches);
        let mut sent_any = false;
        for batch in &batches {
            match send(batch.request.clone()) {
                Ok((status, body)) => {
                    sent_any = true;
                    batch::record_response(&mut plan, batch, status, &body);
                }
                // Nothing reached BC yet: the whole call fails.
                Err(error) if !sent_any => return Err(error),
                Err(error) => batch::fail_batch(&mut plan, batch, &error),
            }
        }
        Ok(plan.into_results())
    }
}

crate::bindings::export!(Connector with_types_in crate::bindings);
