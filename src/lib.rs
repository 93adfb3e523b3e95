//! xmc-user-importer: create XMedius Cloud user accounts from a CSV file,
//! concurrently, under a token-bucket rate limit, without losing a row or
//! creating a user twice.
//!
//! The binary is a thin shell over [`run`]; the demo calls it the same way.
//! Two layers: the operations (`ops`: what each row becomes — import,
//! export, delete and sync, their rails and their setup) stand on the engine
//! (`engine`: the pipeline, the jobs, the one retry loop, stopping; with
//! `pacing`). Who is who lives in `roster`, the portal client in `portal`,
//! all output in `report`, reading files in `input`. A run flows: `setup`
//! (options, config, input, journal, lookups) → `pipeline` (reader →
//! bounded channel → workers → the `report`er) → a [`Summary`].

pub mod cli;
mod config;
mod console;
mod engine;
mod error;
#[cfg(test)]
mod fuzz;
mod human;
mod input;
mod ops;
mod options;
mod pacing;
mod password;
mod portal;
mod report;
mod roster;
mod sanitize;
mod secret;
mod suggest;

use std::sync::Arc;

use engine::stop::{Stop, Watch};
use ops::{deletion, export, import, setup};

pub use config::ConfigError;
pub use console::Console;
pub use engine::stop::StopReason;
pub use error::{Error, exit_code};
pub use input::{HeaderError, InputError, ReadError, Source, Unclosed};
pub use options::{Command, Existing, Options};
pub use portal::ClientError;
pub use report::files::FileError;
pub use report::journal::JournalError;
pub use report::{Operation, OutputFormat, Passwords, Summary};
pub use secret::Secret;

/// Runs what `opts.command` says.
///
/// # Errors
/// When the run cannot start (nothing was sent): see [`Error`].
pub async fn run(opts: Options, console: &mut dyn Console) -> Result<Summary, Error> {
    let stop = Arc::new(Stop::default());
    match &opts.command {
        Command::Export { out } => {
            let _signals = Watch::start(&stop);
            export::run(&opts, out.as_deref(), stop.clone(), console).await
        }
        Command::Import {
            existing,
            no_welcome_email,
            ..
        } => {
            let start = setup::start(&opts, console).await?;
            let _signals = Watch::start(&stop);
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
