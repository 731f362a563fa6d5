//! Output helpers shared by the commands: `--json` listings and plain tables.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::Serialize;

/// Returns `text` with control characters and Unicode direction overrides
/// written as `\u{..}` escapes. Record fields and API error messages come
/// from LeafLink, BC and plugins. Printed raw, an escape sequence in one
/// could rewrite the terminal or hide part of a line.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    let unsafe_char = |character: char| character.is_control() || matches!(character, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut safe = String::with_capacity(text.len() + 8);
    for character in text.chars() {
        if unsafe_char(character) {
            let _ = write!(safe, "\\u{{{:x}}}", character as u32);
        } else {
            safe.push(character);
        }
    }
    Cow::Owned(safe)
}

/// Prints `value` as pretty JSON on standard output.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    println!("{text}");
    Ok(())
}

/// Prints rows as left-aligned columns under `headers`.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> =
        rows.iter().map(|row| row.iter().map(|cell| terminal_safe(cell).into_owned()).collect()).collect();
    let mut widths: Vec<usize> = headers.iter().map(|header| header.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let render = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    render(headers.to_vec());
    for row in &rows {
        render(row.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::terminal_safe;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(terminal_safe("Café Été, 20 % off"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn escapes_control_and_direction_characters() {
        assert_eq!(terminal_safe("red\u{1b}[31m"), "red\\u{1b}[31m");
        assert_eq!(terminal_safe("line\nnext\ttab"), "line\\u{a}next\\u{9}tab");
        assert_eq!(terminal_safe("abc\u{202e}fed"), "abc\\u{202e}fed");
    }
}
