//! The LeafLink sandbox's HTTP front: the `/api/v2/` path rules (trailing
//! slash, optional `/companies/{id}/` prefix), `App`/`Token` authentication,
//! the per-key rate limit, limit/offset paging, and the Django REST framework
//! error bodies. Handlers render JSON from the store per request.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::body::{BodyReader, parse_filter_time};
use super::model::{Action, FieldErrors, LeafLinkError, Status, Store};
use super::order_json::FieldFilter;
use crate::json_writer::write_optional_str;
use super::render::{RenderOptions, Renderer};
use super::writes;

/// LeafLink's documented limit: 300 requests a minute per API key, on a
/// rolling window. The "burst of 1000 requests/minute" the docs also mention
/// is not applied.
pub const RATE_LIMIT: usize = 300;
const RATE_WINDOW: Duration = Duration::from_secs(60);
/// LeafLink does not document a default or maximum page size; DRF projects
/// commonly default to 50, and public clients never ask for more than 100.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 100;
/// Resources the `/companies/{id}/` prefix narrows to one company.
const COMPANY_SCOPED: [&str; 3] = ["orders-received", "line-items", "products"];

/// Shared state of one LeafLink server.
pub struct AppState {
    /// The data. Mutate it only through `write()`, which increments
    /// `generation` so that the cached order list is filtered again.
    pub store: RwLock<Store>,
    pub api_key: String,
    /// `http://127.0.0.1:PORT`, for absolute `next` and `previous` links.
    pub origin: String,
    pub render: RenderOptions,
    pub rate_limits: bool,
    /// Company the API key belongs to (an App key is one company).
    pub company: u32,
    /// Company-staff id recorded as the editor of writes made with the key.
    pub editor: u32,
    limiter: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// Count of `write()` calls. A cached order list is valid only at the
    /// generation it was filtered at.
    generation: AtomicU64,
    /// The last filtered order list, so the pages of one crawl do not each
    /// scan every order.
    order_lists: Mutex<Option<OrderList>>,
}

/// Indexes (in `Store::orders`) of the orders one list filter matched, in
/// store order, for the store at `generation`.
struct OrderList {
    filter: String,
    generation: u64,
    matches: Arc<Vec<usize>>,
}

impl AppState {
    pub fn new(store: Store, api_key: String, origin: String, render: RenderOptions, rate_limits: bool, company: u32, editor: u32) -> Self {
        Self {
            store: RwLock::new(store),
            api_key,
            origin,
            render,
            rate_limits,
            company,
            editor,
            limiter: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            order_lists: Mutex::new(None),
        }
    }

    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, Store> {
        let guard = self.store.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Incremented while the write lock is held, so a generation read
        // under the read lock matches the data behind that lock.
        self.generation.fetch_add(1, Ordering::SeqCst);
        guard
    }

    /// Returns the cached matches of `filter` if the store has not been
    /// written since they were computed. Call it with the read lock held.
    fn cached_order_list(&self, filter: &str) -> Option<Arc<Vec<usize>>> {
        let generation = self.generation.load(Ordering::SeqCst);
        let cache = self.order_lists.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cache
            .as_ref()
            .filter(|list| list.generation == generation && list.filter == filter)
            .map(|list| Arc::clone(&list.matches))
    }

    /// Stores the matches of `filter`. Call it with the read lock held.
    fn cache_order_list(&self, filter: String, matches: Arc<Vec<usize>>) {
        let generation = self.generation.load(Ordering::SeqCst);
        let mut cache = self.order_lists.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *cache = Some(OrderList { filter, generation, matches });
    }

    /// Counts one request against `key`; returns the seconds to wait when
    /// the key is over the limit.
    fn throttle(&self, key: &str) -> Option<u64> {
        let now = Instant::now();
        let mut limiter = self.limiter.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let window = limiter.entry(key.to_owned()).or_default();
        while window.front().is_some_and(|&at| now.duration_since(at) >= RATE_WINDOW) {
            window.pop_front();
        }
        if window.len() >= RATE_LIMIT {
            let oldest = *window.front().expect("the window is full");
            let wait = RATE_WINDOW.saturating_sub(now.duration_since(oldest));
            return Some(wait.as_secs().max(1));
        }
        window.push_back(now);
        None
    }
}

/// A DRF-style error response.
pub fn detail(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "detail": message }))).into_response()
}

fn not_found() -> Response {
    detail(StatusCode::NOT_FOUND, "Not found.")
}

fn method_not_allowed(method: &Method, allowed: &str) -> Response {
    let mut response = detail(StatusCode::METHOD_NOT_ALLOWED, &format!("Method \"{method}\" not allowed."));
    if let Ok(value) = HeaderValue::from_str(allowed) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

fn field_errors(errors: &FieldErrors) -> Response {
    let body: Map<String, Value> =
        errors.0.iter().map(|(field, messages)| (field.clone(), json!(messages))).collect();
    (StatusCode::BAD_REQUEST, axum::Json(Value::Object(body))).into_response()
}

pub fn error_response(error: &LeafLinkError) -> Response {
    match error {
        LeafLinkError::NotFound { .. } => not_found(),
        LeafLinkError::InvalidTransition { action, from, .. } => {
            // NOTE: LeafLink documents no error body for a refused transition;
            // a DRF `detail` with status 400 is the most plausible shape.
            detail(StatusCode::BAD_REQUEST, &format!("Cannot {action} an order in status {from}."))
        }
        LeafLinkError::Invalid(errors) => field_errors(errors),
    }
}

pub fn ok_response(value: Value) -> Response {
    (StatusCode::OK, axum::Json(value)).into_response()
}

pub fn created_response(value: Value) -> Response {
    (StatusCode::CREATED, axum::Json(value)).into_response()
}

/// Builds a response of JSON that is already written, with the content type `axum::Json` sets.
fn json_bytes_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// Parsed query string, in request order.
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    fn parse(uri: &Uri) -> Self {
        let pairs = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect();
        Self { pairs }
    }

    /// The last value of `name`, as Django's `QueryDict.get` returns it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// A comma-separated list, empty entries dropped.
    pub fn list(&self, name: &str) -> Option<Vec<&str>> {
        self.get(name).map(|value| value.split(',').map(str::trim).filter(|item| !item.is_empty()).collect())
    }

    fn children(&self) -> (bool, bool) {
        let children = self.list("include_children").unwrap_or_default();
        (children.contains(&"line_items"), children.contains(&"customer"))
    }
}

/// `limit`/`offset`. The reference (notes section 2, "Pagination") types
/// both as integers and calls the paging Django REST framework
/// LimitOffsetPagination style, but documents no response to a bad value.
/// The sandbox behaves as that class does rather than return a 400: a `limit`
/// that is not a positive integer (`0`, `-1`, `abc`) gives the default page
/// size, a larger one is cut to the maximum, and an `offset` that is not a
/// non-negative integer (`-5`, `abc`) reads as 0. An offset past the end
/// returns an empty page.
#[derive(Debug, Clone, Copy)]
struct Paging {
    limit: usize,
    offset: usize,
}

impl Paging {
    fn from(query: &Query) -> Self {
        let limit = query.get("limit").and_then(parse_count).filter(|&limit| limit > 0);
        let offset = query.get("offset").and_then(parse_count).unwrap_or(0);
        Self { limit: limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT), offset }
    }
}

/// Parses a non-negative integer as Python's `int()` does for DRF, with
/// surrounding spaces and a leading `+` allowed. A value too large for
/// `usize` saturates, because it can only mean "past the end".
fn parse_count(text: &str) -> Option<usize> {
    let digits = text.trim();
    let digits = digits.strip_prefix('+').unwrap_or(digits);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse::<usize>().unwrap_or(usize::MAX))
}

/// Counts every match and keeps only the requested window, so a page costs
/// one pass and no allocation per non-returned record.
struct Window<T> {
    paging: Paging,
    count: usize,
    items: Vec<T>,
}

impl<T> Window<T> {
    fn new(paging: Paging) -> Self {
        Self { paging, count: 0, items: Vec::with_capacity(paging.limit) }
    }

    fn push(&mut self, item: T) {
        if self.count >= self.paging.offset && self.items.len() < self.paging.limit {
            self.items.push(item);
        }
        self.count += 1;
    }
}

/// A DRF `count/next/previous/results` envelope. `next` and `previous` are
/// absolute and carry every query parameter of the request.
fn envelope(state: &AppState, path: &str, query: &Query, paging: Paging, count: usize, results: Vec<Value>) -> Value {
    let (next, previous) = page_links(state, path, query, paging, count);
    let mut body = Map::new();
    body.insert("count".into(), Value::from(count));
    body.insert("next".into(), next.map_or(Value::Null, Value::String));
    body.insert("previous".into(), previous.map_or(Value::Null, Value::String));
    // `Value::Array` rather than `json!`, which would copy every record.
    body.insert("results".into(), Value::Array(results));
    Value::Object(body)
}

/// Writes the envelope of `envelope` as bytes around results that are
/// already JSON. `write_result` appends the result at a window position.
fn envelope_bytes(
    state: &AppState,
    path: &str,
    query: &Query,
    paging: Paging,
    count: usize,
    results: usize,
    mut write_result: impl FnMut(&mut Vec<u8>, usize),
) -> Vec<u8> {
    let (next, previous) = page_links(state, path, query, paging, count);
    let mut out = Vec::with_capacity(256 + results * 4096);
    out.extend_from_slice(format!("{{\"count\":{count},\"next\":").as_bytes());
    write_optional_str(&mut out, next.as_deref());
    out.extend_from_slice(b",\"previous\":");
    write_optional_str(&mut out, previous.as_deref());
    out.extend_from_slice(b",\"results\":[");
    for position in 0..results {
        if position > 0 {
            out.push(b',');
        }
        write_result(&mut out, position);
    }
    out.extend_from_slice(b"]}");
    out
}

/// Builds the absolute `next` and `previous` links of a page.
fn page_links(state: &AppState, path: &str, query: &Query, paging: Paging, count: usize) -> (Option<String>, Option<String>) {
    let link = |offset: Option<usize>| {
        let mut serializer = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in &query.pairs {
            if key != "limit" && key != "offset" {
                serializer.append_pair(key, value);
            }
        }
        serializer.append_pair("limit", &paging.limit.to_string());
        if let Some(offset) = offset {
            serializer.append_pair("offset", &offset.to_string());
        }
        format!("{}{}?{}", state.origin, path, serializer.finish())
    };
    let next_offset = paging.offset.saturating_add(paging.limit);
    let next = (next_offset < count).then(|| link(Some(next_offset)));
    // DRF drops `offset` from the previous link when it would be 0.
    let previous = (paging.offset > 0).then(|| {
        let back = paging.offset.saturating_sub(paging.limit);
        link((back > 0).then_some(back))
    });
    (next, previous)
}

/// Reads the `fields_include` and `fields_exclude` parameters, which `sparse`
/// applies to a rendered record.
fn field_filter(query: &Query) -> FieldFilter<'_> {
    FieldFilter { include: query.list("fields_include"), exclude: query.list("fields_exclude") }
}

/// Applies `fields_include` and `fields_exclude` to one rendered record.
fn sparse(query: &Query, mut value: Value) -> Value {
    if let Some(map) = value.as_object_mut() {
        if let Some(include) = query.list("fields_include") {
            map.retain(|key, _| include.contains(&key.as_str()));
        }
        if let Some(exclude) = query.list("fields_exclude") {
            map.retain(|key, _| !exclude.contains(&key.as_str()));
        }
    }
    value
}

/// A `__gte/__lte/__gt/__lt` range over one timestamp field.
#[derive(Debug, Default, Clone, Copy)]
struct TimeRange {
    gte: Option<i64>,
    lte: Option<i64>,
    gt: Option<i64>,
    lt: Option<i64>,
}

impl TimeRange {
    fn parse(query: &Query, field: &str, errors: &mut FieldErrors) -> Self {
        let mut bound = |suffix: &str| {
            let name = format!("{field}__{suffix}");
            let value = query.get(&name)?;
            match parse_filter_time(value) {
                Some(micros) => Some(micros),
                None => {
                    errors.add(name, "Enter a valid date/time.");
                    None
                }
            }
        };
        Self { gte: bound("gte"), lte: bound("lte"), gt: bound("gt"), lt: bound("lt") }
    }

    fn contains(&self, micros: i64) -> bool {
        self.gte.is_none_or(|bound| micros >= bound)
            && self.lte.is_none_or(|bound| micros <= bound)
            && self.gt.is_none_or(|bound| micros > bound)
            && self.lt.is_none_or(|bound| micros < bound)
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

fn bool_filter(query: &Query, name: &str, errors: &mut FieldErrors) -> Option<bool> {
    let value = query.get(name)?;
    let parsed = parse_bool(value);
    if parsed.is_none() {
        errors.add(name, "Select a valid choice.");
    }
    parsed
}

fn id_list(query: &Query, name: &str, errors: &mut FieldErrors) -> Option<Vec<u64>> {
    let items = query.list(name)?;
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        match item.parse() {
            Ok(id) => ids.push(id),
            Err(_) => errors.add(name, "Enter a whole number."),
        }
    }
    Some(ids)
}

fn status_list(query: &Query, name: &str, errors: &mut FieldErrors) -> Option<Vec<Status>> {
    let items = query.list(name)?;
    let mut statuses = Vec::with_capacity(items.len());
    for item in items {
        match Status::parse(item) {
            Some(status) => statuses.push(status),
            None => errors.add(name, format!("Select a valid choice. {item} is not one of the available choices.")),
        }
    }
    Some(statuses)
}

/// The single entry point: checks the path, credentials and rate limit, then
/// routes by path segments.
pub async fn handle(State(state): State<Arc<AppState>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    let Some(rest) = path.strip_prefix("/api/v2/") else {
        return not_found();
    };
    if !rest.is_empty() && !rest.ends_with('/') {
        // LeafLink: "Request paths must end in a slash character ('/'). Those
        // that do not will return a 400 (Bad Request) response."
        return detail(StatusCode::BAD_REQUEST, "Request paths must end in a slash character ('/').");
    }
    let key = match authenticate(&state, &headers) {
        Ok(key) => key,
        Err(response) => return response,
    };
    if state.rate_limits
        && let Some(wait) = state.throttle(&key)
    {
        let mut response =
            detail(StatusCode::TOO_MANY_REQUESTS, &format!("Request was throttled. Expected available in {wait} seconds."));
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return response;
    }

    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').filter(|segment| !segment.is_empty()).collect();
    let (company, segments) = match segments.as_slice() {
        ["companies", id, resource, tail @ ..] if COMPANY_SCOPED.contains(resource) => match id.parse::<u32>() {
            Ok(id) => (Some(id), [&[*resource][..], tail].concat()),
            Err(_) => return not_found(),
        },
        _ => (None, segments),
    };
    let query = Query::parse(&uri);
    let request = Request { state: &state, method: &method, path: &path, query: &query, body: &body, company };
    route(&request, &segments)
}

/// Accepts `Authorization: App <key>` and the legacy `Token <key>`, with
/// exactly one space.
fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<String, Response> {
    let unauthorized = |message: &str| {
        let mut response = detail(StatusCode::UNAUTHORIZED, message);
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("App"));
        response
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized("Authentication credentials were not provided."));
    };
    let Ok(value) = value.to_str() else {
        return Err(unauthorized("Invalid token header. Token string should not contain invalid characters."));
    };
    let key = value.strip_prefix("App ").or_else(|| value.strip_prefix("Token "));
    match key {
        Some(key) if key == state.api_key => Ok(key.to_owned()),
        Some(_) => Err(unauthorized("Invalid token.")),
        None => Err(unauthorized("Authentication credentials were not provided.")),
    }
}

pub struct Request<'a> {
    pub state: &'a AppState,
    pub method: &'a Method,
    pub path: &'a str,
    pub query: &'a Query,
    pub body: &'a Bytes,
    pub company: Option<u32>,
}

impl Request<'_> {
    fn renderer<'s>(&self, store: &'s Store) -> Renderer<'s> {
        Renderer { store, options: self.state.render }
    }

    fn json_body(&self) -> Result<Map<String, Value>, Response> {
        let value: Value = serde_json::from_slice(self.body)
            .map_err(|error| detail(StatusCode::BAD_REQUEST, &format!("JSON parse error - {error}")))?;
        match value {
            Value::Object(map) => Ok(map),
            other => {
                let kind = match other {
                    Value::Array(_) => "list",
                    Value::String(_) => "str",
                    Value::Number(_) => "int",
                    Value::Bool(_) => "bool",
                    _ => "NoneType",
                };
                let errors =
                    FieldErrors::single("non_field_errors", format!("Invalid data. Expected a dictionary, but got {kind}."));
                Err(field_errors(&errors))
            }
        }
    }
}

fn route(request: &Request<'_>, segments: &[&str]) -> Response {
    let method = request.method;
    match segments {
        ["orders-received"] => match *method {
            Method::GET => list_orders(request),
            Method::POST => with_body(request, writes::create_order),
            _ => method_not_allowed(method, "GET, POST"),
        },
        ["orders-received", number] => match *method {
            Method::GET => get_order(request, number),
            Method::PATCH => with_body(request, |request, body| writes::patch_order(request, number, body)),
            _ => method_not_allowed(method, "GET, PATCH"),
        },
        ["orders-received", number, "transition", action] => match *method {
            Method::POST => transition(request, number, action),
            _ => method_not_allowed(method, "POST"),
        },
        ["orders-received", number, "line-items"] => match *method {
            Method::GET => order_line_items(request, number),
            _ => method_not_allowed(method, "GET"),
        },
        ["orders-received", number, "payments"] => match *method {
            Method::GET => order_payments(request, number),
            _ => method_not_allowed(method, "GET"),
        },
        ["line-items"] => match *method {
            Method::GET => list_line_items(request),
            _ => method_not_allowed(method, "GET"),
        },
        ["line-items", id] => match *method {
            Method::GET => get_line_item(request, id),
            Method::PATCH => with_body(request, |request, body| writes::patch_line_item(request, id, body)),
            _ => method_not_allowed(method, "GET, PATCH"),
        },
        ["products"] => match *method {
            Method::GET => list_products(request),
            Method::POST => with_body(request, writes::create_product),
            _ => method_not_allowed(method, "GET, POST"),
        },
        ["products", id] => match *method {
            Method::GET => get_product(request, id),
            Method::PATCH => with_body(request, |request, body| writes::patch_product(request, id, body)),
            Method::DELETE => writes::archive_product(request, id),
            _ => method_not_allowed(method, "GET, PATCH, DELETE"),
        },
        ["customers"] => match *method {
            Method::GET => list_customers(request),
            _ => method_not_allowed(method, "GET"),
        },
        ["customers", id] => match *method {
            Method::GET => get_customer(request, id),
            _ => method_not_allowed(method, "GET"),
        },
        ["order-payments"] => match *method {
            Method::GET => list_payments(request),
            Method::POST => with_body(request, writes::create_payment),
            _ => method_not_allowed(method, "GET, POST"),
        },
        ["order-payments", id] => match *method {
            Method::GET => get_payment(request, id),
            _ => method_not_allowed(method, "GET"),
        },
        ["companies"] => match *method {
            Method::GET => list_companies(request),
            _ => method_not_allowed(method, "GET"),
        },
        ["companies", id] => match *method {
            Method::GET => get_company(request, id),
            _ => method_not_allowed(method, "GET"),
        },
        ["company-staff"] => match *method {
            Method::GET => list_staff(request),
            _ => method_not_allowed(method, "GET"),
        },
        ["company-staff", id] => match *method {
            Method::GET => get_staff(request, id),
            _ => method_not_allowed(method, "GET"),
        },
        _ => not_found(),
    }
}

fn with_body(request: &Request<'_>, handler: impl FnOnce(&Request<'_>, BodyReader<'_>) -> Response) -> Response {
    match request.json_body() {
        Ok(map) => handler(request, BodyReader::new(&map)),
        Err(response) => response,
    }
}

fn list_orders(request: &Request<'_>) -> Response {
    let query = request.query;
    let mut errors = FieldErrors::default();
    let modified = TimeRange::parse(query, "modified", &mut errors);
    let created = TimeRange::parse(query, "created_on", &mut errors);
    let statuses = status_list(query, "status", &mut errors);
    let excluded = status_list(query, "status__not", &mut errors).unwrap_or_default();
    let paid = bool_filter(query, "paid", &mut errors);
    let buyer = id_list(query, "buyer", &mut errors);
    if !errors.is_empty() {
        return field_errors(&errors);
    }
    let numbers = query.list("number");
    let external_id = query.get("external_id_seller");
    let external_contains = query.get("external_id_seller__icontains").map(str::to_lowercase);
    let order_id = query.get("order_id");
    let customer_name = query.get("customer").map(str::to_lowercase);
    let (with_lines, with_customer) = query.children();

    let store = request.state.read();
    // The company and every query parameter except `limit` and `offset` key
    // the cached list, because the pages of one crawl differ only in those.
    let filter = format!(
        "{:?}|{}",
        request.company,
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query.pairs.iter().filter(|(key, _)| key != "limit" && key != "offset"))
            .finish()
    );
    let matches = match request.state.cached_order_list(&filter) {
        Some(matches) => matches,
        None => {
            // Natural-key filters go straight to an index instead of a scan.
            let candidates: Box<dyn Iterator<Item = usize>> = if let Some(numbers) = &numbers {
                let mut found: Vec<usize> = numbers.iter().filter_map(|number| store.order_index(number)).collect();
                found.sort_unstable();
                Box::new(found.into_iter())
            } else if let Some(external_id) = external_id {
                Box::new(store.orders_by_external_id(external_id).iter().map(|&index| index as usize).collect::<Vec<_>>().into_iter())
            } else {
                Box::new(0..store.orders.len())
            };
            let mut matched = Vec::new();
            for index in candidates {
                let order = &store.orders[index];
                let selected = request.company.is_none_or(|company| order.seller == company)
                    && modified.contains(order.modified.micros)
                    && created.contains(order.created_on.micros)
                    && statuses.as_ref().is_none_or(|statuses| statuses.contains(&order.status))
                    && !excluded.contains(&order.status)
                    && paid.is_none_or(|paid| order.paid == paid)
                    && buyer.as_ref().is_none_or(|buyers| order.buyer.is_some_and(|buyer| buyers.contains(&u64::from(buyer))))
                    && external_id.is_none_or(|external| order.external_id_seller.as_deref() == Some(external))
                    && external_contains.as_ref().is_none_or(|needle| {
                        order.external_id_seller.as_deref().is_some_and(|external| external.to_lowercase().contains(needle.as_str()))
                    })
                    && order_id.is_none_or(|id| &*order.number == id || order.external_id_seller.as_deref() == Some(id))
                    && customer_name.as_ref().is_none_or(|needle| {
                        store.customer(order.customer).is_some_and(|customer| {
                            customer.name.to_lowercase().contains(needle.as_str())
                                || customer.nickname.as_deref().is_some_and(|nickname| nickname.to_lowercase().contains(needle.as_str()))
                        })
                    });
                if selected {
                    matched.push(index);
                }
            }
            let matches = Arc::new(matched);
            request.state.cache_order_list(filter, Arc::clone(&matches));
            matches
        }
    };
    let mut window = Window::new(Paging::from(query));
    let start = window.paging.offset.min(matches.len());
    let end = start.saturating_add(window.paging.limit).min(matches.len());
    window.items.extend_from_slice(&matches[start..end]);
    window.count = matches.len();
    let renderer = request.renderer(&store);
    let filter = field_filter(query);
    let body = envelope_bytes(request.state, request.path, query, window.paging, window.count, window.items.len(), |out, position| {
        renderer.write_order(out, &store.orders[window.items[position]], with_lines, with_customer, &filter)
    });
    json_bytes_response(StatusCode::OK, body)
}

fn find_order(store: &Store, company: Option<u32>, number: &str) -> Option<usize> {
    let index = store.order_index(number)?;
    company.is_none_or(|company| store.orders[index].seller == company).then_some(index)
}

fn get_order(request: &Request<'_>, number: &str) -> Response {
    let store = request.state.read();
    let Some(index) = find_order(&store, request.company, number) else { return not_found() };
    let (with_lines, with_customer) = request.query.children();
    let mut body = Vec::with_capacity(4096);
    request.renderer(&store).write_order(&mut body, &store.orders[index], with_lines, with_customer, &field_filter(request.query));
    json_bytes_response(StatusCode::OK, body)
}

fn transition(request: &Request<'_>, number: &str, action: &str) -> Response {
    let Some(action) = Action::parse(action) else {
        // NOTE: the response to an unknown verb is not documented; 404 is
        // what a DRF router gives for an action it has no route for.
        return not_found();
    };
    let mut store = request.state.write();
    let Some(index) = find_order(&store, request.company, number) else { return not_found() };
    if let Err(error) = store.transition(index, action, request.state.editor) {
        return error_response(&error);
    }
    tracing::debug!(order = number, action = action.verb(), "LeafLink sandbox order transitioned");
    ok_response(request.renderer(&store).order(&store.orders[index], false, false))
}

/// The nested list is a bare JSON array with no paging envelope (reference
/// notes, section 2, exceptions).
fn order_line_items(request: &Request<'_>, number: &str) -> Response {
    let store = request.state.read();
    let Some(index) = find_order(&store, request.company, number) else { return not_found() };
    let renderer = request.renderer(&store);
    let lines: Vec<Value> = store.orders[index]
        .lines
        .iter()
        .map(|&line| renderer.line_item(line as usize, &store.lines[line as usize]))
        .collect();
    ok_response(Value::Array(lines))
}

fn order_payments(request: &Request<'_>, number: &str) -> Response {
    let store = request.state.read();
    let Some(index) = find_order(&store, request.company, number) else { return not_found() };
    let renderer = request.renderer(&store);
    let payments: Vec<Value> = store.orders[index]
        .payments
        .iter()
        .map(|&payment| renderer.payment(payment as usize, &store.payments[payment as usize]))
        .collect();
    ok_response(Value::Array(payments))
}

fn list_line_items(request: &Request<'_>) -> Response {
    let query = request.query;
    let mut errors = FieldErrors::default();
    let ids = id_list(query, "id", &mut errors);
    let product_ids = id_list(query, "product_id", &mut errors);
    let is_sample = bool_filter(query, "is_sample", &mut errors);
    let order_modified = TimeRange::parse(query, "order__modified", &mut errors);
    let order_created = TimeRange::parse(query, "order__created_on", &mut errors);
    if !errors.is_empty() {
        return field_errors(&errors);
    }
    let store = request.state.read();
    // `order` takes order numbers or `external_id_seller` values.
    let orders: Option<Vec<usize>> = query.list("order").map(|keys| {
        let mut found: Vec<usize> = keys
            .iter()
            .flat_map(|key| {
                let by_number = store.order_index(key);
                let by_external = store.orders_by_external_id(key).iter().map(|&index| index as usize);
                by_number.into_iter().chain(by_external).collect::<Vec<_>>()
            })
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    });
    let candidates: Box<dyn Iterator<Item = usize>> = match (&orders, &ids) {
        (Some(orders), _) => Box::new(
            orders.iter().flat_map(|&order| store.orders[order].lines.iter().map(|&line| line as usize)).collect::<Vec<_>>().into_iter(),
        ),
        (None, Some(ids)) => {
            let mut found: Vec<usize> = ids.iter().filter_map(|&id| store.line_index(id)).collect();
            found.sort_unstable();
            Box::new(found.into_iter())
        }
        (None, None) => Box::new(0..store.lines.len()),
    };
    let mut window = Window::new(Paging::from(query));
    for index in candidates {
        let line = &store.lines[index];
        let order = &store.orders[line.order as usize];
        let matches = request.company.is_none_or(|company| order.seller == company)
            && ids.as_ref().is_none_or(|ids| ids.contains(&Store::line_id(index)))
            && product_ids.as_ref().is_none_or(|products| products.contains(&u64::from(line.product)))
            && is_sample.is_none_or(|sample| line.is_sample == sample)
            && order_modified.contains(order.modified.micros)
            && order_created.contains(order.created_on.micros);
        if matches {
            window.push(index);
        }
    }
    let renderer = request.renderer(&store);
    let results = window.items.iter().map(|&index| renderer.line_item(index, &store.lines[index])).collect();
    ok_response(envelope(request.state, request.path, query, window.paging, window.count, results))
}

fn get_line_item(request: &Request<'_>, id: &str) -> Response {
    let store = request.state.read();
    let Some(index) = id.parse().ok().and_then(|id| store.line_index(id)) else { return not_found() };
    let order = &store.orders[store.lines[index].order as usize];
    if request.company.is_some_and(|company| order.seller != company) {
        return not_found();
    }
    ok_response(request.renderer(&store).line_item(index, &store.lines[index]))
}

fn list_products(request: &Request<'_>) -> Response {
    let query = request.query;
    let mut errors = FieldErrors::default();
    let ids = id_list(query, "id", &mut errors);
    let modified = TimeRange::parse(query, "modified", &mut errors);
    let created = TimeRange::parse(query, "created_on", &mut errors);
    let archived = bool_filter(query, "archived", &mut errors);
    if !errors.is_empty() {
        return field_errors(&errors);
    }
    let skus = query.list("sku");
    let listing_state = query.get("listing_state");
    let seller = query.get("company").or(query.get("seller")).and_then(|company| company.parse::<u32>().ok());
    let store = request.state.read();
    let candidates: Vec<usize> = if let Some(skus) = &skus {
        let mut found: Vec<usize> =
            skus.iter().flat_map(|sku| store.products_by_sku(sku).iter().map(|&index| index as usize)).collect();
        found.sort_unstable();
        found.dedup();
        found
    } else if let Some(ids) = &ids {
        let mut found: Vec<usize> =
            ids.iter().filter_map(|&id| u32::try_from(id).ok().and_then(|id| store.product_index(id))).collect();
        found.sort_unstable();
        found.dedup();
        found
    } else {
        (0..store.products.len()).collect()
    };
    let mut window = Window::new(Paging::from(query));
    for index in candidates {
        let product = &store.products[index];
        let matches = request.company.is_none_or(|company| product.seller == company)
            && seller.is_none_or(|seller| product.seller == seller)
            && ids.as_ref().is_none_or(|ids| ids.contains(&u64::from(product.id)))
            && modified.contains(product.modified.micros)
            && created.contains(product.created_on.micros)
            && archived.is_none_or(|archived| (product.listing_state == "Archived") == archived)
            && listing_state.is_none_or(|state| product.listing_state.eq_ignore_ascii_case(state));
        if matches {
            window.push(index);
        }
    }
    let renderer = request.renderer(&store);
    let results = window.items.iter().map(|&index| sparse(query, renderer.product(&store.products[index], true))).collect();
    ok_response(envelope(request.state, request.path, query, window.paging, window.count, results))
}

fn get_product(request: &Request<'_>, id: &str) -> Response {
    let store = request.state.read();
    let Some(index) = id.parse().ok().and_then(|id| store.product_index(id)) else { return not_found() };
    let product = &store.products[index];
    if request.company.is_some_and(|company| product.seller != company) {
        return not_found();
    }
    ok_response(sparse(request.query, request.renderer(&store).product(product, true)))
}

/// Exact, `__in` and `__startswith` matches on one text field.
fn text_filter(query: &Query, field: &str, value: &str) -> bool {
    query.get(field).is_none_or(|wanted| wanted == value)
        && query.list(&format!("{field}__in")).is_none_or(|wanted| wanted.contains(&value))
        && query.get(&format!("{field}__startswith")).is_none_or(|prefix| value.starts_with(prefix))
}

fn list_customers(request: &Request<'_>) -> Response {
    let query = request.query;
    let mut errors = FieldErrors::default();
    let ids = id_list(query, "id", &mut errors);
    let ids_in = id_list(query, "id__in", &mut errors);
    let modified = TimeRange::parse(query, "modified", &mut errors);
    let created = TimeRange::parse(query, "created_on", &mut errors);
    let archived = bool_filter(query, "archived", &mut errors).or(bool_filter(query, "is_archived", &mut errors));
    if !errors.is_empty() {
        return field_errors(&errors);
    }
    let store = request.state.read();
    let mut window = Window::new(Paging::from(query));
    for (index, customer) in store.customers.iter().enumerate() {
        let matches = ids.as_ref().is_none_or(|ids| ids.contains(&u64::from(customer.id)))
            && ids_in.as_ref().is_none_or(|ids| ids.contains(&u64::from(customer.id)))
            && modified.contains(customer.modified.micros)
            && created.contains(customer.created_on.micros)
            && archived.is_none_or(|archived| customer.archived == archived)
            && text_filter(query, "external_id", customer.external_id.as_deref().unwrap_or(""))
            && text_filter(query, "license_number", &customer.license_number)
            && text_filter(query, "email", &customer.email)
            && text_filter(query, "name", &customer.name)
            && text_filter(query, "nickname", customer.nickname.as_deref().unwrap_or(""));
        if matches {
            window.push(index);
        }
    }
    let renderer = request.renderer(&store);
    let results = window.items.iter().map(|&index| sparse(query, renderer.customer(&store.customers[index]))).collect();
    ok_response(envelope(request.state, request.path, query, window.paging, window.count, results))
}

fn get_customer(request: &Request<'_>, id: &str) -> Response {
    let store = request.state.read();
    let Some(customer) = id.parse().ok().and_then(|id| store.customer(id)) else { return not_found() };
    ok_response(sparse(request.query, request.renderer(&store).customer(customer)))
}

fn list_payments(request: &Request<'_>) -> Response {
    let store = request.state.read();
    let mut window = Window::new(Paging::from(request.query));
    for index in 0..store.payments.len() {
        window.push(index);
    }
    let renderer = request.renderer(&store);
    let results = window.items.iter().map(|&index| renderer.payment(index, &store.payments[index])).collect();
    ok_response(envelope(request.state, request.path, request.query, window.paging, window.count, results))
}

fn get_payment(request: &Request<'_>, id: &str) -> Response {
    let store = request.state.read();
    let index = id.parse::<usize>().ok().and_then(|id| id.checked_sub(1)).filter(|&index| index < store.payments.len());
    let Some(index) = index else { return not_found() };
    ok_response(request.renderer(&store).payment(index, &store.payments[index]))
}

fn list_companies(request: &Request<'_>) -> Response {
    let store = request.state.read();
    let mut window = Window::new(Paging::from(request.query));
    for company in &store.companies {
        window.push(company);
    }
    let renderer = request.renderer(&store);
    let results = window.items.iter().map(|company| renderer.company(company)).collect();
    ok_response(envelope(request.state, request.path, request.query, window.paging, window.count, results))
}

fn get_company(request: &Request<'_>, id: &str) -> Response {
    let store = request.state.read();
    let Some(company) = id.parse().ok().and_then(|id| store.company(id)) else { return not_found() };
    ok_response(request.renderer(&store).company(company))
}

fn list_staff(request: &Request<'_>) -> Response {
    let store = request.state.read();
    let company = request.query.get("company").and_then(|company| company.parse::<u32>().ok());
    let mut window = Window::new(Paging::from(request.query));
    for staff in store.staff.iter().filter(|staff| company.is_none_or(|company| staff.company == company)) {
        window.push(staff);
    }
    let renderer = request.renderer(&store);
    let results = window.items.iter().map(|staff| renderer.staff(staff)).collect();
    ok_response(envelope(request.state, request.path, request.query, window.paging, window.count, results))
}

fn get_staff(request: &Request<'_>, id: &str) -> Response {
    let store = request.state.read();
    let Some(staff) = id.parse().ok().and_then(|id| store.staff(id)) else { return not_found() };
    ok_response(request.renderer(&store).staff(staff))
}
