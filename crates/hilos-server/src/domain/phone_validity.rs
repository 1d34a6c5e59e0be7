//! Whether a parsed phone number is valid, answered without
//! `phonenumber`'s shared regex cache.
//!
//! `phonenumber::is_valid` matches the national number against the
//! patterns of its numbering plan (the general one, then each type: mobile,
//! fixed line, toll free…). Those patterns live in one process-wide LRU of
//! compiled regexes behind a mutex: every match hashes the pattern's text
//! (hundreds of characters) to find its regex, and holds the mutex while
//! the regex runs. A valid Mexican mobile takes about ten such matches, so
//! validity was most of canonicalisation's cost, and every request of every
//! Tokio worker queued for that one lock.
//!
//! [`is_valid`] gives the same answer from the same metadata
//! (`phonenumber::metadata::DATABASE`) by the same rules (`source_for` and
//! `number_type` in `phonenumber`'s `validator.rs`), with each numbering
//! plan's patterns compiled once, on first use, into `regex::Regex`es of
//! its own, which threads share without a lock. At most one set per
//! numbering plan is ever compiled (all 254 plans: about 20 MB; one plan:
//! tens of KB); the tests compare the answers with `phonenumber`'s on every
//! plan's example numbers and on random digits after every country code.

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock};

use phonenumber::metadata::{Descriptor, Descriptors, Metadata, DATABASE};
use phonenumber::PhoneNumber;
use regex::{Regex, RegexBuilder};

/// Whether `number` is a valid number of the numbering plan its country
/// code and leading digits select: the same answer as
/// `phonenumber::is_valid`.
pub fn is_valid(number: &PhoneNumber) -> bool {
    let national = number.national().to_string();
    match plan_for(number.code().value(), &national) {
        Ok(Some(plan)) => plan.has_type(&national),
        Ok(None) => false,
        Err(Uncompiled) => phonenumber::is_valid(number),
    }
}

/// The numbering plan of a number: the only region of its country code, or
/// the first region of a shared code (such as `+1`) whose leading digits,
/// or else whose patterns, fit the national number.
fn plan_for(code: u16, national: &str) -> Result<Option<&'static Plan>, Uncompiled> {
    let Some(regions) = REGIONS.get(&code) else {
        return Ok(None);
    };
    if let [only] = &regions[..] {
        return only.plan().map(Some);
    }
    for region in regions {
        let plan = region.plan()?;
        let fits = match &plan.leading_digits {
            Some(leading) => starts_with_match(leading, national),
            None => plan.has_type(national),
        };
        if fits {
            return Ok(Some(plan));
        }
    }
    Ok(None)
}

/// The compiled patterns of one numbering plan.
struct Plan {
    leading_digits: Option<Regex>,
    general: Pattern,
    /// Every type a valid number can have; which one matches does not
    /// matter for validity.
    types: Vec<Pattern>,
}

impl Plan {
    fn compile(meta: &Metadata) -> Result<Self, regex::Error> {
        let descriptors = meta.descriptors();
        Ok(Self {
            leading_digits: meta
                .leading_digits()
                .map(|leading| compile(leading.as_str()))
                .transpose()?,
            general: Pattern::compile(descriptors.general())?,
            types: types(descriptors)
                .map(Pattern::compile)
                .collect::<Result<_, _>>()?,
        })
    }

    /// `number_type(meta, national) != Type::Unknown`.
    fn has_type(&self, national: &str) -> bool {
        self.general.matches(national) && self.types.iter().any(|t| t.matches(national))
    }
}

/// The descriptors of every type `number_type` tells apart.
fn types(descriptors: &Descriptors) -> impl Iterator<Item = &Descriptor> {
    [
        descriptors.premium_rate(),
        descriptors.toll_free(),
        descriptors.shared_cost(),
        descriptors.voip(),
        descriptors.personal_number(),
        descriptors.pager(),
        descriptors.uan(),
        descriptors.voicemail(),
        descriptors.fixed_line(),
        descriptors.mobile(),
    ]
    .into_iter()
    .flatten()
}

/// One type's pattern and the lengths a number of that type can have.
struct Pattern {
    regex: Regex,
    /// Empty when any length is possible.
    lengths: Vec<u16>,
}

impl Pattern {
    fn compile(descriptor: &Descriptor) -> Result<Self, regex::Error> {
        Ok(Self {
            regex: compile(descriptor.national_number().as_str())?,
            lengths: descriptor.possible_length().to_vec(),
        })
    }

    /// `Descriptor::is_match`: a possible length, and a match at the start.
    fn matches(&self, national: &str) -> bool {
        let possible = self.lengths.is_empty()
            || u16::try_from(national.len()).is_ok_and(|len| self.lengths.contains(&len));
        possible && starts_with_match(&self.regex, national)
    }
}

/// `phonenumber` takes the leftmost-first match and asks only that it
/// start the number; so does this.
fn starts_with_match(regex: &Regex, text: &str) -> bool {
    regex.find(text).is_some_and(|m| m.start() == 0)
}

/// Compiles a metadata pattern with the options `phonenumber` uses for it,
/// but without Unicode classes: a national number is ASCII digits, on which
/// `\d` and `[0-9]` agree, and the Unicode `\d` made every plan's patterns
/// four times larger (all of them compiled: 89 MB against 20 MB).
fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .ignore_whitespace(true)
        .unicode(false)
        .size_limit(10 << 20)
        .dfa_size_limit(2 << 20)
        .build()
}

/// A plan whose patterns did not compile here; `phonenumber` answers for
/// its numbers instead.
struct Uncompiled;

/// One numbering plan of a country code, compiled on first use.
struct Region {
    meta: &'static Metadata,
    plan: OnceLock<Option<Plan>>,
}

impl Region {
    fn plan(&self) -> Result<&Plan, Uncompiled> {
        self.plan
            .get_or_init(|| match Plan::compile(self.meta) {
                Ok(plan) => Some(plan),
                Err(error) => {
                    let region = self.meta.id();
                    tracing::warn!(region, %error, "phone patterns do not compile");
                    None
                }
            })
            .as_ref()
            .ok_or(Uncompiled)
    }
}

/// Every numbering plan of the database by country code, in the
/// database's order (the main country of a shared code first).
static REGIONS: LazyLock<HashMap<u16, Vec<Region>>> = LazyLock::new(|| {
    (1..=999u16)
        .filter_map(|code| {
            let regions = DATABASE
                .by_code(&code)?
                .into_iter()
                .map(|meta| Region {
                    meta,
                    plan: OnceLock::new(),
                })
                .collect();
            Some((code, regions))
        })
        .collect()
});

#[cfg(test)]
mod tests {
    use super::*;

    /// Every country code with each of its numbering plans.
    fn regions() -> impl Iterator<Item = (u16, &'static Region)> {
        REGIONS
            .iter()
            .flat_map(|(code, regions)| regions.iter().map(|region| (*code, region)))
    }

    /// Every plan's example numbers of each type, and each of them one digit
    /// shorter and one longer, as `+CODE NATIONAL`.
    fn examples() -> Vec<String> {
        let mut numbers = Vec::new();
        for (code, region) in regions() {
            for example in described(region.meta.descriptors()).filter_map(Descriptor::example) {
                numbers.push(format!("+{code}{example}"));
                numbers.push(format!("+{code}{}", &example[..example.len() - 1]));
                numbers.push(format!("+{code}{example}7"));
            }
        }
        numbers
    }

    #[test]
    fn agrees_with_phonenumber_on_every_plan() {
        let numbers = examples();
        assert!(numbers.len() > 3000, "{} examples", numbers.len());
        let mut valid = 0;
        for text in &numbers {
            let Ok(number) = phonenumber::parse(None, text) else {
                continue;
            };
            let expected = phonenumber::is_valid(&number);
            assert_eq!(is_valid(&number), expected, "{text}");
            valid += usize::from(expected);
        }
        // Both answers occur: most examples are valid, many variants not.
        assert!(valid > 1000, "{valid} valid");
        assert!(valid < numbers.len() - 1000, "{valid} valid");
    }

    /// Every descriptor with examples, listed apart from [`types`] so that
    /// a type missing there still has its examples checked here.
    fn described(d: &Descriptors) -> impl Iterator<Item = &Descriptor> {
        [
            Some(d.general()),
            d.fixed_line(),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.shared_cost(),
            d.personal_number(),
            d.voip(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ]
        .into_iter()
        .flatten()
    }

    /// The fallback to `phonenumber` is for metadata this module cannot
    /// compile; today's compiles whole.
    #[test]
    fn every_plan_compiles() {
        let mut plans = 0;
        for (code, region) in regions() {
            assert!(region.plan().is_ok(), "{} (+{code})", region.meta.id());
            plans += 1;
        }
        // The metadata has a plan per region and per non-geographic code.
        assert!(plans > 200, "{plans} plans");
    }

    /// Every country code the metadata knows.
    fn codes() -> Vec<u16> {
        let mut codes: Vec<u16> = REGIONS.keys().copied().collect();
        codes.sort_unstable();
        codes
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 512,
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Random national digits after every country code: the same answer
        /// as `phonenumber`, valid or not.
        #[test]
        fn agrees_with_phonenumber_on_random_digits(
            code in proptest::sample::select(codes()),
            national in "[0-9]{2,15}",
        ) {
            let text = format!("+{code}{national}");
            if let Ok(number) = phonenumber::parse(None, &text) {
                proptest::prop_assert_eq!(
                    is_valid(&number),
                    phonenumber::is_valid(&number),
                    "{}", text
                );
            }
        }
    }

    #[test]
    fn shared_country_codes_pick_the_region() {
        for (text, valid) in [
            ("+1 415 555 2671", true),   // United States
            ("+1 604 555 0123", true),   // Canada
            ("+1 876 555 0123", true),   // Jamaica
            ("+1 253 0000", false),      // too short
            ("+44 1624 756789", true),   // Isle of Man
            ("+7 701 123 4567", true),   // Kazakhstan
            ("+800 1234 5678", true),    // international freephone
            ("+52 55 1234 5678", true),  // Mexico City
            ("+52 55 1234 567", false),  // a digit short
            ("+55 11 98765 4321", true), // São Paulo mobile
        ] {
            let number = phonenumber::parse(None, text).unwrap();
            assert_eq!(is_valid(&number), valid, "{text}");
            assert_eq!(phonenumber::is_valid(&number), valid, "{text}");
        }
    }
}
