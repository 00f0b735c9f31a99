//! The `ship` binary: parse, run, exit with the code `run` chose.

use clap::Parser;

fn main() {
    let cli = ship::Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("cannot start the async runtime");
    let code = runtime.block_on(ship::run(cli));
    std::process::exit(code);
}
