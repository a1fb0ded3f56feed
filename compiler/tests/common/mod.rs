//! Helpers shared by the compiler's integration tests. Each test file compiles this module
//! and uses part of it, hence `dead_code` is allowed.
#![allow(dead_code)]

pub mod inventory;
pub mod lab;
