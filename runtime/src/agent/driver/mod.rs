//! Device drivers: backends that configure real equipment rather than the twin.
//! `etsi015` writes ETSI GS QKD 015 documents to an SD-QKD node over RESTCONF
//! (`restconf`).

pub mod etsi015;
pub mod restconf;
