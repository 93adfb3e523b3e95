//! `delete` and `sync`: the operations that can delete. Both read the whole
//! file and the enterprise's users first, say the plan, pass the safety
//! rails (`rails`), and only then send: creates and updates first, the
//! deletions last, through the same engine as every request.

use std::collections::HashSet;
use std::sync::Arc;

use crate::config::Config;
use crate::import::ImportPlanner;
use crate::input::validate::Duplicates;
use crate::input::{Column, Header, Record};
use crate::job::{Action, Job};
use crate::pipeline::{Pass, Planner, Prepared, Work};
use crate::portal::users::PortalUser;
use crate::portal::{Directory, payload};
use crate::rails::{self, Limits, Plan};
use crate::report::journal::JournalIndex;
use crate::report::{Operation, RowResult, RowStatus, Summary};
use crate::retry::Engine;
use crate::roster::{self, Match, Roster};
use crate::setup::{self, Start};
use crate::stop::{Stop, Watch};
use crate::{Command, Console, Error, Existing, Options};

/// Of the enterprise's users, the share a sync may delete.
const MAX_SHARE: f64 = 0.25;

/// Runs a `delete` or a `sync`.
pub(crate) async fn run(
    opts: &Options,
    stop: Arc<Stop>,
    console: &mut dyn Console,
) -> Result<Summary, Error> {
    // No journal here: `setup::check_options` refuses one (a re-run
    // compares every row with the enterprise's users again).
    let Start { config, input, .. } = setup::start(opts, console).await?;
    let engine = Arc::new(setup::engine(opts, &config, stop.clone())?);
    let directory = match opts.command {
        Command::Sync { .. } => Some(setup::look_up_directory(&engine).await?),
        _ => None,
    };
    let roster = Arc::new(setup::look_up_users(&engine).await?);
    let shape = setup::FileShape::of(&input);
    let read = input
        .read_all(&mut |w| console.warn(w))
        .await
        .map_err(Error::Structure)?;
    let parts = Parts {
        opts,
        header: &shape.header,
        config: &config,
        directory,
        roster: &roster,
        engine: &engine,
    };
    let Planned {
        rows,
        last,
        plan,
        limits,
        yes,
        operation,
    } = plan(parts, read.records);
    for line in plan.lines(operation == Operation::Sync) {
        console.say(line);
    }
    if let Some(limits) = limits {
        rails::check_limits(&plan, limits).map_err(Error::Refused)?;
    }
    if !opts.dry_run {
        rails::confirm(&plan, &config.enterprise_account, yes, &mut |prompt| {
            console.ask(prompt)
        })
        .map_err(Error::Refused)?;
    }
    let _signals = Watch::start(&stop);
    let reporter = setup::reporter(opts, &shape, None, operation)?;
    let pass = Pass {
        work: Work::Decided { rows, last },
        engine: Some(engine).filter(|_| !opts.dry_run),
        concurrency: opts.concurrency,
        reporter,
        stop,
    };
    crate::pipeline::run(pass).await.map_err(Error::Reporter)
}

/// What a plan is made of.
struct Parts<'a> {
    opts: &'a Options,
    header: &'a Header,
    config: &'a Config,
    /// A sync's groups and fax numbers (a `delete` needs none).
    directory: Option<Directory>,
    roster: &'a Arc<Roster>,
    engine: &'a Arc<Engine>,
}

/// Every row's decision, the plan they make, and the rails it must pass.
/// The run sends these very decisions: what was confirmed is what is done.
struct Planned {
    rows: Vec<Prepared>,
    /// What waits until every row is done: a sync's deletions.
    last: Vec<Prepared>,
    plan: Plan,
    /// A sync's limits on deletions (a `delete` names its users).
    limits: Option<Limits>,
    yes: bool,
    operation: Operation,
}

/// Decides every row of a `delete` or a `sync`, and counts the plan.
fn plan(p: Parts<'_>, records: Vec<Record>) -> Planned {
    let mut plan = Plan {
        enterprise: p.roster.len() as u64,
        ..Plan::default()
    };
    match p.opts.command {
        Command::Sync {
            delete_missing,
            max_deletes,
            yes,
            no_welcome_email,
            ..
        } => {
            let mut import = ImportPlanner {
                header: p.header.clone(),
                rules: payload::Rules {
                    mode: p.config.password_mode,
                    strict: p.opts.strict,
                    no_welcome_email,
                },
                existing: Existing::Update,
                roster: Some(p.roster.clone()),
                directory: p.directory,
                engine: Some(p.engine.clone()),
                journal: JournalIndex::default(),
                duplicates: Duplicates::with_capacity(records.len()),
            };
            // The portal's users some row names (by username or e-mail, valid or not).
            let mut named = vec![false; p.roster.len()];
            let rows = records
                .into_iter()
                .map(|record| {
                    let username = record.get(p.header, Column::Username);
                    let email = record.get(p.header, Column::Email);
                    for i in p.roster.named(username, email) {
                        named[i] = true;
                    }
                    let prepared = import.prepare(record);
                    plan.count(&prepared, None);
                    prepared
                })
                .collect();
            // The `user`-role accounts no row named: deleted with
            // --delete-missing, else counted in the plan as kept.
            plan.kept_unnamed = if delete_missing {
                0
            } else {
                let users = p.roster.users().iter().zip(&named);
                users.filter(|(u, n)| !**n && u.is_user_role()).count() as u64
            };
            // With --delete-missing, the `user`-role accounts no row named.
            let last = p
                .roster
                .users()
                .iter()
                .zip(&named)
                .filter(|(u, named)| delete_missing && !**named && u.is_user_role())
                .map(|(u, _)| {
                    let prepared = Prepared::Send(Job {
                        request: p.engine.portal.delete(&u.id),
                        record: record_of(p.header, u),
                        action: Action::Delete,
                        warning: None,
                    });
                    plan.count(&prepared, Some(&u.username));
                    prepared
                })
                .collect();
            Planned {
                rows,
                last,
                plan,
                limits: Some(Limits {
                    max_deletes,
                    max_share: MAX_SHARE,
                }),
                yes,
                operation: Operation::Sync,
            }
        }
        Command::Delete {
            yes,
            include_admins,
            ..
        } => {
            let mut delete = DeletePlanner {
                header: p.header,
                roster: p.roster,
                engine: p.engine,
                include_admins,
                duplicates: Duplicates::with_capacity(records.len()),
                ids: HashSet::new(),
            };
            let rows = records
                .into_iter()
                .map(|record| {
                    let (name, prepared) = delete.decide(record);
                    plan.count(&prepared, name.as_deref());
                    prepared
                })
                .collect();
            Planned {
                rows,
                last: Vec::new(),
                plan,
                limits: None,
                yes,
                operation: Operation::Delete,
            }
        }
        Command::Import { .. } | Command::Export { .. } => {
            unreachable!("deletion::run runs deletions and syncs")
        }
    }
}

/// A deletion's row in the output and the report: no line of the file,
/// the user's username and e-mail in the file's columns.
fn record_of(header: &Header, user: &PortalUser) -> Record {
    let mut fields = vec![String::new(); header.len()];
    for (col, value) in [
        (Column::Username, &user.username),
        (Column::Email, &user.email),
    ] {
        if let Some(i) = header.position(col) {
            fields[i].clone_from(value);
        }
    }
    Record::not_in_file(fields)
}

/// A `delete`: each row names a user to delete.
struct DeletePlanner<'a> {
    header: &'a Header,
    roster: &'a Roster,
    engine: &'a Engine,
    include_admins: bool,
    duplicates: Duplicates,
    /// The users already planned, by id (two rows may name one user).
    ids: HashSet<String>,
}

impl DeletePlanner<'_> {
    /// A row's fate, and the username of the user it would delete.
    fn decide(&mut self, record: Record) -> (Option<String>, Prepared) {
        let username = record.get(self.header, Column::Username).to_owned();
        let email = record.get(self.header, Column::Email).to_owned();
        let fail = |record, why: String| Prepared::Done(RowResult::local_failure(record, why));
        if username.is_empty() && email.is_empty() {
            return (
                None,
                fail(
                    record,
                    "neither a username nor an e-mail: nobody to delete".into(),
                ),
            );
        }
        if let Err(why) = self.duplicates.check(&username, &email, record.line) {
            return (None, fail(record, why.to_string()));
        }
        let user = match self.roster.find(&username, &email) {
            Match::New => {
                let r = RowResult::new(record, RowStatus::Absent)
                    .with_message("no such user in the enterprise");
                return (None, Prepared::Done(r));
            }
            Match::Conflict {
                by_username,
                by_email,
            } => {
                let why = roster::conflict(by_username, by_email, "nobody was deleted");
                return (None, fail(record, why));
            }
            Match::Existing(u) => u,
        };
        if !user.is_user_role() && !self.include_admins {
            let why = format!(
                "{} has the role \"{}\": not deleted (--include-admins deletes administrators too)",
                user.username, user.role
            );
            return (None, fail(record, why));
        }
        if !self.ids.insert(user.id.clone()) {
            let why = format!("{} is named by an earlier row too", user.username);
            return (None, fail(record, why));
        }
        let job = Job {
            request: self.engine.portal.delete(&user.id),
            record,
            action: Action::Delete,
            warning: None,
        };
        (Some(user.username.clone()), Prepared::Send(job))
    }
}
