//! The state store a `--state` value names: a file path, or `etcd://HOST:PORT[,…]/PREFIX`
//! with etcd's credentials and TLS taken from the environment (`STRATA_ETCD_*`). It sits
//! above the stores it chooses from ([`crate::state`]'s file, [`crate::etcd_store`]) so that
//! neither has to know the other.

use crate::etcd::{EtcdLocation, EtcdTls};
use crate::etcd_store::EtcdStore;
use crate::state::{FileStore, StateStore};
use std::path::Path;

/// Environment variables with the user name and password for an etcd with authentication.
pub const ETCD_USER_VAR: &str = "STRATA_ETCD_USER";
pub const ETCD_PASSWORD_VAR: &str = "STRATA_ETCD_PASSWORD";

/// Environment variables with the PEM files for TLS towards etcd: the CA, and strata's
/// client certificate and key.
pub const ETCD_CA_VAR: &str = "STRATA_ETCD_CA";
pub const ETCD_CERT_VAR: &str = "STRATA_ETCD_CERT";
pub const ETCD_KEY_VAR: &str = "STRATA_ETCD_KEY";

/// TLS towards etcd as the environment asks for it: none without `STRATA_ETCD_CA`.
fn etcd_tls_from_env() -> Result<Option<EtcdTls>, String> {
    let read = |var: &str| -> Result<Option<String>, String> {
        match std::env::var_os(var) {
            None => Ok(None),
            Some(path) => std::fs::read_to_string(&path)
                .map(Some)
                .map_err(|e| format!("{var}=`{}` cannot be read: {e}", Path::new(&path).display())),
        }
    };
    let (ca, cert, key) = (
        read(ETCD_CA_VAR)?,
        read(ETCD_CERT_VAR)?,
        read(ETCD_KEY_VAR)?,
    );
    let identity = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => {
            return Err(format!(
                "set both {ETCD_CERT_VAR} and {ETCD_KEY_VAR} for a client certificate, or neither"
            ));
        }
    };
    match ca {
        Some(ca_pem) => Ok(Some(EtcdTls { ca_pem, identity })),
        None if identity.is_some() => Err(format!(
            "{ETCD_CERT_VAR} and {ETCD_KEY_VAR} need {ETCD_CA_VAR}, the CA of the etcd members' certificates"
        )),
        None => Ok(None),
    }
}

/// The store a `--state` value names: `etcd://HOST:PORT[,HOST:PORT…]/PREFIX` (logging in
/// with `STRATA_ETCD_USER` / `STRATA_ETCD_PASSWORD` when set) or a file path.
pub fn open(spec: &str) -> Result<Box<dyn StateStore + Send + Sync>, String> {
    if EtcdLocation::is_etcd(spec) {
        let location = EtcdLocation::parse(spec)?;
        let tls = etcd_tls_from_env()?;
        let mut store = EtcdStore::connect(location, tls.as_ref()).map_err(|e| e.to_string())?;
        match (
            std::env::var(ETCD_USER_VAR).ok(),
            std::env::var(ETCD_PASSWORD_VAR).ok(),
        ) {
            (Some(user), Some(password)) => store = store.with_credentials(&user, &password),
            (None, None) => {}
            _ => {
                return Err(format!(
                    "set both {ETCD_USER_VAR} and {ETCD_PASSWORD_VAR} to log in to etcd, or neither"
                ));
            }
        }
        Ok(Box::new(store))
    } else {
        Ok(Box::new(FileStore::new(spec)))
    }
}
