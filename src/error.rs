//! Why a run could not start or finish, and the exit codes.

use crate::config::ConfigError;
use crate::engine::stop::StopReason;
use crate::input::InputError;
use crate::portal::ClientError;
use crate::report::Summary;
use crate::report::files::FileError;
use crate::report::journal::JournalError;

/// Why a run could not start (exit code 2: nothing was sent), or was
/// interrupted before it did (130).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The input could not be opened, or its header is wrong.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The input's structure is broken further down (found before sending).
    #[error("{0}. Nothing was sent: fix the file and run again")]
    Structure(#[source] InputError),
    /// The journal.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A report or failed-rows file cannot be created.
    #[error(transparent)]
    File(#[from] FileError),
    /// Options that do not go together.
    #[error("{0}")]
    Usage(String),
    /// The HTTP client.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The token was refused at start.
    #[error(
        "{message}. Nothing was sent. Put a current token in the config's \"access_token\" or in \
         XMC_ACCESS_TOKEN"
    )]
    Unauthorized {
        /// The portal's answer, made readable.
        message: String,
    },
    /// The portal could not be reached at start.
    #[error(
        "cannot reach the portal at {url}: {reason}. Nothing was sent. Check \"endpoint\" in the config and the network"
    )]
    Unreachable {
        /// What was asked.
        url: String,
        /// The last failure.
        reason: String,
    },
    /// The portal asked to wait too long at start.
    #[error(
        "the portal at {url} answers 429 Too Many Requests and asks to wait {wait} (Retry-After), \
         longer than the 10 minutes the importer waits. Nothing was sent; run again later"
    )]
    Throttled {
        /// What was asked.
        url: String,
        /// How long, as people read it.
        wait: String,
    },
    /// A lookup at start got an answer it cannot use.
    #[error(
        "the portal at {url} did not answer the {what} lookup as expected: {reason}. Nothing was sent. Check \"endpoint\" and \"enterprise_account\" in the config"
    )]
    Lookup {
        /// What was asked.
        url: String,
        /// Which lookup.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The token may not read the user list.
    #[error(
        "the portal refused to list the enterprise's users ({message}): this needs an access token \
         with the \"Query user directory\" permission besides \"Manage users\". Nothing was sent"
    )]
    NoDirectoryPermission {
        /// The portal's answer, made readable.
        message: String,
    },
    /// The portal has no user list where the API has it.
    #[error(
        "the portal has no user list at {url} ({reason}): an update, an export, a delete or a sync \
         needs one. Check \"endpoint\" and \"enterprise_account\" in the config. Nothing was sent"
    )]
    NoUserList {
        /// What was asked.
        url: String,
        /// What the portal said.
        reason: String,
    },
    /// The user list is longer than the tool reads.
    #[error(
        "the enterprise's user list is too long to read ({reason}); an import can do without it, \
         an update, an export, a delete or a sync cannot. Nothing was sent"
    )]
    ListTooLarge {
        /// What the portal sent.
        reason: String,
    },
    /// The export file cannot be written.
    #[error("cannot write the export to {}: {source}", path.display())]
    Export {
        /// Where.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Deletions refused by a safety rail (nothing was sent).
    #[error("{0}")]
    Refused(String),
    /// Ctrl-C before the first row.
    #[error("interrupted before any row was sent")]
    Interrupted,
    /// The reporter task ended without its summary (a bug).
    #[error(
        "internal error: the reporter stopped ({0}); the output and the files may miss rows that \
         were sent (please report it). Running the same file again is safe: users that exist are skipped"
    )]
    Reporter(#[source] tokio::task::JoinError),
}

impl Error {
    /// 130 interrupted, 1 rows may have been sent, 2 otherwise.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Interrupted => 130,
            // Rows may have been sent: not the "nothing was sent" of 2.
            Error::Reporter(_) => 1,
            _ => 2,
        }
    }
}

/// The exit code of a finished run: 0 all rows created/skipped/valid, 1 some
/// failed or not attempted, 2 the token was revoked mid-run or the input
/// could not be read to its end, 130 interrupted.
#[must_use]
pub fn exit_code(summary: &Summary) -> u8 {
    let code = rows_code(summary);
    // An output file that could not be written whole is no success.
    if code == 0 && !summary.incomplete.is_empty() {
        return 1;
    }
    code
}

fn rows_code(summary: &Summary) -> u8 {
    match summary.stop {
        Some(StopReason::Interrupted) => 130,
        Some(StopReason::Unauthorized) => 2,
        Some(StopReason::PortalAskedToWait(_)) => 1,
        None if summary.read_error.is_some() => 2,
        None if summary.failed + summary.not_attempted > 0 => 1,
        None => 0,
    }
}
