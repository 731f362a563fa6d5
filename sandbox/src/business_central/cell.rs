//! Typed property values and their JSON form. A stored entity keeps only the
//! properties that differ from BC's empty value, because BC never returns
//! null: an empty GUID is all zeros, an empty date is `0001-01-01`, an empty
//! decimal is 0 and an empty enum is its first member.

use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use super::error::BcError;
use super::schema::{EdmType, Property, schema};

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Bool(bool),
    Int(i64),
    Dec(Decimal),
    Str(Box<str>),
    Guid(Uuid),
    Date(Date),
    Time(Timestamp),
}

impl Cell {
    pub fn str(text: &str) -> Self {
        Cell::Str(text.into())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Cell::Str(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_dec(&self) -> Option<Decimal> {
        match self {
            Cell::Dec(value) => Some(*value),
            Cell::Int(value) => Some(Decimal::from(*value)),
            _ => None,
        }
    }

    pub fn as_guid(&self) -> Option<Uuid> {
        match self {
            Cell::Guid(value) => Some(*value),
            _ => None,
        }
    }

    /// Key text used by the hash indexes and by `eq` lookups.
    pub fn index_key(&self) -> String {
        match self {
            Cell::Str(text) => text.to_string(),
            Cell::Guid(value) => value.to_string(),
            Cell::Int(value) => value.to_string(),
            other => format!("{other:?}"),
        }
    }
}

/// The empty value BC returns for a property that was never set.
pub fn default_cell(edm: &EdmType) -> Cell {
    match edm {
        EdmType::String => Cell::str(""),
        EdmType::Guid => Cell::Guid(Uuid::nil()),
        EdmType::Decimal => Cell::Dec(Decimal::ZERO),
        EdmType::Int32 | EdmType::Int64 => Cell::Int(0),
        EdmType::Boolean => Cell::Bool(false),
        EdmType::Date => Cell::Date(Date::constant(1, 1, 1)),
        EdmType::DateTimeOffset => Cell::Time(Timestamp::from_second(-62135596800).unwrap_or(Timestamp::UNIX_EPOCH)),
        EdmType::Enum(index) => Cell::str(&schema().enums[*index].members[0]),
    }
}

/// UTC with milliseconds, as BC writes `lastModifiedDateTime`.
pub fn format_timestamp(value: Timestamp) -> String {
    let rounded = value.round(jiff::Unit::Millisecond).unwrap_or(value);
    rounded.to_string()
}

/// Converts a JSON request value to the property's type, with BC's errors for
/// wrong types, unknown enum members and values longer than the field.
pub fn from_json(entity: &str, property: &Property, value: &Value) -> Result<Cell, BcError> {
    let type_error = || {
        BcError::bad_request(format!(
            "Cannot convert the literal '{}' to the expected type '{}' of property '{}' on type 'Microsoft.NAV.{entity}'.",
            literal_text(value),
            edm_name(&property.edm),
            property.name
        ))
    };
    if value.is_null() {
        return Err(BcError::bad_request(format!(
            "A null value was found for the property named '{}', which has the expected type '{}'. The expected type does not allow null values.",
            property.name,
            edm_name(&property.edm)
        )));
    }
    let cell = match &property.edm {
        EdmType::String => {
            let text = value.as_str().ok_or_else(type_error)?;
            check_length(property, text)?;
            if property.upper_case { Cell::Str(text.to_uppercase().into()) } else { Cell::str(text) }
        }
        EdmType::Guid => {
            let text = value.as_str().ok_or_else(type_error)?;
            Cell::Guid(parse_guid(text).ok_or_else(type_error)?)
        }
        EdmType::Decimal => {
            let number = value.as_number().ok_or_else(type_error)?;
            Cell::Dec(parse_decimal(&number.to_string()).ok_or_else(type_error)?)
        }
        EdmType::Int32 | EdmType::Int64 => {
            let number = value.as_i64().ok_or_else(type_error)?;
            if property.edm == EdmType::Int32 && i32::try_from(number).is_err() {
                return Err(type_error());
            }
            Cell::Int(number)
        }
        EdmType::Boolean => Cell::Bool(value.as_bool().ok_or_else(type_error)?),
        EdmType::Date => {
            let text = value.as_str().ok_or_else(type_error)?;
            Cell::Date(Date::from_str(text).map_err(|_| type_error())?)
        }
        EdmType::DateTimeOffset => {
            let text = value.as_str().ok_or_else(type_error)?;
            Cell::Time(Timestamp::from_str(text).map_err(|_| type_error())?)
        }
        EdmType::Enum(index) => {
            let text = value.as_str().ok_or_else(type_error)?;
            let enum_type = &schema().enums[*index];
            if !enum_type.members.iter().any(|member| member == text) {
                // The wording and the "Unknown" code follow BC's published
                // `$batch` example for an invalid item type.
                return Err(BcError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "Unknown",
                    format!(
                        "'{text}' is not an option. The existing options are: {}",
                        enum_type.al_names.join(",")
                    ),
                ));
            }
            Cell::str(text)
        }
    };
    Ok(cell)
}

pub fn check_length(property: &Property, text: &str) -> Result<(), BcError> {
    if let Some(max) = property.max_length {
        let length = text.chars().count();
        if length > max {
            return Err(BcError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "Application_StringExceededLength",
                format!(
                    "The length of the string is {length}, but it must be less than or equal to {max} characters. Value: {text}"
                ),
            ));
        }
    }
    Ok(())
}

pub fn parse_guid(text: &str) -> Option<Uuid> {
    let trimmed = text.trim_start_matches('{').trim_end_matches('}');
    if trimmed.len() != 36 {
        return None;
    }
    Uuid::parse_str(trimmed).ok()
}

pub fn parse_decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str(text).ok().or_else(|| Decimal::from_scientific(text).ok())
}

pub fn edm_name(edm: &EdmType) -> String {
    match edm {
        EdmType::String => "Edm.String".into(),
        EdmType::Guid => "Edm.Guid".into(),
        EdmType::Decimal => "Edm.Decimal".into(),
        EdmType::Int32 => "Edm.Int32".into(),
        EdmType::Int64 => "Edm.Int64".into(),
        EdmType::Boolean => "Edm.Boolean".into(),
        EdmType::Date => "Edm.Date".into(),
        EdmType::DateTimeOffset => "Edm.DateTimeOffset".into(),
        EdmType::Enum(index) => schema().enums[*index].edm_name.clone(),
    }
}

fn literal_text(value: &Value) -> String {
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    text.chars().take(100).collect()
}
