//! Checks a tenant definition before it is stored: the name is usable as a
//! store prefix, the time zone exists, the URLs are well-formed and the
//! required identifiers are present. `go_live` is parsed here too when it
//! comes from a flag, so every entry path reports the same errors.

use url::Url;

use super::TenantSettings;

/// The maximum tenant name length, because names appear in store keys, URLs
/// and metric labels.
pub const MAX_TENANT_NAME_LEN: usize = 64;

/// One problem with a tenant definition, naming the field and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("invalid tenant name {0:?}: use 1 to 64 lowercase letters, digits and '-', starting with a letter or digit")]
    Name(String),
    #[error("unknown time zone {0:?}: use an IANA name such as America/Los_Angeles")]
    TimeZone(String),
    #[error("invalid go_live {value:?}: {reason}; use an RFC 3339 time such as 2025-01-01T00:00:00Z")]
    GoLive { value: String, reason: String },
    #[error("invalid URL in {field} ({value:?}): {reason}")]
    Url { field: &'static str, value: String, reason: String },
    #[error("{field} is missing or empty")]
    Missing { field: &'static str },
    #[error("invalid {field} ({value:?}): {reason}")]
    Value { field: &'static str, value: String, reason: String },
}

/// The order statuses LeafLink's order responses use. A misspelt status in
/// `order_statuses_to_import` would make the tenant import nothing, silently.
const LEAFLINK_ORDER_STATUSES: [&str; 10] =
    ["Draft", "Submitted", "Accepted", "Backorder", "Fulfilled", "Shipped", "Complete", "Rejected", "Combined", "Cancelled"];

/// Checks every rule and returns the first problem found.
pub fn validate(settings: &TenantSettings) -> Result<(), ValidationError> {
    validate_name(&settings.name)?;
    validate_time_zone(&settings.time_zone)?;

    validate_url("leaflink.base_url", &settings.leaflink.base_url)?;
    validate_url("business_central.base_url", &settings.business_central.base_url)?;
    validate_url("business_central.token_url", &settings.business_central.token_url)?;
    if let Some(notify) = &settings.notify {
        validate_notify(notify)?;
    }

    require("freight_account", &settings.freight_account)?;
    let texts = [
        ("freight_account", settings.freight_account.as_str()),
        ("business_central.tenant_id", settings.business_central.tenant_id.as_str()),
        ("business_central.environment", settings.business_central.environment.as_str()),
        ("business_central.company_id", settings.business_central.company_id.as_str()),
        ("business_central.client_id", settings.business_central.client_id.as_str()),
        ("business_central.scope", settings.business_central.scope.as_deref().unwrap_or("")),
    ];
    for (field, value) in texts {
        reject_control_characters(field, value)?;
    }
    for (leaflink_unit, bc_unit) in &settings.unit_map {
        reject_control_characters("unit_map", leaflink_unit)?;
        reject_control_characters("unit_map", bc_unit)?;
    }
    require("business_central.tenant_id", &settings.business_central.tenant_id)?;
    require("business_central.environment", &settings.business_central.environment)?;
    require("business_central.company_id", &settings.business_central.company_id)?;
    // BC addresses a company by its id, a GUID, in every company-scoped URL,
    // in the hyphenated form BC lists (36 characters, no braces). A company
    // name or another GUID form would only fail at the first run.
    let company_id = settings.business_central.company_id.trim();
    if company_id.len() != 36 || uuid::Uuid::try_parse(company_id).is_err() {
        return Err(ValidationError::Value {
            field: "business_central.company_id",
            value: shortened(&settings.business_central.company_id),
            reason: "not a GUID in the hyphenated form; BC's GET companies lists each company's id, such as f64eba74-dacd-4854-a584-1834f68cfc3a"
                .to_owned(),
        });
    }
    require("business_central.client_id", &settings.business_central.client_id)?;
    if settings.order_statuses_to_import.is_empty() {
        return Err(ValidationError::Missing { field: "order_statuses_to_import" });
    }
    for status in &settings.order_statuses_to_import {
        if !LEAFLINK_ORDER_STATUSES.iter().any(|known| known.eq_ignore_ascii_case(status.trim())) {
            return Err(ValidationError::Value {
                field: "order_statuses_to_import",
                value: status.clone(),
                reason: format!("not a LeafLink order status; use one of {}", LEAFLINK_ORDER_STATUSES.join(", ")),
            });
        }
    }
    for (leaflink_unit, bc_unit) in &settings.unit_map {
        if leaflink_unit.trim().is_empty() || bc_unit.trim().is_empty() {
            return Err(ValidationError::Value {
                field: "unit_map",
                value: format!("{leaflink_unit}={bc_unit}"),
                reason: "both unit names must be non-empty".to_owned(),
            });
        }
        // A BC unit of measure code is a Code[10]: no spaces, at most 10 characters.
        if bc_unit.chars().count() > 10 || bc_unit.chars().any(char::is_whitespace) {
            return Err(ValidationError::Value {
                field: "unit_map",
                value: format!("{leaflink_unit}={bc_unit}"),
                reason: "a BC unit of measure code has at most 10 characters and no spaces".to_owned(),
            });
        }
    }
    if settings.leaflink.recorded_by.is_some_and(|staff| staff <= 0) {
        return Err(ValidationError::Value {
            field: "leaflink.recorded_by",
            value: settings.leaflink.recorded_by.unwrap_or_default().to_string(),
            reason: "a LeafLink company-staff id is a positive number".to_owned(),
        });
    }
    validate_plugin_settings(&settings.plugin_settings)?;
    validate_limits(settings)?;
    Ok(())
}

/// Checks the plugin settings whose values leafbridge itself reads, and
/// rejects keys that name a built-in field or a credential, which a plugin
/// setting cannot set.
fn validate_plugin_settings(plugin_settings: &std::collections::BTreeMap<String, String>) -> Result<(), ValidationError> {
    for (key, value) in plugin_settings {
        if key.starts_with("leaflink.") || key.starts_with("business_central.") {
            return Err(ValidationError::Value {
                field: "plugin_settings",
                value: key.clone(),
                reason: "a tenant field or credential, not a plugin setting; use its own `tenant edit` flag \
                         (such as --leaflink-recorded-by) or `tenant credentials`"
                    .to_owned(),
            });
        }
        if key == "products.price_field" && !["wholesale_price", "retail_price", "sale_price"].contains(&value.trim()) {
            return Err(ValidationError::Value {
                field: "plugin_settings",
                value: format!("{key}={value}"),
                reason: "use wholesale_price, retail_price or sale_price".to_owned(),
            });
        }
    }
    Ok(())
}

/// Accepts names that are safe as a store key prefix, a URL path segment and
/// a metric label: lowercase ASCII letters, digits and `-`.
pub fn validate_name(name: &str) -> Result<(), ValidationError> {
    let well_formed = !name.is_empty()
        && name.len() <= MAX_TENANT_NAME_LEN
        && name.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && !name.starts_with('-');
    if well_formed { Ok(()) } else { Err(ValidationError::Name(shortened(name))) }
}

/// Returns the name as an error shows it: whole up to 80 characters, else
/// its first 64 and its length, so a pasted file does not fill the terminal.
pub fn shortened(name: &str) -> String {
    let length = name.chars().count();
    if length <= 80 {
        return name.to_owned();
    }
    let start: String = name.chars().take(64).collect();
    format!("{start}... ({length} characters)")
}

/// Accepts a name found in the bundled IANA time zone database.
pub fn validate_time_zone(name: &str) -> Result<(), ValidationError> {
    match jiff::tz::TimeZone::get(name) {
        Ok(_) => Ok(()),
        Err(_) => Err(ValidationError::TimeZone(name.to_owned())),
    }
}

/// Parses `go_live` as an RFC 3339 timestamp (a date alone is rejected,
/// because its instant would depend on a time zone the reader cannot see).
pub fn parse_go_live(value: &str) -> Result<jiff::Timestamp, ValidationError> {
    value.trim().parse::<jiff::Timestamp>().map_err(|error| ValidationError::GoLive {
        value: value.to_owned(),
        reason: error.to_string(),
    })
}

/// Accepts absolute `https` URLs with a host, and `http` only on loopback
/// (the local sandboxes), with no user name, password or fragment, so no
/// credential is ever stored in a URL.
pub fn validate_url(field: &'static str, value: &str) -> Result<(), ValidationError> {
    let invalid = |reason: &str| ValidationError::Url { field, value: value.to_owned(), reason: reason.to_owned() };

    let url = Url::parse(value).map_err(|error| invalid(&error.to_string()))?;
    let Some(host) = url.host_str() else {
        return Err(invalid("the URL has no host"));
    };
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(host) => {}
        "http" => return Err(invalid("plain http is allowed only for loopback hosts; use https")),
        _ => return Err(invalid("the scheme must be https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("the URL must not contain a user name or password"));
    }
    if url.fragment().is_some() {
        return Err(invalid("the URL must not contain a fragment"));
    }
    Ok(())
}

/// Accepts an http(s) URL, as [`validate_url`] does, or an email address.
fn validate_notify(value: &str) -> Result<(), ValidationError> {
    if value.contains("://") {
        return validate_url("notify", value);
    }
    match value.parse::<lettre::Address>() {
        Ok(_) => Ok(()),
        Err(error) => Err(ValidationError::Value {
            field: "notify",
            value: value.to_owned(),
            reason: format!("{error}; use an https URL or an email address"),
        }),
    }
}

/// Rejects control characters, which no identifier or account number has
/// and which would reach terminals and logs as escape sequences.
fn reject_control_characters(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.chars().any(char::is_control) {
        return Err(ValidationError::Value {
            field,
            value: value.to_owned(),
            reason: "control characters are not allowed".to_owned(),
        });
    }
    Ok(())
}

fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || bare.parse::<std::net::IpAddr>().is_ok_and(|address| address.is_loopback())
}

fn require(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() { Err(ValidationError::Missing { field }) } else { Ok(()) }
}

fn validate_limits(settings: &TenantSettings) -> Result<(), ValidationError> {
    let limits = [
        ("limits.memory_bytes", settings.limits.memory_bytes),
        ("limits.cpu_millis", settings.limits.cpu_millis),
        ("limits.wall_clock_millis", settings.limits.wall_clock_millis),
    ];
    for (field, value) in limits {
        if value == Some(0) {
            return Err(ValidationError::Value { field, value: "0".to_owned(), reason: "a limit must be greater than zero".to_owned() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        assert!(validate_name("acme-1").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("Acme").is_err());
        assert!(validate_name("-acme").is_err());
        assert!(validate_name("ac\0me").is_err());
        assert!(validate_name(&"a".repeat(MAX_TENANT_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn long_name_shortened_in_error() {
        let error = validate_name(&"a".repeat(100_000)).unwrap_err().to_string();
        assert!(error.len() < 300, "{} bytes", error.len());
        assert!(error.contains(&format!("{}... (100000 characters)", "a".repeat(64))), "{error}");
        assert_eq!(shortened("acme"), "acme");
    }

    #[test]
    fn time_zone_must_exist() {
        assert!(validate_time_zone("America/Los_Angeles").is_ok());
        assert!(validate_time_zone("Mars/Olympus_Mons").is_err());
    }

    #[test]
    fn go_live_must_be_rfc3339() {
        assert!(parse_go_live("2025-01-01T00:00:00Z").is_ok());
        assert!(parse_go_live("2025-01-01").is_err());
        assert!(parse_go_live("yesterday").is_err());
    }

    #[test]
    fn url_rules() {
        assert!(validate_url("f", "https://app.leaflink.com/api/v2").is_ok());
        assert!(validate_url("f", "http://127.0.0.1:8080/api/v2").is_ok());
        assert!(validate_url("f", "http://[::1]:8080/").is_ok());
        assert!(validate_url("f", "http://example.com/api").is_err());
        assert!(validate_url("f", "ftp://example.com/").is_err());
        assert!(validate_url("f", "https://user:pw@example.com/").is_err());
        assert!(validate_url("f", "not a url").is_err());
    }

    #[test]
    fn notify_takes_url_or_address() {
        assert!(validate_notify("https://hooks.example.com/leafbridge").is_ok());
        assert!(validate_notify("ops@acme.example").is_ok());
        assert!(validate_notify("http://example.com/hook").is_err());
        assert!(validate_notify("not an address").is_err());
        assert!(validate_notify("ops@acme.example\r\nBcc: all@example.com").is_err());
    }

    #[test]
    fn control_characters_rejected() {
        assert!(reject_control_characters("freight_account", "40100").is_ok());
        assert!(reject_control_characters("freight_account", "40\u{1b}[2J").is_err());
        assert!(reject_control_characters("business_central.environment", "prod\nuction").is_err());
    }
}
