//! Saved plans (`strata plan --out FILE`): the configuration a plan would apply, bound to
//! the digest of the state it was made against. Applying a saved plan is refused once the
//! state has moved, so what was reviewed is what gets applied.

use crate::state::{State, state_digest};
use serde::{Deserialize, Serialize};
use strata_compiler::config::ConfigSet;
use strata_compiler::plan::{Plan, digest};

/// Format identifier of saved plan files.
pub const PLAN_FORMAT: &str = "strata.plan/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format: String,
    /// Digest of the state the plan was made against (`none` for an empty store).
    pub base_state_digest: String,
    /// Generation the state was at.
    pub base_generation: u64,
    pub network: String,
    /// Digest of `configs`.
    pub config_digest: String,
    pub configs: ConfigSet,
    pub plan: Plan,
}

impl SavedPlan {
    pub fn new(base: Option<&State>, network: &str, configs: ConfigSet, plan: Plan) -> SavedPlan {
        SavedPlan {
            format: PLAN_FORMAT.into(),
            base_state_digest: state_digest(base),
            base_generation: base.map_or(0, |s| s.generation),
            network: network.into(),
            config_digest: digest(&configs),
            configs,
            plan,
        }
    }

    /// Refuses when the state is no longer the one the plan was made against, or when the
    /// file was edited after it was saved.
    pub fn check(&self, current: Option<&State>) -> Result<(), String> {
        if self.format != PLAN_FORMAT {
            return Err(format!("not a strata plan file (format `{}`)", self.format));
        }
        if digest(&self.configs) != self.config_digest {
            return Err("the plan's configuration does not match its digest; the file was modified after it was saved".into());
        }
        let now = state_digest(current);
        if now != self.base_state_digest {
            return Err(format!(
                "the state has moved since this plan was made (generation {} then, {} now); run `strata plan` again",
                self.base_generation,
                current.map_or(0, |s| s.generation)
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_compiler::plan::diff;

    #[test]
    fn a_plan_is_refused_once_the_state_moves() {
        let configs = ConfigSet::default();
        let plan = diff(None, &configs);
        let saved = SavedPlan::new(None, "n", configs.clone(), plan);
        assert!(saved.check(None).is_ok());
        let moved = State {
            generation: 1,
            config_digest: digest(&configs),
            network: "n".into(),
            configs,
            ..State::default()
        };
        let err = saved.check(Some(&moved)).unwrap_err();
        assert!(err.contains("state has moved"), "{err}");
    }

    #[test]
    fn an_edited_plan_is_refused() {
        let mut saved = SavedPlan::new(
            None,
            "n",
            ConfigSet::default(),
            diff(None, &ConfigSet::default()),
        );
        saved.configs.nodes.insert("X".into(), Default::default());
        assert!(saved.check(None).unwrap_err().contains("modified"));
    }
}
