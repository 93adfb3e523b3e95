//! `delete` and `sync`: the operations that can delete. Both read the whole
//! file and the enterprise's users first, say the plan, pass the safety
//! rails (`rails`), and only then send: creates and updates first, the
//! deletions last, through the same engine as every request.

use std::collections::HashSet;
use std::sync::Arc;

use crate::config::Config;
use crate::console::Console;
use crate::engine::job::{Action, Check, Job};
use crate::engine::pipeline::{Pass, Planner, Prepared, Work};
use crate::engine::retry::Engine;
use crate::engine::stop::{Stop, Watch};
use crate::error::Error;
use crate::input::validate::Duplicates;
use crate::input::{Column, Header, Record};
use crate::ops::import::ImportPlanner;
use crate::ops::rails::{self, Limits, Plan, Spared};
use crate::ops::setup::{self, Start};
use crate::options::{Command, Existing, Options};
use crate::portal::users::{PortalUser, Role};
use crate::portal::{Directory, payload};
use crate::report::journal::JournalIndex;
use crate::report::{Operation, RowResult, RowStatus, Summary};
use crate::roster::{Match, Roster};

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
    } = plan(&parts, read.records);
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
    crate::engine::pipeline::run(pass)
        .await
        .map_err(Error::Reporter)
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
fn plan(p: &Parts<'_>, records: Vec<Record>) -> Planned {
    let mut plan = Plan {
        deletable: (0..p.roster.len())
            .filter(|&i| spared(p.roster, i, false).is_none())
            .count() as u64,
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
            let (rows, last) = plan_sync(p, records, delete_missing, no_welcome_email, &mut plan);
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
                    let (decided, prepared) = delete.decide(record);
                    match decided {
                        Decided::Delete(name) => plan.count(&prepared, Some(&name)),
                        Decided::Spared(why) => {
                            plan.spare(why);
                            plan.count(&prepared, None);
                        }
                        Decided::Other => plan.count(&prepared, None),
                    }
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

/// A sync's rows (creates and updates, as an import with `--existing
/// update` decides them), and, with `--delete-missing`, the deletions of the
/// users no row names in any way: role `user`, identified beyond doubt.
fn plan_sync(
    p: &Parts<'_>,
    records: Vec<Record>,
    delete_missing: bool,
    no_welcome_email: bool,
    plan: &mut Plan,
) -> (Vec<Prepared>, Vec<Prepared>) {
    let mut import = ImportPlanner {
        header: p.header.clone(),
        rules: payload::Rules {
            mode: p.config.password_mode,
            strict: p.opts.strict,
            no_welcome_email,
        },
        existing: Existing::Update,
        roster: Some(p.roster.clone()),
        directory: p.directory.clone(),
        engine: Some(p.engine.clone()),
        journal: JournalIndex::default(),
        duplicates: Duplicates::with_capacity(records.len()),
        passwords: crate::password::Generation::of(p.opts),
    };
    // The portal's users some row names (by username or e-mail, valid or
    // not, matched or ambiguous): never deleted.
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
    let mut last = Vec::new();
    if !delete_missing {
        return (rows, last);
    }
    for (i, u) in p.roster.users().iter().enumerate() {
        if named[i] {
            continue;
        }
        match (spared(p.roster, i, false), u.id.as_deref()) {
            (None, Some(id)) => {
                let prepared = Prepared::Send(deletion(p.engine, p.header, u, id, false));
                plan.count(&prepared, Some(&u.plan_name()));
                last.push(prepared);
            }
            (Some(why), _) => plan.spare(why),
            (None, None) => plan.spare(Spared::Unaddressable),
        }
    }
    (rows, last)
}

/// Why the user at `i` may not be deleted, if so: a role other than exactly
/// `user` (unless `include_admins` and the role is text), or any doubt.
fn spared(roster: &Roster, i: usize, include_admins: bool) -> Option<Spared> {
    match roster.users()[i].role {
        Role::User => {}
        Role::Named(_) if include_admins => {}
        Role::Named(_) => return Some(Spared::Administrator),
        Role::Unknown(_) => return Some(Spared::RoleUnknown),
    }
    roster.doubt(i).map(Spared::from)
}

/// The DELETE of `user` (named by `id`), checked right before it is sent.
fn deletion(engine: &Engine, header: &Header, user: &PortalUser, id: &str, admins: bool) -> Job {
    Job {
        request: engine.portal.delete(id),
        record: record_of(header, user),
        action: Action::Delete,
        warning: None,
        check: Some(Box::new(Check::before_delete(
            engine.portal.read_user(id),
            id,
            user,
            admins,
        ))),
    }
}

/// A deletion's row in the output and the report: no line of the file,
/// the user's username and e-mail in the file's columns.
fn record_of(header: &Header, user: &PortalUser) -> Record {
    let mut fields = vec![String::new(); header.len()];
    let mut absent = Vec::new();
    for (col, value) in [
        (Column::Username, &user.username),
        (Column::Email, &user.email),
    ] {
        match header.position(col) {
            Some(i) => fields[i].clone_from(value),
            // A column the file derives (an HR export has no username).
            None => absent.push((col, value)),
        }
    }
    let mut record = Record::not_in_file(fields);
    for (col, value) in absent {
        record.fill(col, value);
    }
    record
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

/// What a `delete` row came to, for the plan.
enum Decided {
    /// A deletion of this user (its plan name).
    Delete(String),
    /// A user the row names, spared.
    Spared(Spared),
    /// Absent, invalid, a duplicate or a conflict.
    Other,
}

impl DeletePlanner<'_> {
    /// A row's fate, and what it means for the plan.
    fn decide(&mut self, record: Record) -> (Decided, Prepared) {
        let username = record.get(self.header, Column::Username).to_owned();
        let email = record.get(self.header, Column::Email).to_owned();
        let fail = |record, why: String| Prepared::Done(RowResult::local_failure(record, why));
        if username.is_empty() && email.is_empty() {
            let why = "neither a username nor an e-mail: nobody to delete".into();
            return (Decided::Other, fail(record, why));
        }
        if let Err(why) = self.duplicates.check(&username, &email, record.line) {
            return (Decided::Other, fail(record, why.to_string()));
        }
        let (user, id) = match self.roster.find(&username, &email) {
            Match::New => {
                let r = RowResult::new(record, RowStatus::Absent)
                    .with_message("no such user in the enterprise");
                return (Decided::Other, Prepared::Done(r));
            }
            Match::Doubtful(refusal) => {
                let decided = refusal
                    .doubt
                    .map_or(Decided::Other, |d| Decided::Spared(d.into()));
                return (decided, fail(record, refusal.message("nobody was deleted")));
            }
            Match::Existing { user, id } => (user, id),
        };
        let refused = match &user.role {
            Role::User => None,
            Role::Named(_) if self.include_admins => None,
            Role::Named(_) => Some((
                Spared::Administrator,
                format!(
                    "{} has {}: not deleted (--include-admins deletes administrators too)",
                    user.shown(),
                    user.role
                ),
            )),
            Role::Unknown(_) => Some((
                Spared::RoleUnknown,
                format!(
                    "{} has {}: not deleted, whatever the options (give it a role in the portal \
                     first)",
                    user.shown(),
                    user.role
                ),
            )),
        };
        if let Some((why, message)) = refused {
            return (Decided::Spared(why), fail(record, message));
        }
        if !self.ids.insert(id.to_owned()) {
            let why = format!("{} is named by an earlier row too", user.shown());
            return (Decided::Other, fail(record, why));
        }
        let mut job = deletion(self.engine, self.header, user, id, self.include_admins);
        job.record = record;
        (Decided::Delete(user.plan_name()), Prepared::Send(job))
    }
}
