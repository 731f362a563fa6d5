//! BC API v2.0 list requests: company-scoped URLs, safe `$filter` text,
//! server-driven paging.
//!
//! Filter rules (BC reference notes, section 2.1): string literals in single
//! quotes with inner quotes doubled; GUIDs and date-times bare; `or` only on
//! one field, so `values` become `field eq 'a' or field eq 'b'`.

use crate::business_central::Query;
use crate::http::{Method, Request};
use crate::types::PluginError;

const USER_AGENT: &str = "leafbridge";

/// The API root (`business_central.base_url`, the `/api/v2.0` root) and the
/// company every entity set is scoped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    base: String,
    company_id: String,
}

impl Api {
    pub fn new(base_url: &str, company_id: &str) -> Result<Self, PluginError> {
        let base = base_url.trim().trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(PluginError::Configuration(format!(
                "the setting `business_central.base_url` = {base_url:?} is not an http(s) URL; set it to the API root ending in /api/v2.0"
            )));
        }
        let company_id = company_id.trim();
        if !is_guid(company_id) {
            return Err(PluginError::Configuration(format!(
                "the setting `business_central.company_id` = {company_id:?} is not a company GUID"
            )));
        }
        Ok(Api { base: base.to_string(), company_id: company_id.to_string() })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `companies(<id>)/<path>`, the form `$batch` requests use.
    pub fn relative(&self, path: &str) -> String {
        format!("companies({})/{path}", self.company_id)
    }

    /// `<base>/companies(<id>)/<path>`.
    pub fn absolute(&self, path: &str) -> String {
        format!("{}/{}", self.base, self.relative(path))
    }

    /// Builds a GET of `entity_set` filtered by `query`, or of the `@odata.nextLink`
    /// `next`, which is followed verbatim when it lies under the API root.
    pub fn list(&self, entity_set: &str, query: &Query, expand: Option<&str>, next: Option<&str>) -> Result<Request, PluginError> {
        let url = match next {
            Some(next) if next.starts_with(&format!("{}/", self.base)) => next.to_string(),
            Some(next) => {
                return Err(PluginError::Internal(format!("Business Central returned a next link outside {}: {next}", self.base)));
            }
            None => {
                let mut params = Vec::new();
                if let Some(filter) = filter(query)? {
                    params.push(format!("$filter={}", encode(&filter)));
                }
                if let Some(expand) = expand {
                    params.push(format!("$expand={}", encode(expand)));
                }
                let mut url = self.absolute(entity_set);
                if !params.is_empty() {
                    url.push('?');
                    url.push_str(&params.join("&"));
                }
                url
            }
        };
        let mut headers = vec![
            ("Accept".to_string(), "application/json".to_string()),
            ("User-Agent".to_string(), USER_AGENT.to_string()),
        ];
        if let Some(size) = query.page_size.filter(|s| *s > 0) {
            headers.push(("Prefer".to_string(), format!("odata.maxpagesize={size}")));
        }
        Ok(Request { method: Method::Get, url, headers, body: None, idempotent: true })
    }
}

/// Returns the `$filter` text for `query`, or `None` when nothing filters.
pub fn filter(query: &Query) -> Result<Option<String>, PluginError> {
    let mut clauses = Vec::new();
    if let Some(after) = &query.modified_after {
        let after: jiff::Timestamp = after.trim().parse().map_err(|e| {
            PluginError::InvalidRecord(crate::types::RecordError {
                record: "query".into(),
                field: Some("modified-after".into()),
                reason: format!("{after:?} is not an RFC 3339 timestamp: {e}"),
            })
        })?;
        clauses.push(format!("lastModifiedDateTime gt {after}"));
    }
    if let Some(field) = query.field.as_deref()
        && !query.values.is_empty()
    {
        if field.is_empty() || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(PluginError::InvalidRecord(crate::types::RecordError {
                record: "query".into(),
                field: Some("field".into()),
                reason: format!("{field:?} is not a BC property name"),
            }));
        }
        let alternatives: Vec<String> = query.values.iter().map(|value| format!("{field} eq {}", literal(field, value))).collect();
        clauses.push(if alternatives.len() == 1 { alternatives[0].clone() } else { format!("({})", alternatives.join(" or ")) });
    }
    Ok((!clauses.is_empty()).then(|| clauses.join(" and ")))
}

/// Returns an OData literal: GUIDs of an id property bare, everything else a string
/// in single quotes with each inner quote doubled.
fn literal(field: &str, value: &str) -> String {
    if (field == "id" || field.ends_with("Id")) && is_guid(value) {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', "''"))
    }
}

/// True for the 8-4-4-4-12 hex form BC uses for ids.
pub fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Percent-encodes a query value, keeping RFC 3986 unreserved characters and
/// the OData punctuation that is safe in a query (`(`, `)`, `,`, `:`).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'(' | b')' | b',' | b':' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPANY: &str = "c04c550b-593f-ee11-be74-6045bdc8c285";

    fn api() -> Api {
        Api::new("http://127.0.0.1:9090/v2.0/tenant/sandbox/api/v2.0/", COMPANY).unwrap()
    }

    fn query() -> Query {
        Query { modified_after: None, field: None, values: vec![], page_size: None }
    }

    #[test]
    fn filter_doubles_single_quotes() {
        let q = Query { field: Some("externalDocumentNumber".into()), values: vec!["O'Brien".into()], ..query() };
        assert_eq!(filter(&q).unwrap().as_deref(), Some("externalDocumentNumber eq 'O''Brien'"));
    }

    #[test]
    fn filter_ors_values_on_one_field_and_ands_modified() {
        let q = Query {
            modified_after: Some("2019-08-18T14:05:51.603-06:00".into()),
            field: Some("number".into()),
            values: vec!["A".into(), "B".into()],
            page_size: None,
        };
        assert_eq!(
            filter(&q).unwrap().as_deref(),
            Some("lastModifiedDateTime gt 2019-08-18T20:05:51.603Z and (number eq 'A' or number eq 'B')")
        );
    }

    #[test]
    fn guid_ids_are_bare() {
        let q = Query { field: Some("customerId".into()), values: vec![COMPANY.into()], ..query() };
        assert_eq!(filter(&q).unwrap().unwrap(), format!("customerId eq {COMPANY}"));
    }

    #[test]
    fn hostile_field_name_rejected() {
        let q = Query { field: Some("number eq 'x' or 1".into()), values: vec!["a".into()], ..query() };
        assert!(filter(&q).is_err());
    }

    #[test]
    fn list_url_and_headers() {
        let q = Query { field: Some("number".into()), values: vec!["LL 1".into()], page_size: Some(250), ..query() };
        let request = api().list("salesOrders", &q, Some("salesOrderLines"), None).unwrap();
        assert_eq!(
            request.url,
            format!("http://127.0.0.1:9090/v2.0/tenant/sandbox/api/v2.0/companies({COMPANY})/salesOrders?$filter=number%20eq%20%27LL%201%27&$expand=salesOrderLines")
        );
        assert!(request.headers.contains(&("Prefer".into(), "odata.maxpagesize=250".into())));
        assert!(request.idempotent);
    }

    #[test]
    fn next_link_followed_verbatim() {
        let next = format!("http://127.0.0.1:9090/v2.0/tenant/sandbox/api/v2.0/companies({COMPANY})/items?$skiptoken=abc");
        assert_eq!(api().list("items", &query(), None, Some(&next)).unwrap().url, next);
        assert!(api().list("items", &query(), None, Some("http://evil.example/api/v2.0/items")).is_err());
    }

    #[test]
    fn company_id_must_be_guid() {
        assert!(Api::new("http://127.0.0.1/api/v2.0", "CRONUS").is_err());
    }
}
