//! Property tests of [`canonical_phone`]: hostile input never panics, the
//! canonical form is a fixed point, and the ways people write one number
//! all fold to it.

use phonenumber::country::Id;
use proptest::prelude::*;

use super::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn arb_region() -> impl Strategy<Value = Option<Id>> {
    prop::option::of(prop::sample::select(vec![
        Id::MX,
        Id::US,
        Id::BR,
        Id::GB,
        Id::DE,
        Id::IN,
        Id::AR,
        Id::CO,
    ]))
}

/// Any text, text made of the characters a phone may hold, and digit runs
/// long enough to reach the parser.
fn arb_input() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9+ ()./-]{0,70}",
        "(\\+|00)?[0-9]{1,20}",
        "[2-9][0-9]{9,10}",
        "[\\PC]{0,8}[0-9]{6,14}[\\PC]{0,4}",
    ]
}

/// A number `canonical_phone` accepts, as its canonical form: a prefix of
/// a real numbering plan and random subscriber digits, kept when valid.
fn arb_canonical() -> impl Strategy<Value = String> {
    let plans = prop_oneof![
        "5255[0-9]{8}",       // Mexico City
        "5281[0-9]{8}",       // Monterrey
        "1415[2-9][0-9]{6}",  // San Francisco
        "1212[2-9][0-9]{6}",  // New York
        "55119[6-9][0-9]{7}", // São Paulo mobile
        "55113[0-9]{7}",      // São Paulo landline
        "55219[6-9][0-9]{7}", // Rio de Janeiro mobile
        "44207[0-9]{7}",      // London
        "447[1-9][0-9]{8}",   // UK mobile
        "4930[0-9]{7,8}",     // Berlin
        "919[0-9]{9}",        // India mobile
        "5411[0-9]{8}",       // Buenos Aires
    ];
    valid(plans)
}

/// Digits (country code first) kept when they make a valid number, as its
/// canonical form.
fn valid(digits: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    digits.prop_filter_map("a valid number", |digits| {
        canonical_phone(&format!("+{digits}"), None).ok()
    })
}

/// One way of writing the digits of `canonical`: `+`, `00` or no prefix,
/// separators between digits, a parenthesised group, surrounding
/// whitespace.
fn arb_variant(canonical: String) -> impl Strategy<Value = String> {
    let digits: Vec<char> = canonical.trim_start_matches('+').chars().collect();
    let n = digits.len();
    (
        prop::sample::select(vec!["+", "00", "", "+ ", "00 ", "(00) "]),
        prop::collection::vec(
            prop::sample::select(vec!["", "", "", " ", "-", ".", "/", " - "]),
            n,
        ),
        prop::option::of((0..n, 0..n)),
        prop::sample::select(vec!["", " ", "\t", "\n", "  "]),
    )
        .prop_map(move |(prefix, separators, parens, padding)| {
            let (open, close) = match parens {
                Some((a, b)) => (a.min(b), a.max(b)),
                None => (usize::MAX, usize::MAX),
            };
            let mut out = format!("{padding}{prefix}");
            for (i, digit) in digits.iter().enumerate() {
                if i == open {
                    out.push('(');
                }
                out.push(*digit);
                if i == close {
                    out.push(')');
                }
                if i + 1 < digits.len() {
                    out.push_str(separators[i]);
                }
            }
            out.push_str(padding);
            out
        })
}

/// `+` and digits, no leading zero. libphonenumber's metadata (and so
/// upstream's) accepts some national numbers longer than E.164's 15 digits
/// in all, such as Germany's `+49 201 00000000000`, so only its own bound
/// of 17 national digits after a country code of up to 3 is checked.
fn is_e164(text: &str) -> bool {
    let Some(digits) = text.strip_prefix('+') else {
        return false;
    };
    (5..=20).contains(&digits.len())
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_input_is_refused_or_e164_and_a_fixed_point(
        input in arb_input(),
        region in arb_region(),
        other_region in arb_region(),
    ) {
        if let Ok(canonical) = canonical_phone(&input, region) {
            prop_assert!(is_e164(&canonical), "{input:?} -> {canonical:?}");
            prop_assert_eq!(canonical_phone(&canonical, None), Ok(canonical.clone()));
            prop_assert_eq!(canonical_phone(&canonical, other_region), Ok(canonical.clone()));
        }
    }

    #[test]
    fn written_variants_fold_to_the_canonical_form(
        (canonical, variant) in arb_canonical()
            .prop_flat_map(|c| (Just(c.clone()), arb_variant(c))),
        region in arb_region(),
    ) {
        prop_assume!(variant.chars().count() <= MAX_PHONE_INPUT_CHARS);
        prop_assert_eq!(canonical_phone(&variant, region), Ok(canonical), "{:?}", variant);
    }

    #[test]
    fn mexico_mobile_one_folds_away(
        canonical in valid("52(55|81|33|99)[0-9]{8}"),
        spaced in any::<bool>(),
    ) {
        let national = &canonical[3..];
        let old_style = if spaced {
            format!("+52 1 {national}")
        } else {
            format!("521{national}")
        };
        prop_assert_eq!(canonical_phone(&old_style, None), Ok(canonical));
    }

    #[test]
    fn brazil_eight_digit_mobile_gains_its_nine(
        canonical in valid("55(11|21|31|61|71)9[6-9][0-9]{7}"),
    ) {
        let national = &canonical[3..];
        let old_style = format!("+55 {} {}", &national[..2], &national[3..]);
        prop_assert_eq!(canonical_phone(&old_style, None), Ok(canonical));
    }

    #[test]
    fn longer_than_the_cap_is_refused(canonical in arb_canonical(), pad in 1usize..40) {
        let padded = format!("{canonical}{}", " ".repeat(MAX_PHONE_INPUT_CHARS + pad - canonical.len()));
        prop_assert_eq!(canonical_phone(&padded, None), Err(InvalidPhone));
    }
}
