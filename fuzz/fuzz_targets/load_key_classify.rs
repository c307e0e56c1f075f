//! Fuzz target `load_key_classify`: the invariants live in `fuzz/src/checks.rs`
//! (shared with `tests/fuzz_regressions.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keygate_fuzz::load_key_classify(data));
