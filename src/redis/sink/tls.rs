//! TLS (rustls with the ring provider: no libssl in the process, whose
//! mere loading cost every session of the host).

use std::io::{Read, Write};

/// PEM material for TLS connections.
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    pub ca: Option<Vec<u8>>,
    pub cert: Option<Vec<u8>>,
    pub key: Option<Vec<u8>>,
    /// The system's CA certificates (DER), for a TLS connection without
    /// `ssl-ca:`; read when the session starts, before any chroot.
    pub system_roots: Vec<Vec<u8>>,
}

/// The TLS handshake over `sock`, a socket with a deadline (the
/// connection's `TimedSock`, which checks it before every read and write,
/// so a peer trickling bytes cannot stretch the handshake).
pub(super) fn handshake<S: Read + Write>(
    host: &str,
    files: &TlsFiles,
    sock: S,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, S>, String> {
    let config = config(files)?;
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("TLS server name '{host}': {e}"))?;
    let client = rustls::ClientConnection::new(std::sync::Arc::new(config), name)
        .map_err(|e| e.to_string())?;
    let mut stream = rustls::StreamOwned::new(client, sock);
    // The handshake now, so that its errors (and timeouts) show here.
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                    "TLS handshake timed out".to_string()
                }
                _ => handshake_error(&e.to_string()),
            })?;
    }
    Ok(stream)
}

/// The rustls client configuration for `f`: the CA certificates of
/// `ssl-ca` (else the system's), and the client certificate if given.
fn config(f: &TlsFiles) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    match &f.ca {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("ssl-ca: {e}"))?;
                roots.add(cert).map_err(|e| format!("ssl-ca: {e}"))?;
            }
        }
        None => {
            for der in &f.system_roots {
                let _ = roots.add(CertificateDer::from(der.clone()));
            }
        }
    }
    if roots.is_empty() {
        return Err("no CA certificate to verify the server with".into());
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    match (&f.cert, &f.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("ssl-cert: {e}"))?;
            if chain.is_empty() {
                return Err("ssl-cert: no certificate found".into());
            }
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("ssl-key: {e}"))?;
            let certified = client_cert(chain, key, &provider)?;
            Ok(builder.with_client_cert_resolver(std::sync::Arc::new(OwnCert(certified))))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// Our own certificate and key.  The server verifies the certificate, not
/// we: rustls's own check (that the key matches the certificate) parses it
/// with webpki, which knows only X.509 version 3, and refused a version 1
/// certificate (made by `openssl x509 -req` without extensions) that
/// redis-cli and Redis accept, blaming the peer ("invalid peer
/// certificate: UnsupportedCertVersion").  The check is kept where webpki
/// can make it; a certificate it cannot parse is handed to the server
/// as it is.
fn client_cert(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<std::sync::Arc<rustls::sign::CertifiedKey>, String> {
    use rustls::sign::CertifiedKey;
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("ssl-key: {e}"))?;
    let certified = CertifiedKey::new(chain, signer);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err("ssl-cert/ssl-key: the key does not belong to the certificate".into());
        }
        // Unknown (the key cannot tell its public half), or the certificate
        // is one webpki cannot parse (version 1): the server decides.
        Err(_) => {}
    }
    Ok(std::sync::Arc::new(certified))
}

/// Hands rustls our client certificate whatever the server asks for.
#[derive(Debug)]
struct OwnCert(std::sync::Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for OwnCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        sigschemes: &[rustls::SignatureScheme],
    ) -> Option<std::sync::Arc<rustls::sign::CertifiedKey>> {
        // None if the key cannot sign with any scheme the server offers:
        // the handshake goes on without a certificate and the server says
        // why it wants one.
        self.0.key.choose_scheme(sigschemes)?;
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A failed handshake's error, said plainly where rustls is vague.
fn handshake_error(e: &str) -> String {
    // webpki verifies X.509 version 3 certificates only.
    if e.contains("UnsupportedCertVersion") {
        return "Redis's certificate is X.509 version 1; only version 3 certificates can be \
                verified: reissue it with v3 extensions"
            .into();
    }
    format!("TLS handshake: {e}")
}
