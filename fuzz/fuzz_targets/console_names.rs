//! Fuzz target `console_names`: the invariants live in `fuzz/src/checks.rs`
//! (shared with `tests/fuzz_regressions.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keygate_fuzz::console_names(data));
