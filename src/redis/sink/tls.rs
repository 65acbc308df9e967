//! TLS (rustls with the ring provider: no libssl in the process, whose
//! mere loading cost every session of the host).

use super::TlsFiles;
use super::conn::TimedSock;

/// The TLS handshake over `sock`, before its deadline (checked before every
/// read and write, so a peer trickling bytes cannot stretch it).
pub(super) fn handshake(
    host: &str,
    files: &TlsFiles,
    sock: TimedSock,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TimedSock>, String> {
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
                _ => format!("TLS handshake: {e}"),
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
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    match (&f.cert, &f.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("ssl-cert: {e}"))?;
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("ssl-key: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("ssl-cert/ssl-key: {e}"))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}
