//! Certificates for clusters that speak TLS: an authority made by the test and server
//! certificates it signs, so tests can check verification against a CA they control.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

use crate::Error;

/// A certificate authority that exists only for the test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate and its key, both PEM, with the authority that signed them; the
/// server trusts client certificates from that authority too.
#[derive(Clone)]
pub struct ServerCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub ca_pem: String,
}

/// A client certificate for one user (its common name) and its key, both PEM.
pub struct ClientCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for ServerCert {
    /// Leaves the key out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCert").finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new authority whose certificate says `name`.
    pub fn new(name: &str) -> Result<TestCa, Error> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(cert_error)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().map_err(cert_error)?;
        let issuer = CertifiedIssuer::self_signed(params, key).map_err(cert_error)?;
        Ok(TestCa { issuer })
    }

    /// The authority's certificate, PEM: what a client passes as `sslrootcert`.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `names` (DNS names or IP addresses), signed by this authority.
    pub fn server_cert(&self, names: &[&str]) -> Result<ServerCert, Error> {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let (cert_pem, key_pem) = self.sign(names, "dataalm-pgtest server")?;
        Ok(ServerCert {
            cert_pem,
            key_pem,
            ca_pem: self.pem(),
        })
    }

    /// A client certificate for PostgreSQL user `user`, signed by this authority.
    pub fn client_cert(&self, user: &str) -> Result<ClientCert, Error> {
        let (cert_pem, key_pem) = self.sign(Vec::new(), user)?;
        Ok(ClientCert { cert_pem, key_pem })
    }

    fn sign(&self, names: Vec<String>, common_name: &str) -> Result<(String, String), Error> {
        let mut params = CertificateParams::new(names).map_err(cert_error)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let key = KeyPair::generate().map_err(cert_error)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(cert_error)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

fn cert_error(e: rcgen::Error) -> Error {
    Error::Certificate(e.to_string())
}
