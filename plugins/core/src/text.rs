//! Fitting text into BC's fixed-length fields.
//!
//! BC Text[n] and Code[n] fields hold at most n UTF-16 code units, so lengths
//! here count UTF-16 units: a character outside the Basic Multilingual Plane
//! (an emoji, say) counts as two. Cuts always fall on character boundaries.

use leafbridge_guest_json::extras::ExtrasWriter;

/// Returns the length of `text` as BC counts it.
pub fn bc_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// Returns the longest prefix of `text` that fits `max` UTF-16 units, ending on a
/// character boundary.
fn fitting_prefix(text: &str, max: usize) -> &str {
    let mut units = 0;
    for (index, ch) in text.char_indices() {
        units += ch.len_utf16();
        if units > max {
            return &text[..index];
        }
    }
    text
}

/// Truncation rule for every BC string field: a value longer than the field
/// allows is cut to the limit on a character boundary, and the full value goes
/// to `extras` as `<field>_full` so nothing is lost.
pub fn fit_field(field: &str, value: &str, max: usize, extras: &mut ExtrasWriter) -> String {
    let fitted = fitting_prefix(value, max);
    if fitted.len() < value.len() {
        extras.push_string(&format!("{field}_full"), value);
    }
    fitted.to_string()
}

/// `fit_field` for an optional value; blank values become `None`.
pub fn fit_optional(field: &str, value: Option<&str>, max: usize, extras: &mut ExtrasWriter) -> Option<String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    Some(fit_field(field, value, max, extras))
}

/// Splits `text` into pieces of at most `max` UTF-16 units for BC comment
/// lines. Line breaks always start a new piece; a long line is cut at the last
/// whitespace that fits, or at `max` when a single word is longer. Blank lines
/// are dropped.
pub fn split_for_lines(text: &str, max: usize) -> Vec<String> {
    assert!(max > 0, "split_for_lines needs a positive width");
    let mut pieces = Vec::new();
    for line in text.lines() {
        let mut rest = line.trim();
        while !rest.is_empty() {
            let fitted = fitting_prefix(rest, max);
            if fitted.len() == rest.len() {
                pieces.push(rest.to_string());
                break;
            }
            // Prefer the last whitespace inside the fitted part, or the
            // whitespace right after it (then the whole fitted part is a word
            // boundary).
            let next_char_is_space = rest[fitted.len()..].starts_with(char::is_whitespace);
            let cut = if next_char_is_space {
                fitted.len()
            } else {
                match fitted.rfind(char::is_whitespace) {
                    Some(index) if !fitted[..index].trim().is_empty() => index,
                    _ => fitted.len(),
                }
            };
            pieces.push(rest[..cut].trim_end().to_string());
            rest = rest[cut..].trim_start();
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_field_keeps_short_values() {
        let mut extras = ExtrasWriter::new();
        assert_eq!(fit_field("city", "Denver", 30, &mut extras), "Denver");
        assert!(extras.is_empty());
    }

    #[test]
    fn fit_field_truncates_and_keeps_full_value() {
        let mut extras = ExtrasWriter::new();
        let long = "a".repeat(35);
        assert_eq!(fit_field("city", &long, 30, &mut extras), "a".repeat(30));
        assert_eq!(extras.finish(), format!("{{\"city_full\":\"{long}\"}}"));
    }

    #[test]
    fn fit_field_counts_utf16_units() {
        let mut extras = ExtrasWriter::new();
        // Each emoji is two UTF-16 units, so only two fit in five units.
        let fitted = fit_field("displayName", "😀😀😀", 5, &mut extras);
        assert_eq!(fitted, "😀😀");
        assert_eq!(extras.finish(), "{\"displayName_full\":\"😀😀😀\"}");
    }

    #[test]
    fn fit_field_escapes_full_value() {
        let mut extras = ExtrasWriter::new();
        fit_field("city", "Say \"Zürich\" \\ C:", 3, &mut extras);
        assert_eq!(extras.finish(), r#"{"city_full":"Say \"Zürich\" \\ C:"}"#);
    }

    #[test]
    fn fit_field_on_non_ascii_boundary() {
        let mut extras = ExtrasWriter::new();
        let fitted = fit_field("city", "Zürich-Ölfeld", 3, &mut extras);
        assert_eq!(fitted, "Zür");
    }

    #[test]
    fn split_prefers_whitespace() {
        let text = "alpha beta gamma delta";
        assert_eq!(split_for_lines(text, 11), vec!["alpha beta", "gamma delta"]);
    }

    #[test]
    fn split_cuts_long_words() {
        assert_eq!(split_for_lines("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
    }

    #[test]
    fn split_keeps_every_piece_within_limit() {
        let text = "Bitte liefern Sie nur montags zwischen 9 und 12 Uhr – Rückfragen an Jürgen. ".repeat(5);
        let pieces = split_for_lines(&text, 100);
        assert!(pieces.len() >= 4);
        for piece in &pieces {
            assert!(bc_len(piece) <= 100, "{piece:?} is {} units", bc_len(piece));
        }
        let rejoined = pieces.join(" ");
        assert_eq!(rejoined, text.trim());
    }

    #[test]
    fn split_starts_new_piece_at_line_breaks() {
        assert_eq!(split_for_lines("first\n\nsecond line", 100), vec!["first", "second line"]);
    }

    #[test]
    fn split_at_exact_word_end() {
        assert_eq!(split_for_lines("abcd efgh", 4), vec!["abcd", "efgh"]);
    }
}
