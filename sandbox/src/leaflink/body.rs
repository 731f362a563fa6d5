//! Reads request bodies field by field the way Django REST framework
//! serializers do: each wrong field gets DRF's message under its name, and
//! fields a serializer does not know are ignored, as DRF ignores them.

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::model::{FieldErrors, Stamp};

const DATETIME_FORMAT_ERROR: &str =
    "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].";
const DATE_FORMAT_ERROR: &str = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.";

/// Parses a date-time with its offset. A value with no offset, including the
/// space-separated `YYYY-MM-DD HH:MM` some clients send, is read in the server
/// time zone, which the spec states is UTC.
pub fn parse_datetime(text: &str) -> Option<Stamp> {
    let text = text.trim();
    if let Ok(instant) = text.parse::<jiff::Timestamp>() {
        return Some(Stamp::new(instant.as_microsecond(), offset_minutes(text)));
    }
    let civil = text.parse::<jiff::civil::DateTime>().ok()?;
    let instant = civil.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
    Some(Stamp::new(instant.as_microsecond(), 0))
}

/// The offset written at the end of an RFC 3339 date-time, in minutes.
fn offset_minutes(text: &str) -> i16 {
    if text.ends_with('Z') || text.ends_with('z') || text.len() < 6 {
        return 0;
    }
    let tail = &text[text.len() - 6..];
    let sign = match tail.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return 0,
    };
    let hours: i16 = tail[1..3].parse().unwrap_or(0);
    let minutes: i16 = tail[4..6].parse().unwrap_or(0);
    sign * (hours * 60 + minutes)
}

/// A filter bound: a date-time, or a bare date meaning its midnight in UTC.
pub fn parse_filter_time(text: &str) -> Option<i64> {
    if let Some(stamp) = parse_datetime(text) {
        return Some(stamp.micros);
    }
    let date = text.trim().parse::<jiff::civil::Date>().ok()?;
    Some(date.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp().as_microsecond())
}

/// A JSON number or string as an exact decimal; never through `f64`.
pub fn decimal_of(value: &Value) -> Option<Decimal> {
    let text = match value {
        Value::Number(number) => number.to_string(),
        Value::String(text) => text.trim().to_owned(),
        _ => return None,
    };
    text.parse::<Decimal>().ok().or_else(|| Decimal::from_scientific(&text).ok())
}

/// Reads typed fields from one JSON object and collects DRF-style errors.
/// Each reader returns `None` when the field is absent or wrong, and
/// `Some(None)` for an accepted `null`.
pub struct BodyReader<'a> {
    map: &'a Map<String, Value>,
    pub errors: FieldErrors,
}

impl<'a> BodyReader<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Self { map, errors: FieldErrors::default() }
    }

    pub fn map(&self) -> &'a Map<String, Value> {
        self.map
    }

    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Records "This field is required." for each absent name.
    pub fn require(&mut self, names: &[&str]) {
        for name in names {
            if !self.map.contains_key(*name) {
                self.errors.add(*name, "This field is required.");
            }
        }
    }

    fn present(&mut self, name: &str, nullable: bool) -> Option<Option<&'a Value>> {
        match self.map.get(name)? {
            Value::Null if nullable => Some(None),
            Value::Null => {
                self.errors.add(name, "This field may not be null.");
                None
            }
            value => Some(Some(value)),
        }
    }

    pub fn string(&mut self, name: &str, max_length: usize, nullable: bool) -> Option<Option<String>> {
        let value = self.present(name, nullable)?;
        let Some(value) = value else { return Some(None) };
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            _ => {
                self.errors.add(name, "Not a valid string.");
                return None;
            }
        };
        if text.chars().count() > max_length {
            self.errors.add(name, format!("Ensure this field has no more than {max_length} characters."));
            return None;
        }
        Some(Some(text))
    }

    pub fn boolean(&mut self, name: &str) -> Option<bool> {
        let value = self.present(name, false)??;
        let parsed = match value {
            Value::Bool(flag) => Some(*flag),
            Value::Number(number) => match number.to_string().as_str() {
                "1" => Some(true),
                "0" => Some(false),
                _ => None,
            },
            Value::String(text) => match text.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Some(true),
                "false" | "0" | "no" | "off" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            self.errors.add(name, "Must be a valid boolean.");
        }
        parsed
    }

    pub fn integer(&mut self, name: &str, nullable: bool) -> Option<Option<i64>> {
        let value = self.present(name, nullable)?;
        let Some(value) = value else { return Some(None) };
        let parsed = match value {
            Value::Number(number) => number.as_i64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        };
        match parsed {
            Some(parsed) => Some(Some(parsed)),
            None => {
                self.errors.add(name, "A valid integer is required.");
                None
            }
        }
    }

    pub fn decimal(&mut self, name: &str, nullable: bool) -> Option<Option<Decimal>> {
        let value = self.present(name, nullable)?;
        let Some(value) = value else { return Some(None) };
        match decimal_of(value) {
            Some(decimal) => Some(Some(decimal)),
            None => {
                self.errors.add(name, "A valid number is required.");
                None
            }
        }
    }

    /// A money object `{amount, currency}`; `amount` may be a number or a
    /// decimal string, since LeafLink's own examples use both.
    pub fn money(&mut self, name: &str) -> Option<Decimal> {
        let value = self.present(name, false)??;
        let Some(object) = value.as_object() else {
            self.errors.add(name, "Expected a money object with \"amount\" and \"currency\".");
            return None;
        };
        let amount = object.get("amount").and_then(decimal_of);
        let currency_ok = object.get("currency").is_none_or(|currency| currency.as_str().is_some_and(|code| !code.is_empty()));
        match amount {
            Some(amount) if currency_ok => Some(amount),
            _ => {
                self.errors.add(name, "Expected a money object with a numeric \"amount\" and a \"currency\" code.");
                None
            }
        }
    }

    pub fn datetime(&mut self, name: &str, nullable: bool) -> Option<Option<Stamp>> {
        let value = self.present(name, nullable)?;
        let Some(value) = value else { return Some(None) };
        match value.as_str().and_then(parse_datetime) {
            Some(stamp) => Some(Some(stamp)),
            None => {
                self.errors.add(name, DATETIME_FORMAT_ERROR);
                None
            }
        }
    }

    pub fn date(&mut self, name: &str, nullable: bool) -> Option<Option<jiff::civil::Date>> {
        let value = self.present(name, nullable)?;
        let Some(value) = value else { return Some(None) };
        match value.as_str().and_then(|text| text.trim().parse::<jiff::civil::Date>().ok()) {
            Some(date) => Some(Some(date)),
            None => {
                self.errors.add(name, DATE_FORMAT_ERROR);
                None
            }
        }
    }

    /// One of `choices`, returned as the matching `'static` choice.
    pub fn choice(&mut self, name: &str, choices: &[&'static str]) -> Option<&'static str> {
        let value = self.present(name, false)??;
        let text = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        match choices.iter().find(|choice| **choice == text) {
            Some(choice) => Some(*choice),
            None => {
                self.errors.add(name, format!("\"{text}\" is not a valid choice."));
                None
            }
        }
    }

    /// An `external_ids` map: string values up to 36 characters, and `null`
    /// to remove a key (reference notes, section 3.11).
    pub fn external_ids(&mut self, name: &str) -> Option<Vec<(String, Option<String>)>> {
        let value = self.present(name, false)??;
        let Some(object) = value.as_object() else {
            self.errors.add(name, "Expected a dictionary of items.");
            return None;
        };
        let mut pairs = Vec::with_capacity(object.len());
        for (key, value) in object {
            match value {
                Value::Null => pairs.push((key.clone(), None)),
                Value::String(text) if text.chars().count() <= 36 => pairs.push((key.clone(), Some(text.clone()))),
                Value::String(_) => {
                    self.errors.add(name, format!("The value of \"{key}\" must have no more than 36 characters."));
                }
                _ => self.errors.add(name, format!("The value of \"{key}\" must be a string or null.")),
            }
        }
        Some(pairs)
    }

    /// A list of ids given as `[{"id": 13}]` or `[13]`.
    pub fn id_objects(&mut self, name: &str) -> Option<Vec<u32>> {
        let value = self.present(name, false)??;
        let Some(items) = value.as_array() else {
            self.errors.add(name, "Expected a list of items.");
            return None;
        };
        let mut ids = Vec::with_capacity(items.len());
        for item in items {
            let id = match item {
                Value::Object(object) => object.get("id").and_then(Value::as_u64),
                other => other.as_u64(),
            };
            match id.and_then(|id| u32::try_from(id).ok()) {
                Some(id) => ids.push(id),
                None => self.errors.add(name, "Each entry needs an integer \"id\"."),
            }
        }
        Some(ids)
    }
}

/// Applies an `external_ids` change to a record's map.
pub fn merge_external_ids(target: &mut Vec<(Box<str>, Box<str>)>, changes: Vec<(String, Option<String>)>) {
    for (key, value) in changes {
        target.retain(|(existing, _)| **existing != *key);
        if let Some(value) = value {
            target.push((key.into(), value.into()));
        }
    }
}
