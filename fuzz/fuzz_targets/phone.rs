//! Phone canonicalisation: never panics, and what it returns is E.164 and
//! its own canonical form.
#![no_main]

use hilos_server::domain::canonical_phone;
use libfuzzer_sys::fuzz_target;
use phonenumber::country::Id;

const REGIONS: [Option<Id>; 5] = [None, Some(Id::MX), Some(Id::US), Some(Id::BR), Some(Id::GB)];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let region = REGIONS[usize::from(selector) % REGIONS.len()];
    if let Ok(canonical) = canonical_phone(text, region) {
        let digits = canonical.strip_prefix('+').expect("E.164 starts with +");
        assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{canonical}");
        assert_eq!(canonical_phone(&canonical, None).as_ref(), Ok(&canonical));
    }
});
