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
use crate::pipeline::{Pass, Planner, Prepared};
use crate::portal::users::PortalUser;
use crate::portal::{Directory, payload};
use crate::rails::{self, Limits, NAMES_SHOWN, Plan};
use crate::report::journal::JournalIndex;
use crate::report::{Operation, RowResult, RowStatus, Summary};
use crate::retry::Engine;
use crate::roster::{Match, Roster};
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
    if opts.offline {
        return Err(Error::Usage(
            "--offline cannot plan a deletion or a sync: the plan needs the enterprise's users"
                .into(),
        ));
    }
    let Start {
        config,
        input,
        expected_rows,
        journal_writer,
        journal_index: journal,
    } = setup::start(opts, console).await?;
    let engine = Arc::new(setup::engine(opts, &config, stop.clone())?);
    let directory = setup::look_up_directory(&engine).await?;
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
        directory: &directory,
        roster: &roster,
        engine: &engine,
    };
    let Planned {
        planner,
        plan,
        limits,
        yes,
        operation,
    } = plan(&parts, &read.records, journal);
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
    let reporter = setup::reporter(opts, &shape, journal_writer, operation)?;
    let pass = Pass {
        input: read.into_rows(),
        planner,
        engine: Some(engine).filter(|_| !opts.dry_run),
        concurrency: opts.concurrency,
        reporter,
        expected_rows,
        stop,
    };
    crate::pipeline::run(pass).await.map_err(Error::Reporter)
}

/// What a plan is made of.
struct Parts<'a> {
    opts: &'a Options,
    header: &'a Header,
    config: &'a Config,
    directory: &'a Directory,
    roster: &'a Arc<Roster>,
    engine: &'a Arc<Engine>,
}

/// The planner of the run, its plan, and the rails it must pass.
struct Planned {
    planner: Box<dyn Planner>,
    plan: Plan,
    /// A sync's limits on deletions (a `delete` names its users).
    limits: Option<Limits>,
    yes: bool,
    operation: Operation,
}

/// The planner and plan of a `delete` or a `sync`, from every row.
fn plan(p: &Parts<'_>, records: &[Record], journal: JournalIndex) -> Planned {
    match p.opts.command {
        Command::Sync {
            delete_missing,
            max_deletes,
            yes,
            no_welcome_email,
            ..
        } => {
            let import = |journal| ImportPlanner {
                header: p.header.clone(),
                mode: p.config.password_mode,
                rules: payload::Rules {
                    mode: p.config.password_mode,
                    strict: p.opts.strict,
                    no_welcome_email,
                },
                dry_run: p.opts.dry_run,
                existing: Existing::Update,
                roster: Some(p.roster.clone()),
                directory: Some(p.directory.clone()),
                engine: Some(p.engine.clone()),
                journal,
                duplicates: Duplicates::default(),
            };
            let mut sync = SyncPlanner {
                rows: import(journal),
                header: p.header.clone(),
                roster: p.roster.clone(),
                engine: p.engine.clone(),
                dry_run: p.opts.dry_run,
                delete_missing,
                named: vec![false; p.roster.len()],
            };
            let plan = sync.plan(records, import(JournalIndex::default()));
            Planned {
                planner: Box::new(sync),
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
                header: p.header.clone(),
                roster: p.roster.clone(),
                engine: p.engine.clone(),
                dry_run: p.opts.dry_run,
                include_admins,
                journal,
                duplicates: Duplicates::default(),
                ids: HashSet::new(),
            };
            let plan = delete.plan(records);
            Planned {
                planner: Box::new(delete),
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

/// A `delete`: each row names a user to delete.
struct DeletePlanner {
    header: Header,
    roster: Arc<Roster>,
    engine: Arc<Engine>,
    dry_run: bool,
    include_admins: bool,
    journal: JournalIndex,
    duplicates: Duplicates,
    /// The users already planned, by id (two rows may name one user).
    ids: HashSet<String>,
}

impl DeletePlanner {
    /// The plan: what the rows will become, without sending anything.
    fn plan(&mut self, records: &[Record]) -> Plan {
        let mut dry = DeletePlanner {
            header: self.header.clone(),
            roster: self.roster.clone(),
            engine: self.engine.clone(),
            dry_run: true,
            include_admins: self.include_admins,
            journal: JournalIndex::default(),
            duplicates: Duplicates::default(),
            ids: HashSet::new(),
        };
        let mut plan = Plan {
            enterprise: self.roster.len() as u64,
            ..Plan::default()
        };
        for r in records {
            let record = Record {
                line: r.line,
                fields: r.fields.clone(),
            };
            let (user, prepared) = dry.decide(record);
            match prepared {
                Prepared::Done(r) if r.status == RowStatus::Valid => {
                    plan.delete += 1;
                    if let Some(u) = user
                        && plan.delete_names.len() < NAMES_SHOWN
                    {
                        plan.delete_names.push(u);
                    }
                }
                Prepared::Done(r) if r.status == RowStatus::Absent => plan.absent += 1,
                _ => plan.failing += 1,
            }
        }
        plan
    }

    /// A row's fate, and the username of the user it would delete.
    fn decide(&mut self, record: Record) -> (Option<String>, Prepared) {
        let username = record.get(&self.header, Column::Username).to_owned();
        let email = record.get(&self.header, Column::Email).to_owned();
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
        if let Err(why) = self.duplicates.check_given(&username, &email, record.line) {
            return (None, fail(record, why.to_string()));
        }
        if self.journal.contains(record.line, &username) {
            let mut r = RowResult::new(record, RowStatus::Skipped)
                .with_message("done in an earlier run (journal)");
            r.from_journal = true;
            return (None, Prepared::Done(r));
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
                let why = format!(
                    "conflict: the username is the portal's user \"{}\" and the e-mail is the \
                     portal's user \"{}\"; nobody was deleted: fix the row",
                    by_username.username, by_email.username
                );
                return (None, fail(record, why));
            }
            Match::Existing(u) => u.clone(),
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
        let name = Some(user.username.clone());
        if self.dry_run {
            let r = RowResult::new(record, RowStatus::Valid).with_message("would be deleted");
            return (name, Prepared::Done(r));
        }
        let job = Job {
            request: self.engine.portal.delete(&user.id),
            record,
            action: Action::Delete,
            warning: None,
        };
        (name, Prepared::Send(job))
    }
}

impl Planner for DeletePlanner {
    fn prepare(&mut self, record: Record) -> Prepared {
        self.decide(record).1
    }
}

/// A `sync`: each row as an import with `--existing update`; then, with
/// `--delete-missing`, the `user`-role accounts no row named.
struct SyncPlanner {
    rows: ImportPlanner,
    header: Header,
    roster: Arc<Roster>,
    engine: Arc<Engine>,
    dry_run: bool,
    delete_missing: bool,
    /// The portal's users some row names (by username or e-mail, valid or not).
    named: Vec<bool>,
}

impl SyncPlanner {
    /// The plan, from a dry pass of the rows.
    fn plan(&mut self, records: &[Record], mut dry: ImportPlanner) -> Plan {
        dry.dry_run = true;
        let mut plan = Plan {
            enterprise: self.roster.len() as u64,
            ..Plan::default()
        };
        for r in records {
            self.mark(r);
            let record = Record {
                line: r.line,
                fields: r.fields.clone(),
            };
            match dry.prepare(record) {
                Prepared::Done(r) => match (r.status, r.message.as_deref()) {
                    (RowStatus::Valid, Some(m)) if m.starts_with("would update") => {
                        plan.update += 1;
                    }
                    (RowStatus::Valid, _) => plan.create += 1,
                    (RowStatus::Unchanged | RowStatus::Skipped, _) => plan.unchanged += 1,
                    _ => plan.failing += 1,
                },
                Prepared::Send(_) => plan.create += 1,
            }
        }
        for u in self.missing() {
            plan.delete += 1;
            if plan.delete_names.len() < NAMES_SHOWN {
                plan.delete_names.push(u.username.clone());
            }
        }
        plan
    }

    fn mark(&mut self, record: &Record) {
        let username = record.get(&self.header, Column::Username);
        let email = record.get(&self.header, Column::Email);
        for i in self.roster.named(username, email) {
            self.named[i] = true;
        }
    }

    /// The `user`-role accounts no row named (none without `--delete-missing`).
    fn missing(&self) -> impl Iterator<Item = &PortalUser> {
        self.roster
            .users()
            .iter()
            .zip(&self.named)
            .filter(|(u, named)| self.delete_missing && !**named && u.is_user_role())
            .map(|(u, _)| u)
    }

    /// A deletion's row in the output and the report: no line of the file,
    /// the user's username and e-mail in the file's columns.
    fn record_of(&self, user: &PortalUser) -> Record {
        let mut fields = vec![String::new(); self.header.len()];
        for (col, value) in [
            (Column::Username, &user.username),
            (Column::Email, &user.email),
        ] {
            if let Some(i) = self.header.position(col) {
                fields[i].clone_from(value);
            }
        }
        Record::not_in_file(fields)
    }
}

impl Planner for SyncPlanner {
    fn prepare(&mut self, record: Record) -> Prepared {
        self.rows.prepare(record)
    }

    fn finish(&mut self) -> Vec<Prepared> {
        let missing: Vec<PortalUser> = self.missing().cloned().collect();
        missing
            .iter()
            .map(|u| {
                let record = self.record_of(u);
                if self.dry_run {
                    return Prepared::Done(
                        RowResult::new(record, RowStatus::Valid)
                            .with_message("would be deleted (not in the file)"),
                    );
                }
                Prepared::Send(Job {
                    request: self.engine.portal.delete(&u.id),
                    record,
                    action: Action::Delete,
                    warning: None,
                })
            })
            .collect()
    }
}
