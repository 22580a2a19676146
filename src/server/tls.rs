//! HTTPS for the HTTP API (`http_api { https { } }`, SRS's 1990) and the
//! HTTP server (`http_server { https { } }`, 8088): the certificate chain and
//! key are read once at start-up into a rustls server configuration shared by
//! every shard; each connection's TLS runs on its own shard (futures-rustls
//! over the glommio socket) in front of the same sans-IO HTTP core as plain
//! HTTP.

use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite};
use futures_rustls::pki_types::pem::PemObject;
use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer};
use futures_rustls::rustls::{self, ServerConfig};
use futures_rustls::TlsAcceptor;
use shards::glommio::net::TcpStream;

use crate::config::{Config, HttpsConfig};

/// How long a client may take to finish the TLS handshake, in total from
/// the accept (not per read: a byte a second must not hold the connection).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an `https { }` section cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The `cert` file is missing, unreadable or holds no PEM certificate.
    #[error("{section}.https: cannot read certificate file {path:?}: {reason}")]
    Cert {
        /// `http_api` or `http_server`.
        section: &'static str,
        /// The `cert` directive's value.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The `key` file is missing, unreadable or holds no PEM private key.
    #[error("{section}.https: cannot read private key file {path:?}: {reason}")]
    Key {
        /// `http_api` or `http_server`.
        section: &'static str,
        /// The `key` directive's value.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the pair (e.g. the key does not match the certificate).
    #[error("{section}.https: certificate {cert:?} and key {key:?} are not usable: {reason}")]
    Pair {
        /// `http_api` or `http_server`.
        section: &'static str,
        /// The `cert` directive's value.
        cert: String,
        /// The `key` directive's value.
        key: String,
        /// rustls's reason.
        reason: String,
    },
}

/// Reads `https.cert` (a PEM chain, leaf first) and `https.key` (PEM PKCS#8,
/// PKCS#1 or SEC1) into an acceptor. `section` names the config block in
/// errors.
pub fn acceptor(section: &'static str, https: &HttpsConfig) -> Result<TlsAcceptor, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&https.cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| TlsError::Cert {
            section,
            path: https.cert.clone(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Cert {
            section,
            path: https.cert.clone(),
            reason: "no certificate in it".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(&https.key).map_err(|e| TlsError::Key {
        section,
        path: https.key.clone(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| TlsError::Pair {
            section,
            cert: https.cert.clone(),
            key: https.key.clone(),
            reason: e.to_string(),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The acceptors of `http_api { https { } }` and `http_server { https { } }`,
/// each `None` unless both the section and its `https` are enabled.
pub type Acceptors = (Option<TlsAcceptor>, Option<TlsAcceptor>);

/// Reads the certificates of every enabled `https { }` section (at start-up,
/// and for `-t`).
pub fn acceptors(config: &Config) -> Result<Acceptors, TlsError> {
    let one = |section, https: &HttpsConfig, on: bool| {
        (on && https.enabled)
            .then(|| acceptor(section, https))
            .transpose()
    };
    Ok((
        one("http_api", &config.http_api.https, config.http_api.enabled)?,
        one(
            "http_server",
            &config.http_server.https,
            config.http_server.enabled,
        )?,
    ))
}

/// A byte stream a connection on a TCP listener runs on: plain TCP, TLS
/// over TCP, either with bytes already read put back in front
/// ([`crate::server::port_mux::Prefixed`]).
pub trait HttpStream: AsyncRead + AsyncWrite + Unpin {
    /// The TCP socket underneath.
    fn socket(&self) -> &TcpStream;

    /// Bounds the next reads (`None`: wait forever), as
    /// [`TcpStream::set_read_timeout`].
    fn set_read_timeout(&self, limit: Option<Duration>) -> std::io::Result<()> {
        self.socket().set_read_timeout(limit).map_err(Into::into)
    }

    /// The client's address.
    fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.socket().peer_addr().ok().map(shards::canonical)
    }
}

impl HttpStream for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

impl<S: HttpStream> HttpStream for futures_rustls::server::TlsStream<S> {
    fn socket(&self) -> &TcpStream {
        self.get_ref().0.socket()
    }
}
