//! The import: what each row of the file becomes (invalid, duplicate,
//! already done per the journal, or a POST), and the run that sends them.

use std::sync::Arc;

use crate::input::validate::{Checked, Duplicates, validate};
use crate::input::{Column, Header, Record};
use crate::job::{Action, Job};
use crate::password::Generation;
use crate::pipeline::{Pass, Planner, Prepared, Work};
use crate::portal::users::PortalUser;
use crate::portal::{Directory, payload};
use crate::report::journal::JournalIndex;
use crate::report::{Operation, RowResult, RowStatus, Summary};
use crate::retry::Engine;
use crate::roster::{self, Match, Roster, Verdict};
use crate::setup::{self, Start};
use crate::stop::Stop;
use crate::{Console, Error, Existing, Options};

/// The import's decision for each row, fixed for the run (a sync's too).
pub(crate) struct ImportPlanner {
    pub(crate) header: Header,
    pub(crate) rules: payload::Rules,
    pub(crate) existing: Existing,
    /// The enterprise's users (`--existing update`, a sync).
    pub(crate) roster: Option<Arc<Roster>>,
    /// `None` with `--offline`: groups and fax numbers are not checked.
    pub(crate) directory: Option<Directory>,
    /// The engine the requests are for; `None` with `--offline`. A dry run
    /// has one: its requests are reported, not sent (`pipeline`).
    pub(crate) engine: Option<Arc<Engine>>,
    pub(crate) journal: JournalIndex,
    pub(crate) duplicates: Duplicates,
    /// Rows without a password get one (`--generate-passwords`).
    pub(crate) passwords: Generation,
}

impl Planner for ImportPlanner {
    fn prepare(&mut self, record: Record) -> Prepared {
        let checked = match validate(&self.header, &record, self.rules.mode) {
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
        if let Some(roster) = &self.roster {
            match roster.find(username, email) {
                Match::New => {}
                Match::Existing(user) => {
                    let user = user.clone();
                    return self.update(record, &checked, &user);
                }
                Match::Conflict {
                    by_username,
                    by_email,
                } => {
                    let why = roster::conflict(by_username, by_email, "nothing was changed");
                    return Prepared::Done(RowResult::local_failure(record, why));
                }
            }
        }
        self.create(record, &checked)
    }
}

impl ImportPlanner {
    /// A new user: its POST (or, in a dry run, valid).
    fn create(&self, mut record: Record, checked: &Checked) -> Prepared {
        if let Err(why) = self.passwords.fill(&self.header, &mut record) {
            return Prepared::Done(RowResult::local_failure(record, why));
        }
        let (body, warning) = match &self.directory {
            // --offline: nothing to resolve against; valid as far as we can tell.
            None => (bytes::Bytes::new(), None),
            Some(dir) => match payload::build(&self.header, &record, checked, dir, self.rules) {
                Ok(built) => (built.body, built.warning),
                Err(why) => {
                    return Prepared::Done(RowResult::local_failure(record, why.to_string()));
                }
            },
        };
        if let Some(engine) = &self.engine {
            return Prepared::Send(Job {
                request: engine.portal.create(body),
                record,
                action: Action::Create {
                    existing_fails: self.existing == Existing::Fail,
                    known_new: self.roster.is_some(),
                },
                warning,
            });
        }
        let mut r = RowResult::new(record, RowStatus::Valid);
        r.warning = warning;
        Prepared::Done(r)
    }

    /// An existing user: unchanged, or one PUT with what differs.
    fn update(&self, record: Record, checked: &Checked, user: &PortalUser) -> Prepared {
        let (Some(dir), Some(engine)) = (&self.directory, &self.engine) else {
            return self.create(record, checked);
        };
        let mut warnings = Vec::new();
        let verdict = roster::diff(
            &self.header,
            &record,
            checked,
            user,
            dir,
            self.rules.strict,
            &mut warnings,
        );
        let warning = (!warnings.is_empty()).then(|| warnings.join("; "));
        match verdict {
            Err(why) => Prepared::Done(RowResult::local_failure(record, why.to_string())),
            Ok(Verdict::Unchanged) => {
                let mut r = RowResult::new(record, RowStatus::Unchanged);
                r.warning = warning;
                Prepared::Done(r)
            }
            Ok(Verdict::Update { body, changes }) => Prepared::Send(Job {
                request: engine.portal.update(&user.id, body),
                record,
                action: Action::Update { changes },
                warning,
            }),
        }
    }
}

/// Runs an import: the lookups at start, then every row.
pub(crate) async fn run(
    opts: &Options,
    mut start: Start,
    stop: Arc<Stop>,
    console: &mut dyn Console,
    existing: Existing,
    no_welcome_email: bool,
) -> Result<Summary, Error> {
    let (engine, directory, roster) = if opts.offline {
        (None, None, None)
    } else {
        let engine = Arc::new(setup::engine(opts, &start.config, stop.clone())?);
        let directory = setup::look_up_directory(&engine).await?;
        if directory.group_count() == 0 {
            console
                .warn("the enterprise has no groups: every user goes to the default group".into());
        }
        let roster = match existing {
            Existing::Update => Some(Arc::new(setup::look_up_users(&engine).await?)),
            Existing::Skip | Existing::Fail => None,
        };
        (Some(engine), Some(directory), roster)
    };
    let operation = match existing {
        Existing::Update => Operation::Update,
        Existing::Skip | Existing::Fail => Operation::Import,
    };
    let shape = setup::FileShape::of(&start.input);
    let reporter = setup::reporter(opts, &shape, start.journal_writer.take(), operation)?;
    let capacity = start
        .expected_rows
        .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let planner = ImportPlanner {
        header: start.input.header().clone(),
        rules: payload::Rules {
            mode: start.config.password_mode,
            strict: opts.strict,
            no_welcome_email,
        },
        existing,
        roster,
        directory,
        engine: engine.clone(),
        journal: start.journal_index,
        duplicates: Duplicates::with_capacity(capacity),
        passwords: Generation::of(opts),
    };
    let pass = Pass {
        work: Work::Read {
            input: start.input.into_rows(),
            planner: Box::new(planner),
            expected_rows: start.expected_rows,
        },
        engine: engine.filter(|_| !opts.dry_run),
        concurrency: opts.concurrency,
        reporter,
        stop,
    };
    crate::pipeline::run(pass).await.map_err(Error::Reporter)
}
