//! Constructors for the `plugin-error` values the mappings return.

use crate::types::{PluginError, RecordError};

/// Returns an `invalid-record` error: `record` names the record ("order 3f2a... line
/// 17"), `field` the field at fault.
pub fn invalid_record(record: impl Into<String>, field: Option<&str>, reason: impl Into<String>) -> PluginError {
    PluginError::InvalidRecord(RecordError {
        record: record.into(),
        field: field.map(str::to_string),
        reason: reason.into(),
    })
}

/// Returns a `configuration` error about one tenant setting.
pub fn configuration(reason: impl Into<String>) -> PluginError {
    PluginError::Configuration(reason.into())
}

/// Parses the decimal string `text` of `field`, or names the record and the
/// field in an `invalid-record` error.
pub fn decimal_field(record: &str, field: &str, text: &str) -> Result<rust_decimal::Decimal, PluginError> {
    decimal_field_with(|| record.to_owned(), field, text)
}

/// Parses like [`decimal_field`], but builds the record name only when `text`
/// is invalid, so a per-line caller does not format a name it never uses.
pub fn decimal_field_with(
    record: impl FnOnce() -> String,
    field: &str,
    text: &str,
) -> Result<rust_decimal::Decimal, PluginError> {
    crate::pricing::parse_decimal(text)
        .ok_or_else(|| invalid_record(record(), Some(field), format!("{text:?} is not a decimal number")))
}
