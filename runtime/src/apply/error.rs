//! How an apply fails, and what each failure left behind on the nodes and in the state.

use crate::state::StoreError;

#[derive(Debug)]
pub enum ApplyError {
    Store(StoreError),
    /// The generation counter is at its largest value; nothing was prepared.
    GenerationsExhausted(u64),
    /// The saved plan was made against another state.
    StateMoved(String),
    /// A node has no agent address.
    NoAgent(String),
    /// The agents run a generation the state does not know: the state file is out of date
    /// (another state file applied since). Nothing was prepared.
    StaleState {
        /// The state file's generation.
        state_generation: u64,
        /// The highest generation a node runs.
        running_generation: u64,
        /// A node running it.
        node: String,
        /// The node runs the state's own generation number, with other contents.
        other_contents: bool,
    },
    /// Preparation failed; every agent was told to abort and runs its previous generation.
    Aborted {
        generation: u64,
        failures: Vec<(String, String)>,
    },
    /// A commit failed; the nodes that had committed were rolled back.
    RolledBack {
        generation: u64,
        failures: Vec<(String, String)>,
        rollback_failures: Vec<(String, String)>,
    },
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[(String, String)]| {
            v.iter()
                .map(|(n, e)| format!("\n  {n}: {e}"))
                .collect::<String>()
        };
        match self {
            ApplyError::Store(e) => write!(f, "{e}"),
            ApplyError::GenerationsExhausted(g) => write!(
                f,
                "the network is at generation {g}, the largest a generation number can be, so no new generation can be applied and nothing was changed; start the agents afresh (empty state directories) and apply into a new state file"
            ),
            ApplyError::StateMoved(m) => write!(f, "{m}"),
            ApplyError::NoAgent(n) => {
                write!(f, "node `{n}` has no agent address in the agents file")
            }
            ApplyError::StaleState {
                state_generation,
                running_generation,
                node,
                other_contents,
            } => {
                if *other_contents {
                    write!(
                        f,
                        "the network runs generation {running_generation} with other contents than generation {state_generation} of the state file (node `{node}`, for one)"
                    )?;
                } else {
                    write!(
                        f,
                        "the network runs generation {running_generation} (node `{node}`, for one), newer than the state file's generation {state_generation}"
                    )?;
                }
                write!(
                    f,
                    ": the state file is out of date, and applying from it could roll the network back, so nothing was applied. Run `strata state pull --agents FILE` to adopt what the agents run into the state file, or apply with `--force-generation` to overwrite it with a new generation"
                )
            }
            ApplyError::Aborted {
                generation,
                failures,
            } => write!(
                f,
                "generation {generation} was not applied: {} agent(s) could not prepare it, so every agent aborted and keeps its previous generation:{}",
                failures.len(),
                list(failures)
            ),
            ApplyError::RolledBack {
                generation,
                failures,
                rollback_failures,
            } => {
                write!(
                    f,
                    "generation {generation} was rolled back: {} commit(s) failed:{}",
                    failures.len(),
                    list(failures)
                )?;
                if !rollback_failures.is_empty() {
                    write!(f, "\nrolling back failed on:{}", list(rollback_failures))?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ApplyError {}

impl From<StoreError> for ApplyError {
    fn from(e: StoreError) -> Self {
        ApplyError::Store(e)
    }
}
