#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| keylink::fuzz::fuzz_link_companion(data));
