use clap::Parser;

use keygate::cli::Cli;
use keygate::service::Environment;

fn main() {
    // Usage errors exit 2 (clap's own code), as documented.
    let cli = Cli::parse();
    let code = keygate::app::run(cli, &Environment::from_process());
    std::process::exit(code);
}
