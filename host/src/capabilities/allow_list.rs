//! The per-tenant allow-list of base URLs and the address policy applied to
//! every name the HTTP client resolves.

use std::collections::HashSet;
use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// The API an allowed URL belongs to; it decides which credential the host
/// attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    LeafLink,
    BusinessCentral,
    /// The OAuth2 token endpoint. Only the host's own token requests use it.
    BusinessCentralToken,
}

impl std::fmt::Display for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Api::LeafLink => "LeafLink",
            Api::BusinessCentral => "Business Central",
            Api::BusinessCentralToken => "Business Central token endpoint",
        })
    }
}

#[derive(Debug, Clone)]
struct Entry {
    api: Api,
    base: Url,
    /// The token endpoint must match exactly; the API bases match any path
    /// below them.
    exact: bool,
}

/// The base URLs a tenant's plugins may reach.
#[derive(Debug, Clone)]
pub struct AllowList {
    entries: Vec<Entry>,
}

/// A base URL in the tenant's settings is unusable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{setting} {url:?} is invalid: {reason}")]
pub struct InvalidBaseUrl {
    pub setting: &'static str,
    pub url: String,
    pub reason: String,
}

impl AllowList {
    pub fn new(leaflink: &str, business_central: &str, token: &str) -> Result<Self, InvalidBaseUrl> {
        let entries = vec![
            Entry { api: Api::LeafLink, base: parse_base("leaflink.base_url", leaflink)?, exact: false },
            Entry {
                api: Api::BusinessCentral,
                base: parse_base("business_central.base_url", business_central)?,
                exact: false,
            },
            Entry {
                api: Api::BusinessCentralToken,
                base: parse_base("business_central.token_url", token)?,
                exact: true,
            },
        ];
        Ok(Self { entries })
    }

    /// Returns the API `url` belongs to, or `None` when it is outside every entry.
    pub fn api_for(&self, url: &Url) -> Option<Api> {
        if !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        self.entries.iter().find(|entry| entry.matches(url)).map(|entry| entry.api)
    }

    /// Returns the host names (not IP literals) on the list, each with whether
    /// it may resolve to a private or loopback address.
    fn resolvable_hosts(&self) -> Vec<(String, bool)> {
        self.entries
            .iter()
            .filter_map(|entry| match entry.base.host() {
                Some(Host::Domain(name)) => Some((name.to_ascii_lowercase(), is_local_name(name))),
                _ => None,
            })
            .collect()
    }
}

impl Entry {
    fn matches(&self, url: &Url) -> bool {
        if url.scheme() != self.base.scheme()
            || url.host() != self.base.host()
            || url.port_or_known_default() != self.base.port_or_known_default()
        {
            return false;
        }
        let base_path = self.base.path().trim_end_matches('/');
        if self.exact {
            return url.path().trim_end_matches('/') == base_path;
        }
        // `Url::parse` has already removed `.` and `..` segments (including
        // their percent-encoded forms), so a prefix test on segment
        // boundaries cannot be escaped.
        let path = url.path();
        base_path.is_empty() || path == base_path || path.starts_with(&format!("{base_path}/"))
    }
}

fn parse_base(setting: &'static str, text: &str) -> Result<Url, InvalidBaseUrl> {
    let invalid = |reason: String| InvalidBaseUrl { setting, url: text.to_owned(), reason };
    let url = Url::parse(text).map_err(|error| invalid(error.to_string()))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(invalid("the scheme must be https or http".into()));
    }
    if url.host().is_none() {
        return Err(invalid("the URL has no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("the URL must not contain credentials".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a base URL takes no query or fragment".into()));
    }
    if let Some(Host::Ipv4(ip)) = url.host() {
        check_literal(IpAddr::V4(ip)).map_err(|rejected| invalid(rejected.to_string()))?;
    }
    if let Some(Host::Ipv6(ip)) = url.host() {
        check_literal(IpAddr::V6(ip)).map_err(|rejected| invalid(rejected.to_string()))?;
    }
    Ok(url)
}

fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// The class of an address, which decides whether it may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    /// Loopback, private (RFC 1918, unique local) and shared (RFC 6598)
    /// ranges: allowed only for a base URL configured on such an address.
    Local,
    /// Link-local (which includes the 169.254.169.254 cloud metadata
    /// service), unspecified, multicast and broadcast: never allowed.
    Forbidden,
}

pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify_v4(v4);
            }
            classify_v6(v6)
        }
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, ..] = ip.octets();
    if ip.is_link_local() || ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() || a == 0 {
        AddressClass::Forbidden
    } else if ip.is_loopback() || ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        AddressClass::Local
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let first = ip.segments()[0];
    let link_local = first & 0xffc0 == 0xfe80;
    let unique_local = first & 0xfe00 == 0xfc00;
    if link_local || ip.is_unspecified() || ip.is_multicast() {
        AddressClass::Forbidden
    } else if ip.is_loopback() || unique_local {
        AddressClass::Local
    } else {
        AddressClass::Public
    }
}

/// An address the policy does not allow.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{host} resolves to {address}, which is {reason}")]
pub struct AddressRejected {
    pub host: String,
    pub address: IpAddr,
    pub reason: &'static str,
}

/// Checks an IP literal from a configured base URL. Local addresses are fine
/// there, because the configuration chose them.
pub fn check_literal(ip: IpAddr) -> Result<(), AddressRejected> {
    match classify(ip) {
        AddressClass::Forbidden => Err(AddressRejected {
            host: ip.to_string(),
            address: ip,
            reason: "link-local, unspecified or multicast and never allowed",
        }),
        _ => Ok(()),
    }
}

/// Finds an address rejection in `error` or its chain of sources.
pub fn find_rejection<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a AddressRejected> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(rejected) = error.downcast_ref::<AddressRejected>() {
            return Some(rejected);
        }
        current = error.source();
    }
    None
}

/// The DNS resolver of a tenant's HTTP client. It resolves only the names on
/// the allow-list and drops every address the policy forbids, so a name that
/// resolves somewhere unexpected (a DNS rebinding, a metadata address) is never
/// connected to.
#[derive(Debug, Clone)]
pub struct PolicyResolver {
    /// Lower-case host name, and whether local addresses are allowed for it.
    hosts: Arc<Vec<(String, bool)>>,
}

impl PolicyResolver {
    pub fn new(allow_list: &AllowList) -> Self {
        Self { hosts: Arc::new(allow_list.resolvable_hosts()) }
    }

    fn allows_local(&self, host: &str) -> Option<bool> {
        let host = host.to_ascii_lowercase();
        self.hosts.iter().find(|(name, _)| *name == host).map(|(_, local)| *local)
    }
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let allows_local = self.allows_local(&host);
        Box::pin(async move {
            let Some(allows_local) = allows_local else {
                return Err(boxed(AddressRejected {
                    host: host.clone(),
                    address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    reason: "not on the allow-list",
                }));
            };
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = filter_addresses(&host, resolved, allows_local).map_err(boxed)?;
            let addresses: Addrs = Box::new(allowed.into_iter());
            Ok(addresses)
        })
    }
}

/// Keeps the addresses `host` may connect to. Fails with the first rejected
/// address when none is left.
fn filter_addresses(host: &str, resolved: Vec<SocketAddr>, allows_local: bool) -> Result<Vec<SocketAddr>, AddressRejected> {
    let mut allowed = Vec::new();
    let mut first_rejection = None;
    let mut seen = HashSet::new();
    for address in resolved {
        if !seen.insert(address.ip()) {
            continue;
        }
        let reason = match classify(address.ip()) {
            AddressClass::Public => None,
            AddressClass::Local if allows_local => None,
            AddressClass::Local => Some("a private or loopback address and the base URL is not configured on one"),
            AddressClass::Forbidden => Some("link-local, unspecified or multicast and never allowed"),
        };
        match reason {
            None => allowed.push(address),
            Some(reason) => {
                first_rejection.get_or_insert(AddressRejected { host: host.to_owned(), address: address.ip(), reason });
            }
        }
    }
    match first_rejection {
        Some(rejection) if allowed.is_empty() => Err(rejection),
        _ => Ok(allowed),
    }
}

fn boxed(error: AddressRejected) -> Box<dyn StdError + Send + Sync> {
    Box::new(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> AllowList {
        AllowList::new(
            "https://app.leaflink.com/api/v2",
            "https://api.businesscentral.dynamics.com/v2.0/t/production/api/v2.0/",
            "https://login.microsoftonline.com/t/oauth2/v2.0/token",
        )
        .unwrap()
    }

    #[test]
    fn urls_under_a_base_are_allowed() {
        let list = list();
        let url = Url::parse("https://app.leaflink.com/api/v2/orders-received/?limit=5").unwrap();
        assert_eq!(list.api_for(&url), Some(Api::LeafLink));
        let url = Url::parse("https://api.businesscentral.dynamics.com/v2.0/t/production/api/v2.0/companies").unwrap();
        assert_eq!(list.api_for(&url), Some(Api::BusinessCentral));
        let url = Url::parse("https://login.microsoftonline.com/t/oauth2/v2.0/token").unwrap();
        assert_eq!(list.api_for(&url), Some(Api::BusinessCentralToken));
    }

    #[test]
    fn urls_outside_every_base_are_rejected() {
        let list = list();
        for url in [
            "https://app.leaflink.com/api/v2-other/orders",
            "https://app.leaflink.com/api/v2/../admin/",
            "https://app.leaflink.com/api/v2/%2e%2e/admin/",
            "http://app.leaflink.com/api/v2/orders-received/",
            "https://app.leaflink.com:8443/api/v2/orders-received/",
            "https://app.leaflink.com.evil.example/api/v2/",
            "https://user:pass@app.leaflink.com/api/v2/orders-received/",
            "https://login.microsoftonline.com/t/oauth2/v2.0/token/other",
            "https://example.com/",
        ] {
            let parsed = Url::parse(url).unwrap();
            assert_eq!(list.api_for(&parsed), None, "{url} should be rejected");
        }
    }

    #[test]
    fn metadata_and_link_local_addresses_are_forbidden() {
        for ip in ["169.254.169.254", "0.0.0.0", "224.0.0.1", "fe80::1", "::", "::ffff:169.254.169.254"] {
            assert_eq!(classify(ip.parse().unwrap()), AddressClass::Forbidden, "{ip}");
        }
    }

    #[test]
    fn private_and_loopback_addresses_are_local() {
        for ip in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "::1", "fd00::1"] {
            assert_eq!(classify(ip.parse().unwrap()), AddressClass::Local, "{ip}");
        }
        assert_eq!(classify("93.184.215.14".parse().unwrap()), AddressClass::Public);
    }

    #[test]
    fn base_url_on_link_local_is_invalid() {
        let error = AllowList::new("http://169.254.169.254/api/v2", "http://127.0.0.1:1/", "http://127.0.0.1:1/token")
            .unwrap_err();
        assert_eq!(error.setting, "leaflink.base_url");
    }

    fn socket(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 443)
    }

    #[test]
    fn name_resolving_to_metadata_rejected() {
        let outcome = filter_addresses("api.example.com", vec![socket("169.254.169.254")], true);
        let rejection = outcome.expect_err("a metadata address is never allowed");
        assert_eq!(rejection.address, "169.254.169.254".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn name_resolving_to_private_rejected_for_public_base() {
        let outcome = filter_addresses("app.leaflink.com", vec![socket("10.0.0.5"), socket("127.0.0.1")], false);
        assert!(outcome.is_err(), "{outcome:?}");
    }

    #[test]
    fn forbidden_addresses_dropped_from_mixed_answer() {
        let resolved = vec![socket("169.254.169.254"), socket("93.184.215.14"), socket("10.0.0.5")];
        let allowed = filter_addresses("app.leaflink.com", resolved, false).unwrap();
        assert_eq!(allowed, vec![socket("93.184.215.14")]);
    }

    #[tokio::test]
    async fn resolver_rejects_names_off_the_list() {
        let resolver = PolicyResolver::new(&list());
        let outcome = resolver.resolve("metadata.google.internal".parse().unwrap()).await;
        let error = outcome.err().expect("a name off the list must not resolve");
        assert!(find_rejection(error.as_ref()).is_some(), "{error}");
    }

    #[tokio::test]
    async fn resolver_keeps_loopback_for_localhost_base() {
        let list = AllowList::new("http://localhost:9/api/v2", "http://127.0.0.1:9/", "http://127.0.0.1:9/token").unwrap();
        let resolver = PolicyResolver::new(&list);
        let addresses: Vec<SocketAddr> = resolver.resolve("localhost".parse().unwrap()).await.unwrap().collect();
        assert!(!addresses.is_empty());
        assert!(addresses.iter().all(|address| address.ip().is_loopback()));
    }
}
