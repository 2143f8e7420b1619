//! AMI over TLS (Asterisk's `manager.conf` `tlsenable = yes`, port 5039 by convention).
//!
//! The protocol inside is byte for byte the same as over TCP. What differs is trust: most
//! Asterisk installs use a self-signed certificate, which no public CA vouches for. So there
//! are three ways to trust the server:
//!
//! - [`TlsVerify::SystemRoots`]: the operating system's trust store (where a company CA is
//!   usually installed; `SSL_CERT_FILE` / `SSL_CERT_DIR` override it, as for OpenSSL);
//!   chain and host name verified.
//! - [`TlsVerify::CaFile`]: a PEM file with the CA; the certificate chain and the host name
//!   are verified as for any TLS server. A certificate in the file that the server presents
//!   as its own is trusted as a pin (below): that is the self-signed certificate an admin
//!   made with `openssl req -x509`, which carries `CA:TRUE` and which the WebPKI rules
//!   therefore refuse as a server's certificate (`CaUsedAsEndEntity`).
//! - [`TlsVerify::Pin`]: the SHA-256 of the server's certificate, as `openssl x509 -noout
//!   -fingerprint -sha256` prints it. That certificate and no other is trusted, whatever
//!   its issuer, name or dates: the admin vouched for these exact bytes.
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
    /// Trust exactly the certificate with this SHA-256 fingerprint.
    Pin(CertPin),
}

/// The SHA-256 fingerprint of a certificate's DER bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertPin(pub [u8; 32]);

impl CertPin {
    /// The fingerprint of `der`.
    pub fn of(der: &[u8]) -> CertPin {
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let mut pin = [0u8; 32];
        pin.copy_from_slice(digest.as_ref());
        CertPin(pin)
    }
}

impl std::str::FromStr for CertPin {
    type Err = String;

    /// `AB:CD:…` (as `openssl x509 -fingerprint -sha256` prints it, with or without its
    /// `sha256 Fingerprint=` prefix), or 64 hex digits; any case.
    fn from_str(s: &str) -> Result<CertPin, String> {
        let s = s.trim();
        let s = s.rsplit_once('=').map_or(s, |(_, hex)| hex);
        let hex: Vec<u8> = s.bytes().filter(|b| *b != b':').collect();
        let digit = |b: u8| (b as char).to_digit(16);
        if hex.len() != 64 || !hex.iter().all(|b| digit(*b).is_some()) {
            return Err(
                "expected a SHA-256 fingerprint: 32 bytes in hex, as `openssl x509 -noout \
                 -fingerprint -sha256 -in cert.pem` prints it (AB:CD:…)"
                    .into(),
            );
        }
        let mut pin = [0u8; 32];
        for (i, pair) in hex.chunks(2).enumerate() {
            pin[i] = (digit(pair[0]).unwrap_or(0) * 16 + digit(pair[1]).unwrap_or(0)) as u8;
        }
        Ok(CertPin(pin))
    }
}

impl std::fmt::Display for CertPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for CertPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CertPin({self})")
    }
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

    /// Trust exactly the server certificate with this fingerprint.
    pub fn pin(pin: CertPin) -> TlsOptions {
        TlsOptions {
            verify: TlsVerify::Pin(pin),
            server_name: None,
        }
    }

    /// Builds what a connection to `host` would use (reads and parses a CA file, loads the
    /// system roots) without connecting, so a reload can refuse TLS settings that could
    /// never work before it stops the session running on the old ones.
    pub fn check(&self, host: &str) -> Result<(), String> {
        self.connector(host).map(|_| ())
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
                .with_custom_certificate_verifier(Arc::new(Pinned {
                    pins: None,
                    chain: None,
                    provider,
                }))
                .with_no_client_auth(),
            TlsVerify::Pin(pin) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinned {
                    pins: Some(vec![*pin]),
                    chain: None,
                    provider,
                }))
                .with_no_client_auth(),
            TlsVerify::SystemRoots => builder
                .with_root_certificates(system_roots()?)
                .with_no_client_auth(),
            TlsVerify::CaFile(path) => {
                let mut roots = rustls::RootCertStore::empty();
                let mut pins = Vec::new();
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
                for cert in certs {
                    let cert = cert
                        .map_err(|e| format!("CA file {} is not valid PEM: {e}", path.display()))?;
                    pins.push(CertPin::of(&cert));
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
                let chain = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider.clone(),
                )
                .build()
                .map_err(|e| format!("CA file {}: {e}", path.display()))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Pinned {
                        pins: Some(pins),
                        chain: Some(chain),
                        provider,
                    }))
                    .with_no_client_auth()
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

/// Trusts a server certificate whose fingerprint is pinned; else, with a `chain`, what the
/// WebPKI rules accept; with neither pins nor chain, any certificate. In every case the
/// handshake signature is checked with the provider, so the server must hold the
/// certificate's private key: a replayed certificate does not pass.
#[derive(Debug)]
struct Pinned {
    /// `None`: any certificate (`TlsVerify::AcceptAny`).
    pins: Option<Vec<CertPin>>,
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(pins) = &self.pins else {
            return Ok(ServerCertVerified::assertion());
        };
        let presented = CertPin::of(end_entity);
        if pins.contains(&presented) {
            return Ok(ServerCertVerified::assertion());
        }
        match &self.chain {
            Some(chain) => {
                chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(PinMismatch(
                    presented,
                )))),
            )),
        }
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

/// The server presented a certificate other than the pinned one.
struct PinMismatch(CertPin);

// rustls shows a verifier's own error with `Debug`: make that the sentence a person reads.
impl std::fmt::Debug for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the server's certificate is not the pinned one (it presented SHA-256 {})",
            self.0
        )
    }
}

impl std::error::Error for PinMismatch {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_reads_as_openssl_prints_it() {
        let pin = CertPin::of(b"certificate");
        let shown = pin.to_string();
        assert_eq!(shown.len(), 32 * 3 - 1);
        assert_eq!(shown.parse::<CertPin>(), Ok(pin));
        assert_eq!(shown.to_lowercase().parse::<CertPin>(), Ok(pin));
        assert_eq!(shown.replace(':', "").parse::<CertPin>(), Ok(pin));
        assert_eq!(
            format!("sha256 Fingerprint={shown}").parse::<CertPin>(),
            Ok(pin)
        );
        for bad in ["", "AB:CD", &shown[3..], &shown.replace('A', "G")] {
            if bad != shown {
                assert!(bad.parse::<CertPin>().is_err(), "{bad:?}");
            }
        }
    }
}
