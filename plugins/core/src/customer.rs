//! LeafLink customer -> BC customer (customers met in an order, and
//! customers-import).

use crate::error::invalid_record;
use crate::settings::{CustomerNumbering, Settings};
use crate::text::{bc_len, fit_field, fit_optional};
use crate::types::{BcCustomer, LlCustomer, PluginError};
use leafbridge_guest_json::extras::ExtrasWriter;

/// BC `customers.number` is a Code[20].
const NUMBER_MAX: usize = 20;

/// Maps a LeafLink customer to the BC customer to create or update.
///
/// Field limits are the AL lengths of the BC customers API page (API v2.0):
/// displayName 100, addressLine1 100, addressLine2 50, city 30, state 30,
/// country 10, postalCode 20, phoneNumber 30, email 80, website 255,
/// taxRegistrationNumber 50.
pub fn map_customer(settings: &Settings, customer: &LlCustomer) -> Result<BcCustomer, PluginError> {
    let record = format!("customer {}", customer.id);
    let mut extras = ExtrasWriter::new();

    let number = match settings.customer_numbering()? {
        CustomerNumbering::LeafLinkId => {
            let number = format!("{}{}", settings.customer_prefix(), customer.id).to_uppercase();
            if bc_len(&number) > NUMBER_MAX {
                return Err(invalid_record(
                    &record,
                    Some("id"),
                    format!("customer number {number:?} is longer than BC's {NUMBER_MAX} characters; shorten `customer_numbering.prefix`"),
                ));
            }
            Some(number)
        }
        CustomerNumbering::BcSeries => None,
    };

    let name = customer.name.trim();
    if name.is_empty() {
        return Err(invalid_record(&record, Some("name"), "the customer has no name"));
    }

    let currency_code = customer
        .currency
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case(settings.company_currency()))
        .map(str::to_uppercase);

    // Only the explicit `salesperson_map` is read here. The host fills a code
    // left blank from the salesperson `link` paired with the manager by email.
    let salesperson_code = customer.managers.first().and_then(|staff| settings.salesperson_code(*staff));

    let mapped = BcCustomer {
        id: None,
        number,
        display_name: fit_field("displayName", name, 100, &mut extras),
        address_line1: fit_optional("addressLine1", customer.address.as_deref(), 100, &mut extras),
        address_line2: fit_optional("addressLine2", customer.unit_number.as_deref(), 50, &mut extras),
        city: fit_optional("city", customer.city.as_deref(), 30, &mut extras),
        state: fit_optional("state", customer.state.as_deref(), 30, &mut extras),
        country: fit_optional("country", customer.country.as_deref(), 10, &mut extras).map(|c| c.to_uppercase()),
        postal_code: fit_optional("postalCode", customer.zipcode.as_deref(), 20, &mut extras).map(|c| c.to_uppercase()),
        phone_number: fit_optional("phoneNumber", customer.phone.as_deref(), 30, &mut extras),
        email: fit_optional("email", customer.email.as_deref(), 80, &mut extras),
        website: fit_optional("website", customer.website.as_deref(), 255, &mut extras),
        salesperson_code,
        currency_code,
        tax_registration_number: fit_optional("taxRegistrationNumber", customer.license_number.as_deref(), 50, &mut extras),
        etag: None,
        last_modified: None,
        extras: String::new(),
    };

    // Values BC API v2.0 has no property for travel in `extras` for the store.
    extras.push_integer("leaflink_customer_id", customer.id);
    if let Some(county) = customer.county.as_deref().filter(|c| !c.trim().is_empty()) {
        extras.push_string("county", county);
    }
    if let Some(status) = customer.status {
        extras.push_integer("status", status);
    }
    extras.push_bool("archived", customer.archived);
    if let Some(modified) = customer.modified.as_deref() {
        extras.push_string("modified", modified);
    }
    if let Some(license) = customer.license_number.as_deref().filter(|l| !l.trim().is_empty()) {
        extras.push_string("license_number", license);
    }

    Ok(BcCustomer { extras: extras.finish(), ..mapped })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn customer() -> LlCustomer {
        LlCustomer {
            id: 148515,
            name: "Good Vibrations Dispensary".into(),
            nickname: None,
            external_id: None,
            license_number: Some("402R-00123".into()),
            website: Some("https://goodvibes.example".into()),
            address: Some("17034 Highway 10".into()),
            unit_number: Some("1A".into()),
            zipcode: Some("81143".into()),
            city: Some("Moffat".into()),
            county: Some("Saguache".into()),
            state: Some("CO".into()),
            country: Some("us".into()),
            phone: Some("719-555-0100".into()),
            email: Some("buyer@goodvibes.example".into()),
            currency: Some("USD".into()),
            status: Some(3),
            archived: false,
            managers: vec![13, 14],
            modified: Some("2020-06-10T22:14:49.494713Z".into()),
            extras: "{}".into(),
        }
    }

    fn extra<'a>(mapped: &'a BcCustomer, name: &str) -> Option<&'a str> {
        leafbridge_guest_json::extras::field(&mapped.extras, name).unwrap()
    }

    #[test]
    fn maps_fields_per_table() {
        let settings: Settings = [("salesperson_map.13", "jd")].into_iter().collect();
        let mapped = map_customer(&settings, &customer()).unwrap();
        assert_eq!(mapped.number.as_deref(), Some("LL148515"));
        assert_eq!(mapped.display_name, "Good Vibrations Dispensary");
        assert_eq!(mapped.address_line1.as_deref(), Some("17034 Highway 10"));
        assert_eq!(mapped.address_line2.as_deref(), Some("1A"));
        assert_eq!(mapped.postal_code.as_deref(), Some("81143"));
        assert_eq!(mapped.country.as_deref(), Some("US"));
        assert_eq!(mapped.salesperson_code.as_deref(), Some("JD"));
        assert_eq!(mapped.tax_registration_number.as_deref(), Some("402R-00123"));
        assert_eq!(mapped.currency_code, None, "USD is the company currency, so BC gets a blank code");
        assert_eq!(extra(&mapped, "county"), Some("\"Saguache\""));
        assert_eq!(extra(&mapped, "status"), Some("3"));
        assert_eq!(extra(&mapped, "archived"), Some("false"));
    }

    #[test]
    fn bc_series_leaves_number_blank() {
        let settings: Settings = [("customer_numbering", "bc-series")].into_iter().collect();
        assert_eq!(map_customer(&settings, &customer()).unwrap().number, None);
    }

    #[test]
    fn custom_prefix_is_used() {
        let settings: Settings = [("customer_numbering.prefix", "c-")].into_iter().collect();
        assert_eq!(map_customer(&settings, &customer()).unwrap().number.as_deref(), Some("C-148515"));
    }

    #[test]
    fn over_long_number_is_invalid_record() {
        let settings: Settings = [("customer_numbering.prefix", "LEAFLINK-CUSTOMER-")].into_iter().collect();
        let error = map_customer(&settings, &customer()).unwrap_err();
        let PluginError::InvalidRecord(record) = error else { panic!("expected invalid-record") };
        assert_eq!(record.record, "customer 148515");
    }

    #[test]
    fn foreign_currency_is_kept() {
        let mut source = customer();
        source.currency = Some("cad".into());
        let mapped = map_customer(&Settings::default(), &source).unwrap();
        assert_eq!(mapped.currency_code.as_deref(), Some("CAD"));
    }

    #[test]
    fn over_long_strings_truncate_with_full_value() {
        let mut source = customer();
        source.name = "Ä".repeat(120);
        source.city = Some("Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch".into());
        let mapped = map_customer(&Settings::default(), &source).unwrap();
        assert_eq!(mapped.display_name.chars().count(), 100);
        assert_eq!(mapped.city.as_deref().unwrap().len(), 30);
        assert_eq!(extra(&mapped, "displayName_full"), Some(format!("\"{}\"", "Ä".repeat(120)).as_str()));
        assert!(extra(&mapped, "city_full").is_some());
    }

    #[test]
    fn unmapped_manager_leaves_salesperson_blank() {
        let mapped = map_customer(&Settings::default(), &customer()).unwrap();
        assert_eq!(mapped.salesperson_code, None);
    }
}
