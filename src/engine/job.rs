//! A row ready to send: its request, and what the request's end means for
//! the row. The workers send jobs without knowing which operation they are
//! part of; [`Action::conclude`] is the one place that turns a settled
//! request into a row's status.

use crate::engine::retry::{End, Engine, Settled};
use crate::engine::stop::Stop;
use crate::input::Record;
use crate::portal::Request;
use crate::portal::users::{self, PortalUser, Role};
use crate::report::{RowResult, RowStatus};
use crate::roster;

/// What a row's request does, and so how its end reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// POST a new user. `existing_fails`: a user that exists fails the row
    /// (`--existing fail`) instead of skipping it. `known_new`: the user
    /// list at start did not have it (so a lost answer then "already taken"
    /// was this run's doing).
    Create {
        existing_fails: bool,
        known_new: bool,
    },
    /// PUT the fields that differ; the message lists them.
    Update { changes: String },
    /// DELETE a user.
    Delete,
}

/// One row's request, queued for the workers.
pub(crate) struct Job {
    pub(crate) record: Record,
    pub(crate) request: Request,
    pub(crate) action: Action,
    /// Shown with the row's result (an unknown group, …).
    pub(crate) warning: Option<String>,
    /// What must still hold right before the request is sent (a deletion's).
    pub(crate) check: Option<Box<Check>>,
}

/// What must still be true of a user right before it is deleted: the id
/// still names the same username and e-mail, and the role still allows it.
/// The list was read a while ago (and a confirmation prompt may have
/// waited): an id reused, or a user promoted meanwhile, is not deleted.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    /// `GET …/users/{id}`.
    pub(crate) request: Request,
    pub(crate) id: String,
    pub(crate) username: String,
    pub(crate) email: String,
    /// `--include-admins`: any role given as text may be deleted.
    pub(crate) include_admins: bool,
}

impl Check {
    /// The check of `user`, named by `id`, before its deletion.
    pub(crate) fn before_delete(
        request: Request,
        id: &str,
        user: &PortalUser,
        include_admins: bool,
    ) -> Check {
        Check {
            request,
            id: id.to_owned(),
            username: user.username.clone(),
            email: user.email.clone(),
            include_admins,
        }
    }

    /// Why the user as read now must not be deleted, if so.
    fn refuse(&self, now: &PortalUser) -> Option<String> {
        if now.id.as_deref() != Some(self.id.as_str()) {
            return Some(format!(
                "the portal answered the read of user {} with the id {}",
                self.id, now.id_shown
            ));
        }
        let same = |a: &str, b: &str| roster::key(a) == roster::key(b);
        if !same(&now.username, &self.username) || !same(&now.email, &self.email) {
            return Some(format!(
                "the id {} is now {} <{}>, not the user the list named (\"{}\" <{}>)",
                self.id,
                now.shown(),
                crate::sanitize::visible(&now.email),
                crate::sanitize::visible(&self.username),
                crate::sanitize::visible(&self.email),
            ));
        }
        match &now.role {
            Role::User => None,
            Role::Named(_) if self.include_admins => None,
            Role::Named(_) => Some(format!(
                "{} now has {} (--include-admins deletes administrators too)",
                now.shown(),
                now.role
            )),
            Role::Unknown(_) => Some(format!("{} now has {}", now.shown(), now.role)),
        }
    }

    /// The row's end when the check says no, or `None` to go on.
    fn verdict(&self, settled: &Settled) -> Option<(RowStatus, String)> {
        let failed = |why: String| Some((RowStatus::Failed, format!("not deleted: {why}")));
        match &settled.end {
            End::Success(data) => {
                let read = data
                    .as_ref()
                    .ok_or(users::NotAList::Missing)
                    .and_then(|d| users::parse_one(d.json()));
                match read {
                    Ok(now) => self.refuse(&now).and_then(failed),
                    Err(e) => failed(format!(
                        "reading user {} first gave no readable user ({e})",
                        self.id
                    )),
                }
            }
            End::NotFound(_) => Some((
                RowStatus::Absent,
                "no such user any more (deleted meanwhile?)".to_owned(),
            )),
            End::Stopped { last: None } => Some((RowStatus::NotAttempted, String::new())),
            _ => failed(format!(
                "reading user {} first failed: {}",
                self.id,
                settled
                    .failure_message("a read changes nothing")
                    .unwrap_or_default()
            )),
        }
    }
}

impl Job {
    /// Sends the job's request (after its check, if it has one) and
    /// returns the row's result.
    pub(crate) async fn run(self, engine: &Engine) -> RowResult {
        let mut checked = None;
        if let Some(check) = &self.check {
            let settled = engine.send(&check.request).await;
            if let Some((status, message)) = check.verdict(&settled) {
                let message = if status == RowStatus::NotAttempted {
                    engine.stop.not_sent_message()
                } else {
                    message
                };
                return RowResult {
                    attempts: settled.attempts,
                    http_status: settled.http_status,
                    message: Some(message),
                    warning: self.warning,
                    ..RowResult::new(self.record, status)
                };
            }
            checked = Some(settled.attempts);
        }
        let settled = engine.send(&self.request).await;
        let mut result = self.conclude(&settled, &engine.stop);
        result.attempts += checked.unwrap_or(0);
        result
    }

    /// The row's result once its request is settled.
    pub(crate) fn conclude(self, settled: &Settled, stop: &Stop) -> RowResult {
        let (status, message) = match &settled.end {
            End::Stopped { last: None } => (RowStatus::NotAttempted, Some(stop.not_sent_message())),
            _ => self.action.conclude(settled),
        };
        RowResult {
            attempts: settled.attempts,
            http_status: settled.http_status,
            message,
            warning: self.warning,
            ..RowResult::new(self.record, status)
        }
    }

    /// What a dry run says of the row: valid, and what would be sent.
    pub(crate) fn would(self) -> RowResult {
        let message = match self.action {
            Action::Create { .. } => None,
            Action::Update { changes } => Some(format!("would update: {changes}")),
            Action::Delete if self.record.file_line().is_none() => {
                Some("would be deleted (not in the file)".to_owned())
            }
            Action::Delete => Some("would be deleted".to_owned()),
        };
        RowResult {
            message,
            warning: self.warning,
            ..RowResult::new(self.record, RowStatus::Valid)
        }
    }

    /// The row's result when the run stopped before it was taken.
    pub(crate) fn not_attempted(self, stop: &Stop) -> RowResult {
        RowResult {
            warning: self.warning,
            ..RowResult::new(self.record, RowStatus::NotAttempted)
                .with_message(stop.not_sent_message())
        }
    }
}

impl Action {
    /// The row's status and message for a request that was sent.
    fn conclude(self, settled: &Settled) -> (RowStatus, Option<String>) {
        match (self, &settled.end) {
            (Action::Create { .. }, End::Success(_)) => (RowStatus::Created, None),
            // The user list at start did not have it: the attempt whose
            // answer was lost made it.
            (
                Action::Create {
                    known_new: true, ..
                },
                End::Exists,
            ) if settled.maybe_sent => (
                RowStatus::Created,
                Some("created by an earlier attempt whose answer was lost".into()),
            ),
            // Nothing says who made it: never claim a creation.
            (Action::Create { .. }, End::Exists) if settled.maybe_sent => (
                RowStatus::Skipped,
                Some(
                    "already exists (an earlier attempt whose answer was lost may have created it)"
                        .into(),
                ),
            ),
            (
                Action::Create {
                    existing_fails: true,
                    ..
                },
                End::Exists,
            ) => (
                RowStatus::Failed,
                Some("already exists (--existing fail)".into()),
            ),
            (Action::Create { .. }, End::Exists) => {
                (RowStatus::Skipped, Some("already exists".into()))
            }
            (Action::Update { changes }, End::Success(_)) => (RowStatus::Updated, Some(changes)),
            (Action::Update { .. }, End::NotFound(_)) => (
                RowStatus::Failed,
                Some("the user no longer exists in the portal (deleted meanwhile?)".into()),
            ),
            (Action::Delete, End::Success(_)) => (RowStatus::Deleted, None),
            // A DELETE whose answer was lost did it; a retry finds nothing.
            (Action::Delete, End::NotFound(_)) if settled.maybe_sent => (
                RowStatus::Deleted,
                Some("deleted by an earlier attempt whose answer was lost".into()),
            ),
            (Action::Delete, End::NotFound(_)) => (
                RowStatus::Absent,
                Some("no such user (already deleted?)".into()),
            ),
            (action, _) => (RowStatus::Failed, settled.failure_message(action.unsure())),
        }
    }

    /// What an attempt whose answer was lost may have done.
    fn unsure(&self) -> &'static str {
        match self {
            Action::Create { .. } => "it may or may not exist now",
            Action::Update { .. } => "the change may or may not have been made",
            Action::Delete => "it may or may not be deleted now",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::stop::StopReason;

    fn settled(end: End, maybe_sent: bool) -> Settled {
        Settled {
            end,
            attempts: 2,
            http_status: Some(422),
            maybe_sent,
        }
    }

    fn conclude(end: End, maybe_sent: bool) -> (RowStatus, Option<String>) {
        Action::Create {
            existing_fails: false,
            known_new: false,
        }
        .conclude(&settled(end, maybe_sent))
    }

    #[test]
    fn a_create_reads_its_end() {
        assert_eq!(
            conclude(End::Success(None), false),
            (RowStatus::Created, None)
        );
        assert_eq!(
            conclude(End::Exists, false),
            (RowStatus::Skipped, Some("already exists".into()))
        );
        // A lost answer, then "already taken": not claimed as created…
        assert_eq!(conclude(End::Exists, true).0, RowStatus::Skipped);
        // …unless the user list at start did not have it.
        let known_new = Action::Create {
            existing_fails: false,
            known_new: true,
        };
        assert_eq!(
            known_new.conclude(&settled(End::Exists, true)).0,
            RowStatus::Created
        );
        assert_eq!(
            conclude(End::Rejected("email: bad".into()), true),
            (
                RowStatus::Failed,
                Some("email: bad; it may or may not exist now".into())
            ),
            "an earlier attempt's answer was lost: the caveat stays"
        );
        assert_eq!(conclude(End::ThrottledTooLong, false).0, RowStatus::Failed);
    }

    #[test]
    fn updates_and_deletions_read_their_end() {
        let update = Action::Update {
            changes: "language: en → fr".into(),
        };
        assert_eq!(
            update.clone().conclude(&settled(End::Success(None), true)),
            (RowStatus::Updated, Some("language: en → fr".into()))
        );
        assert_eq!(
            update
                .conclude(&settled(End::NotFound("x".into()), false))
                .0,
            RowStatus::Failed
        );
        let gone = End::NotFound("HTTP 404".into());
        assert_eq!(
            Action::Delete.conclude(&settled(gone.clone(), false)).0,
            RowStatus::Absent
        );
        assert_eq!(
            Action::Delete.conclude(&settled(gone, true)).0,
            RowStatus::Deleted,
            "a lost answer, then 404: the first attempt deleted it"
        );
        assert_eq!(
            Action::Create {
                existing_fails: true,
                known_new: false,
            }
            .conclude(&settled(End::Exists, false))
            .0,
            RowStatus::Failed
        );
    }

    #[test]
    fn a_row_never_sent_is_not_attempted() {
        let stop = Stop::default();
        stop.stop(StopReason::Interrupted);
        let job = Job {
            record: Record::new(3, vec![]),
            request: crate::portal::Request {
                method: reqwest::Method::POST,
                url: "http://127.0.0.1/".parse().unwrap(),
                body: None,
                paced: true,
                max_answer: 1024,
                refusal_stops: true,
            },
            action: Action::Create {
                existing_fails: false,
                known_new: false,
            },
            warning: None,
            check: None,
        };
        let r = job.conclude(
            &Settled {
                end: End::Stopped { last: None },
                attempts: 0,
                http_status: None,
                maybe_sent: false,
            },
            &stop,
        );
        assert_eq!(r.status, RowStatus::NotAttempted);
        assert_eq!(r.message.as_deref(), Some("interrupted before it was sent"));
    }
}
