use serde::{Deserialize, Serialize};

/// Lifecycle of a task: queued → running → succeeded | failed | cancelled.
/// A queued task may also be cancelled before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a task cannot go from {from} to {to}")]
pub struct TransitionError {
    pub from: &'static str,
    pub to: &'static str,
}

impl TaskState {
    pub const ALL: [TaskState; 5] = [
        TaskState::Queued,
        TaskState::Running,
        TaskState::Succeeded,
        TaskState::Failed,
        TaskState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<TaskState> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded | TaskState::Failed | TaskState::Cancelled
        )
    }

    /// The only legal moves. Staying in `running` is allowed (progress), so
    /// that repeated progress events are harmless.
    pub fn transition(self, to: TaskState) -> Result<TaskState, TransitionError> {
        use TaskState::*;
        let ok = matches!(
            (self, to),
            (Queued, Running)
                | (Queued, Cancelled)
                | (Queued, Failed)
                | (Running, Running)
                | (Running, Succeeded)
                | (Running, Failed)
                | (Running, Cancelled)
        );
        if ok {
            Ok(to)
        } else {
            Err(TransitionError {
                from: self.as_str(),
                to: to.as_str(),
            })
        }
    }
}

/// What a task does. Parameters travel in the task's JSON `params`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    Power,
}

impl TaskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Power => "power",
        }
    }

    pub fn parse(s: &str) -> Option<TaskKind> {
        match s {
            "power" => Some(TaskKind::Power),
            _ => None,
        }
    }
}

/// What a site agent reports about a task. `seq` starts at 1 and grows by
/// one per event of a task; a repeated or older `seq` is a redelivery and is
/// ignored, which makes applying events idempotent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEvent {
    pub task_id: i64,
    pub seq: i64,
    #[serde(flatten)]
    pub what: TaskEventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TaskEventKind {
    Started,
    Progress { message: String },
    Succeeded { result: serde_json::Value },
    Failed { error: String },
}

#[cfg(test)]
mod tests {
    use super::TaskState::*;
    use super::*;

    #[test]
    fn legal_paths() {
        assert_eq!(Queued.transition(Running), Ok(Running));
        assert_eq!(Running.transition(Running), Ok(Running));
        assert_eq!(Running.transition(Succeeded), Ok(Succeeded));
        assert_eq!(Queued.transition(Cancelled), Ok(Cancelled));
    }

    #[test]
    fn terminal_states_are_final() {
        for t in [Succeeded, Failed, Cancelled] {
            assert!(t.is_terminal());
            for to in TaskState::ALL {
                assert!(t.transition(to).is_err(), "{t:?} -> {to:?}");
            }
        }
        let e = Succeeded.transition(Running).unwrap_err();
        assert_eq!(e.to_string(), "a task cannot go from succeeded to running");
    }

    #[test]
    fn no_skipping_back_to_queued() {
        assert!(Running.transition(Queued).is_err());
        assert!(Queued.transition(Succeeded).is_err());
    }
}
