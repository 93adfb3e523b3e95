//! The import: what each row of the file becomes (invalid, duplicate,
//! already done per the journal, or a POST), and the run that sends them.

use std::sync::Arc;

use crate::console::Console;
use crate::engine::job::{Action, Job};
use crate::engine::pipeline::{Pass, Planner, Prepared, Work};
use crate::engine::retry::Engine;
use crate::engine::stop::Stop;
use crate::error::Error;
use crate::input::validate::{self, Checked, Duplicates, validate};
use crate::input::{Column, Header, Record};
use crate::ops::setup::{self, Start};
use crate::options::{Existing, Options};
use crate::password::Generation;
use crate::portal::users::PortalUser;
use crate::portal::{Directory, payload};
use crate::report::journal::JournalIndex;
use crate::report::{Operation, RowResult, RowStatus, Summary};
use crate::roster::{self, Match, Roster, Verdict};

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
        let fail = |record, why: String| Prepared::Done(RowResult::local_failure(record, why));
        if let Err(why) = validate::cell_count(&self.header, &record) {
            return fail(record, why.to_string());
        }
        let username = record.get(&self.header, Column::Username);
        let email = record.get(&self.header, Column::Email);
        if let Err(why) = self.duplicates.check(username, email, record.line) {
            return fail(record, why.to_string());
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
                Match::Existing { user, id } => {
                    let (user, id) = (user.clone(), id.to_owned());
                    return self.existing(record, &user, &id);
                }
                Match::Doubtful(refusal) => {
                    return fail(record, refusal.message("nothing was changed"));
                }
            }
        }
        match validate(&self.header, &record, self.rules.mode) {
            Ok(checked) => self.create(record, &checked),
            Err(why) => fail(record, why.to_string()),
        }
    }
}

impl ImportPlanner {
    /// A row whose user the list at start holds: decided without a request
    /// (skipped, failed, unchanged) or one PUT. Only what would be sent is
    /// checked against the row rules: the portal's values that stay are
    /// not judged again, and no password is needed.
    fn existing(&self, record: Record, user: &PortalUser, id: &str) -> Prepared {
        match self.existing {
            Existing::Skip => Prepared::Done(
                RowResult::new(record, RowStatus::Skipped).with_message("already exists"),
            ),
            Existing::Fail => Prepared::Done(RowResult::local_failure(
                record,
                "already exists (--existing fail)".into(),
            )),
            Existing::Update => self.update(record, user, id),
        }
    }

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
                check: None,
            });
        }
        let mut r = RowResult::new(record, RowStatus::Valid);
        r.warning = warning;
        Prepared::Done(r)
    }

    /// An existing user: unchanged, or one PUT with what differs.
    fn update(&self, record: Record, user: &PortalUser, id: &str) -> Prepared {
        let (Some(dir), Some(engine)) = (&self.directory, &self.engine) else {
            return match validate(&self.header, &record, self.rules.mode) {
                Ok(checked) => self.create(record, &checked),
                Err(why) => Prepared::Done(RowResult::local_failure(record, why.to_string())),
            };
        };
        let mut warnings = Vec::new();
        let checked = validate::canonical(&self.header, &record);
        let verdict = roster::diff(
            &self.header,
            &record,
            &checked,
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
            Ok(Verdict::Update { columns, .. })
                if let Err(why) = validate::validate_sent(&self.header, &record, &columns) =>
            {
                Prepared::Done(RowResult::local_failure(record, why.to_string()))
            }
            Ok(Verdict::Update { body, changes, .. }) => Prepared::Send(Job {
                request: engine.portal.update(id, body),
                record,
                action: Action::Update { changes },
                warning,
                check: None,
            }),
        }
    }
}

/// Why the user list cannot be had, when a create-only import can do
/// without it (the token lacks the permission, the portal has no list, or it
/// is too long); any other failure, a list that is not a list among them,
/// stops the run.
fn without_list(e: &Error) -> Option<&'static str> {
    match e {
        Error::NoDirectoryPermission { .. } => Some(
            "the access token may not read the enterprise's user list (it lacks the \"Query user \
             directory\" permission)",
        ),
        Error::NoUserList { .. } => Some("the portal has no user list (HTTP 404)"),
        Error::ListTooLarge { .. } => Some("the enterprise's user list is too long to read"),
        _ => None,
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
        let roster = match setup::look_up_users(&engine).await {
            Ok(roster) => Some(Arc::new(roster)),
            // Without the list a create-only import finds existing users
            // by sending each row, as the first tool did.
            Err(e)
                if existing != Existing::Update
                    && let Some(why) = without_list(&e) =>
            {
                console.warn(format!(
                    "{why}: existing users are found by sending each row, as without a list, and \
                     a row whose answer was lost cannot be told created"
                ));
                None
            }
            Err(e) => return Err(e),
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
    crate::engine::pipeline::run(pass)
        .await
        .map_err(Error::Reporter)
}
