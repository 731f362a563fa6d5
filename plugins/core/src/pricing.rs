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

/// Returns the LeafLink case price for a BC unit price: `unit_price × unit_multiplier`
/// in cents.
pub fn leaflink_case_price(unit_price: Decimal, unit_multiplier: Decimal) -> Decimal {
    round2(unit_price * unit_multiplier).normalize()
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
