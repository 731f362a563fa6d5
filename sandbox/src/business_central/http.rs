//! OData request handling below the `/api/v2.0` root: path parsing, company
//! scoping, collections and entities, navigation paths, bound actions,
//! `@odata.etag` and `If-Match`, server-driven paging and `$expand`. The same
//! entry point serves plain HTTP and each operation of a `$batch`.

use std::borrow::Cow;
use std::collections::HashMap;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::cell::{Cell, parse_guid};
use super::entity_json::write_entity;
use super::error::BcError;
use super::logic;
use super::odata::{self, Expand};
use super::schema::{EntitySet, schema};
use super::store::{Row, Store};
use crate::json_writer::write_str;

/// Server-wide maximum page size of BC online.
pub const MAX_PAGE_SIZE: usize = 20_000;

/// One request below the API root, from HTTP or from a `$batch` operation.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// Path below the API root, without a leading slash.
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// The body of a `$batch` operation, already parsed as part of the
    /// batch. When it is set, `body` is empty and not read.
    pub json_body: Option<Value>,
}

impl ApiRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A response before it becomes HTTP or a `$batch` item.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: ReplyBody,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReplyBody {
    Empty,
    Json(Value),
    Text(String),
}

impl Reply {
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self { status, headers: Vec::new(), body: ReplyBody::Json(body) }
    }

    pub fn empty(status: StatusCode) -> Self {
        Self { status, headers: Vec::new(), body: ReplyBody::Empty }
    }
}

impl From<BcError> for Reply {
    fn from(error: BcError) -> Self {
        Reply::json(error.status, error.body())
    }
}

/// A reply inside the sandbox, before it becomes HTTP, a `$batch` item or a
/// `Reply`. Unlike `Reply`, its JSON body may already be written as bytes.
#[derive(Debug)]
pub(crate) struct RawReply {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: RawBody,
}

#[derive(Debug)]
pub(crate) enum RawBody {
    Reply(ReplyBody),
    /// A JSON document written by `entity_json`.
    JsonBytes(Vec<u8>),
}

impl RawReply {
    fn json_bytes(status: StatusCode, body: Vec<u8>) -> Self {
        Self { status, headers: Vec::new(), body: RawBody::JsonBytes(body) }
    }

    /// Converts to a `Reply`, parsing a body written as bytes.
    pub fn into_reply(self) -> Reply {
        let body = match self.body {
            RawBody::Reply(body) => body,
            RawBody::JsonBytes(bytes) => ReplyBody::Json(serde_json::from_slice(&bytes).expect("entity_json writes valid JSON")),
        };
        Reply { status: self.status, headers: self.headers, body }
    }
}

impl From<Reply> for RawReply {
    fn from(reply: Reply) -> Self {
        Self { status: reply.status, headers: reply.headers, body: RawBody::Reply(reply.body) }
    }
}

impl From<BcError> for RawReply {
    fn from(error: BcError) -> Self {
        Reply::from(error).into()
    }
}

/// Company and server details that the handlers use.
#[derive(Debug, Clone)]
pub struct Context {
    /// Absolute `/api/v2.0` root, used in `@odata.context` and next links.
    pub base_url: String,
    pub company_id: Uuid,
    pub company_name: String,
}

#[derive(Debug, Clone)]
struct Segment {
    name: String,
    key: Option<String>,
}

fn parse_segments(path: &str) -> Result<Vec<Segment>, BcError> {
    let mut segments = Vec::new();
    for raw in path.split('/').filter(|part| !part.is_empty()) {
        let segment = match raw.find('(') {
            Some(open) if raw.ends_with(')') => {
                let key = raw[open + 1..raw.len() - 1].trim_matches('\'').to_owned();
                let key = key.strip_prefix("id=").map(str::to_owned).unwrap_or(key);
                Segment { name: raw[..open].to_owned(), key: Some(key) }
            }
            Some(_) => return Err(BcError::bad_request("Bad Request - Error in query syntax.")),
            None => Segment { name: raw.to_owned(), key: None },
        };
        segments.push(segment);
    }
    Ok(segments)
}

fn parse_key(entity: &EntitySet, key: &str) -> Result<Uuid, BcError> {
    parse_guid(key).ok_or_else(|| {
        BcError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Bad Request - Error in query syntax. The key '{key}' of {} is not a GUID.", entity.set),
        )
    })
}

/// Sets that a navigation property of a parent lists, with the child column
/// that contains the parent's id.
pub fn child_link(parent: &str, navigation: &str) -> Option<(&'static str, &'static str)> {
    match (parent, navigation) {
        ("salesOrders", "salesOrderLines") => Some(("salesOrderLines", "documentId")),
        ("salesInvoices", "salesInvoiceLines") => Some(("salesInvoiceLines", "documentId")),
        ("customerPaymentJournals", "customerPayments") => Some(("customerPayments", "journalId")),
        ("journals", "journalLines") => Some(("journalLines", "journalId")),
        ("dimensions", "dimensionValues") => Some(("dimensionValues", "dimensionId")),
        ("items", "itemVariants") => Some(("itemVariants", "itemId")),
        ("customers" | "items", "defaultDimensions") => Some(("defaultDimensions", "parentId")),
        (_, "dimensionSetLines") => Some(("dimensionSetLines", "parentId")),
        _ => None,
    }
}

/// Finds the set and column of a single related record reached through an
/// id property, for example `customer` through `customerId`.
pub(super) fn reference_link(parent: &EntitySet, navigation: &str) -> Option<(&'static str, usize)> {
    let (target_entity, column) = match navigation {
        "paymentTerm" => ("paymentTerm", "paymentTermsId"),
        "baseUnitOfMeasure" => ("unitOfMeasure", "baseUnitOfMeasureId"),
        other => (other, ""),
    };
    let column_name = if column.is_empty() { format!("{navigation}Id") } else { column.to_owned() };
    let column = parent.column(&column_name)?;
    let target = schema().sets.iter().find(|set| set.entity == target_entity)?;
    Some((target.set.as_str(), column))
}

struct Target {
    set: &'static str,
    key: Option<Uuid>,
    parent: Option<(&'static str, Uuid)>,
    action: Option<String>,
    count: bool,
    context: String,
}

/// Handles one request that targets the company's entities (everything but
/// `subscriptions` and `$batch`).
pub(crate) fn handle(context: &Context, store: &mut Store, request: &ApiRequest) -> RawReply {
    match route(context, store, request) {
        Ok(reply) => reply,
        Err(error) => error.into(),
    }
}

fn route(context: &Context, store: &mut Store, request: &ApiRequest) -> Result<RawReply, BcError> {
    let segments = parse_segments(&request.path)?;
    if segments.is_empty() {
        return Ok(service_document(context).into());
    }
    if segments.len() == 1 && segments[0].name == "$metadata" && segments[0].key.is_none() {
        if request.method != Method::GET {
            return Err(BcError::method_not_allowed(format!("'{}' requests for '$metadata' are not allowed.", request.method)));
        }
        return Ok(Reply {
            status: StatusCode::OK,
            headers: vec![("content-type".into(), "application/xml".into())],
            body: ReplyBody::Text(super::metadata::document(schema())),
        }
        .into());
    }
    let mut rest: &[Segment] = &segments;
    let mut company_path = None;
    if rest[0].name == "companies" {
        match &rest[0].key {
            Some(key) if rest.len() > 1 => {
                check_company(context, key)?;
                company_path = Some(format!("companies({})", context.company_id));
                rest = &rest[1..];
            }
            _ => {}
        }
    }
    if company_path.is_none() && rest[0].name != "companies" {
        let chosen = request
            .query
            .iter()
            .find(|(name, _)| name == "company")
            .map(|(_, value)| value.clone())
            .or_else(|| request.header("company").map(str::to_owned));
        match chosen {
            Some(company) => check_company(context, &company)?,
            None => {
                return Err(BcError::bad_request(
                    "Cannot process the request because the default company cannot be found. Add the company to the URL as companies({id}) or as the query option company={id}.",
                ));
            }
        }
        company_path = Some(format!("companies({})", context.company_id));
    }

    let first = &rest[0];
    let Some(set) = schema().set(&first.name) else {
        return Err(BcError::not_found_segment(&first.name));
    };
    let set_name: &'static str = set.set.as_str();
    if set_name == "subscriptions" {
        return Err(BcError::not_found_segment(&first.name));
    }
    let mut context_path = match &company_path {
        Some(path) if set_name != "companies" => format!("{path}/{set_name}"),
        _ => set_name.to_owned(),
    };
    let mut target = Target {
        set: set_name,
        key: first.key.as_deref().map(|key| parse_key(set, key)).transpose()?,
        parent: None,
        action: None,
        count: false,
        context: String::new(),
    };
    for segment in &rest[1..] {
        if segment.name == "$count" && target.key.is_none() {
            target.count = true;
        } else if let Some(action) = segment.name.strip_prefix("Microsoft.NAV.") {
            if target.key.is_none() || target.action.is_some() {
                return Err(BcError::bad_request(format!("The action {action} is bound to a single {} entity.", target.set)));
            }
            target.action = Some(action.to_owned());
        } else if target.key.is_some() && target.action.is_none() && !target.count {
            let parent_set = target.set;
            let parent_id = target.key.unwrap_or_default();
            if segment.name == "picture" || segment.name == "contentValue" {
                return picture(request, store, parent_set, parent_id).map(RawReply::from);
            }
            let Some((child_set, column)) = child_link(parent_set, &segment.name) else {
                let parent_schema = schema().set(parent_set).map(|set| set.navigation.clone()).unwrap_or_default();
                if parent_schema.contains(&segment.name) {
                    // NOTE: attachments, PDF documents and the other binary or
                    // finance parts are not modelled.
                    return Err(BcError::new(
                        StatusCode::NOT_IMPLEMENTED,
                        "BadRequest_MethodNotImplemented",
                        format!("The navigation property '{}' is not available in the sandbox.", segment.name),
                    ));
                }
                return Err(BcError::not_found_segment(&segment.name));
            };
            if store.get(parent_set, &parent_id).is_none() {
                return Err(BcError::record_not_found(&schema().set(parent_set).map(|set| set.entity.clone()).unwrap_or_default(), &parent_id.to_string()));
            }
            let child = schema().set(child_set).ok_or_else(|| BcError::not_found_segment(child_set))?;
            context_path = format!("{context_path}({parent_id})/{child_set}");
            target = Target {
                set: child_set,
                key: segment.key.as_deref().map(|key| parse_key(child, key)).transpose()?,
                parent: Some((column, parent_id)),
                action: None,
                count: false,
                context: String::new(),
            };
        } else {
            return Err(BcError::not_found_segment(&segment.name));
        }
    }
    target.context = format!("{}/$metadata#{context_path}", context.base_url);
    dispatch(context, store, request, target)
}

fn check_company(context: &Context, key: &str) -> Result<(), BcError> {
    let matches = parse_guid(key) == Some(context.company_id) || key == context.company_name;
    if matches {
        Ok(())
    } else {
        Err(BcError::new(StatusCode::NOT_FOUND, "Internal_CompanyNotFound", format!("The company '{key}' does not exist.")))
    }
}

fn service_document(context: &Context) -> Reply {
    let sets: Vec<Value> = schema()
        .sets
        .iter()
        .map(|set| json!({"name": set.set, "kind": "EntitySet", "url": set.set}))
        .collect();
    Reply::json(StatusCode::OK, json!({"@odata.context": format!("{}/$metadata", context.base_url), "value": sets}))
}

/// Accepts writes to the `picture` part so the published `$batch` example
/// runs, but discards the image content.
fn picture(request: &ApiRequest, store: &Store, set: &str, id: Uuid) -> Result<Reply, BcError> {
    if store.get(set, &id).is_none() {
        return Err(BcError::record_not_found(set, &id.to_string()));
    }
    match request.method {
        Method::PATCH | Method::PUT => Ok(Reply::empty(StatusCode::NO_CONTENT)),
        _ => Err(BcError::new(StatusCode::NOT_IMPLEMENTED, "BadRequest_MethodNotImplemented", "Pictures are not available in the sandbox.")),
    }
}

fn parse_body(request: &ApiRequest) -> Result<Cow<'_, Value>, BcError> {
    if let Some(body) = &request.json_body {
        return Ok(Cow::Borrowed(body));
    }
    if request.body.is_empty() {
        return Err(BcError::bad_request("Invalid Request Body: the body is empty."));
    }
    serde_json::from_slice(&request.body)
        .map(Cow::Owned)
        .map_err(|error| BcError::bad_request(format!("Invalid Request Body: {error}")))
}

/// Checks `If-Match`, which BC requires on PATCH and DELETE.
fn check_if_match(request: &ApiRequest, row: &Row) -> Result<(), BcError> {
    let Some(value) = request.header("if-match") else {
        return Err(BcError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest_InvalidToken",
            "Could not validate the client concurrency token required by the service. Please provide a valid token in the client request.",
        ));
    };
    let current = row.etag();
    let accepted = value.split(',').map(str::trim).any(|tag| tag == "*" || tag == current);
    if accepted {
        Ok(())
    } else {
        Err(BcError::new(StatusCode::CONFLICT, "Request_EntityChanged", "Another user has already changed the record."))
    }
}

fn dispatch(context: &Context, store: &mut Store, request: &ApiRequest, target: Target) -> Result<RawReply, BcError> {
    let set = schema().set(target.set).ok_or_else(|| BcError::not_found_segment(target.set))?;
    let method = request.method.clone();
    let read_only_intent = request.header("data-access-intent").is_some_and(|intent| intent.eq_ignore_ascii_case("readonly"));
    if read_only_intent && method != Method::GET {
        return Err(BcError::bad_request(format!(
            "'{method}' requests need Data-Access-Intent: ReadWrite; ReadOnly is allowed only on GET."
        )));
    }
    if let Some(action) = &target.action {
        if method != Method::POST {
            return Err(BcError::method_not_allowed(format!("'{method}' requests for the action '{action}' are not allowed.")));
        }
        return run_action(store, set, target.key.unwrap_or_default(), action).map(RawReply::from);
    }
    match (method, target.key) {
        (Method::GET, None) => list(context, store, request, set, &target),
        (Method::GET, Some(id)) => {
            let row = find_target(store, set, &target, id)?;
            let query = odata::parse_query(set, &request.query)?;
            let context = format!("{}/$entity", target.context);
            let mut body = Vec::with_capacity(2048);
            write_entity(&mut body, store, set, &row, query.select.as_deref(), &query.expand, Some(&context))?;
            Ok(RawReply::json_bytes(StatusCode::OK, body))
        }
        (Method::POST, None) => {
            let body = parse_body(request)?;
            if (target.set == "salesOrderLines" || target.set == "salesInvoiceLines")
                && target.parent.is_none() && body.get("documentId").is_none() {
                    return Err(BcError::dialog("You must specify a document id to get the lines."));
                }
            let id = logic::insert(store, target.set, &body, target.parent)?;
            let store: &Store = store;
            let row = store.get(target.set, &id).ok_or_else(|| BcError::record_not_found(&set.entity, &id.to_string()))?;
            // A deep insert returns the created lines expanded, as OData
            // returns every entity it created.
            let deep: Vec<Expand> = logic::DOCUMENT_LINES
                .iter()
                .filter(|(header, lines)| *header == target.set && body.get(*lines).is_some())
                .map(|(_, lines)| Expand { name: (*lines).to_owned(), options: Vec::new() })
                .collect();
            let entity_context = format!("{}/$entity", target.context);
            let mut rendered = Vec::with_capacity(8192);
            write_entity(&mut rendered, store, set, row, None, &deep, Some(&entity_context))?;
            let mut reply = RawReply::json_bytes(StatusCode::CREATED, rendered);
            reply.headers.push(("location".into(), format!("{}/{}({id})", context.base_url, target.set)));
            Ok(reply)
        }
        (Method::PATCH | Method::PUT, Some(id)) => {
            let row = find_target(store, set, &target, id)?;
            check_if_match(request, &row)?;
            let body = parse_body(request)?;
            logic::update(store, target.set, id, &body)?;
            let store: &Store = store;
            let row = store.get(target.set, &id).ok_or_else(|| BcError::record_not_found(&set.entity, &id.to_string()))?;
            let entity_context = format!("{}/$entity", target.context);
            let mut rendered = Vec::with_capacity(2048);
            write_entity(&mut rendered, store, set, row, None, &[], Some(&entity_context))?;
            Ok(RawReply::json_bytes(StatusCode::OK, rendered))
        }
        (Method::DELETE, Some(id)) => {
            let row = find_target(store, set, &target, id)?;
            check_if_match(request, &row)?;
            logic::delete(store, target.set, id)?;
            Ok(Reply::empty(StatusCode::NO_CONTENT).into())
        }
        (method, None) => Err(BcError::method_not_allowed(format!("'{method}' requests for '{}' of EdmType 'Collection' are not allowed.", target.set))),
        (method, Some(_)) => Err(BcError::method_not_allowed(format!("'{method}' requests for '{}' of EdmType 'Entity' are not allowed.", target.set))),
    }
}

fn find_target(store: &Store, set: &EntitySet, target: &Target, id: Uuid) -> Result<Row, BcError> {
    let row = store.get(&set.set, &id).cloned().ok_or_else(|| BcError::record_not_found(&set.entity, &id.to_string()))?;
    if let Some((column, parent)) = target.parent
        && row.value(set, set.col(column)) != Cell::Guid(parent) {
            return Err(BcError::record_not_found(&set.entity, &id.to_string()));
        }
    Ok(row)
}

fn run_action(store: &mut Store, set: &EntitySet, id: Uuid, action: &str) -> Result<Reply, BcError> {
    if !set.bound_actions.iter().any(|name| name == action) {
        return Err(BcError::not_found_segment(&format!("Microsoft.NAV.{action}")));
    }
    match (set.set.as_str(), action) {
        ("salesOrders", "shipAndInvoice") => {
            logic::ship_and_invoice(store, id)?;
        }
        ("salesInvoices", "post") => logic::post_invoice(store, id)?,
        ("journals", "post") => logic::post_journal(store, id)?,
        _ => {
            // NOTE: sending, cancelling and credit memos are not modelled.
            return Err(BcError::new(
                StatusCode::NOT_IMPLEMENTED,
                "BadRequest_MethodNotImplemented",
                format!("The action Microsoft.NAV.{action} is not available in the sandbox."),
            ));
        }
    }
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

fn page_size(request: &ApiRequest) -> usize {
    request
        .header("prefer")
        .into_iter()
        .flat_map(|prefer| prefer.split(','))
        .filter_map(|part| part.trim().strip_prefix("odata.maxpagesize="))
        .filter_map(|value| value.trim().parse::<usize>().ok())
        .next()
        .map(|size| size.clamp(1, MAX_PAGE_SIZE))
        .unwrap_or(MAX_PAGE_SIZE)
}

fn list(context: &Context, store: &Store, request: &ApiRequest, set: &EntitySet, target: &Target) -> Result<RawReply, BcError> {
    let mut query = odata::parse_query(set, &request.query)?;
    let filter_text = request.query.iter().find(|(name, _)| name == "$filter").map(|(_, value)| value.as_str()).unwrap_or("");
    if (set.set == "salesOrderLines" || set.set == "salesInvoiceLines") && target.parent.is_none() && !filter_text.contains("documentId") {
        return Err(BcError::dialog("You must specify a document id to get the lines."));
    }
    if set.set == "journals" && !filter_text.contains("templateDisplayName") {
        // Without a template filter BC lists the general journal template.
        let general = odata::parse_filter(set, "templateDisplayName eq 'GENERAL'", false)?;
        query.filter = Some(match query.filter.take() {
            Some(filter) => odata::Filter::And(Box::new(filter), Box::new(general)),
            None => general,
        });
    }
    if let Some((column, parent)) = target.parent {
        let parent_filter = odata::Filter::Compare(
            odata::Operand::Property(set.col(column)),
            odata::CompareOp::Eq,
            odata::Operand::Literal(odata::Literal::Guid(parent)),
        );
        query.filter = Some(match query.filter.take() {
            Some(filter) => odata::Filter::And(Box::new(parent_filter), Box::new(filter)),
            None => parent_filter,
        });
    }
    let table = store.table(&set.set);
    let candidates = odata::candidate_slots(table, query.filter.as_ref());
    let matches_filter = |row: &Row| query.filter.as_ref().is_none_or(|filter| odata::matches(set, row, filter));

    if target.count {
        let count = match &candidates {
            Some(slots) => slots.iter().filter_map(|slot| table.slot(*slot)).filter(|row| matches_filter(row)).count(),
            None => table.rows().filter(|row| matches_filter(row)).count(),
        };
        return Ok(Reply {
            status: StatusCode::OK,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: ReplyBody::Text(count.to_string()),
        }
        .into());
    }

    let size = page_size(request);
    let limit = query.top.map_or(size, |top| top.min(size));
    let mut page: Vec<&Row> = Vec::new();
    let mut more = false;
    let mut next_token = 0usize;
    let mut total = None;
    if query.order_by.is_empty() {
        // Continue from a slot position, so each page costs only its own rows.
        let start = query.skip_token.unwrap_or(0);
        let mut skipped = 0usize;
        let slots: Box<dyn Iterator<Item = usize>> = match &candidates {
            Some(slots) => Box::new(slots.clone().into_iter().filter(move |slot| *slot >= start)),
            None => Box::new(start..table.slot_count()),
        };
        let skip = if query.skip_token.is_some() { 0 } else { query.skip };
        for slot in slots {
            let Some(row) = table.slot(slot) else { continue };
            if !matches_filter(row) {
                continue;
            }
            if skipped < skip {
                skipped += 1;
                continue;
            }
            if page.len() == limit {
                more = true;
                next_token = slot;
                break;
            }
            page.push(row);
        }
    } else {
        let mut rows: Vec<&Row> = match &candidates {
            Some(slots) => slots.iter().filter_map(|slot| table.slot(*slot)).filter(|row| matches_filter(row)).collect(),
            None => table.rows().filter(|row| matches_filter(row)).collect(),
        };
        rows.sort_by(|left, right| odata::compare_rows(set, &query.order_by, left, right));
        let offset = query.skip_token.unwrap_or(query.skip);
        total = Some(rows.len());
        let remaining: Vec<&Row> = rows.into_iter().skip(offset).collect();
        more = remaining.len() > limit;
        next_token = offset + limit;
        page = remaining.into_iter().take(limit).collect();
    }
    if query.top.is_some_and(|top| page.len() >= top) {
        more = false;
    }

    // Keys in sorted order, as a serialized `Map` has them:
    // `@odata.context`, `@odata.count`, `@odata.nextLink`, `value`.
    let mut body = Vec::with_capacity(256 + page.len() * 2048);
    body.extend_from_slice(b"{\"@odata.context\":");
    write_str(&mut body, &target.context);
    if query.count {
        let count = match total {
            Some(count) if query.filter.is_none() || candidates.is_none() => count,
            _ => match &candidates {
                Some(slots) => slots.iter().filter_map(|slot| table.slot(*slot)).filter(|row| matches_filter(row)).count(),
                None => table.rows().filter(|row| matches_filter(row)).count(),
            },
        };
        body.extend_from_slice(format!(",\"@odata.count\":{count}").as_bytes());
    }
    if more {
        body.extend_from_slice(b",\"@odata.nextLink\":");
        write_str(&mut body, &next_link(context, request, next_token, query.top.map(|top| top - page.len())));
    }
    body.extend_from_slice(b",\"value\":[");
    for (position, row) in page.iter().enumerate() {
        if position > 0 {
            body.push(b',');
        }
        write_entity(&mut body, store, set, row, query.select.as_deref(), &query.expand, None)?;
    }
    body.extend_from_slice(b"]}");
    let mut reply = RawReply::json_bytes(StatusCode::OK, body);
    if request.header("prefer").is_some_and(|prefer| prefer.contains("odata.maxpagesize")) {
        reply.headers.push(("preference-applied".into(), format!("odata.maxpagesize={size}")));
    }
    Ok(reply)
}

/// Builds an absolute link that repeats the request's options with a new
/// `$skiptoken` (and the `$top` still to deliver).
fn next_link(context: &Context, request: &ApiRequest, token: usize, top_left: Option<usize>) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in &request.query {
        if name == "$skiptoken" || name == "$skip" || name == "$top" {
            continue;
        }
        serializer.append_pair(name, value);
    }
    if let Some(top) = top_left {
        serializer.append_pair("$top", &top.to_string());
    }
    serializer.append_pair("$skiptoken", &token.to_string());
    format!("{}/{}?{}", context.base_url, request.path.trim_start_matches('/'), serializer.finish())
}
