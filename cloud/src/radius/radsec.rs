//! RadSec (RFC 6614): RADIUS over TLS on TCP (2083), the transport for a NAS far from the cloud
//! (RADIUS over UDP must not cross the Internet). One connection carries Access-Request,
//! Accounting-Request and Status-Server; packets follow each other on the stream, each framed
//! by its own length field.
//!
//! The client must present a certificate that chains to the configured client CA. Its NAS is
//! the `nas` row with that certificate's SHA-256 (`tls_fingerprint`), else the row of its source
//! address; anything else is closed after the handshake. As RFC 6614 §2.3 says, the RADIUS shared
//! secret over TLS is `radsec`. Requests then go through the same checks, reply cache, limits and
//! answers as over UDP ([`super::server`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hotspot_shared::radius::{HEADER, MAX_PACKET};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio_rustls::TlsAcceptor;

use super::server::{self, Admit, Port, Shared};

/// The shared secret of RADIUS over TLS (RFC 6614 §2.3).
pub const SECRET: &[u8] = b"radsec";
/// A TLS handshake must finish within this.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// A connection with no packet for this long is closed (NAS send Status-Server to keep theirs).
const IDLE: Duration = Duration::from_secs(300);
/// Most RadSec connections at once.
pub const MAX_CONNECTIONS: usize = 1024;

/// Where the server's certificate, key and the clients' CA are (PEM files).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    pub client_ca: std::path::PathBuf,
}

/// Why RadSec cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: rustls::pki_types::pem::Error,
    },
    #[error("{0} holds no certificate")]
    NoCertificate(String),
    #[error("TLS settings refused: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client CA refused: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// Builds the TLS side: our certificate chain and key, and client certificates required and
/// verified against the client CA. TLS 1.2 and 1.3.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let read_err = |p: &std::path::Path| {
        let path = p.display().to_string();
        move |source| TlsError::Read { path, source }
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(read_err(&files.cert))?
        .collect::<Result<_, _>>()
        .map_err(read_err(&files.cert))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(files.cert.display().to_string()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(read_err(&files.key))?;
    let mut roots = rustls::RootCertStore::empty();
    let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.client_ca)
        .map_err(read_err(&files.client_ca))?
        .collect::<Result<_, _>>()
        .map_err(read_err(&files.client_ca))?;
    if cas.is_empty() {
        return Err(TlsError::NoCertificate(
            files.client_ca.display().to_string(),
        ));
    }
    for ca in cas {
        roots.add(ca)?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots)).build()?;
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts RadSec connections on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let connections = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "RadSec accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let (acceptor, shared, stop) = (acceptor.clone(), shared.clone(), shutdown.clone());
        tokio::spawn(async move {
            if let Err(why) = connection(stream, peer, acceptor, shared, stop).await {
                tracing::info!(%peer, why, "RadSec connection closed");
            }
            drop(permit);
        });
    }
}

/// SHA-256 of a certificate, lower-case hex (what `nas.tls_fingerprint` holds).
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), &'static str> {
    let _ = stream.set_nodelay(true);
    let tls = tokio::time::timeout(HANDSHAKE, acceptor.accept(stream))
        .await
        .map_err(|_| "handshake timed out")?
        .map_err(|_| "handshake failed")?;
    let cert = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| fingerprint(c.as_ref()));
    let nas = cert
        .as_deref()
        .and_then(|f| shared.clients.by_certificate(f))
        .or_else(|| shared.clients.get(peer.ip()))
        .ok_or("no nas row for this certificate or address")?;
    tracing::debug!(%peer, nas = %nas.shortname, "RadSec client connected");
    let (mut reader, writer) = tokio::io::split(tls);
    let writer = Arc::new(Mutex::new(writer));
    let mut header = [0u8; 4];
    loop {
        tokio::select! {
            r = tokio::time::timeout(IDLE, reader.read_exact(&mut header)) => match r {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => return Ok(()),
                Err(_) => return Err("idle"),
            },
            _ = shutdown.changed() => return Ok(()),
        }
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        if !(HEADER..=MAX_PACKET).contains(&len) {
            // The stream cannot be resynchronised after a bad length.
            return Err("packet length out of range");
        }
        let mut raw = vec![0u8; len];
        raw[..4].copy_from_slice(&header);
        tokio::time::timeout(Duration::from_secs(30), reader.read_exact(&mut raw[4..]))
            .await
            .map_err(|_| "packet body timed out")?
            .map_err(|_| "connection lost")?;
        match server::admit_from(&shared, Port::Tls, raw, peer, nas.clone(), SECRET) {
            None => {}
            Some(Admit::Resend(bytes)) => {
                let mut w = writer.lock().await;
                w.write_all(&bytes).await.map_err(|_| "write failed")?;
            }
            Some(Admit::Work((key, bytes, permit, nas))) => {
                let (shared, writer) = (shared.clone(), writer.clone());
                tokio::spawn(async move {
                    let answer =
                        server::answer(&shared, Port::Tls, &bytes, peer, &nas, SECRET).await;
                    drop(permit);
                    let answer = answer.map(Arc::<[u8]>::from);
                    if let Some(a) = &answer {
                        let mut w = writer.lock().await;
                        let _ = w.write_all(a).await;
                        let _ = w.flush().await;
                    }
                    shared.cache.complete(key, answer);
                });
            }
        }
    }
}
