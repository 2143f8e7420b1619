//! AMI over TLS (Asterisk's `manager.conf` `tlsenable = yes`, port 5039 by convention).
//!
//! The protocol inside is byte for byte the same as over TCP. What differs is trust: most
//! Asterisk installs use a self-signed certificate, which no public CA vouches for. So there
//! are three ways to trust the server:
//!
//! - [`TlsVerify::SystemRoots`]: the operating system's trust store (where a company CA is
//!   usually installed; `SSL_CERT_FILE` / `SSL_CERT_DIR` override it, as for OpenSSL);
//!   chain and host name verified.
//! - [`TlsVerify::CaFile`]: a PEM file with the CA (or the self-signed certificate itself);
//!   the certificate chain and the host name are verified as for any TLS server.
//! - [`TlsVerify::AcceptAny`]: any certificate is accepted (the handshake signature is still
//!   checked, so the link is encrypted, but a man in the middle cannot be ruled out). This is
//!   what Asterisk's usual setup needs when no CA file is at hand.
//!
//! rustls with the `ring` provider only, so no C toolchain is needed to build.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::path::PathBuf;
use std::sync::Arc;

/// How to trust the server's certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsVerify {
    /// Verify against the operating system's CA certificates.
    SystemRoots,
    /// Accept any certificate (self-signed included). Encrypted, not authenticated.
    AcceptAny,
    /// Verify against the CA certificates in this PEM file.
    CaFile(PathBuf),
}

/// TLS settings of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsOptions {
    /// How the server's certificate is trusted.
    pub verify: TlsVerify,
    /// The name the certificate must carry, if not the host we connect to.
    pub server_name: Option<String>,
}

impl TlsOptions {
    /// Accept Asterisk's self-signed certificate.
    pub fn accept_any() -> TlsOptions {
        TlsOptions {
            verify: TlsVerify::AcceptAny,
            server_name: None,
        }
    }

    /// Verify the server against the operating system's CA certificates.
    pub fn system_roots() -> TlsOptions {
        TlsOptions {
            verify: TlsVerify::SystemRoots,
            server_name: None,
        }
    }

    /// Verify the server against a CA (or its own certificate) in a PEM file.
    pub fn ca_file(path: impl Into<PathBuf>) -> TlsOptions {
        TlsOptions {
            verify: TlsVerify::CaFile(path.into()),
            server_name: None,
        }
    }

    /// The rustls connector and the name to present, for a connection to `host`.
    /// Errors are one line saying what to fix.
    pub(crate) fn connector(
        &self,
        host: &str,
    ) -> Result<(tokio_rustls::TlsConnector, ServerName<'static>), String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
        let config = match &self.verify {
            TlsVerify::AcceptAny => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
                .with_no_client_auth(),
            TlsVerify::SystemRoots => builder
                .with_root_certificates(system_roots()?)
                .with_no_client_auth(),
            TlsVerify::CaFile(path) => {
                let mut roots = rustls::RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
                for cert in certs {
                    let cert = cert
                        .map_err(|e| format!("CA file {} is not valid PEM: {e}", path.display()))?;
                    roots.add(cert).map_err(|e| {
                        format!(
                            "CA file {} holds an unusable certificate: {e}",
                            path.display()
                        )
                    })?;
                }
                if roots.is_empty() {
                    return Err(format!(
                        "CA file {} holds no certificate (expected PEM \"BEGIN CERTIFICATE\")",
                        path.display()
                    ));
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
        };
        let name = self.server_name.as_deref().unwrap_or(host);
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(name.to_string())
            .map_err(|e| format!("{name:?} is not a valid TLS server name: {e}"))?;
        Ok((
            tokio_rustls::TlsConnector::from(Arc::new(config)),
            server_name,
        ))
    }
}

/// The operating system's CA certificates. Unreadable ones are skipped (a trust store often
/// holds a few that rustls cannot use); none at all is an error that says what to do.
fn system_roots() -> Result<rustls::RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _unusable) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = match found.errors.first() {
            Some(e) => format!(" ({e})"),
            None => String::new(),
        };
        return Err(format!(
            "no usable CA certificate in the system trust store{why}: install the CA there, \
             point SSL_CERT_FILE at a PEM bundle, or give a CA file"
        ));
    }
    Ok(roots)
}

/// Trusts any certificate but still checks that the server holds its private key, so the
/// session keys are not negotiated with someone merely replaying a certificate.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
