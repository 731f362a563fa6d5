//! Measures the length of a value's compact JSON encoding, as `serde_json`
//! would write it, without formatting the value.
//!
//! The output limit of a plugin call is defined on the JSON encoding, but
//! writing that encoding just to count its bytes cost a large share of a short
//! call. This serializer walks the same serde data model and adds up lengths:
//! a string costs its bytes plus its escapes and quotes, an integer its digits.
//! The tests check the count against `serde_json::to_vec` for every shape the
//! contract's records use.

use serde::ser::{self, Serialize};

/// The name `serde_json` (with `arbitrary_precision`) gives the struct that
/// carries a `Number`'s source text, which it writes without quotes.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Returns the length in bytes of `value`'s compact JSON encoding, or `None`
/// once it exceeds `limit` or when `value` cannot be encoded as JSON.
pub(crate) fn json_len_within<T: Serialize + ?Sized>(value: &T, limit: u64) -> Option<u64> {
    let mut counter = Counter { total: 0, limit };
    value.serialize(&mut counter).ok()?;
    Some(counter.total)
}

struct Counter {
    total: u64,
    limit: u64,
}

/// The reason counting stopped.
#[derive(Debug)]
enum Stop {
    LimitReached,
    /// The value has a shape JSON cannot encode, such as a map with
    /// non-string keys. `serde_json` raises an error for it too.
    Unsupported(String),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::LimitReached => f.write_str("the JSON encoding exceeds the limit"),
            Stop::Unsupported(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<M: std::fmt::Display>(message: M) -> Self {
        Stop::Unsupported(message.to_string())
    }
}

impl Counter {
    fn add(&mut self, bytes: u64) -> Result<(), Stop> {
        self.total += bytes;
        if self.total > self.limit {
            return Err(Stop::LimitReached);
        }
        Ok(())
    }

    fn add_str(&mut self, text: &str) -> Result<(), Stop> {
        self.add(quoted_len(text))
    }
}

/// Returns the length of `text` as a JSON string literal with its quotes.
/// `serde_json` escapes `"` and `\` and the control characters below 0x20:
/// five of them as two-byte escapes (`\b`, `\t`, `\n`, `\f`, `\r`) and the
/// others as six-byte `\u00XX` escapes. Every other byte is copied.
fn quoted_len(text: &str) -> u64 {
    let mut length = text.len() as u64 + 2;
    for &byte in text.as_bytes() {
        match byte {
            b'"' | b'\\' | 0x08 | 0x09 | 0x0a | 0x0c | 0x0d => length += 1,
            0x00..=0x1f => length += 5,
            _ => {}
        }
    }
    length
}

/// Returns the number of decimal digits of `value`.
fn digits(mut value: u128) -> u64 {
    let mut count = 1;
    while value >= 10 {
        value /= 10;
        count += 1;
    }
    count
}

fn signed_len(value: i128) -> u64 {
    digits(value.unsigned_abs()) + u64::from(value < 0)
}

/// Returns the length `serde_json` gives a float: `null` when it is not finite,
/// else its shortest round-trip form. The contract has no floats (it carries
/// decimals as strings), so formatting one here costs nothing in practice.
fn float_len(value: f64) -> u64 {
    if !value.is_finite() {
        return "null".len() as u64;
    }
    serde_json::to_string(&value).map(|text| text.len() as u64).unwrap_or(4)
}

fn float32_len(value: f32) -> u64 {
    if !value.is_finite() {
        return "null".len() as u64;
    }
    serde_json::to_string(&value).map(|text| text.len() as u64).unwrap_or(4)
}

/// A sequence, map or struct being counted: `elements` decides whether the
/// next element needs a comma before it.
struct Compound<'a> {
    counter: &'a mut Counter,
    elements: u64,
    /// Closing bytes: 1 for `]` or `}`, 2 when the compound sits inside a
    /// `{"variant":...}` wrapper.
    closing: u64,
    /// The struct is a `serde_json::Number` whose text is written raw.
    raw_number: bool,
}

impl Compound<'_> {
    fn separator(&mut self) -> Result<(), Stop> {
        if self.elements > 0 {
            self.counter.add(1)?;
        }
        self.elements += 1;
        Ok(())
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.separator()?;
        value.serialize(&mut *self.counter)
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Stop> {
        self.separator()?;
        // The key, its quotes and the colon.
        self.counter.add(quoted_len(key) + 1)?;
        value.serialize(&mut *self.counter)
    }

    fn close(self) -> Result<(), Stop> {
        self.counter.add(self.closing)
    }
}

impl<'a> ser::Serializer for &'a mut Counter {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, value: bool) -> Result<(), Stop> {
        self.add(if value { 4 } else { 5 })
    }

    fn serialize_i8(self, value: i8) -> Result<(), Stop> {
        self.add(signed_len(value.into()))
    }

    fn serialize_i16(self, value: i16) -> Result<(), Stop> {
        self.add(signed_len(value.into()))
    }

    fn serialize_i32(self, value: i32) -> Result<(), Stop> {
        self.add(signed_len(value.into()))
    }

    fn serialize_i64(self, value: i64) -> Result<(), Stop> {
        self.add(signed_len(value.into()))
    }

    fn serialize_i128(self, value: i128) -> Result<(), Stop> {
        self.add(signed_len(value))
    }

    fn serialize_u8(self, value: u8) -> Result<(), Stop> {
        self.add(digits(value.into()))
    }

    fn serialize_u16(self, value: u16) -> Result<(), Stop> {
        self.add(digits(value.into()))
    }

    fn serialize_u32(self, value: u32) -> Result<(), Stop> {
        self.add(digits(value.into()))
    }

    fn serialize_u64(self, value: u64) -> Result<(), Stop> {
        self.add(digits(value.into()))
    }

    fn serialize_u128(self, value: u128) -> Result<(), Stop> {
        self.add(digits(value))
    }

    fn serialize_f32(self, value: f32) -> Result<(), Stop> {
        self.add(float32_len(value))
    }

    fn serialize_f64(self, value: f64) -> Result<(), Stop> {
        self.add(float_len(value))
    }

    fn serialize_char(self, value: char) -> Result<(), Stop> {
        self.add_str(value.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, value: &str) -> Result<(), Stop> {
        self.add_str(value)
    }

    /// `serde_json` writes bytes as an array of numbers.
    fn serialize_bytes(self, value: &[u8]) -> Result<(), Stop> {
        let numbers: u64 = value.iter().map(|&byte| digits(byte.into())).sum();
        let commas = (value.len() as u64).saturating_sub(1);
        self.add(2 + numbers + commas)
    }

    fn serialize_none(self) -> Result<(), Stop> {
        self.add(4)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Stop> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Stop> {
        self.add(4)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Stop> {
        self.add(4)
    }

    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<(), Stop> {
        self.add_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<(), Stop> {
        value.serialize(self)
    }

    /// `{"variant":value}`.
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        self.add(quoted_len(variant) + 3)?;
        value.serialize(self)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, Stop> {
        self.add(1)?;
        Ok(Compound { counter: self, elements: 0, closing: 1, raw_number: false })
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Stop> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a>, Stop> {
        self.serialize_seq(Some(len))
    }

    /// `{"variant":[...]}`.
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Stop> {
        self.add(quoted_len(variant) + 3)?;
        Ok(Compound { counter: self, elements: 0, closing: 2, raw_number: false })
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, Stop> {
        self.add(1)?;
        Ok(Compound { counter: self, elements: 0, closing: 1, raw_number: false })
    }

    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Compound<'a>, Stop> {
        if name == NUMBER_TOKEN {
            return Ok(Compound { counter: self, elements: 0, closing: 0, raw_number: true });
        }
        self.add(1)?;
        Ok(Compound { counter: self, elements: 0, closing: 1, raw_number: false })
    }

    /// `{"variant":{...}}`.
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Stop> {
        self.add(quoted_len(variant) + 3)?;
        Ok(Compound { counter: self, elements: 0, closing: 2, raw_number: false })
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Stop;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }

    fn end(self) -> Result<(), Stop> {
        self.close()
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Stop;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }

    fn end(self) -> Result<(), Stop> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Stop;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }

    fn end(self) -> Result<(), Stop> {
        self.close()
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = Stop;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }

    fn end(self) -> Result<(), Stop> {
        self.close()
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Stop;

    /// JSON keys are strings. Like `serde_json`, a string or char key is
    /// written as is, and an integer or bool key is written in quotes.
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Stop> {
        self.separator()?;
        let mut key_counter = Counter { total: 0, limit: u64::MAX };
        key.serialize(KeyCounter(&mut key_counter))?;
        // The key and the colon.
        self.counter.add(key_counter.total + 1)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        value.serialize(&mut *self.counter)
    }

    fn end(self) -> Result<(), Stop> {
        self.close()
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Stop;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Stop> {
        if self.raw_number {
            // The field's value is the number's text, written without quotes.
            let mut quoted = Counter { total: 0, limit: u64::MAX };
            value.serialize(&mut quoted)?;
            return self.counter.add(quoted.total.saturating_sub(2));
        }
        self.field(key, value)
    }

    fn end(self) -> Result<(), Stop> {
        self.close()
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Stop;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Stop> {
        self.field(key, value)
    }

    fn end(self) -> Result<(), Stop> {
        self.close()
    }
}

/// Counts a map key the way `serde_json`'s key serializer writes it: a string
/// key quoted and escaped, an integer or bool in quotes, anything else an error.
struct KeyCounter<'a>(&'a mut Counter);

fn key_error() -> Stop {
    Stop::Unsupported("a JSON map key must be a string, an integer or a bool".into())
}

impl ser::Serializer for KeyCounter<'_> {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = ser::Impossible<(), Stop>;
    type SerializeTuple = ser::Impossible<(), Stop>;
    type SerializeTupleStruct = ser::Impossible<(), Stop>;
    type SerializeTupleVariant = ser::Impossible<(), Stop>;
    type SerializeMap = ser::Impossible<(), Stop>;
    type SerializeStruct = ser::Impossible<(), Stop>;
    type SerializeStructVariant = ser::Impossible<(), Stop>;

    fn serialize_bool(self, value: bool) -> Result<(), Stop> {
        self.0.add(if value { 6 } else { 7 })
    }

    fn serialize_i8(self, value: i8) -> Result<(), Stop> {
        self.0.add(signed_len(value.into()) + 2)
    }

    fn serialize_i16(self, value: i16) -> Result<(), Stop> {
        self.0.add(signed_len(value.into()) + 2)
    }

    fn serialize_i32(self, value: i32) -> Result<(), Stop> {
        self.0.add(signed_len(value.into()) + 2)
    }

    fn serialize_i64(self, value: i64) -> Result<(), Stop> {
        self.0.add(signed_len(value.into()) + 2)
    }

    fn serialize_i128(self, value: i128) -> Result<(), Stop> {
        self.0.add(signed_len(value) + 2)
    }

    fn serialize_u8(self, value: u8) -> Result<(), Stop> {
        self.0.add(digits(value.into()) + 2)
    }

    fn serialize_u16(self, value: u16) -> Result<(), Stop> {
        self.0.add(digits(value.into()) + 2)
    }

    fn serialize_u32(self, value: u32) -> Result<(), Stop> {
        self.0.add(digits(value.into()) + 2)
    }

    fn serialize_u64(self, value: u64) -> Result<(), Stop> {
        self.0.add(digits(value.into()) + 2)
    }

    fn serialize_u128(self, value: u128) -> Result<(), Stop> {
        self.0.add(digits(value) + 2)
    }

    fn serialize_f32(self, value: f32) -> Result<(), Stop> {
        if !value.is_finite() {
            return Err(key_error());
        }
        self.0.add(float32_len(value) + 2)
    }

    fn serialize_f64(self, value: f64) -> Result<(), Stop> {
        if !value.is_finite() {
            return Err(key_error());
        }
        self.0.add(float_len(value) + 2)
    }

    fn serialize_char(self, value: char) -> Result<(), Stop> {
        self.0.add_str(value.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, value: &str) -> Result<(), Stop> {
        self.0.add_str(value)
    }

    fn serialize_bytes(self, _value: &[u8]) -> Result<(), Stop> {
        Err(key_error())
    }

    fn serialize_none(self) -> Result<(), Stop> {
        Err(key_error())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), Stop> {
        Err(key_error())
    }

    fn serialize_unit(self) -> Result<(), Stop> {
        Err(key_error())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Stop> {
        Err(key_error())
    }

    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<(), Stop> {
        self.0.add_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<(), Stop> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Stop> {
        Err(key_error())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Stop> {
        Err(key_error())
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Stop> {
        Err(key_error())
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeTupleStruct, Stop> {
        Err(key_error())
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Stop> {
        Err(key_error())
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Stop> {
        Err(key_error())
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct, Stop> {
        Err(key_error())
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Stop> {
        Err(key_error())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::*;
    use crate::runtime::bindings::types::{
        BcLineType, BcSalesOrder, BcSalesOrderLine, PluginError, RecordError,
    };

    fn assert_matches_serde_json<T: Serialize>(value: &T) {
        let expected = serde_json::to_vec(value).unwrap().len() as u64;
        assert_eq!(json_len_within(value, u64::MAX), Some(expected), "{}", serde_json::to_string(value).unwrap());
    }

    fn sales_order(description: &str) -> BcSalesOrder {
        let line = BcSalesOrderLine {
            id: Some("0f9e".into()),
            line_type: BcLineType::Item,
            line_object_number: Some("ITEM-001".into()),
            description: description.into(),
            unit_of_measure_code: None,
            quantity: "12.5".into(),
            unit_price: "10.37".into(),
            discount_amount: Some("0.01".into()),
            amount_excluding_tax: None,
            shipped_quantity: None,
            invoiced_quantity: None,
            leaflink_line_id: Some(-9_223_372_036_854_775_808),
            etag: None,
            extras: r#"{"sale_price":{"amount":"1"}}"#.into(),
        };
        BcSalesOrder {
            id: None,
            number: None,
            external_document_number: "A1B2C3".into(),
            order_date: "2026-03-04".into(),
            customer_id: None,
            customer_number: Some("LL42".into()),
            status: None,
            fully_shipped: true,
            total_amount_including_tax: None,
            lines: vec![line.clone(), BcSalesOrderLine { line_type: BcLineType::Comment, ..line }],
            etag: None,
            last_modified: None,
            extras: "{}".into(),
        }
    }

    #[test]
    fn contract_records_match_serde_json() {
        assert_matches_serde_json(&sales_order("Product 1"));
        assert_matches_serde_json(&sales_order(""));
        assert_matches_serde_json(&Vec::<BcSalesOrder>::new());
        let error = PluginError::InvalidRecord(RecordError {
            record: "order 6f1c".into(),
            field: Some("quantity".into()),
            reason: "invalid".into(),
        });
        assert_matches_serde_json(&error);
        assert_matches_serde_json(&Ok::<_, PluginError>(Some(sales_order("x"))));
        assert_matches_serde_json(&Err::<(), _>(error));
    }

    #[test]
    fn escapes_match_serde_json() {
        let text = "quote \" backslash \\ newline \n tab \t bell \u{7} nul \u{0} del \u{7f} é 😀 \u{1f}";
        assert_matches_serde_json(&text);
        assert_matches_serde_json(&sales_order(text));
        assert_matches_serde_json(&'\n');
        assert_matches_serde_json(&'"');
    }

    #[test]
    fn scalars_match_serde_json() {
        assert_matches_serde_json(&(true, false, (), None::<u8>, Some(0u8)));
        assert_matches_serde_json(&(i8::MIN, i16::MIN, i32::MIN, i64::MIN, i128::MIN));
        assert_matches_serde_json(&(u8::MAX, u16::MAX, u32::MAX, u64::MAX, u128::MAX));
        assert_matches_serde_json(&(0i64, -1i64, 9u64, 10u64, 99u64, 100u64));
        assert_matches_serde_json(&(1.5f64, -0.1f64, f64::NAN, f64::INFINITY, 3.25f32, f32::NAN));
        assert_matches_serde_json(&serde_bytes_like(&[0, 9, 10, 255]));
        assert_matches_serde_json(&serde_bytes_like(&[]));
    }

    #[test]
    fn maps_and_enums_match_serde_json() {
        let mut by_string = BTreeMap::new();
        by_string.insert("a\"b".to_owned(), vec![1, 2]);
        by_string.insert(String::new(), Vec::new());
        assert_matches_serde_json(&by_string);
        let by_number: BTreeMap<i64, bool> = [(-5, true), (17, false)].into_iter().collect();
        assert_matches_serde_json(&by_number);
        let by_bool: BTreeMap<bool, ()> = [(true, ()), (false, ())].into_iter().collect();
        assert_matches_serde_json(&by_bool);
        assert_matches_serde_json(&BTreeMap::<String, String>::new());

        #[derive(Serialize)]
        enum Shape {
            Unit,
            Newtype(u32),
            Tuple(u8, String),
            Struct { side: i64, name: Option<String> },
        }
        #[derive(Serialize)]
        struct UnitStruct;
        #[derive(Serialize)]
        struct Wrapper(String);
        #[derive(Serialize)]
        struct Pair(u8, u8);
        assert_matches_serde_json(&vec![
            Shape::Unit,
            Shape::Newtype(7),
            Shape::Tuple(1, "x".into()),
            Shape::Struct { side: -3, name: None },
        ]);
        assert_matches_serde_json(&(UnitStruct, Wrapper("w".into()), Pair(1, 22)));
    }

    #[test]
    fn arbitrary_precision_numbers_match_serde_json() {
        let value: serde_json::Value = serde_json::from_str(r#"{"price":210.40,"big":123456789012345678901234567890}"#).unwrap();
        assert_matches_serde_json(&value);
    }

    #[test]
    fn counting_stops_over_limit() {
        let order = sales_order("Product 1");
        let exact = serde_json::to_vec(&order).unwrap().len() as u64;
        assert_eq!(json_len_within(&order, exact), Some(exact));
        assert_eq!(json_len_within(&order, exact - 1), None);
    }

    #[test]
    fn non_string_map_keys_are_rejected() {
        let map: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
        assert!(serde_json::to_vec(&map).is_err());
        assert_eq!(json_len_within(&map, u64::MAX), None);
    }

    /// A byte string that serializes through `serialize_bytes`.
    struct BytesLike<'a>(&'a [u8]);

    impl Serialize for BytesLike<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(self.0)
        }
    }

    fn serde_bytes_like(bytes: &[u8]) -> BytesLike<'_> {
        BytesLike(bytes)
    }
}
