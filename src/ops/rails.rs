//! The safety rails of the operations that delete: the plan said before
//! anything is sent, the limits a sync may not pass, and the operator's
//! confirmation. Deleting cannot be undone; these decide before it starts.

use std::collections::BTreeMap;

use crate::engine::job::Action;
use crate::engine::pipeline::Prepared;
use crate::human::{plural, thousands};
use crate::report::RowStatus;
use crate::roster::Doubt;

/// What a deletion or a sync is about to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) create: u64,
    pub(crate) update: u64,
    pub(crate) unchanged: u64,
    /// Users to delete, and the first few usernames.
    pub(crate) delete: u64,
    pub(crate) delete_names: Vec<String>,
    /// Rows that will fail without a request (invalid, conflicts, administrators).
    pub(crate) failing: u64,
    /// Named users who do not exist (a deletion has nothing to do).
    pub(crate) absent: u64,
    /// The users a sync may delete at all (role `user`, a usable id, beyond
    /// doubt): what the quarter rail counts against. Administrators, who
    /// are never deleted, must not make a large deletion look small.
    pub(crate) deletable: u64,
    /// The users a deletion would have reached but spares, by why.
    pub(crate) spared: BTreeMap<Spared, u64>,
}

/// Why a user a deletion would have reached is spared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Spared {
    /// A role other than `user` (without `--include-admins`).
    Administrator,
    /// No readable role: missing, `null`, a list, an object.
    RoleUnknown,
    /// Its id or its name is shared with another entry of the list.
    Ambiguous,
    /// An invisible or control character in its username or e-mail.
    Invisible,
    /// An id that cannot name it in a request.
    Unaddressable,
    /// Neither a username nor an e-mail.
    Nameless,
}

impl From<Doubt> for Spared {
    fn from(d: Doubt) -> Spared {
        match d {
            Doubt::SharedId | Doubt::SharedName => Spared::Ambiguous,
            Doubt::Invisible => Spared::Invisible,
            Doubt::Unaddressable => Spared::Unaddressable,
            Doubt::Nameless => Spared::Nameless,
        }
    }
}

impl Spared {
    fn counted(self, n: u64) -> String {
        let n_text = thousands(n);
        match self {
            Spared::Administrator => format!("{n_text} administrator{}", plural(n)),
            Spared::RoleUnknown => format!("{n_text} role unknown"),
            Spared::Ambiguous => format!("{n_text} ambiguous"),
            Spared::Invisible => format!("{n_text} with an invisible character"),
            Spared::Unaddressable => format!("{n_text} with an unusable id"),
            Spared::Nameless => format!("{n_text} without a name"),
        }
    }
}

/// Usernames shown in the plan.
pub(crate) const NAMES_SHOWN: usize = 5;

impl Plan {
    /// Counts a row's decision; `deleted` names the user a deletion is of.
    pub(crate) fn count(&mut self, prepared: &Prepared, deleted: Option<&str>) {
        match prepared {
            Prepared::Send(job) => match job.action {
                Action::Create { .. } => self.create += 1,
                Action::Update { .. } => self.update += 1,
                Action::Delete => {
                    self.delete += 1;
                    if let Some(name) = deleted
                        && self.delete_names.len() < NAMES_SHOWN
                    {
                        self.delete_names.push(name.to_owned());
                    }
                }
            },
            Prepared::Done(r) => match r.status {
                RowStatus::Unchanged | RowStatus::Skipped => self.unchanged += 1,
                RowStatus::Absent => self.absent += 1,
                _ => self.failing += 1,
            },
        }
    }

    /// Counts a user spared.
    pub(crate) fn spare(&mut self, why: Spared) {
        *self.spared.entry(why).or_default() += 1;
    }

    /// `+ 20 to create, ~ 10 to update, - 10 to delete, 130 unchanged`,
    /// the users spared and why, and the users to delete.
    pub(crate) fn lines(&self, sync: bool) -> Vec<String> {
        let mut head = Vec::new();
        if sync {
            head.push(format!("+ {} to create", thousands(self.create)));
            head.push(format!("~ {} to update", thousands(self.update)));
        }
        head.push(format!("- {} to delete", thousands(self.delete)));
        if sync {
            head.push(format!("{} unchanged", thousands(self.unchanged)));
        }
        if self.absent > 0 {
            head.push(format!("{} absent", thousands(self.absent)));
        }
        if self.failing > 0 {
            head.push(format!("{} failing", thousands(self.failing)));
        }
        let mut out = vec![format!("plan: {}", head.join(", "))];
        if !self.spared.is_empty() {
            let spared: Vec<String> = self.spared.iter().map(|(s, n)| s.counted(*n)).collect();
            out.push(format!("spared: {}", spared.join(", ")));
        }
        if self.delete > 0 {
            let more = self.delete.saturating_sub(self.delete_names.len() as u64);
            out.push(format!(
                "to delete: {}{}",
                self.delete_names.join(", "),
                if more > 0 {
                    format!(" and {} more", thousands(more))
                } else {
                    String::new()
                }
            ));
        }
        out
    }
}

/// The limits a sync's deletions may not pass.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// `--max-deletes`
    pub(crate) max_deletes: u64,
    /// Of the enterprise's users, the share a sync may delete (a quarter).
    pub(crate) max_share: f64,
}

/// Refuses a plan that deletes more than the limits allow, saying which
/// limit and how to raise it: a truncated roster must never empty an
/// enterprise.
pub(crate) fn check_limits(plan: &Plan, limits: Limits) -> Result<(), String> {
    let n = plan.delete;
    if n > limits.max_deletes {
        return Err(format!(
            "refusing to run: the plan deletes {} user{}, more than --max-deletes {} allows. Check \
             that the file holds the whole roster; if these deletions are meant, run again with \
             --max-deletes {n}. Nothing was sent",
            thousands(n),
            plural(n),
            limits.max_deletes
        ));
    }
    let share = n as f64 / plan.deletable.max(1) as f64;
    if n > 0 && share > limits.max_share {
        return Err(format!(
            "refusing to run: the plan deletes {} of the enterprise's {} users a sync may delete \
             ({:.0}%; administrators and users not identified beyond doubt are not counted), more \
             than a quarter: is the file a truncated export? If these deletions are meant, delete \
             them with `xmc-user-importer delete` and a file naming them. Nothing was sent",
            thousands(n),
            thousands(plan.deletable),
            share * 100.0
        ));
    }
    Ok(())
}

/// How the operator confirmed, or why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Consent {
    /// `--yes`, or the account name typed at the prompt.
    Given,
    /// Nothing to delete: nothing to confirm.
    NotNeeded,
}

/// The answer of the terminal's prompt: `None` when there is no terminal.
pub(crate) type Ask<'a> = &'a mut dyn FnMut(&str) -> Option<String>;

/// Deleting needs `--yes`, or the enterprise account name typed on a
/// terminal.
pub(crate) fn confirm(
    plan: &Plan,
    account: &str,
    yes: bool,
    ask: Ask<'_>,
) -> Result<Consent, String> {
    if plan.delete == 0 {
        return Ok(Consent::NotNeeded);
    }
    if yes {
        return Ok(Consent::Given);
    }
    let prompt = format!(
        "type the enterprise account name ({account}) to delete {} user{}: ",
        thousands(plan.delete),
        plural(plan.delete)
    );
    match ask(&prompt) {
        None => Err(
            "refusing to delete without a confirmation: there is no terminal to ask on. Read the \
             plan above, then add --yes (or run it on a terminal). Nothing was sent"
                .into(),
        ),
        Some(typed) if typed.trim() == account => Ok(Consent::Given),
        Some(_) => Err(format!(
            "not confirmed (the account name is \"{account}\"). Nothing was sent"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(delete: u64, deletable: u64) -> Plan {
        Plan {
            delete,
            deletable,
            delete_names: vec!["a".into(), "b".into()],
            ..Plan::default()
        }
    }

    const LIMITS: Limits = Limits {
        max_deletes: 10,
        max_share: 0.25,
    };

    #[test]
    fn more_deletions_than_max_deletes_are_refused_with_the_way_out() {
        let e = check_limits(&plan(11, 1000), LIMITS).unwrap_err();
        assert!(
            e.contains("deletes 11 users, more than --max-deletes 10"),
            "{e}"
        );
        assert!(e.contains("--max-deletes 11"), "{e}");
        assert!(check_limits(&plan(10, 1000), LIMITS).is_ok());
    }

    #[test]
    fn more_than_a_quarter_of_the_enterprise_is_refused() {
        let limits = Limits {
            max_deletes: 1000,
            ..LIMITS
        };
        let e = check_limits(&plan(141, 151), limits).unwrap_err();
        assert!(
            e.contains("141 of the enterprise's 151 users a sync may delete (93%;"),
            "{e}"
        );
        assert!(check_limits(&plan(37, 151), limits).is_ok());
        assert!(check_limits(&plan(0, 0), limits).is_ok());
    }

    #[test]
    fn deleting_needs_yes_or_the_account_name_typed() {
        let p = plan(3, 100);
        let mut no_terminal = |_: &str| None;
        let e = confirm(&p, "westeros", false, &mut no_terminal).unwrap_err();
        assert!(e.contains("add --yes"), "{e}");
        assert_eq!(
            confirm(&p, "westeros", true, &mut no_terminal),
            Ok(Consent::Given)
        );
        let mut typed_right = |prompt: &str| {
            assert!(prompt.contains("(westeros) to delete 3 users"));
            Some("westeros\n".to_owned())
        };
        assert_eq!(
            confirm(&p, "westeros", false, &mut typed_right),
            Ok(Consent::Given)
        );
        let mut typed_wrong = |_: &str| Some("yes".to_owned());
        assert!(confirm(&p, "westeros", false, &mut typed_wrong).is_err());
        let mut never = |_: &str| -> Option<String> { panic!("asked for nothing to delete") };
        assert_eq!(
            confirm(&plan(0, 100), "westeros", false, &mut never),
            Ok(Consent::NotNeeded)
        );
    }

    #[test]
    fn the_plan_reads_like_the_spec() {
        let p = Plan {
            create: 20,
            update: 10,
            unchanged: 130,
            delete: 7,
            delete_names: (1..=5).map(|i| format!("u{i}")).collect(),
            ..Plan::default()
        };
        assert_eq!(
            p.lines(true),
            [
                "plan: + 20 to create, ~ 10 to update, - 7 to delete, 130 unchanged",
                "to delete: u1, u2, u3, u4, u5 and 2 more"
            ]
        );
        let mut p = Plan::default();
        for why in [
            Doubt::SharedName.into(),
            Spared::Administrator,
            Spared::RoleUnknown,
            Spared::Administrator,
            Doubt::SharedId.into(),
            Spared::Administrator,
        ] {
            p.spare(why);
        }
        assert_eq!(
            p.lines(false),
            [
                "plan: - 0 to delete",
                "spared: 3 administrators, 1 role unknown, 2 ambiguous"
            ]
        );
    }
}
