//! The `xmc-user-importer` binary: parse the arguments, set up diagnostics,
//! run the import, print the closing lines, exit with the run's code.

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;
use xmc_user_importer::cli::{Args, Invocation};

fn main() -> ExitCode {
    let args = Args::from_env();
    let default_level = match args.verbosity() {
        0 => "warn",
        1 => "xmc_user_importer=info",
        _ => "xmc_user_importer=debug,info",
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    // Colours only on a terminal, and never with NO_COLOR.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(2);
        }
    };
    let options = match args.into_invocation() {
        Invocation::Run(options) => *options,
        Invocation::Print(text) => {
            use std::io::Write;
            let _ = std::io::stdout().write_all(&text);
            return ExitCode::SUCCESS;
        }
    };
    let mut console = xmc_user_importer::cli::TerminalConsole;
    let result = runtime.block_on(xmc_user_importer::run(options, &mut console));
    let code = xmc_user_importer::cli::conclude(&result);
    // Everything is written. A read of standard input blocked in the
    // runtime's thread pool (a stream stopped by Ctrl-C) must not hold the exit.
    runtime.shutdown_background();
    ExitCode::from(code)
}
