//! Writes keygate's man pages and shell completions from the clap
//! definitions in `src/cli.rs`, so they never disagree with `--help`.
//!
//! `cargo run -p keygate-gen-docs -- DIR` (what `make docs` runs) creates
//! `DIR/man/keygate.8` plus one page per subcommand (`keygate-gate.8`, ...)
//! and `DIR/completions/{keygate.bash,_keygate,keygate.fish}`.
//!
//! This is a package of its own rather than part of the binary so that
//! clap_mangen and clap_complete are its dependencies only: the keygate
//! binary, which may end up in an initramfs, does not carry them.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: gen-docs DIR");
        return ExitCode::from(2);
    };
    match generate(&dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-docs: {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}

fn generate(dir: &std::path::Path) -> std::io::Result<()> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;

    let mut cmd = keygate::cli::Cli::command();
    cmd.build();
    // Section 8: keygate is an administration tool run by the init system.
    write_page(&man, cmd.clone())?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        // clap keeps names as &'static str; this program runs once and exits.
        let name: &'static str = Box::leak(format!("keygate-{}", sub.get_name()).into_boxed_str());
        write_page(&man, sub.clone().name(name).bin_name(name))?;
    }

    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd.clone(), "keygate", &completions)?;
    }
    Ok(())
}

fn write_page(dir: &std::path::Path, cmd: clap::Command) -> std::io::Result<()> {
    let path = dir.join(format!("{}.8", cmd.get_name()));
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).section("8").render(&mut out)?;
    std::fs::write(path, out)
}
