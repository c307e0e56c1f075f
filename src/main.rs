use clap::Parser;

fn main() {
    let cli = keygate::cli::Cli::parse();
    let _ = cli;
}
