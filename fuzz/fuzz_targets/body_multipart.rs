//! Multipart request bodies. The first line of the input is the rest of
//! the `Content-Type` header after `multipart/form-data; `, so the boundary
//! parameter is fuzzed too; `boundary=X` makes the body's `--X` lines parts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (parameters, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b"boundary=X"[..], data),
    };
    let mut content_type = b"multipart/form-data; ".to_vec();
    content_type.extend_from_slice(parameters);
    hilos_fuzz::decode_contact(&content_type, body);
});
