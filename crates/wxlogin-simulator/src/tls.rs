//! HTTPS with a certificate made at start-up, so clients exercise their real TLS path.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::SimulatorError;

/// The names the server certificate is valid for: every way to say "this machine".
const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// A server certificate and key, ready to serve.
#[derive(Clone)]
pub struct TlsIdentity {
    config: Arc<ServerConfig>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsIdentity { .. }")
    }
}

impl TlsIdentity {
    /// Makes a fresh CA and a server certificate it signs for `localhost`, `127.0.0.1` and
    /// `::1`. Returns the identity and the CA certificate as PEM, for clients to trust.
    ///
    /// The CA's private key is dropped before returning: nobody, this process included, can
    /// sign anything else with it, so trusting the PEM trusts exactly this one server.
    /// Validity uses rcgen's fixed 1975–4096 window rather than the clock, because peers check
    /// it against their own wall clock, which a test's advanced clock must not affect.
    pub fn generate() -> Result<(Self, String), SimulatorError> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "wxlogin simulator CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(SERVER_NAMES.map(String::from).to_vec())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "wxlogin simulator");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = params.signed_by(&server_key, &issuer)?;

        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(vec![server_cert.der().clone()], key)?;
        // The HTTP stack speaks HTTP/1.1 only; say so, so HTTP/2-capable clients do not try.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok((
            Self {
                config: Arc::new(config),
            },
            ca_cert.pem(),
        ))
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(&self.config))
    }
}
