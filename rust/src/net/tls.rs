//! The rustls client configuration of one transport (ring provider only): which CAs are
//! trusted, an optional client certificate, and how certificate failures are explained.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{self, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{AlertDescription, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{Error, Result};

/// Which servers to trust.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Verify {
    /// `SSL_CERT_FILE` / `SSL_CERT_DIR` when set (and the environment is trusted), else the
    /// operating system's store.
    #[default]
    Default,
    /// Only the CAs of this PEM file (or directory of PEM files).
    Bundle(PathBuf),
    /// No verification at all (`verify=False`).
    Off,
}

/// The TLS settings of one transport.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    pub verify: Verify,
    /// Client certificate chain and key for mutual TLS; the key may be in the chain's file.
    pub client_cert: Option<(PathBuf, Option<PathBuf>)>,
    /// Whether `SSL_CERT_FILE` / `SSL_CERT_DIR` are honoured.
    pub trust_env: bool,
}

/// Builds the rustls client settings of one transport.
pub fn client_config(options: &TlsOptions) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InvalidArgument(format!("TLS setup failed: {e}")))?;
    let builder = match &options.verify {
        Verify::Off => builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerification(provider))),
        Verify::Bundle(path) => builder.with_root_certificates(bundle(path)?),
        Verify::Default => builder.with_root_certificates(default_roots(options.trust_env)?),
    };
    let config = match &options.client_cert {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => {
            let (chain, key) = client_identity(chain, key.as_deref())?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::InvalidArgument(format!("the client certificate cannot be used: {e}")))?
        }
    };
    Ok(Arc::new(config))
}

/// The CAs of a PEM file or a directory of them (`verify='path'`).
fn bundle(path: &Path) -> Result<RootCertStore> {
    let found = if path.is_dir() {
        rustls_native_certs::load_certs_from_paths(None, Some(path))
    } else {
        rustls_native_certs::load_certs_from_paths(Some(path), None)
    };
    if let Some(e) = found.errors.first() {
        return Err(Error::InvalidArgument(format!("cannot read the CA bundle {}: {e}", path.display())));
    }
    store(found.certs, &format!("the CA bundle {}", path.display()))
}

/// `SSL_CERT_FILE`/`SSL_CERT_DIR` when set and trusted, else the system store; the built-in
/// Mozilla roots only when the system has no store at all (a bare container).
fn default_roots(trust_env: bool) -> Result<RootCertStore> {
    let env_set = ["SSL_CERT_FILE", "SSL_CERT_DIR"].iter().any(|v| std::env::var_os(v).is_some_and(|p| !p.is_empty()));
    let found = if trust_env && env_set { rustls_native_certs::load_native_certs() } else { system_store() };
    if trust_env && env_set {
        if let Some(e) = found.errors.first() {
            return Err(Error::InvalidArgument(format!(
                "cannot read the CAs named by SSL_CERT_FILE/SSL_CERT_DIR: {e}"
            )));
        }
        return store(found.certs, "SSL_CERT_FILE/SSL_CERT_DIR");
    }
    if found.certs.is_empty() {
        return Ok(RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() });
    }
    store(found.certs, "the system certificate store")
}

/// Where Linux and BSD distributions put their CA bundle (OpenSSL's `CAfile`).
const SYSTEM_BUNDLES: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/ssl/cert.pem",
];

/// The operating system's CAs, without the environment's say. On Linux one bundle file when
/// the system has one: reading the hashed directory as well would parse every CA twice
/// (three times slower to make a client).
fn system_store() -> rustls_native_certs::CertificateResult {
    if cfg!(any(target_os = "macos", target_os = "windows")) {
        return rustls_native_certs::load_native_certs();
    }
    if let Some(file) = SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.is_file()) {
        let found = rustls_native_certs::load_certs_from_paths(Some(file), None);
        if !found.certs.is_empty() {
            return found;
        }
    }
    let mut all = rustls_native_certs::CertificateResult::default();
    for dir in openssl_probe::candidate_cert_dirs() {
        all.certs.extend(rustls_native_certs::load_certs_from_paths(None, Some(dir)).certs);
    }
    all
}

fn store(certs: Vec<CertificateDer<'static>>, what: &str) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(Error::InvalidArgument(format!("no usable CA certificate in {what}")));
    }
    Ok(roots)
}

/// The client certificate chain and its key, from PEM files.
fn client_identity(chain: &Path, key: Option<&Path>) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let unreadable = |path: &Path, e: &dyn std::fmt::Display| {
        Error::InvalidArgument(format!("cannot read the client certificate file {}: {e}", path.display()))
    };
    let certs = CertificateDer::pem_file_iter(chain)
        .map_err(|e| unreadable(chain, &e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| unreadable(chain, &e))?;
    if certs.is_empty() {
        return Err(Error::InvalidArgument(format!("no certificate in {}", chain.display())));
    }
    let key_path = key.unwrap_or(chain);
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| unreadable(key_path, &e))?;
    Ok((certs, key))
}

/// `verify=False`: accepts any certificate, but still checks that the server owns the key it
/// presents (handshake signatures), so the connection is at least encrypted to someone.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The rustls error somewhere in an error chain (io errors hide theirs from `source()`).
fn find_rustls<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(inner) = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            if let Some(found) = find_rustls(inner) {
                return Some(found);
            }
        }
        current = e.source();
    }
    None
}

/// A clear message for a TLS failure in `error`'s chain, or `None` if it holds none.
///
/// Certificate problems say so, name the host and point at `verify=`/`SSL_CERT_FILE`
/// (or `cert=` when the agent refused our client certificate).
pub fn failure(error: &(dyn std::error::Error + 'static), host: &str) -> Option<String> {
    let tls = find_rustls(error)?;
    let message = match tls {
        rustls::Error::InvalidCertificate(problem) => format!(
            "certificate problem with {host}: {}; if the agent uses a private CA, pass \
             verify='/path/to/ca.pem' or set SSL_CERT_FILE",
            rustls::Error::InvalidCertificate(problem.clone())
        ),
        rustls::Error::AlertReceived(
            alert @ (AlertDescription::BadCertificate
            | AlertDescription::CertificateRequired
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied),
        ) => format!(
            "certificate problem: {host} refused our TLS client certificate ({alert:?}); pass \
             cert=('client.pem', 'key.pem') with a certificate the agent accepts"
        ),
        // The first bytes back were no TLS record: a plain-HTTP server's `HTTP/1.1 400` to our
        // ClientHello, most likely.
        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => format!(
            "{host} answered the TLS handshake with something that is not TLS, most likely plain HTTP: \
             if the agent serves http://, use an http:// base_url (https:// needs a TLS port)"
        ),
        other => format!("TLS with {host} failed: {other}"),
    };
    Some(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_name_the_host_and_the_remedy() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let text = failure(&io, "agent.example").expect("a TLS failure");
        assert!(text.starts_with("certificate problem with agent.example"), "{text}");
        assert!(text.contains("verify=") && text.contains("SSL_CERT_FILE"), "{text}");
        assert!(failure(&std::io::Error::other("plain"), "h").is_none());
        let plain = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        );
        let text = failure(&plain, "agent.example").expect("a TLS failure");
        assert!(text.contains("most likely plain HTTP") && text.contains("use an http:// base_url"), "{text}");
    }

    #[test]
    fn a_missing_bundle_is_a_clear_argument_error() {
        let options = TlsOptions { verify: Verify::Bundle("/nonexistent/ca.pem".into()), ..Default::default() };
        let e = client_config(&options).expect_err("no such file");
        assert_eq!(e.status_code(), 400);
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }
}
