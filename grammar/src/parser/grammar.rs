//! The pest grammar (`src/intent.pest`) as a parser, and which of its rules are bare
//! keywords.

#[derive(pest_derive::Parser)]
#[grammar = "intent.pest"]
pub(super) struct IntentParser;

impl Rule {
    /// The `kw_*` rules: keywords carry no value for the tree.
    pub(super) fn is_keyword(self) -> bool {
        matches!(
            self,
            Rule::kw_all
                | Rule::kw_admitted
                | Rule::kw_and
                | Rule::kw_assert
                | Rule::kw_at
                | Rule::kw_failure
                | Rule::kw_failures
                | Rule::kw_key
                | Rule::kw_no
                | Rule::kw_pair
                | Rule::kw_survive
                | Rule::kw_survives
                | Rule::kw_utilisation
                | Rule::kw_utilization
                | Rule::kw_applies
                | Rule::kw_objective
                | Rule::kw_avoid
                | Rule::kw_between
                | Rule::kw_burst
                | Rule::kw_disjoint
                | Rule::kw_domain
                | Rule::kw_entangled
                | Rule::kw_fidelity
                | Rule::kw_for
                | Rule::kw_hops
                | Rule::kw_intent
                | Rule::kw_intents
                | Rule::kw_keys
                | Rule::kw_latency
                | Rule::kw_lifetime
                | Rule::kw_link
                | Rule::kw_max
                | Rule::kw_network
                | Rule::kw_never
                | Rule::kw_node
                | Rule::kw_nodes
                | Rule::kw_links
                | Rule::kw_domains
                | Rule::kw_from
                | Rule::kw_of
                | Rule::kw_only
                | Rule::kw_pairs
                | Rule::kw_paths
                | Rule::kw_policy
                | Rule::kw_priority
                | Rule::kw_rate
                | Rule::kw_relay
                | Rule::kw_to
                | Rule::kw_trusted
                | Rule::kw_use
                | Rule::kw_valid
                | Rule::kw_via
        )
    }
}
