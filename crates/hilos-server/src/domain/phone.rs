//! Phone number canonicalisation: one person, one key.
//!
//! The canonical form is E.164 (`+525512345678`). It is the upsert key, so
//! every variant of one subscriber's number must fold to the same string.

use std::panic::{catch_unwind, AssertUnwindSafe};

use phonenumber::{country, Mode, PhoneNumber};

/// Longest input we hand to the parser; real numbers are far shorter, and
/// the cap bounds the parser's work on hostile input.
pub const MAX_PHONE_INPUT_CHARS: usize = 64;

/// The input is not a phone number that canonicalises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Enter a valid phone number.")]
pub struct InvalidPhone;

/// Returns the canonical E.164 form of `input`, folding known variants.
///
/// - Only digits, spaces and `+ - ( ) . /` are accepted; letters are
///   rejected rather than read as a keypad (vanity) number.
/// - `+` or `00` in front means international.
/// - Without either, the digits are first read as international (WhatsApp
///   `wa_id` style, `5215512345678`), then, if that is not a valid number,
///   as a national number of `default_region` when one is given.
/// - Mexico `+52 1 XXXXXXXXXX` folds to `+52 XXXXXXXXXX`; a Brazilian
///   8-digit mobile (subscriber starting 6–9) gains its leading `9`.
///
/// Never panics: the parser runs under `catch_unwind`, and a panic there
/// counts as an invalid number.
pub fn canonical_phone(
    input: &str,
    default_region: Option<country::Id>,
) -> Result<String, InvalidPhone> {
    if input.chars().count() > MAX_PHONE_INPUT_CHARS {
        return Err(InvalidPhone);
    }
    let trimmed = input.trim();
    if trimmed.is_empty()
        || !trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()./".contains(c))
    {
        return Err(InvalidPhone);
    }

    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    // A `+` anywhere but the front is not something a person writes in a
    // phone number; refuse it instead of guessing.
    if rest.contains('+') {
        return Err(InvalidPhone);
    }
    let all_digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    let (international, digits) = match all_digits.strip_prefix("00") {
        Some(after) if !plus => (true, after.to_owned()),
        _ => (plus, all_digits),
    };
    if digits.is_empty() {
        return Err(InvalidPhone);
    }

    if let Some(found) = canonical_international(&digits) {
        return Ok(found);
    }
    if international {
        return Err(InvalidPhone);
    }
    let region = default_region.ok_or(InvalidPhone)?;
    let national = guarded_parse(Some(region), &digits).ok_or(InvalidPhone)?;
    let e164 = guarded_e164(&national).ok_or(InvalidPhone)?;
    canonical_international(e164.trim_start_matches('+')).ok_or(InvalidPhone)
}

/// Folds `digits` (country code first, no `+`) and returns the E.164 form
/// when the folded number is valid.
fn canonical_international(digits: &str) -> Option<String> {
    let folded = fold_variants(digits);
    let number = guarded_parse(None, &format!("+{folded}"))?;
    if !guarded_is_valid(&number) {
        return None;
    }
    let e164 = guarded_e164(&number)?;
    // Parsing may strip a national prefix again (e.g. Mexico's `1`); folding
    // the result too keeps the key stable whichever way the parser went.
    let refolded = fold_variants(e164.trim_start_matches('+'));
    Some(format!("+{refolded}"))
}

/// Applies the Mexican and Brazilian folds to international digits.
fn fold_variants(digits: &str) -> String {
    // Mexico dropped the mobile `1` after +52 in 2019, but WhatsApp and old
    // address books still carry it: +52 1 XXXXXXXXXX.
    if digits.len() == 13 && digits.starts_with("521") {
        return format!("52{}", &digits[3..]);
    }
    // Brazil added a 9 in front of every 8-digit mobile (first digit 6–9);
    // landlines (2–5) kept 8 digits.
    if let Some(national) = digits.strip_prefix("55") {
        let bytes = national.as_bytes();
        let area_ok = bytes.len() == 10
            && (b'1'..=b'9').contains(&bytes[0])
            && (b'1'..=b'9').contains(&bytes[1]);
        if area_ok && (b'6'..=b'9').contains(&bytes[2]) {
            return format!("55{}9{}", &national[..2], &national[2..]);
        }
    }
    digits.to_owned()
}

/// `phonenumber::parse` with panics turned into `None`.
fn guarded_parse(region: Option<country::Id>, text: &str) -> Option<PhoneNumber> {
    catch_unwind(AssertUnwindSafe(|| phonenumber::parse(region, text).ok()))
        .ok()
        .flatten()
}

fn guarded_is_valid(number: &PhoneNumber) -> bool {
    catch_unwind(AssertUnwindSafe(|| super::phone_validity::is_valid(number))).unwrap_or(false)
}

fn guarded_e164(number: &PhoneNumber) -> Option<String> {
    catch_unwind(AssertUnwindSafe(|| {
        number.format().mode(Mode::E164).to_string()
    }))
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonenumber::country::Id;

    fn ok(input: &str) -> String {
        match canonical_phone(input, None) {
            Ok(s) => s,
            Err(_) => panic!("{input:?} should be valid"),
        }
    }

    #[test]
    fn mexico_both_forms_fold_to_one_key() {
        assert_eq!(ok("+52 55 1234 5678"), "+525512345678");
        assert_eq!(ok("+52 1 55 1234 5678"), "+525512345678");
        assert_eq!(ok("+5215512345678"), "+525512345678");
        assert_eq!(ok("+52 (55) 1234-5678"), "+525512345678");
    }

    #[test]
    fn wa_id_style_digits_are_international() {
        assert_eq!(ok("5215512345678"), "+525512345678");
        assert_eq!(ok("525512345678"), "+525512345678");
        assert_eq!(ok("14155552671"), "+14155552671");
    }

    #[test]
    fn double_zero_means_international() {
        assert_eq!(ok("00 52 55 1234 5678"), "+525512345678");
        assert_eq!(ok("0052 1 55 1234 5678"), "+525512345678");
        assert_eq!(ok("0044 20 7946 0018"), "+442079460018");
        assert_eq!(ok("(00) 52-55-1234-5678"), "+525512345678");
        // `00` after a `+` is not a second international prefix.
        assert_eq!(
            canonical_phone("+00 52 55 1234 5678", None),
            Err(InvalidPhone)
        );
    }

    #[test]
    fn brazil_old_mobile_gains_ninth_digit() {
        assert_eq!(ok("+55 11 8765 4321"), "+5511987654321");
        assert_eq!(ok("+55 21 6123-4567"), "+5521961234567");
        assert_eq!(ok("551187654321"), "+5511987654321");
    }

    #[test]
    fn brazil_nine_digit_mobile_unchanged() {
        assert_eq!(ok("+55 11 98765 4321"), "+5511987654321");
        assert_eq!(ok("5511987654321"), "+5511987654321");
    }

    #[test]
    fn brazil_landline_untouched() {
        assert_eq!(ok("+55 11 3456 7890"), "+551134567890");
        assert_eq!(ok("+55 21 2345-6789"), "+552123456789");
    }

    #[test]
    fn brazil_national_form_folds_too() {
        let br = Some(Id::BR);
        assert_eq!(
            canonical_phone("(11) 8765-4321", br),
            Ok("+5511987654321".to_owned())
        );
        assert_eq!(
            canonical_phone("(11) 3456-7890", br),
            Ok("+551134567890".to_owned())
        );
    }

    #[test]
    fn us_number() {
        assert_eq!(ok("+1 (415) 555-2671"), "+14155552671");
        assert_eq!(ok("+1 415.555.2671"), "+14155552671");
        assert_eq!(ok("+1 415/555/2671"), "+14155552671");
    }

    #[test]
    fn default_region_used_only_when_international_fails() {
        assert_eq!(
            canonical_phone("(415) 555-2671", Some(Id::US)),
            Ok("+14155552671".to_owned())
        );
        assert_eq!(
            canonical_phone("55 1234 5678", Some(Id::MX)),
            Ok("+525512345678".to_owned())
        );
        assert_eq!(
            canonical_phone("020 7946 0018", Some(Id::GB)),
            Ok("+442079460018".to_owned())
        );
        // Without a region a national number cannot be placed.
        assert_eq!(canonical_phone("(415) 555-2671", None), Err(InvalidPhone));
        // Valid international digits win over the region.
        assert_eq!(
            canonical_phone("5215512345678", Some(Id::US)),
            Ok("+525512345678".to_owned())
        );
    }

    #[test]
    fn explicit_international_never_falls_back_to_region() {
        assert_eq!(
            canonical_phone("+4155552671", Some(Id::US)),
            Err(InvalidPhone)
        );
    }

    #[test]
    fn letters_are_rejected_not_mapped() {
        for input in [
            "+1 800 FLOWERS",
            "1-800-FLOWERS",
            "+52 55 1234 567O",
            "tel:+14155552671",
            "+1 415 555 2671 ext 12",
            "+1415555267１", // full-width digit
        ] {
            assert_eq!(
                canonical_phone(input, Some(Id::US)),
                Err(InvalidPhone),
                "{input}"
            );
        }
    }

    #[test]
    fn garbage_is_invalid() {
        for input in [
            "+",
            "00",
            "++52 55 1234 5678",
            "+52+55 1234 5678",
            "---",
            "()./",
            "0",
            "123",
            "+999 1234 5678",
            "99999999999999999999999999999999",
            "#12345678",
            "+52 55 1234 5678;",
        ] {
            assert_eq!(
                canonical_phone(input, Some(Id::MX)),
                Err(InvalidPhone),
                "{input}"
            );
        }
    }

    #[test]
    fn empty_and_whitespace_are_invalid() {
        assert_eq!(canonical_phone("", Some(Id::MX)), Err(InvalidPhone));
        assert_eq!(canonical_phone("   \t ", Some(Id::MX)), Err(InvalidPhone));
    }

    #[test]
    fn overlong_input_is_invalid_without_parsing() {
        let long = format!("+52 55 1234 5678{}", " ".repeat(60));
        assert_eq!(canonical_phone(&long, None), Err(InvalidPhone));
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        assert_eq!(ok("  +52 55 1234 5678\n"), "+525512345678");
    }

    #[test]
    fn fold_leaves_other_numbers_alone() {
        assert_eq!(fold_variants("525512345678"), "525512345678");
        assert_eq!(fold_variants("551134567890"), "551134567890");
        assert_eq!(fold_variants("5511987654321"), "5511987654321");
        // Area codes never contain a 0; such digits are not a mobile to fix.
        assert_eq!(fold_variants("551087654321"), "551087654321");
        assert_eq!(fold_variants("14155552671"), "14155552671");
    }
}

#[cfg(test)]
#[path = "phone_props.rs"]
mod props;
