//! Tolerant reading of one JSON object: typed fields are taken out by name and
//! every field left over goes into the record's `extras` object with its exact
//! source text.
//!
//! The object is split into raw values first (`serde_json::value::RawValue`),
//! so each typed field is parsed straight from its text and numbers keep their
//! exact digits (`arbitrary_precision`), and unknown fields are never parsed.

use std::borrow::Cow;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::extras::{object_entries, object_entries_with_list, ExtrasWriter};
use crate::types::Money;

/// A field that could not be read, and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

/// The fields of one JSON object, not yet taken.
pub struct Fields<'a> {
    /// Sorted by key, one entry per key: the last value when the object
    /// repeats a key, as most JSON readers do. `None` once the field is taken.
    /// A key is borrowed from the source text unless it contains an escape, so
    /// splitting an object allocates no string for a plain key.
    entries: Vec<(Cow<'a, str>, Option<&'a RawValue>)>,
}

impl<'a> Fields<'a> {
    /// Splits `raw`, which must be a JSON object, into its fields.
    pub fn new(raw: &'a RawValue) -> Result<Self, FieldError> {
        let parsed = object_entries(raw.get())
            .map_err(|e| FieldError { field: String::new(), reason: format!("expected a JSON object: {e}") })?;
        Ok(Self::from_entries(parsed))
    }

    /// Splits `raw`, a JSON object, into its fields and, when it has the field
    /// `list_key`, the fields of each object in that list, in one pass over
    /// the text. The list field itself is not among the returned fields.
    ///
    /// Returns `None` when `raw` or the list has another shape (a `null` list
    /// included), so the caller can fall back to [`Fields::new`] and report
    /// the problem with its usual errors.
    pub fn with_object_list(raw: &'a RawValue, list_key: &str) -> Option<(Self, Option<Vec<Fields<'a>>>)> {
        let (entries, list) = object_entries_with_list(raw.get(), list_key).ok()?;
        let list = list.map(|objects| objects.into_iter().map(Self::from_entries).collect());
        Some((Self::from_entries(entries), list))
    }

    fn from_entries(parsed: Vec<(Cow<'a, str>, &'a RawValue)>) -> Self {
        let mut entries: Vec<_> = parsed.into_iter().map(|(key, value)| (key, Some(value))).collect();
        // A stable sort keeps repeated keys in source order, and `dedup_by`
        // then moves the later value into the entry it keeps.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, kept| {
            if later.0 != kept.0 {
                return false;
            }
            std::mem::swap(&mut later.1, &mut kept.1);
            true
        });
        Fields { entries }
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.binary_search_by(|(name, _)| name.as_ref().cmp(key)).ok()
    }

    /// Removes `key`; an explicit `null` counts as absent.
    pub fn take_raw(&mut self, key: &str) -> Option<&'a RawValue> {
        let index = self.position(key)?;
        // A `RawValue` the parser returns has no surrounding whitespace.
        self.entries[index].1.take().filter(|raw| raw.get() != "null")
    }

    /// Returns the raw value of `key`, left in place.
    pub fn peek(&self, key: &str) -> Option<&'a RawValue> {
        self.entries[self.position(key)?].1
    }

    /// Returns a string field; numbers and booleans are accepted as their text.
    pub fn string(&mut self, key: &str) -> Result<Option<String>, FieldError> {
        let Some(raw) = self.take_raw(key) else { return Ok(None) };
        scalar_text(raw).map(Some).ok_or_else(|| invalid(key, "expected a string"))
    }

    /// Returns an integer id, sent as a number, as a numeric string, or as an object
    /// with an `id` (LeafLink expands some references).
    pub fn integer(&mut self, key: &str) -> Result<Option<i64>, FieldError> {
        let Some(raw) = self.take_raw(key) else { return Ok(None) };
        integer_value(raw).map(Some).ok_or_else(|| invalid(key, &format!("expected an integer id, got {}", short(raw.get()))))
    }

    pub fn boolean(&mut self, key: &str) -> Result<Option<bool>, FieldError> {
        let Some(raw) = self.take_raw(key) else { return Ok(None) };
        match raw.get() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            text if text.starts_with('"') => match string_text(text) {
                Some(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
                Some(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
                _ => Err(invalid(key, "expected a boolean")),
            },
            _ => Err(invalid(key, "expected a boolean")),
        }
    }

    /// Returns a decimal sent as a JSON number or a string, as a canonical string.
    pub fn decimal(&mut self, key: &str) -> Result<Option<String>, FieldError> {
        let Some(raw) = self.take_raw(key) else { return Ok(None) };
        decimal_value(raw).map(Some).ok_or_else(|| invalid(key, &format!("expected a decimal, got {}", short(raw.get()))))
    }

    /// Returns a money value: `{amount, currency}` with `amount` a number or a string,
    /// or a bare amount in `default_currency`.
    pub fn money(&mut self, key: &str, default_currency: &str) -> Result<Option<Money>, FieldError> {
        let Some(raw) = self.take_raw(key) else { return Ok(None) };
        money_value(raw, default_currency).map_err(|reason| invalid(key, &reason))
    }

    /// Returns a date-time with any offset, as RFC 3339 UTC (`Z`).
    pub fn timestamp(&mut self, key: &str) -> Result<Option<String>, FieldError> {
        let Some(text) = self.string(key)? else { return Ok(None) };
        if text.trim().is_empty() {
            return Ok(None);
        }
        normalise_timestamp(&text).map(Some).ok_or_else(|| invalid(key, &format!("{text:?} is not a date-time")))
    }

    /// Returns a list of integer ids; elements may be ids or objects with an `id`.
    pub fn id_list(&mut self, key: &str) -> Result<Vec<i64>, FieldError> {
        let Some(raw) = self.take_raw(key) else { return Ok(Vec::new()) };
        let items = serde_json::from_str::<Vec<&RawValue>>(raw.get()).map_err(|_| invalid(key, "expected a list"))?;
        items
            .into_iter()
            .map(|item| integer_value(item).ok_or_else(|| invalid(key, &format!("expected an id, got {}", short(item.get())))))
            .collect()
    }

    /// Parses `key` as `T` with serde.
    pub fn typed<T: Deserialize<'a>>(&mut self, key: &str) -> Result<Option<T>, FieldError> {
        let Some(raw) = self.take_raw(key) else { return Ok(None) };
        serde_json::from_str(raw.get()).map(Some).map_err(|e| invalid(key, &e.to_string()))
    }

    /// Returns the `extras` object: every field not taken, with its exact
    /// JSON text, in key order.
    pub fn into_extras(self) -> String {
        self.into_extras_writer().finish()
    }

    /// Returns a writer that contains every field not taken, in key order, for
    /// a caller that appends fields of its own before finishing it.
    pub fn into_extras_writer(self) -> ExtrasWriter {
        let left: Vec<_> = self.entries.into_iter().filter_map(|(key, value)| Some((key, value?))).collect();
        // Each pair needs its key and value plus two quotes, a colon and a
        // comma. A key with escapes may need a little more, so this is an estimate.
        let length: usize = left.iter().map(|(key, value)| key.len() + value.get().len() + 4).sum();
        let mut writer = ExtrasWriter::with_capacity(length + 2);
        for (key, value) in &left {
            writer.push_raw(key, value);
        }
        writer
    }
}

fn invalid(field: &str, reason: &str) -> FieldError {
    FieldError { field: field.to_string(), reason: reason.to_string() }
}

/// At most 60 characters of `text`, for error messages.
fn short(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((index, _)) => format!("{}...", &text[..index]),
        None => text.to_string(),
    }
}

/// Returns the text of a string, number or boolean, read straight from the
/// raw JSON, which the parser has already checked.
fn scalar_text(raw: &RawValue) -> Option<String> {
    let text = raw.get().trim();
    match text.as_bytes().first()? {
        b'"' => string_text(text).map(Cow::into_owned),
        // With `arbitrary_precision` a number's text is its exact digits, as
        // `serde_json::Number` would print them.
        b'-' | b'0'..=b'9' | b't' | b'f' => Some(text.to_string()),
        _ => None,
    }
}

/// Returns the value of the JSON string literal `text`, borrowed unless it
/// contains an escape.
fn string_text(text: &str) -> Option<Cow<'_, str>> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        return serde_json::from_str::<String>(text).ok().map(Cow::Owned);
    }
    Some(Cow::Borrowed(inner))
}

/// Returns an integer id from a number, a numeric string or an object with an `id`.
pub fn integer_value(raw: &RawValue) -> Option<i64> {
    let text = raw.get().trim();
    if text.starts_with('{') {
        let mut object = Fields::new(raw).ok()?;
        return object.integer("id").ok().flatten();
    }
    scalar_text(raw)?.trim().parse().ok()
}

/// Returns a canonical decimal string (no exponent, no trailing zeros).
pub fn canonical_decimal(text: &str) -> Option<String> {
    let text = text.trim();
    let value = Decimal::from_str(text).ok().or_else(|| Decimal::from_scientific(text).ok())?;
    Some(value.normalize().to_string())
}

fn decimal_value(raw: &RawValue) -> Option<String> {
    canonical_decimal(&scalar_text(raw)?)
}

fn money_value(raw: &RawValue, default_currency: &str) -> Result<Option<Money>, String> {
    if raw.get().trim_start().starts_with('{') {
        let mut object = Fields::new(raw).map_err(|e| e.reason)?;
        let Some(amount) = object.decimal("amount").map_err(|e| e.reason)? else { return Ok(None) };
        let currency = object.string("currency").map_err(|e| e.reason)?.unwrap_or_else(|| default_currency.to_string());
        return Ok(Some(Money { amount, currency }));
    }
    let amount = decimal_value(raw).ok_or_else(|| format!("expected a money value, got {}", short(raw.get())))?;
    Ok(Some(Money { amount, currency: default_currency.to_string() }))
}

/// RFC 3339 UTC for a date-time with an offset. A value without an offset, or
/// a bare date, is read as UTC, the server time zone LeafLink documents.
pub fn normalise_timestamp(text: &str) -> Option<String> {
    let text = text.trim();
    if let Ok(ts) = jiff::Timestamp::from_str(text) {
        return Some(ts.to_string());
    }
    if let Ok(dt) = jiff::civil::DateTime::from_str(text) {
        return dt.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp().to_string());
    }
    if let Ok(date) = jiff::civil::Date::from_str(text) {
        return date.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp().to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: &str) -> Fields<'_> {
        let raw: &RawValue = serde_json::from_str(json).unwrap();
        Fields::new(raw).unwrap()
    }

    #[test]
    fn money_as_number_or_string() {
        let mut object = fields(r#"{"a":{"amount":210.40,"currency":"USD"},"b":{"amount":"594.00","currency":"USD"},"c":"12.5"}"#);
        assert_eq!(object.money("a", "USD").unwrap().unwrap().amount, "210.4");
        assert_eq!(object.money("b", "USD").unwrap().unwrap().amount, "594");
        let bare = object.money("c", "CAD").unwrap().unwrap();
        assert_eq!((bare.amount.as_str(), bare.currency.as_str()), ("12.5", "CAD"));
    }

    #[test]
    fn scalars_read_from_raw_text() {
        let mut object = fields(r#"{"plain":"a b","escaped":"a\"b\u00e9","number":-1.50e3,"flag":true,"text_flag":"FALSE","list":[1]}"#);
        assert_eq!(object.string("plain").unwrap().as_deref(), Some("a b"));
        assert_eq!(object.string("escaped").unwrap().as_deref(), Some("a\"bé"));
        assert_eq!(object.string("number").unwrap().as_deref(), Some("-1.50e3"));
        assert_eq!(object.boolean("flag").unwrap(), Some(true));
        assert_eq!(object.boolean("text_flag").unwrap(), Some(false));
        assert_eq!(object.string("list").unwrap_err().field, "list");
    }

    #[test]
    fn object_list_split_in_one_pass() {
        let raw: &RawValue = serde_json::from_str(r#"{"id":1,"items":[{"b":2,"a":1}],"x":"y","items":[{"c":3},{"d":4}]}"#).unwrap();
        let (mut object, items) = Fields::with_object_list(raw, "items").unwrap();
        let items = items.unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].peek("d").unwrap().get(), "4");
        assert!(object.take_raw("items").is_none());
        assert_eq!(object.integer("id").unwrap(), Some(1));
        assert_eq!(object.into_extras(), r#"{"x":"y"}"#);
    }

    #[test]
    fn object_list_other_shapes_rejected() {
        for json in [r#"{"items":null}"#, r#"{"items":[1]}"#, r#"{"items":{}}"#, "[]"] {
            let raw: &RawValue = serde_json::from_str(json).unwrap();
            assert!(Fields::with_object_list(raw, "items").is_none(), "{json}");
        }
        let raw: &RawValue = serde_json::from_str(r#"{"id":1}"#).unwrap();
        let (_, items) = Fields::with_object_list(raw, "items").unwrap();
        assert!(items.is_none());
    }

    #[test]
    fn large_numbers_stay_exact() {
        let mut object = fields(r#"{"q":12345678901234567.123456789}"#);
        assert_eq!(object.decimal("q").unwrap().as_deref(), Some("12345678901234567.123456789"));
    }

    #[test]
    fn timestamp_offset_normalised() {
        let mut object = fields(r#"{"t":"2020-06-10T15:15:03.776119-06:00","u":"2024-01-15 06:00"}"#);
        assert_eq!(object.timestamp("t").unwrap().as_deref(), Some("2020-06-10T21:15:03.776119Z"));
        assert_eq!(object.timestamp("u").unwrap().as_deref(), Some("2024-01-15T06:00:00Z"));
    }

    #[test]
    fn integer_from_string_or_object() {
        let mut object = fields(r#"{"a":"2093","b":2093,"c":{"id":2093,"sku":"X"},"d":"x"}"#);
        assert_eq!(object.integer("a").unwrap(), Some(2093));
        assert_eq!(object.integer("b").unwrap(), Some(2093));
        assert_eq!(object.integer("c").unwrap(), Some(2093));
        assert_eq!(object.integer("d").unwrap_err().field, "d");
    }

    #[test]
    fn leftovers_become_extras_verbatim() {
        let mut object = fields(r#"{"id":1,"external_ids":{"system-name":"45897"},"credits":"420.10","x":null}"#);
        object.integer("id").unwrap();
        assert_eq!(object.into_extras(), r#"{"credits":"420.10","external_ids":{"system-name":"45897"},"x":null}"#);
    }

    #[test]
    fn no_leftovers_give_empty_object() {
        let mut object = fields(r#"{"id":1}"#);
        object.integer("id").unwrap();
        assert_eq!(object.into_extras(), "{}");
    }

    #[test]
    fn leftover_keys_stay_escaped() {
        let object = fields(r#"{"q\"uote":1,"back\\slash":"a\\b","Zürich \u00e9":"😀","line\nbreak":2}"#);
        let extras = object.into_extras();
        let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&extras).unwrap();
        assert_eq!(parsed["q\"uote"], serde_json::json!(1));
        assert_eq!(parsed["back\\slash"], "a\\b");
        assert_eq!(parsed["Zürich é"], "😀");
        assert_eq!(parsed["line\nbreak"], serde_json::json!(2));
        assert_eq!(parsed.len(), 4);
    }

    #[test]
    fn escaped_key_can_be_taken() {
        let mut object = fields(r#"{"na\u006de":"x","other":1}"#);
        assert_eq!(object.string("name").unwrap().as_deref(), Some("x"));
        assert_eq!(object.into_extras(), r#"{"other":1}"#);
    }

    #[test]
    fn repeated_key_keeps_last_value() {
        let mut object = fields(r#"{"a":1,"b":2,"a":3}"#);
        assert_eq!(object.peek("a").unwrap().get(), "3");
        assert_eq!(object.integer("a").unwrap(), Some(3));
        assert_eq!(object.into_extras(), r#"{"b":2}"#);
    }

    #[test]
    fn taken_field_is_gone() {
        let mut object = fields(r#"{"a":1,"b":null}"#);
        assert_eq!(object.integer("a").unwrap(), Some(1));
        assert!(object.peek("a").is_none());
        assert!(object.take_raw("a").is_none());
        assert!(object.take_raw("b").is_none());
        assert_eq!(object.into_extras(), "{}");
    }

    #[test]
    fn writer_appends_after_leftovers() {
        let object = fields(r#"{"z":1}"#);
        let mut writer = object.into_extras_writer();
        writer.push_string("available_transitions", "x");
        assert_eq!(writer.finish(), r#"{"z":1,"available_transitions":"x"}"#);
    }

    #[test]
    fn non_object_is_rejected() {
        let raw: &RawValue = serde_json::from_str("[1]").unwrap();
        let error = Fields::new(raw).err().unwrap();
        assert!(error.reason.contains("expected a JSON object"), "{}", error.reason);
    }
}
