//! Writing JSON straight into bytes, for the responses that are too hot to
//! build as a `serde_json::Value` tree first. The bytes equal what
//! serializing the equivalent tree gives: object keys come out sorted, as
//! serde_json's default `BTreeMap`-backed map sorts them, and strings and
//! numbers are written the way serde_json writes them.

use std::fmt::Display;
use std::io::Write as _;

use rust_decimal::Decimal;

/// Keys of an object to write: a list to keep and a list to drop, as
/// LeafLink's `fields_include` and `fields_exclude` give them.
#[derive(Debug, Default, Clone)]
pub struct FieldFilter<'q> {
    pub include: Option<Vec<&'q str>>,
    pub exclude: Option<Vec<&'q str>>,
}

impl FieldFilter<'_> {
    pub fn keeps(&self, key: &str) -> bool {
        self.include.as_ref().is_none_or(|include| include.contains(&key))
            && self.exclude.as_ref().is_none_or(|exclude| !exclude.contains(&key))
    }
}

/// One JSON object under construction. Values are written into a scratch
/// buffer in any order, and `finish` sorts the keys before it copies them out.
pub struct ObjectWriter<'k> {
    filter: Option<&'k FieldFilter<'k>>,
    values: Vec<u8>,
    /// Key and the byte range of its value in `values`.
    entries: Vec<(&'k str, usize, usize)>,
}

impl<'k> ObjectWriter<'k> {
    /// Starts an object of about `fields` keys. `filter` drops keys before
    /// their values are written.
    pub fn new(filter: Option<&'k FieldFilter<'k>>, fields: usize) -> Self {
        Self { filter, values: Vec::with_capacity(fields * 24), entries: Vec::with_capacity(fields) }
    }

    /// Writes the value of `key` with `write`, unless the filter drops the key.
    pub fn field(&mut self, key: &'k str, write: impl FnOnce(&mut Vec<u8>)) {
        self.try_field(key, |out| {
            write(out);
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap_or_else(|never| match never {});
    }

    /// Like `field`, for a value whose writing can fail. On an error the
    /// object is left unusable and should be dropped.
    pub fn try_field<E>(&mut self, key: &'k str, write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<(), E> {
        if self.filter.is_some_and(|filter| !filter.keeps(key)) {
            return Ok(());
        }
        let start = self.values.len();
        write(&mut self.values)?;
        self.entries.push((key, start, self.values.len()));
        Ok(())
    }

    pub fn raw(&mut self, key: &'k str, json: &str) {
        self.field(key, |out| out.extend_from_slice(json.as_bytes()));
    }

    pub fn str(&mut self, key: &'k str, text: &str) {
        self.field(key, |out| write_str(out, text));
    }

    pub fn optional_str(&mut self, key: &'k str, text: Option<&str>) {
        self.field(key, |out| write_optional_str(out, text));
    }

    pub fn bool(&mut self, key: &'k str, value: bool) {
        self.raw(key, if value { "true" } else { "false" });
    }

    /// Writes an integer, which `Display` formats as JSON does.
    pub fn integer(&mut self, key: &'k str, value: impl Display) {
        self.field(key, |out| write_display(out, value));
    }

    pub fn optional_integer(&mut self, key: &'k str, value: Option<u32>) {
        self.field(key, |out| match value {
            Some(value) => write_display(out, value),
            None => out.extend_from_slice(b"null"),
        });
    }

    /// Appends the object to `out`, keys in ascending byte order. A key
    /// written twice keeps its last value, as a map insert does.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        // Value offsets grow in write order, so sorting by key and offset
        // keeps repeated keys in write order without a stable sort's buffer.
        // The last one of each run is the one written below.
        self.entries.sort_unstable_by(|left, right| left.0.cmp(right.0).then(left.1.cmp(&right.1)));
        out.push(b'{');
        let mut first = true;
        for (position, &(key, start, end)) in self.entries.iter().enumerate() {
            if self.entries.get(position + 1).is_some_and(|next| next.0 == key) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            write_str(out, key);
            out.push(b':');
            out.extend_from_slice(&self.values[start..end]);
        }
        out.push(b'}');
    }
}

/// Writes a JSON string with serde_json's escaping.
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    // Serializing a `str` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

pub fn write_optional_str(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => write_str(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

pub fn write_display(out: &mut Vec<u8>, value: impl Display) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{value}");
}

/// Writes a decimal as a JSON number with its exact digits and trailing
/// zeros dropped (`594`, `210.4`), or as a string if that text is not a JSON
/// number.
pub fn write_decimal_number(out: &mut Vec<u8>, value: Decimal) {
    let start = out.len();
    write_display(out, value.normalize());
    if !is_json_number(&out[start..]) {
        let text = String::from_utf8_lossy(&out[start..]).into_owned();
        out.truncate(start);
        write_str(out, &text);
    }
}

/// Checks the JSON number grammar, `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn is_json_number(text: &[u8]) -> bool {
    let digits = |text: &[u8]| text.iter().take_while(|byte| byte.is_ascii_digit()).count();
    let mut rest = text.strip_prefix(b"-").unwrap_or(text);
    let integer = digits(rest);
    if integer == 0 || (integer > 1 && rest[0] == b'0') {
        return false;
    }
    rest = &rest[integer..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let count = digits(fraction);
        if count == 0 {
            return false;
        }
        rest = &fraction[count..];
    }
    if let Some(exponent) = rest.strip_prefix(b"e").or_else(|| rest.strip_prefix(b"E")) {
        let exponent = exponent.strip_prefix(b"+").or_else(|| exponent.strip_prefix(b"-")).unwrap_or(exponent);
        let count = digits(exponent);
        if count == 0 {
            return false;
        }
        rest = &exponent[count..];
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn json_number_check_matches_serde_json() {
        let texts = [
            "0", "-0", "7", "594", "210.4", "-3.25", "0.001", "1e5", "1E+5", "2.5e-3", "", "-", "01", "1.", ".5", "1e", "+1",
            "1.2.3", "NaN", "1 ", "00.5",
        ];
        for text in texts {
            assert_eq!(is_json_number(text.as_bytes()), text.parse::<serde_json::Number>().is_ok(), "{text:?}");
        }
    }

    #[test]
    fn decimal_number_drops_trailing_zeros() {
        for (decimal, expected) in [("594.000", "594"), ("210.40", "210.4"), ("-0.50", "-0.5"), ("0.00", "0")] {
            let mut out = Vec::new();
            write_decimal_number(&mut out, Decimal::from_str(decimal).expect("decimal"));
            assert_eq!(String::from_utf8(out).expect("UTF-8"), expected, "{decimal}");
        }
    }
}
