//! The contract's `extras` value: the JSON text of one object that contains
//! every field a typed record does not name, `{}` when there are none.
//!
//! [`ExtrasWriter`] builds one by appending `"name":value` pairs, and
//! [`field`], [`set_field`] and [`entries`] read or change an existing one.
//! Keys are written escaped as JSON requires. Values are written as the
//! caller's JSON text, so numbers keep their exact digits.

use std::borrow::Cow;
use std::fmt;
use std::fmt::Write as _;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::fields::FieldError;

/// The extras of a record with no other fields.
pub const EMPTY: &str = "{}";

/// Builds an extras object by appending fields in order.
///
/// The writer does not check names for duplicates: each caller passes a name
/// once, or uses [`set_field`] on the finished text to replace a value.
#[derive(Debug, Clone, Default)]
pub struct ExtrasWriter {
    /// `{` followed by the pairs written so far, without the closing brace.
    text: String,
}

impl ExtrasWriter {
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// Creates a writer with room for `capacity` bytes before its buffer grows.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut text = String::with_capacity(capacity.max(2));
        text.push('{');
        ExtrasWriter { text }
    }

    /// True while no field has been written.
    pub fn is_empty(&self) -> bool {
        self.text.len() == 1
    }

    /// Appends `name` with `value`, which is valid JSON by its type.
    pub fn push_raw(&mut self, name: &str, value: &RawValue) {
        self.push_json_text(name, value.get());
    }

    /// Appends `name` with `value` as a JSON string.
    pub fn push_string(&mut self, name: &str, value: &str) {
        self.start_field(name);
        write_json_string(&mut self.text, value);
    }

    /// Appends `name` with the JSON number `value`.
    pub fn push_integer(&mut self, name: &str, value: i64) {
        self.start_field(name);
        let _ = write!(self.text, "{value}");
    }

    /// Appends `name` with `true` or `false`.
    pub fn push_bool(&mut self, name: &str, value: bool) {
        self.start_field(name);
        self.text.push_str(if value { "true" } else { "false" });
    }

    /// Appends `name` with `value` as compact JSON.
    pub fn push_json(&mut self, name: &str, value: &serde_json::Value) {
        self.start_field(name);
        // `Value`'s `Display` writes compact JSON, and writing to a `String`
        // cannot fail.
        let _ = write!(self.text, "{value}");
    }

    /// Returns the finished JSON object text.
    pub fn finish(mut self) -> String {
        self.text.push('}');
        self.text
    }

    /// Appends `name` with `json`, which the caller has checked is valid JSON.
    pub fn push_json_text(&mut self, name: &str, json: &str) {
        self.start_field(name);
        self.text.push_str(json);
    }

    /// Writes the separator and the escaped key with its colon.
    fn start_field(&mut self, name: &str) {
        if !self.is_empty() {
            self.text.push(',');
        }
        write_json_string(&mut self.text, name);
        self.text.push(':');
    }
}

/// Returns the raw JSON text of field `name` in `extras`, or `None` when the
/// object has no such field. When a name occurs twice, the last value counts,
/// as most JSON readers do.
pub fn field<'e>(extras: &'e str, name: &str) -> Result<Option<&'e str>, FieldError> {
    let entries = entries(extras)?;
    let value = entries.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value.get());
    Ok(value)
}

/// Sets field `name` of `extras` to `json`: replaces the value in place when
/// the field exists, else appends the field. `json` must be valid JSON.
pub fn set_field(extras: &mut String, name: &str, json: &str) -> Result<(), FieldError> {
    let value = serde_json::from_str::<&RawValue>(json).map_err(|error| FieldError {
        field: name.to_string(),
        reason: format!("the new value is not valid JSON: {error}"),
    })?;
    let mut writer = ExtrasWriter::with_capacity(extras.len() + name.len() + json.len() + 4);
    let mut replaced = false;
    for (key, old) in entries(extras)? {
        if key == name {
            // A repeated name keeps only the first position, with the new value.
            if !replaced {
                writer.push_raw(&key, value);
                replaced = true;
            }
        } else {
            writer.push_raw(&key, old);
        }
    }
    if !replaced {
        writer.push_raw(name, value);
    }
    *extras = writer.finish();
    Ok(())
}

/// Returns the fields of `extras` in source order, each with its raw value.
/// An empty string counts as an object with no fields.
pub fn entries(extras: &str) -> Result<Vec<(Cow<'_, str>, &RawValue)>, FieldError> {
    if extras.trim().is_empty() {
        return Ok(Vec::new());
    }
    object_entries(extras).map_err(|error| FieldError {
        field: String::new(),
        reason: format!("the extras are not a JSON object: {error}"),
    })
}

/// True when `extras` has no fields: `{}` with any whitespace, or an empty string.
pub fn is_empty(extras: &str) -> bool {
    let text = extras.trim();
    text.is_empty() || text.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')).is_some_and(|inner| inner.trim().is_empty())
}

/// Splits the JSON object `text` into its keys and raw values, in source
/// order. A key is borrowed from `text` unless it contains an escape.
pub(crate) fn object_entries(text: &str) -> Result<Vec<(Cow<'_, str>, &RawValue)>, serde_json::Error> {
    serde_json::from_str::<ObjectEntries<'_>>(text).map(|object| object.0)
}

/// The entries of a JSON object and, when the object has the field
/// `list_key`, the entries of each object in that list.
pub(crate) type SplitObject<'a> = (Vec<(Cow<'a, str>, &'a RawValue)>, Option<Vec<Vec<(Cow<'a, str>, &'a RawValue)>>>);

/// Splits the JSON object `text` like [`object_entries`], except that the
/// field `list_key` is not kept as a raw value: its value must be a list of
/// objects, and each object is split in the same pass over the text. When
/// the key repeats, the last list counts. Fails when `text` or that field has
/// another shape.
pub(crate) fn object_entries_with_list<'a>(text: &'a str, list_key: &str) -> Result<SplitObject<'a>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let split = (&mut deserializer).deserialize_map(SplitVisitor { list_key })?;
    deserializer.end()?;
    Ok(split)
}

struct SplitVisitor<'k> {
    list_key: &'k str,
}

impl<'de> Visitor<'de> for SplitVisitor<'_> {
    type Value = SplitObject<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "a JSON object whose {:?} is a list of objects", self.list_key)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(32));
        let mut list = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if key == self.list_key {
                let objects: Vec<ObjectEntries<'de>> = map.next_value()?;
                list = Some(objects.into_iter().map(|object| object.0).collect());
            } else {
                let value: &'de RawValue = map.next_value()?;
                entries.push((key, value));
            }
        }
        Ok((entries, list))
    }
}

struct ObjectEntries<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for ObjectEntries<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = ObjectEntries<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value: &'de RawValue = map.next_value()?;
            entries.push((key, value));
        }
        Ok(ObjectEntries(entries))
    }
}

/// Reads an object key without allocating unless it contains an escape.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(value))
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(value.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(value))
    }
}

/// Appends `value` to `out` as a JSON string: quotes, backslashes and control
/// characters escaped, everything else (non-ASCII included) written as is.
pub fn write_json_string(out: &mut String, value: &str) {
    out.reserve(value.len() + 2);
    out.push('"');
    let mut start = 0;
    for (index, byte) in value.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&value[start..index]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = index + 1;
    }
    out.push_str(&value[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> &RawValue {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn empty_writer_writes_empty_object() {
        let writer = ExtrasWriter::new();
        assert!(writer.is_empty());
        assert_eq!(writer.finish(), EMPTY);
    }

    #[test]
    fn writer_output_parses_back() {
        let mut writer = ExtrasWriter::new();
        writer.push_raw("brand", raw("49"));
        writer.push_integer("id", -9_223_372_036_854_775_808);
        writer.push_bool("archived", false);
        writer.push_string("say \"hi\"", "back\\slash\nnew line");
        writer.push_string("größe", "😀 Zürich");
        writer.push_json("list", &serde_json::json!(["a", "b"]));
        writer.push_string("bell", "\u{7}\u{0}\u{1f}");
        let text = writer.finish();

        let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["brand"], serde_json::json!(49));
        assert_eq!(parsed["say \"hi\""], "back\\slash\nnew line");
        assert_eq!(parsed["größe"], "😀 Zürich");
        assert_eq!(parsed["list"], serde_json::json!(["a", "b"]));
        assert_eq!(parsed["bell"], "\u{7}\u{0}\u{1f}");
        assert_eq!(parsed["id"], serde_json::json!(-9_223_372_036_854_775_808_i64));
        assert_eq!(parsed["archived"], serde_json::json!(false));
        assert_eq!(parsed.len(), 7);
    }

    #[test]
    fn escapes_match_serde_json() {
        let text = "quote \" backslash \\ newline \n tab \t cr \r bs \u{8} ff \u{c} nul \u{0} del \u{7f} é 😀";
        let mut ours = String::new();
        write_json_string(&mut ours, text);
        assert_eq!(ours, serde_json::to_string(text).unwrap());
    }

    #[test]
    fn field_returns_raw_text() {
        let extras = r#"{"brand":49,"price":{"amount":"1.10"},"name":"Bl\"ue","x":null}"#;
        assert_eq!(field(extras, "brand").unwrap(), Some("49"));
        assert_eq!(field(extras, "price").unwrap(), Some(r#"{"amount":"1.10"}"#));
        assert_eq!(field(extras, "name").unwrap(), Some(r#""Bl\"ue""#));
        assert_eq!(field(extras, "x").unwrap(), Some("null"));
        assert_eq!(field(extras, "missing").unwrap(), None);
    }

    #[test]
    fn field_finds_escaped_and_non_ascii_keys() {
        let extras = r#"{"a\"b":1,"back\\slash":2,"Zürich":3,"\u00e9":4}"#;
        assert_eq!(field(extras, "a\"b").unwrap(), Some("1"));
        assert_eq!(field(extras, "back\\slash").unwrap(), Some("2"));
        assert_eq!(field(extras, "Zürich").unwrap(), Some("3"));
        assert_eq!(field(extras, "é").unwrap(), Some("4"));
    }

    #[test]
    fn field_takes_last_duplicate() {
        assert_eq!(field(r#"{"a":1,"a":2}"#, "a").unwrap(), Some("2"));
    }

    #[test]
    fn field_rejects_non_object() {
        let error = field("[1,2]", "a").unwrap_err();
        assert!(error.reason.contains("not a JSON object"), "{}", error.reason);
        assert!(field("{\"a\":", "a").is_err());
    }

    #[test]
    fn empty_string_reads_as_no_fields() {
        assert_eq!(field("", "a").unwrap(), None);
        assert!(entries("  ").unwrap().is_empty());
    }

    #[test]
    fn set_field_replaces_in_place() {
        let mut extras = r#"{"a":1,"b":"two","c":[3]}"#.to_string();
        set_field(&mut extras, "b", r#""zwei \"2\"""#).unwrap();
        assert_eq!(extras, r#"{"a":1,"b":"zwei \"2\"","c":[3]}"#);
    }

    #[test]
    fn set_field_appends_new_field() {
        let mut extras = EMPTY.to_string();
        set_field(&mut extras, "größe", "12.50").unwrap();
        set_field(&mut extras, "q\"uote", "true").unwrap();
        assert_eq!(extras, r#"{"größe":12.50,"q\"uote":true}"#);
        assert_eq!(field(&extras, "q\"uote").unwrap(), Some("true"));
    }

    #[test]
    fn set_field_merges_duplicates() {
        let mut extras = r#"{"a":1,"b":2,"a":3}"#.to_string();
        set_field(&mut extras, "a", "4").unwrap();
        assert_eq!(extras, r#"{"a":4,"b":2}"#);
    }

    #[test]
    fn set_field_rejects_invalid_value() {
        let mut extras = r#"{"a":1}"#.to_string();
        let error = set_field(&mut extras, "b", "not json").unwrap_err();
        assert_eq!(error.field, "b");
        assert_eq!(extras, r#"{"a":1}"#);
    }

    #[test]
    fn set_field_keeps_escaped_keys_escaped() {
        let mut extras = r#"{"back\\slash":1,"line\nbreak":2}"#.to_string();
        set_field(&mut extras, "x", "0").unwrap();
        assert_eq!(extras, r#"{"back\\slash":1,"line\nbreak":2,"x":0}"#);
    }

    #[test]
    fn entries_borrow_plain_keys() {
        let entries = entries(r#"{"plain":1,"esc\"aped":2}"#).unwrap();
        assert!(matches!(entries[0].0, Cow::Borrowed("plain")));
        assert!(matches!(&entries[1].0, Cow::Owned(key) if key == "esc\"aped"));
    }

    #[test]
    fn is_empty_accepts_whitespace() {
        assert!(is_empty("{}"));
        assert!(is_empty(" { \n } "));
        assert!(is_empty(""));
        assert!(!is_empty(r#"{"a":1}"#));
    }
}
