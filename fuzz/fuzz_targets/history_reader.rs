#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| keylink::backup::fuzz_history_reader(data));
