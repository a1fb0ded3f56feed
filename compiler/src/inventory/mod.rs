//! Network inventory: the YAML model of domains, nodes, applications and links, its loader
//! and its validation. Loading never panics; it returns the inventory (when the YAML could
//! be read at all) together with every diagnostic found.
//!
//! Steps: [`load()`] reads the text into the wire structs of `raw` (serde-saphyr, with the
//! location of every value, which `locate` turns into spans); `convert` builds the
//! [`Inventory`] and checks each value's range; `validate` checks names, references and
//! topology across the whole inventory.
//! Every diagnostic carries one of the stable [`codes`]. The file format is documented for
//! operators in `docs/inventory.md`.

pub mod codes;
mod convert;
mod load;
mod locate;
mod model;
mod raw;
mod urn;
mod validate;

pub use load::load;
pub use model::*;
