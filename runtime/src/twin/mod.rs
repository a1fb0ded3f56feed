//! The digital twin: an emulated quantum network that node agents manage instead of
//! hardware. [`world`] is the emulation itself — pure logic in simulated time.

pub mod host;
pub mod restconf;
pub mod world;
