//! The twin's public key infrastructure, for ETSI GS QKD 014 and for the agents' control
//! channel, both over mutual TLS: a local CA, one certificate per KME and one per node agent
//! (SAN `127.0.0.1` and `localhost`, CN = the node's name), one client certificate per SAE
//! (CN = the SAE id) and the controller's client certificate (CN [`CONTROLLER`], the only
//! identity the agents obey), written to a directory so that unmodified clients such as curl
//! can use them, and so that a KME can run as its own process (`strata kme`).
//!
//! A KME's certificate serves its SAEs and its peer KMEs, and is also the client certificate
//! it presents to the next KME of a key relay: it carries both the server and the client
//! extended key usage, and subject OU [`KME_UNIT`]. The OU is what tells a peer KME from an
//! SAE that happens to bear a node's name (an intent that names a node as its endpoint makes
//! the node's name an SAE id).
//!
//! Layout of the directory:
//!
//! ```text
//! ca.pem                          the CA certificate every KME, agent, SAE and controller trusts
//! kme/NODE.pem, kme/NODE.key      each KME's certificate and PKCS #8 key (mode 0600)
//! agent/NODE.pem                  each agent's server certificate (its key stays in memory)
//! sae/SAE.pem, sae/SAE.key        each SAE's client certificate and PKCS #8 key (mode 0600)
//! controller.pem, controller.key  the controller's client certificate and key (mode 0600)
//! ```
//!
//! It is a module of its own, below both its users: the node agents' control channel
//! ([`crate::agent::channel`], and the RESTCONF driver's client TLS) and the KMEs
//! ([`crate::kme`]); the twin ([`crate::twin`]) creates one for all of them.
//!
//! Only the `ring` crypto provider is used, so nothing here needs cmake or a system library.
//! [`common_name`] reads the subject CN out of a DER certificate: that is the SAE id a KME
//! acts for; [`organizational_unit`] reads the OU.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_compiler::config::file_name;

/// A certificate and its private key, as PEM, with the files they were written to.
#[derive(Debug, Clone)]
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_path: PathBuf,
    /// Where the key was written; `None` for agents, whose keys never leave memory.
    pub key_path: Option<PathBuf>,
}

/// The CA, the KMEs' server identities and the SAEs' client identities of one twin.
#[derive(Debug, Clone)]
pub struct Pki {
    pub dir: PathBuf,
    pub ca_pem: String,
    pub ca_path: PathBuf,
    /// Node name → its KME's identity (server for SAEs and peers, client towards peers).
    pub kmes: BTreeMap<String, Identity>,
    /// SAE id → its client identity.
    pub saes: BTreeMap<String, Identity>,
    /// Node name → its agent's server identity.
    pub agents: BTreeMap<String, Identity>,
    /// The controller's client identity (CN [`CONTROLLER`]).
    pub controller: Identity,
}

/// The subject CN of the controller's client certificate: the one identity node agents take
/// configuration from and report it to.
pub const CONTROLLER: &str = "strata-controller";

/// The subject OU of every KME certificate: a relay request is taken only from a peer whose
/// certificate carries it (and whose CN is the neighbour's node name).
pub const KME_UNIT: &str = "kme";

fn err(what: &str) -> impl Fn(rcgen::Error) -> String + '_ {
    move |e| format!("cannot create {what}: {e}")
}

fn write(path: &Path, text: &str, secret: bool) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot restrict `{}`: {e}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    Ok(())
}

fn leaf(
    name: &str,
    unit: Option<&str>,
    sans: &[&str],
    usages: &[ExtendedKeyUsagePurpose],
    issuer: &Issuer<'_, KeyPair>,
) -> Result<(String, String), String> {
    let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .map_err(err(name))?;
    params.distinguished_name.push(DnType::CommonName, name);
    if let Some(unit) = unit {
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, unit);
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = usages.to_vec();
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().map_err(err(name))?;
    let cert = params.signed_by(&key, issuer).map_err(err(name))?;
    Ok((cert.pem(), key.serialize_pem()))
}

impl Pki {
    /// Creates a CA named after `network`, a server certificate for every KME in `kmes` and a
    /// client certificate for every SAE in `saes`, and writes them under `dir`.
    pub fn create(
        dir: &Path,
        network: &str,
        kmes: &[String],
        saes: &[String],
    ) -> Result<Pki, String> {
        Self::create_with_agents(dir, network, kmes, saes, &[])
    }

    /// [`Pki::create`], with a server certificate for the agent of every node in `agents`
    /// as well. The controller's client certificate is always issued; an SAE may not take
    /// its name.
    pub fn create_with_agents(
        dir: &Path,
        network: &str,
        kmes: &[String],
        saes: &[String],
        agents: &[String],
    ) -> Result<Pki, String> {
        if saes.iter().any(|s| s == CONTROLLER) {
            return Err(format!(
                "`{CONTROLLER}` is the name of the controller's certificate; rename the application that uses it"
            ));
        }
        let mut ca = CertificateParams::default();
        ca.distinguished_name
            .push(DnType::CommonName, format!("strata twin CA ({network})"));
        ca.distinguished_name
            .push(DnType::OrganizationName, "strata digital twin");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().map_err(err("the CA"))?;
        let ca_cert = ca.self_signed(&ca_key).map_err(err("the CA"))?;
        let ca_pem = ca_cert.pem();
        let issuer = Issuer::new(ca, ca_key);
        let ca_path = dir.join("ca.pem");
        write(&ca_path, &ca_pem, false)?;
        let agent = |node: &String| -> Result<(String, Identity), String> {
            let (cert_pem, key_pem) = leaf(
                node,
                None,
                &["127.0.0.1", "localhost"],
                &[ExtendedKeyUsagePurpose::ServerAuth],
                &issuer,
            )?;
            let cert_path = dir.join("agent").join(format!("{}.pem", file_name(node)));
            write(&cert_path, &cert_pem, false)?;
            let id = Identity {
                cert_pem,
                key_pem,
                cert_path,
                key_path: None,
            };
            Ok((node.clone(), id))
        };
        let kme = |node: &String| -> Result<(String, Identity), String> {
            let (cert_pem, key_pem) = leaf(
                node,
                Some(KME_UNIT),
                &["127.0.0.1", "localhost"],
                &[
                    ExtendedKeyUsagePurpose::ServerAuth,
                    ExtendedKeyUsagePurpose::ClientAuth,
                ],
                &issuer,
            )?;
            let base = dir.join("kme").join(file_name(node));
            let cert_path = base.with_extension("pem");
            let key_path = base.with_extension("key");
            write(&cert_path, &cert_pem, false)?;
            write(&key_path, &key_pem, true)?;
            let id = Identity {
                cert_pem,
                key_pem,
                cert_path,
                key_path: Some(key_path),
            };
            Ok((node.clone(), id))
        };
        let client = |name: &str, base: PathBuf| -> Result<Identity, String> {
            let (cert_pem, key_pem) = leaf(
                name,
                None,
                &[],
                &[ExtendedKeyUsagePurpose::ClientAuth],
                &issuer,
            )?;
            let cert_path = base.with_extension("pem");
            let key_path = base.with_extension("key");
            write(&cert_path, &cert_pem, false)?;
            write(&key_path, &key_pem, true)?;
            Ok(Identity {
                cert_pem,
                key_pem,
                cert_path,
                key_path: Some(key_path),
            })
        };
        Ok(Pki {
            dir: dir.to_path_buf(),
            ca_pem,
            ca_path,
            kmes: kmes.iter().map(kme).collect::<Result<_, _>>()?,
            saes: saes
                .iter()
                .map(|sae| {
                    Ok((
                        sae.clone(),
                        client(sae, dir.join("sae").join(file_name(sae)))?,
                    ))
                })
                .collect::<Result<_, String>>()?,
            agents: agents.iter().map(agent).collect::<Result<_, _>>()?,
            controller: client(CONTROLLER, dir.join("controller"))?,
        })
    }

    /// The TLS configuration of `node`'s agent: its server certificate for gRPC, and a
    /// client certificate signed by this CA required from every caller.
    pub fn agent_server_config(&self, node: &str) -> Result<Arc<ServerConfig>, String> {
        let id = self
            .agents
            .get(node)
            .ok_or_else(|| format!("no agent certificate for `{node}`"))?;
        grpc_server_config(&self.ca_pem, &id.cert_pem, &id.key_pem)
    }

    /// The TLS configuration of `node`'s KME towards its SAEs: its certificate, and a
    /// client certificate signed by this CA required from every caller.
    pub fn server_config(&self, node: &str) -> Result<Arc<ServerConfig>, String> {
        let id = self
            .kmes
            .get(node)
            .ok_or_else(|| format!("no KME certificate for `{node}`"))?;
        server_config(&self.ca_pem, &id.cert_pem, &id.key_pem)
    }

    /// The TLS configuration of SAE `sae` calling a KME of this twin.
    pub fn client_config(&self, sae: &str) -> Result<Arc<ClientConfig>, String> {
        let id = self
            .saes
            .get(sae)
            .ok_or_else(|| format!("no client certificate for SAE `{sae}`"))?;
        client_config(&self.ca_pem, &id.cert_pem, &id.key_pem)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad certificate PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in the PEM text".into());
    }
    Ok(certs)
}

fn key(pem: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| format!("bad private key PEM: {e}"))
}

fn roots(ca_pem: &str) -> Result<Arc<RootCertStore>, String> {
    let mut roots = RootCertStore::empty();
    for c in certs(ca_pem)? {
        roots
            .add(c)
            .map_err(|e| format!("bad CA certificate: {e}"))?;
    }
    Ok(Arc::new(roots))
}

/// A server configuration that presents `cert_pem` and requires a client certificate
/// issued by the CA in `ca_pem` (a caller without one fails the handshake). HTTP/1.1 only.
pub fn server_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<ServerConfig>, String> {
    server_config_for(ca_pem, cert_pem, key_pem, b"http/1.1")
}

/// [`server_config`] for gRPC: HTTP/2 only.
pub fn grpc_server_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<ServerConfig>, String> {
    server_config_for(ca_pem, cert_pem, key_pem, b"h2")
}

fn server_config_for(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    alpn: &[u8],
) -> Result<Arc<ServerConfig>, String> {
    let provider = provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(ca_pem)?, provider.clone())
        .build()
        .map_err(|e| format!("cannot build the client verifier: {e}"))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(cert_pem)?, key(key_pem)?)
        .map_err(|e| format!("bad server certificate or key: {e}"))?;
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration trusting the CA in `ca_pem` and presenting `cert_pem`.
pub fn client_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<ClientConfig>, String> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots(ca_pem)?)
        .with_client_auth_cert(certs(cert_pem)?, key(key_pem)?)
        .map_err(|e| format!("bad SAE certificate or key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration trusting the CA in `ca_pem` that presents no certificate (a KME
/// refuses it; useful to show exactly that).
pub fn anonymous_client_config(ca_pem: &str) -> Result<Arc<ClientConfig>, String> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots(ca_pem)?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// One DER element: (tag, contents, what follows).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        rest = &rest[n..];
        len
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The subject CN and OU of the first certificate in `cert_pem`.
pub fn subject(cert_pem: &str) -> Result<(Option<String>, Option<String>), String> {
    let der = &certs(cert_pem)?[0];
    Ok((common_name(der), organizational_unit(der)))
}

/// The subject common name (OID 2.5.4.3) of an X.509 certificate in DER, when it has one.
pub fn common_name(der: &[u8]) -> Option<String> {
    subject_attribute(der, &[0x55, 0x04, 0x03])
}

/// The subject organizational unit (OID 2.5.4.11) of an X.509 certificate in DER, when it
/// has one.
pub fn organizational_unit(der: &[u8]) -> Option<String> {
    subject_attribute(der, &[0x55, 0x04, 0x0b])
}

/// The first subject attribute `oid` (DER contents of the OID) as text.
fn subject_attribute(der: &[u8], wanted: &[u8]) -> Option<String> {
    const SEQUENCE: u8 = 0x30;
    const SET: u8 = 0x31;
    let (SEQUENCE, cert, _) = tlv(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = tlv(cert)? else {
        return None;
    };
    let (tag, _, after) = tlv(tbs)?;
    // [0] version is optional; then serial, signature algorithm, issuer, validity, subject.
    let mut rest = if tag == 0xa0 { after } else { tbs };
    for _ in 0..4 {
        rest = tlv(rest)?.2;
    }
    let (SEQUENCE, mut subject, _) = tlv(rest)? else {
        return None;
    };
    while !subject.is_empty() {
        let (SET, mut set, next) = tlv(subject)? else {
            return None;
        };
        subject = next;
        while !set.is_empty() {
            let (SEQUENCE, attr, next) = tlv(set)? else {
                return None;
            };
            set = next;
            let (0x06, oid, value) = tlv(attr)? else {
                return None;
            };
            if oid == wanted {
                let (tag, value, _) = tlv(value)?;
                // UTF8String, PrintableString, TeletexString, IA5String.
                return match tag {
                    0x0c | 0x13 | 0x14 | 0x16 => String::from_utf8(value.to_vec()).ok(),
                    _ => None,
                };
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_certificates_carry_their_names_and_build_tls_configs() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::create(
            dir.path(),
            "net",
            &["Moncloa".into()],
            &["ccips".into(), "urn:qkd:x".into()],
        )
        .unwrap();
        for (name, id) in pki.kmes.iter().chain(&pki.saes) {
            let der = &certs(&id.cert_pem).unwrap()[0];
            assert_eq!(common_name(der).as_deref(), Some(name.as_str()));
            assert!(id.cert_path.exists());
            assert!(id.key_path.as_ref().unwrap().exists());
        }
        // Only a KME's certificate says it is one.
        let kme = &certs(&pki.kmes["Moncloa"].cert_pem).unwrap()[0];
        assert_eq!(organizational_unit(kme).as_deref(), Some(KME_UNIT));
        let sae = &certs(&pki.saes["ccips"].cert_pem).unwrap()[0];
        assert_eq!(organizational_unit(sae), None);
        assert!(pki.saes["ccips"].key_path.as_ref().unwrap().exists());
        assert!(dir.path().join("ca.pem").exists());
        let ca = &certs(&pki.ca_pem).unwrap()[0];
        assert_eq!(
            common_name(ca).as_deref(),
            Some("strata twin CA (net)"),
            "the CA's CN"
        );
        pki.server_config("Moncloa").unwrap();
        pki.client_config("ccips").unwrap();
        assert!(pki.client_config("nobody").is_err());
        assert_eq!(common_name(b"\x30\x03\x02\x01"), None);
        assert_eq!(common_name(b""), None);
    }
}
