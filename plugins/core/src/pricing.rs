//! The pricing rule shared with the sandboxes, which makes a BC line amount
//! equal the LeafLink line amount to the cent.
//!
//! LeafLink prices a line per case: the line amount is
//! `A = round2(ordered_unit_price × quantity / unit_multiplier)`, where
//! `quantity` counts individual units and `unit_multiplier` is units per case.
//! The BC line keeps `quantity` in units, so its unit price is
//! `ordered_unit_price / unit_multiplier`, kept exact when it has at most 5
//! decimal places and rounded up to 5 places otherwise (BC stores unit prices
//! with 5 decimals). `discountAmount = round2(quantity × unitPrice) − A`, so
//! BC's `round2(quantity × unitPrice) − discountAmount` is `A` exactly.
//! The way back (orders-push) sends LeafLink a case price with as many
//! decimal places as it takes for the LeafLink line amount to equal BC's.
//! Amounts round half away from zero, as BC rounds to its 0.01 precision.

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};

/// Decimal places BC keeps on a unit price.
pub const UNIT_PRICE_SCALE: u32 = 5;

/// The BC side of one LeafLink line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinePricing {
    /// The LeafLink line amount `A`.
    pub amount: Decimal,
    pub unit_price: Decimal,
    /// Zero when the unit price reproduces `A` by itself.
    pub discount_amount: Decimal,
}

/// Rounds a money amount to cents, half away from zero.
pub fn round2(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Returns the BC unit price for a LeafLink case price: `price / unit_multiplier`,
/// rounded up to 5 decimal places only when it has more.
pub fn bc_unit_price(case_price: Decimal, unit_multiplier: Decimal) -> Decimal {
    let exact = case_price / unit_multiplier;
    if exact.normalize().scale() <= UNIT_PRICE_SCALE {
        exact.normalize()
    } else {
        exact.round_dp_with_strategy(UNIT_PRICE_SCALE, RoundingStrategy::ToPositiveInfinity).normalize()
    }
}

/// Prices one LeafLink line for BC. `unit_multiplier` must be positive (the
/// caller checks it so it can name the record).
pub fn price_line(case_price: Decimal, quantity: Decimal, unit_multiplier: Decimal) -> LinePricing {
    let amount = round2(case_price * quantity / unit_multiplier);
    let unit_price = bc_unit_price(case_price, unit_multiplier);
    let discount_amount = round2(quantity * unit_price) - amount;
    LinePricing { amount: amount.normalize(), unit_price, discount_amount: discount_amount.normalize() }
}

/// Decimal places tried at most for a LeafLink case price that must
/// reproduce a discounted BC line amount. The LeafLink API types money as a
/// decimal string with no documented precision, and LeafLink accepted a
/// PATCH of `ordered_unit_price` 193.333.
// NOTE: the precision LeafLink stores is not documented. A price with more
// places than it keeps would be rounded there and miss the BC amount.
pub const MAX_CASE_PRICE_SCALE: u32 = 8;

/// Computes the LeafLink line amount of a case price: `round2(case_price × quantity / unit_multiplier)`.
pub fn leaflink_line_amount(case_price: Decimal, quantity: Decimal, unit_multiplier: Decimal) -> Decimal {
    round2(case_price * quantity / unit_multiplier)
}

/// Returns the LeafLink case price for a BC unit price: `unit_price × unit_multiplier`
/// in cents. Product prices use it. An order line uses `leaflink_line_price`,
/// because a case price in cents can move the line amount.
pub fn leaflink_case_price(unit_price: Decimal, unit_multiplier: Decimal) -> Decimal {
    round2(unit_price * unit_multiplier).normalize()
}

/// Returns the LeafLink case price of a BC line: a price whose LeafLink line
/// amount for `quantity` units equals the BC line amount `amount` to the cent.
///
/// The price is the exact `unit_price × unit_multiplier` (never rounded to
/// cents, since a rounded case price moves the line amount) whenever that
/// reproduces `amount`. A BC line with a line discount needs another price:
/// `amount × unit_multiplier / quantity` at the fewest decimal places, from 2
/// up to `MAX_CASE_PRICE_SCALE`, that gives `amount`. When none does, the
/// exact price is returned and the line amounts differ.
pub fn leaflink_line_price(unit_price: Decimal, unit_multiplier: Decimal, quantity: Decimal, amount: Decimal) -> Decimal {
    let exact = (unit_price * unit_multiplier).normalize();
    if quantity.is_zero() || leaflink_line_amount(exact, quantity, unit_multiplier) == amount {
        return exact;
    }
    let ideal = amount * unit_multiplier / quantity;
    for scale in 2..=MAX_CASE_PRICE_SCALE {
        let step = Decimal::new(1, scale);
        let near = ideal.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
        for candidate in [near, near - step, near + step] {
            if !candidate.is_sign_negative() && leaflink_line_amount(candidate, quantity, unit_multiplier) == amount {
                return candidate.normalize();
            }
        }
    }
    exact
}

/// Parses a decimal string exactly (plain or scientific notation).
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    let text = text.trim();
    Decimal::from_str(text).ok().or_else(|| Decimal::from_scientific(text).ok())
}

/// Returns the canonical string of a decimal: no trailing zeros, no exponent.
pub fn canonical(value: Decimal) -> String {
    value.normalize().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        parse_decimal(text).unwrap()
    }

    /// BC's own line amount: `round2(quantity × unitPrice) − discountAmount`.
    fn bc_amount(pricing: &LinePricing, quantity: Decimal) -> Decimal {
        round2(quantity * pricing.unit_price) - pricing.discount_amount
    }

    #[test]
    fn multiplier_one_has_no_discount() {
        let pricing = price_line(d("12.35"), d("7"), d("1"));
        assert_eq!(pricing.amount, d("86.45"));
        assert_eq!(pricing.unit_price, d("12.35"));
        assert_eq!(pricing.discount_amount, Decimal::ZERO);
        assert_eq!(bc_amount(&pricing, d("7")), pricing.amount);
    }

    #[test]
    fn multiplier_twelve_matches_to_the_cent() {
        // 108 per case of 12, 30 units: 2.5 cases = 270.00.
        let pricing = price_line(d("108"), d("30"), d("12"));
        assert_eq!(pricing.amount, d("270"));
        assert_eq!(pricing.unit_price, d("9"));
        assert_eq!(pricing.discount_amount, Decimal::ZERO);
        assert_eq!(bc_amount(&pricing, d("30")), d("270"));
    }

    #[test]
    fn repeating_unit_price_rounds_up_and_discounts() {
        // 100 per case of 7 is 14.285714...; the unit price rounds up to 14.28572.
        let pricing = price_line(d("100"), d("10"), d("7"));
        assert_eq!(pricing.unit_price, d("14.28572"));
        assert_eq!(pricing.amount, d("142.86"));
        // round2(10 × 14.28572) = 142.86, so no discount is needed here.
        assert_eq!(pricing.discount_amount, d("0"));
        assert_eq!(bc_amount(&pricing, d("10")), pricing.amount);
    }

    #[test]
    fn rounding_up_over_many_units_gets_a_discount() {
        // 1000 units of a 3-pack at 10: A = 3333.33; unit 3.33334 × 1000 = 3333.34.
        let pricing = price_line(d("10"), d("1000"), d("3"));
        assert_eq!(pricing.amount, d("3333.33"));
        assert_eq!(pricing.unit_price, d("3.33334"));
        assert_eq!(pricing.discount_amount, d("0.01"));
        assert_eq!(bc_amount(&pricing, d("1000")), d("3333.33"));
    }

    #[test]
    fn every_combination_matches_to_the_cent() {
        let prices = ["0.01", "1", "9.99", "12.345", "108", "210.4", "333.33", "1999.999"];
        let multipliers = ["1", "2", "3", "6", "7", "12", "24", "28"];
        let quantities = ["1", "2.5", "3", "7", "12", "13", "100", "1234.5678"];
        for price in prices {
            for multiplier in multipliers {
                for quantity in quantities {
                    let (p, m, q) = (d(price), d(multiplier), d(quantity));
                    let pricing = price_line(p, q, m);
                    assert_eq!(
                        bc_amount(&pricing, q),
                        round2(p * q / m),
                        "price {price} multiplier {multiplier} quantity {quantity}"
                    );
                    assert!(pricing.unit_price.scale() <= UNIT_PRICE_SCALE);
                }
            }
        }
    }

    #[test]
    fn case_price_keeps_bc_line_amount() {
        // 30 units at 19.3333 in cases of 10: BC's line is round2(579.999) = 580.00,
        // and a case price in cents (193.33) would give 579.99.
        let price = leaflink_line_price(d("19.3333"), d("10"), d("30"), d("580"));
        assert_eq!(price, d("193.333"));
        assert_eq!(leaflink_line_amount(price, d("30"), d("10")), d("580"));
    }

    #[test]
    fn case_price_reproduces_discounted_line() {
        // 12 units at 9 in cases of 12 with a 0.07 line discount: BC's line is 107.93.
        let price = leaflink_line_price(d("9"), d("12"), d("12"), d("107.93"));
        assert_eq!(price, d("107.93"));
        // 7 units in cases of 3 at 10 per unit, discounted to 69.99: no
        // price in cents gives 69.99, so more places are used.
        let price = leaflink_line_price(d("10"), d("3"), d("7"), d("69.99"));
        assert_eq!(leaflink_line_amount(price, d("7"), d("3")), d("69.99"), "price {price}");
        assert!(price.scale() > 2, "price {price}");
    }

    #[test]
    fn case_price_of_imported_lines_is_stable() {
        // A line imported from LeafLink prices back to a case price with the
        // same line amount.
        let prices = ["1", "9.99", "12.345", "108", "100", "333.33"];
        let multipliers = ["1", "3", "7", "12"];
        let quantities = ["1", "7", "10", "1000"];
        for price in prices {
            for multiplier in multipliers {
                for quantity in quantities {
                    let (p, m, q) = (d(price), d(multiplier), d(quantity));
                    let pricing = price_line(p, q, m);
                    let bc_amount = round2(q * pricing.unit_price) - pricing.discount_amount;
                    let back = leaflink_line_price(pricing.unit_price, m, q, bc_amount);
                    assert_eq!(
                        leaflink_line_amount(back, q, m),
                        bc_amount,
                        "price {price} multiplier {multiplier} quantity {quantity} gave {back}"
                    );
                }
            }
        }
    }

    #[test]
    fn parse_accepts_scientific_notation() {
        assert_eq!(parse_decimal("1.5E+2"), Some(d("150")));
        assert_eq!(parse_decimal("abc"), None);
    }

    #[test]
    fn canonical_strips_trailing_zeros() {
        assert_eq!(canonical(d("800.0000")), "800");
        assert_eq!(canonical(d("210.40")), "210.4");
    }
}
