//! HTTPS for `dataalm serve`: a certificate chain and its private key, both PEM files,
//! made into a rustls server configuration (aws-lc-rs, TLS 1.2 and 1.3).
//!
//! Everything is checked before the server listens, so a wrong file is a clear refusal
//! at start and never a handshake failure that only clients see. Tests build their own
//! HTTPS servers through [`server_config`] too.

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    // The cause is in the message, not a `source`, so a printed error chain says it once.
    #[error("cannot read the TLS certificate {}: {error}", path.display())]
    Certificate { path: PathBuf, error: pem::Error },
    #[error(
        "the TLS certificate file {} holds no certificate (PEM `BEGIN CERTIFICATE` blocks expected)",
        .0.display()
    )]
    NoCertificate(PathBuf),
    // The PEM parser's messages say what is wrong with the file, never its content.
    #[error("cannot read the TLS private key {}: {error}", path.display())]
    Key { path: PathBuf, error: pem::Error },
    #[error(
        "the TLS private key {} does not belong to the certificate {} (their public keys differ)",
        key.display(),
        certificate.display()
    )]
    Mismatch { certificate: PathBuf, key: PathBuf },
    #[error(
        "cannot serve TLS with the certificate {} and the key {}: {error}",
        certificate.display(),
        key.display()
    )]
    Unusable {
        certificate: PathBuf,
        key: PathBuf,
        error: rustls::Error,
    },
}

/// The server configuration for the certificate chain in `certificate` (server
/// certificate first) and the private key in `key` (PKCS#8, PKCS#1 or SEC1).
pub fn server_config(
    certificate: &Path,
    key: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = read_chain(certificate)?;
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|error| TlsError::Key {
        path: key.to_owned(),
        error,
    })?;
    let unusable = |error| TlsError::Unusable {
        certificate: certificate.to_owned(),
        key: key.to_owned(),
        error,
    };
    // The provider is named rather than taken from the process default, which is
    // ambiguous (and a panic) when a dependency enables a second one.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(unusable)?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|error| match error {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                TlsError::Mismatch {
                    certificate: certificate.to_owned(),
                    key: key.to_owned(),
                }
            }
            error => unusable(error),
        })?;
    Ok(Arc::new(config))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|error| TlsError::Certificate {
            path: path.to_owned(),
            error,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(chain)
}
