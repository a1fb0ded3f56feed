//! The digital twin: an emulated quantum network that node agents manage instead of
//! hardware. The emulation itself — pure logic in simulated time — is [`crate::world`],
//! which the KMEs observe too; this module runs it: one agent per node on loopback, with the
//! KMEs and the certificates of [`crate::pki`] ([`host`]), and one ETSI GS QKD 015 RESTCONF
//! server per node ([`restconf`]).

pub mod host;
pub mod restconf;
