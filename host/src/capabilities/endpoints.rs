//! Request counts by endpoint, so a benchmark or an operator can see which
//! calls a run's requests went to.
//!
//! An endpoint is the API, the method, the path after the API version with
//! ids replaced by `{id}`, and the names of the query parameters (for a BC
//! `$filter`, the first property it names). Each inner request of a BC
//! `$batch` is counted under its own endpoint, prefixed with `$batch:`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use url::Url;

use super::allow_list::Api;

/// Counts per endpoint of one tenant's requests, each retry included.
#[derive(Debug, Default)]
pub(crate) struct EndpointCounts {
    counts: Mutex<BTreeMap<String, u64>>,
}

impl EndpointCounts {
    /// Counts one request, and for a BC `$batch` each inner request in `body`.
    pub(crate) fn count(&self, api: Api, method: &str, url: &Url, body: Option<&[u8]>) {
        let api_name = match api {
            Api::LeafLink => "leaflink",
            Api::BusinessCentral => "business-central",
            Api::BusinessCentralToken => "business-central-token",
        };
        let mut keys = vec![format!("{api_name} {method} {}", endpoint(url.path(), url.query()))];
        if api == Api::BusinessCentral && url.path().ends_with("/$batch") {
            for (inner_method, inner_url) in batch_requests(body) {
                let (path, query) = inner_url.split_once('?').map_or((inner_url.as_str(), None), |(path, query)| (path, Some(query)));
                keys.push(format!("{api_name} $batch: {inner_method} {}", endpoint(path, query)));
            }
        }
        // A poisoned lock only means another thread panicked while counting;
        // the counts are still usable.
        let mut counts = self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for key in keys {
            *counts.entry(key).or_default() += 1;
        }
    }

    /// Returns a copy of the counts, keyed by endpoint.
    pub(crate) fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// The method and URL of each inner request of a `$batch` body; an invalid
/// body gives none.
fn batch_requests(body: Option<&[u8]>) -> Vec<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Inner {
        method: String,
        url: String,
    }
    #[derive(serde::Deserialize)]
    struct Batch {
        requests: Vec<Inner>,
    }
    let Some(batch) = body.and_then(|body| serde_json::from_slice::<Batch>(body).ok()) else {
        return Vec::new();
    };
    batch.requests.into_iter().map(|inner| (inner.method.to_uppercase(), inner.url)).collect()
}

/// The endpoint of a request path and query: the path after the API version
/// (`v2` or `v2.0`), without BC's `companies(..)` segment, with numeric
/// segments and key values replaced by `{id}`, then the sorted query
/// parameter names.
fn endpoint(path: &str, query: Option<&str>) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    // BC paths carry `v2.0` twice (`/v2.0/<tenant>/<environment>/api/v2.0/`),
    // so the endpoint starts after the last one.
    let start = segments.iter().rposition(|segment| *segment == "v2" || *segment == "v2.0").map_or(0, |index| index + 1);
    let mut parts = Vec::new();
    for segment in &segments[start..] {
        if segment.starts_with("companies(") {
            continue;
        }
        let part = if !segment.is_empty() && segment.bytes().all(|byte| byte.is_ascii_digit()) {
            "{id}".to_owned()
        } else if let Some(open) = segment.find('(') {
            format!("{}({{id}})", &segment[..open])
        } else {
            (*segment).to_owned()
        };
        parts.push(part);
    }
    let mut names: Vec<String> = query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(name);
            if name == "$filter" {
                let filter = decode(value);
                let property: String = filter
                    .trim_start_matches(|c: char| c == '(' || c.is_whitespace())
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                format!("$filter={property}")
            } else {
                name
            }
        })
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() { parts.join("/") } else { format!("{}?{}", parts.join("/"), names.join("&")) }
}

fn decode(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_decode(&spaced)
}

/// Decodes `%XX` escapes; an invalid escape is kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(hex) = text.get(index + 1..index + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            decoded.push(byte);
            index += 3;
            continue;
        }
        decoded.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_of_leaflink_list() {
        let url = Url::parse("http://127.0.0.1:1/api/v2/orders-received/?limit=100&offset=200&status__in=Submitted").unwrap();
        assert_eq!(endpoint(url.path(), url.query()), "orders-received/?limit&offset&status__in");
    }

    #[test]
    fn endpoint_replaces_numeric_ids() {
        assert_eq!(endpoint("/api/v2/products/2093/", None), "products/{id}/");
    }

    #[test]
    fn endpoint_of_bc_filter_names_property() {
        let url = Url::parse(
            "http://127.0.0.1:1/v2.0/tenant/production/api/v2.0/companies(abc)/items?%24filter=(number%20eq%20%27A%27%20or%20number%20eq%20%27B%27)",
        )
        .unwrap();
        assert_eq!(endpoint(url.path(), url.query()), "items?$filter=number");
    }

    #[test]
    fn endpoint_replaces_bc_keys() {
        assert_eq!(endpoint("companies(abc)/salesOrders(123)", Some("$expand=salesOrderLines")), "salesOrders({id})?$expand");
    }

    #[test]
    fn batch_counts_inner_requests() {
        let counts = EndpointCounts::default();
        let url = Url::parse("http://127.0.0.1:1/api/v2.0/companies(abc)/$batch").unwrap();
        let body = br#"{"requests":[{"id":"1","method":"post","url":"companies(abc)/salesOrders?$expand=salesOrderLines"},{"id":"2","method":"POST","url":"companies(abc)/salesOrders?$expand=salesOrderLines"}]}"#;
        counts.count(Api::BusinessCentral, "POST", &url, Some(body));
        let snapshot = counts.snapshot();
        assert_eq!(snapshot.get("business-central POST $batch"), Some(&1));
        assert_eq!(snapshot.get("business-central $batch: POST salesOrders?$expand"), Some(&2));
    }

    #[test]
    fn batch_with_invalid_body_counts_outer_request() {
        let counts = EndpointCounts::default();
        let url = Url::parse("http://127.0.0.1:1/api/v2.0/companies(abc)/$batch").unwrap();
        counts.count(Api::BusinessCentral, "POST", &url, Some(b"not json"));
        assert_eq!(counts.snapshot().len(), 1);
    }
}
