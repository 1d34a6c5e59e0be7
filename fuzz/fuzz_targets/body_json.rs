//! JSON request bodies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hilos_fuzz::decode_contact(b"application/json", data);
});
