//! The strata intent language: grammar, syntax tree with spans, formatter and the
//! diagnostic type shared by every later phase.
//!
//! Steps: [`parser::parse`] turns text into a [`ast::SourceUnit`] plus syntax
//! diagnostics (one per broken item, never stopping at the first); [`format::format`]
//! prints a syntax tree in the one canonical layout, keeping comments.
//!
//! Invariant: this crate knows nothing about networks, units or physics — it records what
//! was written and where.

pub mod ast;
pub mod diag;
pub mod format;
pub mod parser;
pub mod span;

pub use diag::{Diagnostic, Label, Severity};
pub use parser::parse;
pub use span::{FileId, SourceFile, Sources, Span, Spanned};
