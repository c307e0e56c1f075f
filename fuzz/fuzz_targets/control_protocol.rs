//! Fuzz target `control_protocol`: the invariants live in `fuzz/src/checks.rs`
//! (shared with `tests/fuzz_regressions.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keygate_fuzz::control_protocol(data));
