//! TLS to PostgreSQL, with libpq's URL parameters and their meaning.
//!
//! `sslmode` is `disable`, `allow`, `prefer` (the default), `require`, `verify-ca` or
//! `verify-full`; `sslrootcert`, `sslcert` and `sslkey` name PEM files. As in libpq:
//! `require` (and `allow`, `prefer`) do not check the certificate, unless a root
//! certificate is there (given, or `~/.postgresql/root.crt`), in which case they check
//! its chain as `verify-ca` does; `verify-ca` checks the chain only, `verify-full` also
//! the host name; `prefer` tries TLS and falls back to plain when the server does not
//! offer it; `allow` tries plain first, then TLS.
//!
//! tokio-postgres' own URL parser refuses the values and keys it does not know, so
//! [`TlsSettings::take_from_url`] takes these parameters out before it sees the URL.
//! The same settings go to pg_dump and pg_restore through their environment
//! ([`TlsSettings::libpq_env`]). TLS itself is rustls (aws-lc-rs).

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// The URL parameters read here, never passed to tokio-postgres.
const KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Result<SslMode, String> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                ));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// The modes tokio-postgres is asked for, in the order they are tried.
    pub fn attempts(self) -> &'static [tokio_postgres::config::SslMode] {
        use tokio_postgres::config::SslMode as Client;
        match self {
            SslMode::Disable => &[Client::Disable],
            SslMode::Allow => &[Client::Disable, Client::Require],
            SslMode::Prefer => &[Client::Prefer],
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => &[Client::Require],
        }
    }
}

/// The TLS parameters of one location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: SslMode,
    pub root_cert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl TlsSettings {
    /// Splits `url` into the URL without the TLS parameters (for tokio-postgres) and
    /// the settings. Missing parameters come from `PGSSLMODE`, `PGSSLROOTCERT`,
    /// `PGSSLCERT` and `PGSSLKEY`, as for libpq's tools; a missing root certificate
    /// from `~/.postgresql/root.crt` when that file exists.
    pub fn take_from_url(url: &str) -> Result<(String, TlsSettings), String> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let mut found: [Option<String>; 4] = Default::default();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match KEYS.iter().position(|known| *known == decode(key)) {
                Some(i) => found[i] = Some(decode(value)),
                None => kept.push(pair),
            }
        }
        let [mode, root_cert, cert, key] =
            found.map(|value| value.filter(|value| !value.is_empty()));
        let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mode = mode.or_else(|| from_env("PGSSLMODE"));
        let settings = TlsSettings {
            mode: mode
                .as_deref()
                .map_or(Ok(SslMode::Prefer), SslMode::parse)?,
            root_cert: root_cert
                .or_else(|| from_env("PGSSLROOTCERT"))
                .map(PathBuf::from)
                .or_else(default_root_cert),
            cert: cert.or_else(|| from_env("PGSSLCERT")).map(PathBuf::from),
            key: key.or_else(|| from_env("PGSSLKEY")).map(PathBuf::from),
        };
        settings.check()?;
        let stripped = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok((stripped, settings))
    }

    fn check(&self) -> Result<(), String> {
        let verifies = matches!(self.mode, SslMode::VerifyCa | SslMode::VerifyFull);
        if verifies && self.root_cert.is_none() {
            return Err(format!(
                "sslmode={} needs sslrootcert=FILE, the certificate of the authority that \
                 signed the server's certificate",
                self.mode.as_str()
            ));
        }
        if self.cert.is_some() != self.key.is_some() {
            return Err("sslcert and sslkey go together: give both or neither".into());
        }
        Ok(())
    }

    /// Variables for a libpq child process (pg_dump, pg_restore) that mean the same.
    pub fn libpq_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("PGSSLMODE", self.mode.as_str().to_owned())];
        let files = [
            ("PGSSLROOTCERT", &self.root_cert),
            ("PGSSLCERT", &self.cert),
            ("PGSSLKEY", &self.key),
        ];
        for (name, path) in files {
            if let Some(path) = path {
                env.push((name, path.display().to_string()));
            }
        }
        env
    }

    /// The connector for these settings: reads the certificate files and builds
    /// rustls' configuration.
    pub fn connector(&self) -> Result<RustlsConnect, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match &self.root_cert {
            None => Arc::new(NoVerification(provider.clone())),
            Some(path) => {
                let chain = webpki_verifier(path, &provider)?;
                if self.mode == SslMode::VerifyFull {
                    chain
                } else {
                    Arc::new(ChainOnly(chain))
                }
            }
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(read_certs(cert)?, read_key(key)?)
                .map_err(|e| {
                    format!(
                        "sslcert {} and sslkey {}: {e}",
                        cert.display(),
                        key.display()
                    )
                })?,
            _ => builder.with_no_client_auth(),
        };
        Ok(RustlsConnect {
            config: Arc::new(config),
            settings: Arc::new(self.clone()),
        })
    }
}

fn default_root_cert() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os("HOME")?).join(".postgresql/root.crt");
    path.is_file().then_some(path)
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn webpki_verifier(
    path: &Path,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, String> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path)? {
        roots
            .add(cert)
            .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("sslrootcert {}: {e}", path.display()))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| format!("cannot read a private key from {}: {e}", path.display()))
}

/// `require` without a root certificate: encrypted, but any certificate is taken (as
/// libpq does). Handshake signatures are still checked, so the server holds the key.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to the root certificate; the name does not count.
/// webpki checks the chain before the name, so a name error means the chain was good.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The server's certificate did not pass the checks `sslmode` asks for.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CertificateRefused {
    pub message: String,
}

/// Makes TLS connections for tokio-postgres (and the blocking `postgres` client).
#[derive(Clone)]
pub struct RustlsConnect {
    config: Arc<ClientConfig>,
    settings: Arc<TlsSettings>,
}

impl<S> MakeTlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsHandshake;
    type Error = std::convert::Infallible;

    fn make_tls_connect(&mut self, host: &str) -> Result<RustlsHandshake, Self::Error> {
        // A Unix socket has no host name; tokio-postgres only asks for TLS there when
        // the mode demands it, and then the handshake reports the problem.
        let server_name = ServerName::try_from(host.to_owned())
            .map_err(|e| format!("{host:?} is not a host name TLS can check: {e}"));
        Ok(RustlsHandshake {
            connector: tokio_rustls::TlsConnector::from(self.config.clone()),
            server_name,
            host: host.to_owned(),
            settings: self.settings.clone(),
        })
    }
}

/// One TLS handshake, to one host.
pub struct RustlsHandshake {
    connector: tokio_rustls::TlsConnector,
    server_name: Result<ServerName<'static>, String>,
    host: String,
    settings: Arc<TlsSettings>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S> TlsConnect<S> for RustlsHandshake
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream<S>, BoxError>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let server_name = self.server_name?;
            match self.connector.connect(server_name, stream).await {
                Ok(stream) => Ok(RustlsStream(Box::new(stream))),
                Err(e) => Err(explain(e, &self.host, &self.settings)),
            }
        })
    }
}

/// A handshake error in words about the certificate, when the certificate was why.
fn explain(e: std::io::Error, host: &str, settings: &TlsSettings) -> BoxError {
    let cause = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let Some(rustls::Error::InvalidCertificate(problem)) = cause else {
        return Box::new(e);
    };
    let root = settings
        .root_cert
        .as_deref()
        .map_or_else(String::new, |path| path.display().to_string());
    let what = match problem {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            format!("the server's certificate is not signed by sslrootcert {root}")
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!(
                "the server's certificate is not valid for host name {host} (sslmode=verify-full \
                 checks the name; connect by a name the certificate lists)"
            )
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the server's certificate has expired".to_owned()
        }
        _ => "the server's certificate was refused".to_owned(),
    };
    Box::new(CertificateRefused {
        message: format!("{what}: {problem}"),
    })
}

/// A TLS connection to the server.
pub struct RustlsStream<S>(Box<tokio_rustls::client::TlsStream<S>>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    /// No channel binding: SCRAM works without it, as with libpq's default `prefer`.
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_leave_the_url_and_others_stay() {
        let url =
            "postgres://u:p@h/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&options=-c%20x";
        let (stripped, settings) = TlsSettings::take_from_url(url).expect("parses");
        assert_eq!(stripped, "postgres://u:p@h/db?options=-c%20x");
        assert_eq!(settings.mode, SslMode::VerifyFull);
        assert_eq!(
            settings.root_cert.as_deref(),
            Some(Path::new("/tmp/ca.pem"))
        );
        let env = settings.libpq_env();
        assert!(env.contains(&("PGSSLMODE", "verify-full".to_owned())));
        assert!(env.contains(&("PGSSLROOTCERT", "/tmp/ca.pem".to_owned())));
    }

    #[test]
    fn bad_tls_parameters_are_refused_in_words() {
        let error = |url| TlsSettings::take_from_url(url).err().unwrap_or_default();
        assert!(error("postgres://h/db?sslmode=always").contains("not one of disable"));
        assert!(
            error("postgres://h/db?sslmode=verify-ca&sslrootcert=").contains("needs sslrootcert")
        );
        assert!(error("postgres://h/db?sslmode=require&sslcert=/c").contains("go together"));
    }
}
