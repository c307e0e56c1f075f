//! The `zfs-sim` executable (the program itself is in `lib.rs`).

fn main() -> std::process::ExitCode {
    zfs_sim::main()
}
