//! The import: what each row of the file becomes (invalid, duplicate,
//! already done per the journal, or a POST), and the run that sends them.

use std::sync::Arc;

use crate::config::PasswordMode;
use crate::input::validate::{Duplicates, validate};
use crate::input::{Column, Header, Record};
use crate::job::{Action, Job};
use crate::pipeline::{Pass, Planner, Prepared};
use crate::portal::{Directory, payload};
use crate::report::journal::JournalIndex;
use crate::report::{RowResult, RowStatus, Summary};
use crate::retry::Engine;
use crate::setup::{self, Start};
use crate::stop::Stop;
use crate::{Error, Options};

/// The import's decision for each row, fixed for the run.
struct ImportPlanner {
    header: Header,
    mode: PasswordMode,
    strict: bool,
    dry_run: bool,
    /// `None` with `--offline`: groups and fax numbers are not checked.
    directory: Option<Directory>,
    /// `None` in a dry run: nothing is sent.
    engine: Option<Arc<Engine>>,
    journal: JournalIndex,
    duplicates: Duplicates,
}

impl Planner for ImportPlanner {
    fn prepare(&mut self, record: Record) -> Prepared {
        let checked = match validate(&self.header, &record, self.mode) {
            Ok(c) => c,
            Err(why) => return Prepared::Done(RowResult::local_failure(record, why.to_string())),
        };
        let username = record.get(&self.header, Column::Username);
        let email = record.get(&self.header, Column::Email);
        if let Err(why) = self.duplicates.check(username, email, record.line) {
            return Prepared::Done(RowResult::local_failure(record, why.to_string()));
        }
        if self.journal.contains(record.line, username) {
            let mut r = RowResult::new(record, RowStatus::Skipped)
                .with_message("done in an earlier run (journal)");
            r.from_journal = true;
            return Prepared::Done(r);
        }
        let (body, warning) = match &self.directory {
            // --offline: nothing to resolve against; valid as far as we can tell.
            None => (bytes::Bytes::new(), None),
            Some(dir) => {
                match payload::build(&self.header, &record, &checked, dir, self.mode, self.strict) {
                    Ok(built) => (built.body, built.warning),
                    Err(why) => {
                        return Prepared::Done(RowResult::local_failure(record, why.to_string()));
                    }
                }
            }
        };
        if let (Some(engine), false) = (&self.engine, self.dry_run) {
            Prepared::Send(Job {
                request: engine.portal.create(body),
                record,
                action: Action::Create,
                warning,
            })
        } else {
            let mut r = RowResult::new(record, RowStatus::Valid);
            r.warning = warning;
            Prepared::Done(r)
        }
    }
}

/// Runs an import: the lookups at start, then every row.
pub(crate) async fn run(
    opts: &Options,
    mut start: Start,
    stop: Arc<Stop>,
    warn: &mut dyn FnMut(String),
) -> Result<Summary, Error> {
    let (engine, directory) = if opts.offline {
        (None, None)
    } else {
        let engine = Arc::new(setup::engine(opts, &start.config, stop.clone())?);
        let directory = setup::look_up_directory(&engine).await?;
        if directory.group_count() == 0 {
            warn("the enterprise has no groups: every user goes to the default group".into());
        }
        (Some(engine), Some(directory))
    };
    let reporter = setup::reporter(opts, &mut start)?;
    let capacity = start
        .expected_rows
        .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let planner = ImportPlanner {
        header: start.input.header.clone(),
        mode: start.config.password_mode,
        strict: opts.strict,
        dry_run: opts.dry_run,
        directory,
        engine: engine.clone(),
        journal: start.journal_index,
        duplicates: Duplicates::with_capacity(capacity),
    };
    let pass = Pass {
        input: start.input,
        planner: Box::new(planner),
        engine: engine.filter(|_| !opts.dry_run),
        concurrency: opts.concurrency,
        reporter,
        expected_rows: start.expected_rows,
        stop,
    };
    crate::pipeline::run(pass).await.map_err(Error::Reporter)
}
