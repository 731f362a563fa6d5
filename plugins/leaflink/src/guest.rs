//! The `leaflink` export: builds each request, sends it through the host's
//! `http` import and parses the response.

use crate::bindings::leafbridge::plugin::settings;
use crate::http::{self, HttpError, Request};
use crate::leaflink::{
    CustomerPage, CustomerQuery, Guest, LineItemPatch, OrderPage, OrderQuery, ProductPage, ProductQuery, StaffPage,
};
use crate::request::Api;
use crate::types::{LlLineItem, LlNewProduct, LlOrder, LlPayment, LlProduct, LlProductPatch, PluginError};
use crate::parse;

/// Pages `list-payments` follows before it stops; an order has few payments.
const MAX_PAYMENT_PAGES: usize = 50;

struct Connector;

fn api() -> Result<Api, PluginError> {
    let base = settings::get("leaflink.base_url").ok_or_else(|| {
        PluginError::Configuration("the setting `leaflink.base_url` is missing; set it to the API root, e.g. https://app.leaflink.com/api/v2".into())
    })?;
    Api::new(&base)
}

/// Returns the currency of a bare money amount.
fn currency() -> String {
    settings::get("company_currency").filter(|c| !c.trim().is_empty()).unwrap_or_else(|| "USD".into())
}

/// Sends `request`; a non-2xx response becomes `remote`.
fn send(request: Request) -> Result<(u16, Vec<u8>), PluginError> {
    match http::send(&request) {
        Ok(response) => Ok((response.status, response.body)),
        Err(HttpError::RetriesExhausted(response)) => {
            parse::success_body(response.status, &response.body)?;
            Err(PluginError::Http(format!("LeafLink kept failing with status {}", response.status)))
        }
        Err(error) => Err(PluginError::Http(describe(&error))),
    }
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

/// Sends `request` and returns the body of a 2xx response.
fn fetch(request: Request) -> Result<String, PluginError> {
    let (status, body) = send(request)?;
    parse::success_body(status, &body).map(str::to_string)
}

fn single<T>(body: &str, parse_one: impl Fn(&serde_json::value::RawValue) -> Result<T, PluginError>) -> Result<T, PluginError> {
    let raw: &serde_json::value::RawValue = serde_json::from_str(body)
        .map_err(|e| PluginError::Internal(format!("LeafLink returned malformed JSON: {e}")))?;
    parse_one(raw)
}

impl Guest for Connector {
    fn list_orders(query: OrderQuery, next: Option<String>) -> Result<OrderPage, PluginError> {
        let body = fetch(api()?.list_orders(&query, next.as_deref())?)?;
        let page = parse::page(&body)?;
        let currency = currency();
        let orders = page.results.iter().map(|raw| parse::order(raw, &currency)).collect::<Result<_, _>>()?;
        Ok(OrderPage { orders, count: page.count, next: page.next })
    }

    fn get_order(number: String) -> Result<Option<LlOrder>, PluginError> {
        let (status, body) = send(api()?.get_order(&number))?;
        if status == 404 {
            return Ok(None);
        }
        let body = parse::success_body(status, &body)?;
        let currency = currency();
        single(body, |raw| parse::order(raw, &currency)).map(Some)
    }

    fn transition_order(number: String, action: String) -> Result<LlOrder, PluginError> {
        let body = fetch(api()?.transition_order(&number, &action)?)?;
        let currency = currency();
        single(&body, |raw| parse::order(raw, &currency))
    }

    fn set_order_paid(number: String, paid: bool, paid_date: Option<String>) -> Result<LlOrder, PluginError> {
        let body = fetch(api()?.set_order_paid(&number, paid, paid_date.as_deref()))?;
        let currency = currency();
        single(&body, |raw| parse::order(raw, &currency))
    }

    fn update_line_item(patch: LineItemPatch) -> Result<LlLineItem, PluginError> {
        let body = fetch(api()?.update_line_item(&patch))?;
        let currency = currency();
        single(&body, |raw| parse::line_item(raw, None, &currency))
    }

    fn list_products(query: ProductQuery, next: Option<String>) -> Result<ProductPage, PluginError> {
        let body = fetch(api()?.list_products(&query, next.as_deref())?)?;
        let page = parse::page(&body)?;
        let currency = currency();
        let products = page.results.iter().map(|raw| parse::product(raw, &currency)).collect::<Result<_, _>>()?;
        Ok(ProductPage { products, count: page.count, next: page.next })
    }

    fn create_product(product: LlNewProduct) -> Result<LlProduct, PluginError> {
        let defaults = crate::request::product_defaults(
            settings::get("leaflink.company_id").as_deref(),
            &settings::entries("plugin."),
        )?;
        let body = fetch(api()?.create_product(&product, &defaults)?)?;
        let currency = currency();
        single(&body, |raw| parse::product(raw, &currency))
    }

    fn update_product(id: i64, patch: LlProductPatch) -> Result<LlProduct, PluginError> {
        let body = fetch(api()?.update_product(id, &patch)?)?;
        let currency = currency();
        single(&body, |raw| parse::product(raw, &currency))
    }

    fn list_customers(query: CustomerQuery, next: Option<String>) -> Result<CustomerPage, PluginError> {
        let body = fetch(api()?.list_customers(&query, next.as_deref())?)?;
        let page = parse::page(&body)?;
        let customers = page.results.iter().map(|raw| parse::customer(raw)).collect::<Result<_, _>>()?;
        Ok(CustomerPage { customers, count: page.count, next: page.next })
    }

    fn list_company_staff(next: Option<String>) -> Result<StaffPage, PluginError> {
        let body = fetch(api()?.list_company_staff(next.as_deref())?)?;
        let page = parse::page(&body)?;
        let staff = page.results.iter().map(|raw| parse::staff(raw)).collect::<Result<_, _>>()?;
        Ok(StaffPage { staff, count: page.count, next: page.next })
    }

    fn create_payment(payment: LlPayment) -> Result<LlPayment, PluginError> {
        let recorded_by = match settings::get("leaflink.recorded_by") {
            None => None,
            Some(text) => Some(text.trim().parse::<i64>().map_err(|_| {
                PluginError::Configuration(format!("the setting `leaflink.recorded_by` = {text:?} is not a company-staff id"))
            })?),
        };
        let body = fetch(api()?.create_payment(&payment, recorded_by)?)?;
        let currency = currency();
        single(&body, |raw| parse::payment(raw, &currency))
    }

    fn list_payments(order: String) -> Result<Vec<LlPayment>, PluginError> {
        let api = api()?;
        let currency = currency();
        let mut payments = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAYMENT_PAGES {
            let body = fetch(api.list_payments(&order, next.as_deref())?)?;
            let page = parse::page(&body)?;
            for raw in &page.results {
                payments.push(parse::payment(raw, &currency)?);
            }
            match page.next {
                Some(link) => next = Some(link),
                None => return Ok(payments),
            }
        }
        Err(PluginError::Internal(format!("order {order} has more than {MAX_PAYMENT_PAGES} pages of payments")))
    }
}

crate::bindings::export!(Connector with_types_in crate::bindings);
