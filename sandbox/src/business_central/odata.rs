//! OData query options as Business Central supports them: `$filter` (the
//! comparison operators, `and`/`or`/`not`, parentheses, `startswith`,
//! `endswith`, `contains`, `substring`, `tolower`, `toupper`, and `in` only
//! with `$schemaversion=2.1`), `$select`, `$expand` with nested options,
//! `$top`, `$skip`, `$orderby`, `$count` and `$skiptoken`.
//!
//! BC rejects `or` across different fields ("The 'OR' operator is not
//! supported on distinct fields"), so an `or` subtree here always names one
//! property. That is also why `number eq 'a' or number eq 'b'` chains can
//! run as hash-index lookups.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::cell::{Cell, parse_decimal, parse_guid};
use super::error::BcError;
use super::schema::{EdmType, EntitySet};
use super::store::{Row, Table};

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Num(Decimal),
    Bool(bool),
    Null,
    Guid(Uuid),
    Date(Date),
    Time(Timestamp),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Property(usize),
    Literal(Literal),
    ToLower(Box<Operand>),
    ToUpper(Box<Operand>),
    Substring(Box<Operand>, usize, Option<usize>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFunction {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare(Operand, CompareOp, Operand),
    Text(TextFunction, Operand, Operand),
    In(Operand, Vec<Literal>),
}

/// One `$expand` item with its nested options.
#[derive(Debug, Clone, Default)]
pub struct Expand {
    pub name: String,
    pub options: Vec<(String, String)>,
}

/// Parsed query options of one request.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub filter: Option<Filter>,
    pub select: Option<Vec<usize>>,
    pub expand: Vec<Expand>,
    pub top: Option<usize>,
    pub skip: usize,
    pub order_by: Vec<(usize, bool)>,
    pub count: bool,
    pub skip_token: Option<usize>,
}

fn filter_error(message: impl Into<String>) -> BcError {
    BcError::bad_request(message)
}

/// Parses the query options that apply to `set`.
pub fn parse_query(set: &EntitySet, options: &[(String, String)]) -> Result<Query, BcError> {
    let schema_2_1 = options.iter().any(|(name, value)| name == "$schemaversion" && value == "2.1");
    let mut query = Query::default();
    for (name, value) in options {
        match name.as_str() {
            "$filter" => query.filter = Some(parse_filter(set, value, schema_2_1)?),
            "$select" => {
                let mut columns = Vec::new();
                for name in value.split(',').map(str::trim).filter(|name| !name.is_empty()) {
                    columns.push(property_column(set, name)?);
                }
                query.select = Some(columns);
            }
            "$expand" => query.expand = parse_expand(value)?,
            "$top" => query.top = Some(parse_count_option("$top", value)?),
            "$skip" => query.skip = parse_count_option("$skip", value)?,
            "$skiptoken" => query.skip_token = Some(parse_count_option("$skiptoken", value)?),
            "$count" => {
                query.count = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(BcError::bad_request(format!("The value '{value}' of $count is invalid; use true or false."))),
                }
            }
            "$orderby" => {
                for part in value.split(',').map(str::trim).filter(|part| !part.is_empty()) {
                    let mut words = part.split_whitespace();
                    let property = words.next().unwrap_or_default();
                    let descending = match words.next() {
                        None | Some("asc") => false,
                        Some("desc") => true,
                        Some(other) => return Err(BcError::bad_request(format!("Syntax error in $orderby at '{other}'."))),
                    };
                    query.order_by.push((property_column(set, property)?, descending));
                }
            }
            _ => {}
        }
    }
    Ok(query)
}

fn parse_count_option(name: &str, value: &str) -> Result<usize, BcError> {
    value
        .parse()
        .map_err(|_| BcError::bad_request(format!("Invalid value '{value}' for {name} query option found. The {name} query option requires a non-negative integer value.")))
}

fn property_column(set: &EntitySet, name: &str) -> Result<usize, BcError> {
    set.column(name).ok_or_else(|| {
        BcError::bad_request(format!("Could not find a property named '{name}' on type 'Microsoft.NAV.{}'.", set.entity))
    })
}

/// Splits `a,b($x=1;$y=c(d)),e` at top-level commas.
fn split_top_level(text: &str, separator: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for character in text.chars() {
        match character {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if character == separator && depth == 0 {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(character);
        }
    }
    parts.push(current);
    parts.into_iter().map(|part| part.trim().to_owned()).filter(|part| !part.is_empty()).collect()
}

pub fn parse_expand(text: &str) -> Result<Vec<Expand>, BcError> {
    let mut items = Vec::new();
    for part in split_top_level(text, ',') {
        let (name, options) = match part.find('(') {
            Some(open) => {
                if !part.ends_with(')') {
                    return Err(BcError::bad_request(format!("Syntax error in $expand at '{part}'.")));
                }
                let inner = &part[open + 1..part.len() - 1];
                let mut options = Vec::new();
                for option in split_top_level(inner, ';') {
                    let (key, value) = option
                        .split_once('=')
                        .ok_or_else(|| BcError::bad_request(format!("Syntax error in $expand at '{option}'.")))?;
                    options.push((key.trim().to_owned(), value.trim().to_owned()));
                }
                (part[..open].trim().to_owned(), options)
            }
            None => (part.clone(), Vec::new()),
        };
        items.push(Expand { name, options });
    }
    Ok(items)
}

// ---- $filter tokens -------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Comma,
    Word(String),
    Literal(Literal),
}

fn is_guid_at(chars: &[char], start: usize) -> bool {
    if start + 36 > chars.len() {
        return false;
    }
    let text: String = chars[start..start + 36].iter().collect();
    let boundary = chars.get(start + 36).is_none_or(|next| !next.is_ascii_alphanumeric());
    boundary && parse_guid(&text).is_some()
}

fn tokenize(text: &str) -> Result<Vec<Token>, BcError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut position = 0;
    while position < chars.len() {
        let character = chars[position];
        if character.is_whitespace() {
            position += 1;
        } else if character == '(' {
            tokens.push(Token::Open);
            position += 1;
        } else if character == ')' {
            tokens.push(Token::Close);
            position += 1;
        } else if character == ',' {
            tokens.push(Token::Comma);
            position += 1;
        } else if character == '\'' {
            let mut value = String::new();
            position += 1;
            loop {
                match chars.get(position) {
                    None => return Err(filter_error(format!("Unterminated string literal in $filter: {text}"))),
                    Some('\'') if chars.get(position + 1) == Some(&'\'') => {
                        value.push('\'');
                        position += 2;
                    }
                    Some('\'') => {
                        position += 1;
                        break;
                    }
                    Some(other) => {
                        value.push(*other);
                        position += 1;
                    }
                }
            }
            tokens.push(Token::Literal(Literal::Str(value)));
        } else if is_guid_at(&chars, position) {
            let text: String = chars[position..position + 36].iter().collect();
            tokens.push(Token::Literal(Literal::Guid(parse_guid(&text).unwrap_or_default())));
            position += 36;
        } else if character.is_ascii_digit() || character == '-' {
            let start = position;
            position += 1;
            while position < chars.len()
                && (chars[position].is_ascii_alphanumeric() || matches!(chars[position], '.' | ':' | '-' | '+'))
            {
                position += 1;
            }
            let word: String = chars[start..position].iter().collect();
            tokens.push(Token::Literal(parse_bare_literal(&word)?));
        } else if character.is_alphabetic() || character == '_' || character == '$' {
            let start = position;
            while position < chars.len() && (chars[position].is_alphanumeric() || matches!(chars[position], '_' | '/' | '.' | '$')) {
                position += 1;
            }
            let word: String = chars[start..position].iter().collect();
            tokens.push(match word.as_str() {
                "true" => Token::Literal(Literal::Bool(true)),
                "false" => Token::Literal(Literal::Bool(false)),
                "null" => Token::Literal(Literal::Null),
                _ => Token::Word(word),
            });
        } else {
            return Err(filter_error(format!("Syntax error at position {position} in '{text}'.")));
        }
    }
    Ok(tokens)
}

fn parse_bare_literal(word: &str) -> Result<Literal, BcError> {
    if word.len() >= 11 && word.as_bytes()[4] == b'-' && word.contains('T') {
        return Timestamp::from_str(word)
            .map(Literal::Time)
            .map_err(|_| filter_error(format!("The date-time literal '{word}' is invalid.")));
    }
    if word.len() == 10 && word.as_bytes()[4] == b'-' {
        return Date::from_str(word).map(Literal::Date).map_err(|_| filter_error(format!("The date literal '{word}' is invalid.")));
    }
    let number = word.trim_end_matches(['m', 'M', 'd', 'D', 'L', 'l']);
    parse_decimal(number).map(Literal::Num).ok_or_else(|| filter_error(format!("Syntax error: '{word}' is not a valid literal.")))
}

// ---- $filter grammar ------------------------------------------------------

/// Maximum nesting of parentheses and `not` in one `$filter`. The parser, the
/// evaluator and the drop of the tree all recurse once per level, so without
/// a bound a request of a few thousand `(` overflows the server's stack.
/// NOTE: BC's own limit is not documented; 100 levels is far beyond any real
/// filter, and deeper ones get the same 400 as other syntax errors.
const MAX_FILTER_DEPTH: usize = 100;

/// Maximum number of tokens in one `$filter`, which bounds the length of
/// `and`/`or` chains (each link is one level of the evaluated tree).
const MAX_FILTER_TOKENS: usize = 4_000;

struct Parser<'a> {
    tokens: Vec<Token>,
    position: usize,
    depth: usize,
    set: &'a EntitySet,
    schema_2_1: bool,
}

pub fn parse_filter(set: &EntitySet, text: &str, schema_2_1: bool) -> Result<Filter, BcError> {
    let tokens = tokenize(text)?;
    if tokens.len() > MAX_FILTER_TOKENS {
        return Err(filter_error(format!(
            "The $filter expression has {} tokens; at most {MAX_FILTER_TOKENS} are supported.",
            tokens.len()
        )));
    }
    let mut parser = Parser { tokens, position: 0, depth: 0, set, schema_2_1 };
    let filter = parser.or_expression()?;
    if parser.position != parser.tokens.len() {
        return Err(filter_error(format!("Syntax error at position {} in '{text}'.", parser.position)));
    }
    check_or_fields(&filter)?;
    Ok(filter)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(found)) if found == word)
    }

    fn expect(&mut self, expected: Token) -> Result<(), BcError> {
        match self.next() {
            Some(token) if token == expected => Ok(()),
            other => Err(filter_error(format!("Syntax error in $filter: expected {expected:?}, found {other:?}."))),
        }
    }

    fn or_expression(&mut self) -> Result<Filter, BcError> {
        let mut left = self.and_expression()?;
        while self.peek_word("or") {
            self.position += 1;
            let right = self.and_expression()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expression(&mut self) -> Result<Filter, BcError> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.position += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// Enters one more level of nesting, or rejects the filter when it is too deep.
    fn descend(&mut self) -> Result<(), BcError> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(filter_error(format!(
                "The $filter expression is nested more than {MAX_FILTER_DEPTH} levels deep."
            )));
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<Filter, BcError> {
        if self.peek_word("not") {
            self.position += 1;
            self.descend()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Token::Open) {
            self.position += 1;
            self.descend()?;
            let inner = self.or_expression()?;
            self.expect(Token::Close)?;
            self.depth -= 1;
            return Ok(inner);
        }
        for (name, function) in
            [("startswith", TextFunction::StartsWith), ("endswith", TextFunction::EndsWith), ("contains", TextFunction::Contains)]
        {
            if self.peek_word(name) {
                self.position += 1;
                self.expect(Token::Open)?;
                let left = self.operand()?;
                self.expect(Token::Comma)?;
                let right = self.operand()?;
                self.expect(Token::Close)?;
                let result = Filter::Text(function, left, right);
                // `startswith(a,'x') eq true` is the same condition.
                if self.peek_word("eq") {
                    self.position += 1;
                    return match self.next() {
                        Some(Token::Literal(Literal::Bool(true))) => Ok(result),
                        Some(Token::Literal(Literal::Bool(false))) => Ok(Filter::Not(Box::new(result))),
                        other => Err(filter_error(format!("Syntax error in $filter near {other:?}."))),
                    };
                }
                return Ok(result);
            }
        }
        let left = self.operand()?;
        if self.peek_word("in") {
            self.position += 1;
            if !self.schema_2_1 {
                return Err(filter_error("The 'in' operator requires $schemaversion=2.1."));
            }
            self.expect(Token::Open)?;
            let mut values = Vec::new();
            loop {
                match self.next() {
                    Some(Token::Literal(literal)) => values.push(literal),
                    other => return Err(filter_error(format!("Syntax error in 'in' list near {other:?}."))),
                }
                match self.next() {
                    Some(Token::Comma) => continue,
                    Some(Token::Close) => break,
                    other => return Err(filter_error(format!("Syntax error in 'in' list near {other:?}."))),
                }
            }
            return Ok(Filter::In(left, values));
        }
        let operator = match self.next() {
            Some(Token::Word(word)) => match word.as_str() {
                "eq" => CompareOp::Eq,
                "ne" => CompareOp::Ne,
                "gt" => CompareOp::Gt,
                "ge" => CompareOp::Ge,
                "lt" => CompareOp::Lt,
                "le" => CompareOp::Le,
                "any" | "all" => return Err(filter_error("Lambda operators are not supported.")),
                other => return Err(filter_error(format!("Syntax error in $filter: unknown operator '{other}'."))),
            },
            other => return Err(filter_error(format!("Syntax error in $filter: expected an operator, found {other:?}."))),
        };
        let right = self.operand()?;
        self.check_types(&left, &right)?;
        Ok(Filter::Compare(left, operator, right))
    }

    fn operand(&mut self) -> Result<Operand, BcError> {
        match self.next() {
            Some(Token::Literal(literal)) => Ok(Operand::Literal(literal)),
            Some(Token::Word(word)) => {
                let function = match word.as_str() {
                    "tolower" | "toupper" | "substring" => Some(word.clone()),
                    _ => None,
                };
                if let Some(function) = function {
                    self.expect(Token::Open)?;
                    let inner = self.operand()?;
                    if !self.schema_2_1 && matches!(inner, Operand::ToLower(_) | Operand::ToUpper(_) | Operand::Substring(..)) {
                        return Err(filter_error("Nested functions in $filter require $schemaversion=2.1."));
                    }
                    let result = match function.as_str() {
                        "tolower" => Operand::ToLower(Box::new(inner)),
                        "toupper" => Operand::ToUpper(Box::new(inner)),
                        _ => {
                            self.expect(Token::Comma)?;
                            let start = self.integer_argument()?;
                            let length = if self.peek() == Some(&Token::Comma) {
                                self.position += 1;
                                Some(self.integer_argument()?)
                            } else {
                                None
                            };
                            Operand::Substring(Box::new(inner), start, length)
                        }
                    };
                    self.expect(Token::Close)?;
                    return Ok(result);
                }
                let column = property_column(self.set, &word)?;
                Ok(Operand::Property(column))
            }
            other => Err(filter_error(format!("Syntax error in $filter: expected a property or a value, found {other:?}."))),
        }
    }

    fn integer_argument(&mut self) -> Result<usize, BcError> {
        match self.next() {
            Some(Token::Literal(Literal::Num(number))) => {
                usize::try_from(number.trunc().mantissa()).map_err(|_| filter_error("substring needs a non-negative integer."))
            }
            other => Err(filter_error(format!("substring needs an integer, found {other:?}."))),
        }
    }

    /// Rejects comparisons whose types cannot match, as OData does.
    fn check_types(&self, left: &Operand, right: &Operand) -> Result<(), BcError> {
        let ((Operand::Property(column), Operand::Literal(literal)) | (Operand::Literal(literal), Operand::Property(column))) =
            (left, right)
        else {
            return Ok(());
        };
        let property = &self.set.properties[*column];
        let compatible = match (&property.edm, literal) {
            (_, Literal::Null) => true,
            (EdmType::String | EdmType::Enum(_), Literal::Str(_)) => true,
            (EdmType::Guid, Literal::Guid(_)) => true,
            (EdmType::Guid, Literal::Str(text)) => parse_guid(text).is_some(),
            (EdmType::Decimal | EdmType::Int32 | EdmType::Int64, Literal::Num(_)) => true,
            (EdmType::Boolean, Literal::Bool(_)) => true,
            (EdmType::Date, Literal::Date(_)) => true,
            (EdmType::DateTimeOffset, Literal::Time(_) | Literal::Date(_)) => true,
            _ => false,
        };
        if compatible {
            Ok(())
        } else {
            Err(filter_error(format!(
                "A binary operator with incompatible types was detected. Found operand types '{}' and '{}' for property '{}'.",
                super::cell::edm_name(&property.edm),
                literal_type(literal),
                property.name
            )))
        }
    }
}

fn literal_type(literal: &Literal) -> &'static str {
    match literal {
        Literal::Str(_) => "Edm.String",
        Literal::Num(_) => "Edm.Decimal",
        Literal::Bool(_) => "Edm.Boolean",
        Literal::Null => "null",
        Literal::Guid(_) => "Edm.Guid",
        Literal::Date(_) => "Edm.Date",
        Literal::Time(_) => "Edm.DateTimeOffset",
    }
}

fn operand_fields(operand: &Operand, fields: &mut BTreeSet<usize>) {
    match operand {
        Operand::Property(column) => {
            fields.insert(*column);
        }
        Operand::Literal(_) => {}
        Operand::ToLower(inner) | Operand::ToUpper(inner) | Operand::Substring(inner, ..) => operand_fields(inner, fields),
    }
}

fn filter_fields(filter: &Filter, fields: &mut BTreeSet<usize>) {
    match filter {
        Filter::And(left, right) | Filter::Or(left, right) => {
            filter_fields(left, fields);
            filter_fields(right, fields);
        }
        Filter::Not(inner) => filter_fields(inner, fields),
        Filter::Compare(left, _, right) | Filter::Text(_, left, right) => {
            operand_fields(left, fields);
            operand_fields(right, fields);
        }
        Filter::In(operand, _) => operand_fields(operand, fields),
    }
}

fn check_or_fields(filter: &Filter) -> Result<(), BcError> {
    match filter {
        Filter::Or(left, right) => {
            let mut fields = BTreeSet::new();
            filter_fields(filter, &mut fields);
            if fields.len() > 1 {
                return Err(filter_error("The 'OR' operator is not supported on distinct fields."));
            }
            check_or_fields(left)?;
            check_or_fields(right)
        }
        Filter::And(left, right) => {
            check_or_fields(left)?;
            check_or_fields(right)
        }
        Filter::Not(inner) => check_or_fields(inner),
        _ => Ok(()),
    }
}

// ---- evaluation -----------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Str(String),
    Num(Decimal),
    Bool(bool),
    Null,
    Guid(Uuid),
    Date(Date),
    Time(Timestamp),
}

fn literal_value(literal: &Literal) -> Val {
    match literal {
        Literal::Str(text) => Val::Str(text.clone()),
        Literal::Num(number) => Val::Num(*number),
        Literal::Bool(value) => Val::Bool(*value),
        Literal::Null => Val::Null,
        Literal::Guid(value) => Val::Guid(*value),
        Literal::Date(value) => Val::Date(*value),
        Literal::Time(value) => Val::Time(*value),
    }
}

fn cell_value(cell: Cell) -> Val {
    match cell {
        Cell::Bool(value) => Val::Bool(value),
        Cell::Int(value) => Val::Num(Decimal::from(value)),
        Cell::Dec(value) => Val::Num(value),
        Cell::Str(text) => Val::Str(text.into()),
        Cell::Guid(value) => Val::Guid(value),
        Cell::Date(value) => Val::Date(value),
        Cell::Time(value) => Val::Time(value),
    }
}

fn evaluate_operand(set: &EntitySet, row: &Row, operand: &Operand) -> Val {
    match operand {
        Operand::Property(column) => cell_value(row.value(set, *column)),
        Operand::Literal(literal) => literal_value(literal),
        Operand::ToLower(inner) => match evaluate_operand(set, row, inner) {
            Val::Str(text) => Val::Str(text.to_lowercase()),
            other => other,
        },
        Operand::ToUpper(inner) => match evaluate_operand(set, row, inner) {
            Val::Str(text) => Val::Str(text.to_uppercase()),
            other => other,
        },
        Operand::Substring(inner, start, length) => match evaluate_operand(set, row, inner) {
            Val::Str(text) => {
                let rest = text.chars().skip(*start);
                Val::Str(match length {
                    Some(length) => rest.take(*length).collect(),
                    None => rest.collect(),
                })
            }
            other => other,
        },
    }
}

/// Upper-cases a string literal compared with a `Code` field, because BC
/// stores codes in upper case and matches them that way.
fn normalise_for(set: &EntitySet, other: &Operand, value: Val) -> Val {
    match (other, value) {
        (Operand::Property(column), Val::Str(text)) if set.properties[*column].upper_case => Val::Str(text.to_uppercase()),
        (Operand::Property(column), Val::Str(text)) if set.properties[*column].edm == EdmType::Guid => match parse_guid(&text) {
            Some(guid) => Val::Guid(guid),
            None => Val::Str(text),
        },
        (_, value) => value,
    }
}

fn compare_values(left: &Val, right: &Val) -> Option<Ordering> {
    match (left, right) {
        (Val::Str(a), Val::Str(b)) => Some(a.cmp(b)),
        (Val::Num(a), Val::Num(b)) => Some(a.cmp(b)),
        (Val::Bool(a), Val::Bool(b)) => Some(a.cmp(b)),
        (Val::Guid(a), Val::Guid(b)) => Some(a.cmp(b)),
        (Val::Date(a), Val::Date(b)) => Some(a.cmp(b)),
        (Val::Time(a), Val::Time(b)) => Some(a.cmp(b)),
        (Val::Time(a), Val::Date(b)) => Some(a.cmp(&date_start(*b))),
        (Val::Date(a), Val::Time(b)) => Some(date_start(*a).cmp(b)),
        (Val::Null, Val::Null) => Some(Ordering::Equal),
        _ => None,
    }
}

fn date_start(date: Date) -> Timestamp {
    date.to_zoned(jiff::tz::TimeZone::UTC).map(|zoned| zoned.timestamp()).unwrap_or(Timestamp::MIN)
}

pub fn matches(set: &EntitySet, row: &Row, filter: &Filter) -> bool {
    match filter {
        Filter::And(left, right) => matches(set, row, left) && matches(set, row, right),
        Filter::Or(left, right) => matches(set, row, left) || matches(set, row, right),
        Filter::Not(inner) => !matches(set, row, inner),
        Filter::Compare(left, operator, right) => {
            let left_value = normalise_for(set, right, evaluate_operand(set, row, left));
            let right_value = normalise_for(set, left, evaluate_operand(set, row, right));
            let Some(ordering) = compare_values(&left_value, &right_value) else {
                return *operator == CompareOp::Ne;
            };
            match operator {
                CompareOp::Eq => ordering == Ordering::Equal,
                CompareOp::Ne => ordering != Ordering::Equal,
                CompareOp::Gt => ordering == Ordering::Greater,
                CompareOp::Ge => ordering != Ordering::Less,
                CompareOp::Lt => ordering == Ordering::Less,
                CompareOp::Le => ordering != Ordering::Greater,
            }
        }
        Filter::Text(function, left, right) => {
            let (Val::Str(haystack), Val::Str(needle)) = (evaluate_operand(set, row, left), evaluate_operand(set, row, right)) else {
                return false;
            };
            match function {
                TextFunction::StartsWith => haystack.starts_with(&needle),
                TextFunction::EndsWith => haystack.ends_with(&needle),
                TextFunction::Contains => haystack.contains(&needle),
            }
        }
        Filter::In(operand, values) => {
            let value = evaluate_operand(set, row, operand);
            values.iter().any(|literal| {
                let candidate = normalise_for(set, operand, literal_value(literal));
                compare_values(&value, &candidate) == Some(Ordering::Equal)
            })
        }
    }
}

/// Index keys for a filter that pins one indexed column to a set of values
/// (`col eq 'a'`, an `or` chain of those, `col in (...)`, or an `and` with
/// such a term), so the list runs on index hits instead of a scan.
pub fn index_plan(table: &Table, filter: &Filter) -> Option<(usize, Vec<String>)> {
    let set = table.schema();
    match filter {
        Filter::Compare(Operand::Property(column), CompareOp::Eq, Operand::Literal(literal))
        | Filter::Compare(Operand::Literal(literal), CompareOp::Eq, Operand::Property(column)) => {
            let key = index_key(set, *column, literal)?;
            (table.is_indexed(*column) || set.properties[*column].name == "id").then(|| (*column, vec![key]))
        }
        Filter::In(Operand::Property(column), literals) => {
            let keys: Option<Vec<String>> = literals.iter().map(|literal| index_key(set, *column, literal)).collect();
            (table.is_indexed(*column) || set.properties[*column].name == "id").then_some((*column, keys?))
        }
        Filter::Or(left, right) => {
            let (left_column, mut left_keys) = index_plan(table, left)?;
            let (right_column, right_keys) = index_plan(table, right)?;
            if left_column != right_column {
                return None;
            }
            left_keys.extend(right_keys);
            Some((left_column, left_keys))
        }
        Filter::And(left, right) => index_plan(table, left).or_else(|| index_plan(table, right)),
        _ => None,
    }
}

fn index_key(set: &EntitySet, column: usize, literal: &Literal) -> Option<String> {
    let property = &set.properties[column];
    match (&property.edm, literal) {
        (EdmType::Guid, Literal::Guid(value)) => Some(value.to_string()),
        (EdmType::Guid, Literal::Str(text)) => parse_guid(text).map(|value| value.to_string()),
        (EdmType::String | EdmType::Enum(_), Literal::Str(text)) if property.upper_case => Some(text.to_uppercase()),
        (EdmType::String | EdmType::Enum(_), Literal::Str(text)) => Some(text.clone()),
        (EdmType::Int32 | EdmType::Int64, Literal::Num(number)) if number.fract().is_zero() => Some(number.trunc().to_string()),
        _ => None,
    }
}

/// Slots of the rows that may match, in slot order: index hits when the
/// filter allows, otherwise every slot.
pub fn candidate_slots(table: &Table, filter: Option<&Filter>) -> Option<Vec<usize>> {
    let (column, keys) = index_plan(table, filter?)?;
    let set = table.schema();
    let mut slots = BTreeSet::new();
    for key in keys {
        if set.properties[column].name == "id" {
            if let Some(slot) = Uuid::parse_str(&key).ok().and_then(|id| table.slot_of(&id)) {
                slots.insert(slot);
            }
        } else if let Some(found) = table.lookup(column, &key) {
            slots.extend(found.iter().copied());
        }
    }
    Some(slots.into_iter().collect())
}

pub fn compare_rows(set: &EntitySet, order_by: &[(usize, bool)], left: &Row, right: &Row) -> Ordering {
    for (column, descending) in order_by {
        let ordering = compare_values(&cell_value(left.value(set, *column)), &cell_value(right.value(set, *column)))
            .unwrap_or(Ordering::Equal);
        let ordering = if *descending { ordering.reverse() } else { ordering };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}
