//! The named steps of an apply and of an agent's part in it at which a process may die,
//! and the test hook that stops a process at one of them: with `STRATA_TEST_CRASH_AT=STEP`
//! in its environment, a process that reaches STEP says so on standard error
//! (`STRATA_TEST_CRASH_AT: stopped at STEP`) and does nothing more, so that a test can kill
//! it there with SIGKILL. Without the variable a step costs one environment look-up.

/// The environment variable that names the step to stop at.
pub const VAR: &str = "STRATA_TEST_CRASH_AT";

/// A point in the two-phase apply where a crash leaves something for the next apply to
/// resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The apply read what every agent runs; nothing was prepared.
    ApplyRead,
    /// Every agent voted yes; no decision is recorded, so the generation is aborted.
    ApplyPrepared,
    /// The decision to commit is recorded; no commit went out.
    ApplyDecided,
    /// Every commit is done; the result is not recorded.
    ApplyCommitted,
    /// A commit failed and the committed nodes were rolled back; not recorded.
    ApplyRolledBack,
    /// The result is recorded; the apply has not returned.
    ApplySaved,
    /// An agent received a prepare and staged nothing yet.
    AgentPrepare,
    /// An agent staged the generation on disk and has not answered its yes.
    AgentVoted,
    /// An agent received a commit and installed nothing yet.
    AgentCommit,
    /// An agent committed on disk and has not answered.
    AgentCommitted,
}

impl Step {
    pub const ALL: [Step; 10] = [
        Step::ApplyRead,
        Step::ApplyPrepared,
        Step::ApplyDecided,
        Step::ApplyCommitted,
        Step::ApplyRolledBack,
        Step::ApplySaved,
        Step::AgentPrepare,
        Step::AgentVoted,
        Step::AgentCommit,
        Step::AgentCommitted,
    ];

    /// The step's name, as `STRATA_TEST_CRASH_AT` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Step::ApplyRead => "apply-read",
            Step::ApplyPrepared => "apply-prepared",
            Step::ApplyDecided => "apply-decided",
            Step::ApplyCommitted => "apply-committed",
            Step::ApplyRolledBack => "apply-rolled-back",
            Step::ApplySaved => "apply-saved",
            Step::AgentPrepare => "agent-prepare",
            Step::AgentVoted => "agent-voted",
            Step::AgentCommit => "agent-commit",
            Step::AgentCommitted => "agent-committed",
        }
    }

    /// Whether this process is to stop at this step.
    pub fn armed(self) -> bool {
        std::env::var_os(VAR).is_some_and(|v| v == self.name())
    }
}

/// The line a process stopped at `step` writes to standard error.
pub fn marker(step: Step) -> String {
    format!("{VAR}: stopped at {}", step.name())
}

/// Stops here for good when `STRATA_TEST_CRASH_AT` names `step`; returns at once otherwise.
pub async fn reached(step: Step) {
    if step.armed() {
        eprintln!("{}", marker(step));
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_has_its_own_name() {
        let names: std::collections::BTreeSet<_> = Step::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names.len(), Step::ALL.len());
        assert!(
            names
                .iter()
                .all(|n| n.starts_with("apply-") || n.starts_with("agent-"))
        );
    }
}
