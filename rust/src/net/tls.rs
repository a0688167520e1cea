//! The rustls client configuration of one transport (ring provider only).

use std::sync::Arc;

use crate::error::Result;

/// Builds the TLS client settings: webpki roots, ring.
pub fn client_config() -> Result<Arc<rustls::ClientConfig>> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    // NOTE: the ring provider supports the default versions; failing here is a build bug.
    Ok(Arc::new(config.expect("ring supports the default TLS versions")))
}
