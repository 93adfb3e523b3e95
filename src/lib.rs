//! xmc-user-importer: create XMedius Cloud user accounts from a CSV file,
//! concurrently, under a token-bucket rate limit, without losing a row or
//! creating a user twice.
//!
//! The binary is a thin shell over [`run`]; the demo calls it the same way.
//! How a run flows: `setup` (options, config, input, journal, lookups) →
//! `pipeline` (reader → bounded channel → workers, each request through the
//! one `retry` engine and its `pacing` → the `report`er) → a [`Summary`].

pub mod cli;
mod config;
mod deletion;
mod error;
mod export;
#[cfg(test)]
mod fuzz;
mod human;
mod import;
mod input;
mod job;
mod options;
mod pacing;
mod password;
mod pipeline;
mod portal;
mod rails;
mod report;
mod retry;
mod roster;
mod sanitize;
mod secret;
mod setup;
mod stop;
mod suggest;

use std::sync::Arc;

pub use config::ConfigError;
pub use error::{Error, exit_code};
pub use input::{HeaderError, InputError, ReadError, Source, Unclosed};
pub use options::{Command, Existing, Options};
pub use portal::ClientError;
pub use report::files::FileError;
pub use report::journal::JournalError;
pub use report::{Operation, OutputFormat, Passwords, Rerun, Summary, Tally};
pub use secret::Secret;
pub use stop::StopReason;

/// How a run talks to whoever started it before its rows flow: the
/// warnings found at start, the plan of a deletion, its confirmation. (Once
/// rows flow, the reporter owns the output.)
pub trait Console {
    /// A warning (an unknown config key or column…).
    fn warn(&mut self, message: String);
    /// A line of a plan, shown before anything is deleted.
    fn say(&mut self, line: String);
    /// Asks the operator; `None` when there is no terminal to ask on.
    fn ask(&mut self, prompt: &str) -> Option<String>;
}

/// A closure is a console that only hears warnings (and plan lines), and
/// cannot ask.
impl<F: FnMut(String)> Console for F {
    fn warn(&mut self, message: String) {
        self(message);
    }

    fn say(&mut self, line: String) {
        self(line);
    }

    fn ask(&mut self, _prompt: &str) -> Option<String> {
        None
    }
}

/// Runs what `opts.command` says.
///
/// # Errors
/// When the run cannot start (nothing was sent): see [`Error`].
pub async fn run(opts: Options, console: &mut dyn Console) -> Result<Summary, Error> {
    let rerun = Rerun::of(&opts);
    let mut summary = run_operation(opts, console).await?;
    summary.rerun = Some(rerun);
    Ok(summary)
}

/// Runs what `opts.command` says.
async fn run_operation(opts: Options, console: &mut dyn Console) -> Result<Summary, Error> {
    let stop = Arc::new(stop::Stop::default());
    match &opts.command {
        Command::Export { out } => {
            let _signals = stop::Watch::start(&stop);
            export::run(&opts, out.as_deref(), stop.clone(), console).await
        }
        Command::Import {
            existing,
            no_welcome_email,
            ..
        } => {
            let start = setup::start(&opts, console).await?;
            let _signals = stop::Watch::start(&stop);
            import::run(
                &opts,
                start,
                stop.clone(),
                console,
                *existing,
                *no_welcome_email,
            )
            .await
        }
        Command::Delete { .. } | Command::Sync { .. } => {
            deletion::run(&opts, stop.clone(), console).await
        }
    }
}
