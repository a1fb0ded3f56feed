//! The UUIDs of the 015 document, derived from names so that every compile, every agent
//! and any other tool computes the same ones: version 5 UUIDs (RFC 9562, SHA-1) in the URL
//! namespace of the URN `urn:strata:KIND:NAME`.

use uuid::Uuid;

fn v5(kind: &str, name: &str) -> String {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("urn:strata:{kind}:{name}").as_bytes(),
    )
    .to_string()
}

/// `qkdn_id` of a node: `urn:strata:qkdn:NODE`.
pub fn node(name: &str) -> String {
    v5("qkdn", name)
}

/// `qkdl_id` of a physical QKD link: `urn:strata:qkdl:LINK`.
pub fn link(name: &str) -> String {
    v5("qkdl", name)
}

/// `app_id` of a key service unit, the same at both ends: `urn:strata:app:INTENT`.
pub fn app(intent: &str) -> String {
    v5("app", intent)
}

/// `qkdl_id` of the virtual link of one path of a key service unit, the same at every
/// node of the path: `urn:strata:virt:INTENT/PATH`.
pub fn virtual_link(intent: &str, path: usize) -> String {
    v5("virt", &format!("{intent}/{path}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_version_5_and_stable() {
        let id = super::node("Norte");
        let u = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(u.get_version_num(), 5);
        // Python: uuid.uuid5(uuid.NAMESPACE_URL, "urn:strata:qkdn:Norte")
        assert_eq!(id, PYTHON_NORTE);
        assert_ne!(super::node("Norte"), super::link("Norte"));
    }

    const PYTHON_NORTE: &str = "7d6953fe-dcde-549e-900e-bb26e21ed5da";
}
