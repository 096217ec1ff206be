#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| keylink::fuzz::fuzz_sender_key(data));
