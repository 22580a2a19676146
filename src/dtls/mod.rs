//! DTLS: the certificate, the handshake as client or server, fingerprint checks, SRTP key export (sans-IO).
//!
//! [`DtlsCert`] is made once per process. A [`DtlsTransport`] runs the DTLS
//! 1.2 handshake with ONE peer (an address that already passed ICE) on top
//! of an rtc-dtls `Endpoint`, checks the peer certificate against the offer's
//! `a=fingerprint` lines and exports the DTLS-SRTP keys.
//!
//! Run loop (the caller owns the socket and the clock):
//! 1. feed every DTLS datagram from the peer to [`DtlsTransport::handle_input`];
//! 2. drain [`DtlsTransport::poll_transmit`] and send each datagram to the peer;
//! 3. drain [`DtlsTransport::poll_event`] (`Connected` carries the [`SrtpKeys`]);
//! 4. sleep until [`DtlsTransport::poll_timeout`] or the next datagram; on the
//!    deadline call [`DtlsTransport::handle_timeout`], then go to 2.
//!
//! ```no_run
//! # use std::time::Instant;
//! # use shardsfu::dtls::*;
//! let cert = DtlsCert::generate()?;
//! let (local, peer) = ("127.0.0.1:8000".parse().unwrap(), "127.0.0.1:5000".parse().unwrap());
//! let fps = vec![("sha-256".to_string(), parse_fingerprint("AB:CD")?)];
//! let mut t = DtlsTransport::new(&cert, DtlsRole::Server, local, peer, fps, Instant::now())?;
//! # let datagram: &[u8] = &[];
//! t.handle_input(Instant::now(), datagram);
//! while let Some(_d) = t.poll_transmit() { /* socket.send_to(&_d, peer) */ }
//! while let Some(ev) = t.poll_event() {
//!     if let DtlsEvent::Connected { srtp } = ev { let _ = shardsfu::srtp::SrtpSession::new(&srtp); }
//! }
//! # Ok::<(), DtlsError>(())
//! ```

mod cert;
mod compat;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc_dtls::config::{
    ClientAuthType, ConfigBuilder, ExtendedMasterSecretType, VerifyPeerCertificateFn,
};
use rtc_dtls::endpoint::{Endpoint, EndpointEvent};
use rtc_dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use rtc_dtls::state::State;
use rtc_shared::TransportProtocol;

use crate::srtp::{SrtpKeys, SrtpProfile};

pub use cert::{fingerprint, format_fingerprint, parse_fingerprint, DtlsCert, FingerprintAlg};

/// Handshake retransmission interval. FFmpeg loses our first ClientHello; at
/// rtc-dtls's default 1 s the handshake took 1.06 s, at 200 ms ~0.26 s.
pub const FLIGHT_INTERVAL: Duration = Duration::from_millis(200);

/// RFC 5764 exporter label for DTLS-SRTP keys.
const SRTP_EXPORTER_LABEL: &str = "EXTRACTOR-dtls_srtp";

/// DTLS record header length (content type, version, epoch, sequence, length).
const RECORD_HEADER_LEN: usize = 13;

/// Which side of the DTLS handshake we take (SDP `a=setup`: `active` = client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtlsRole {
    /// We send the ClientHello (offer said `setup:passive`).
    Client,
    /// We wait for the peer's ClientHello (offer said `setup:actpass` or `active`).
    Server,
}

/// What a [`DtlsTransport`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DtlsEvent {
    /// The handshake completed and the peer certificate matched the offer.
    Connected {
        /// The keys for [`crate::srtp::SrtpSession::new`].
        srtp: SrtpKeys,
    },
    /// The peer sent close_notify (our reply is queued for `poll_transmit`).
    Closed,
    /// The handshake or the association failed; nothing more will happen.
    Failed(DtlsError),
}

/// Errors of the DTLS module.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DtlsError {
    /// Generating the certificate or setting up the crypto provider failed.
    #[error("DTLS certificate: {0}")]
    Certificate(String),
    /// rtc-dtls refused the handshake configuration.
    #[error("DTLS config: {0}")]
    Config(String),
    /// An SDP fingerprint value is not `XX:XX:...` hex.
    #[error("bad fingerprint value {0:?}")]
    BadFingerprint(String),
    /// The offer carried no fingerprint with a hash we check (sha-256/384/512).
    #[error("no usable a=fingerprint (sha-256/384/512) among {0:?}")]
    NoUsableFingerprint(Vec<String>),
    /// The peer certificate matched none of the offer's fingerprints.
    #[error("peer certificate fingerprint mismatch: sha-256 {sha256}")]
    FingerprintMismatch {
        /// The SHA-256 fingerprint of the certificate the peer presented.
        sha256: String,
    },
    /// The handshake completed without a peer certificate.
    #[error("peer presented no certificate")]
    NoPeerCertificate,
    /// The negotiated SRTP profile is none we support (or use_srtp was absent).
    #[error("no supported SRTP profile negotiated (got {0})")]
    NoSrtpProfile(String),
    /// Exporting the keying material failed.
    #[error("SRTP key export failed: {0}")]
    KeyExport(String),
    /// The handshake failed; the text is rtc-dtls's reason.
    #[error("DTLS handshake failed: {0}")]
    Handshake(String),
    /// The peer stopped answering: the flight retransmissions ran out.
    #[error("DTLS handshake timed out after retransmissions: {0}")]
    Timeout(String),
    /// The association failed after the handshake (a fatal alert).
    #[error("DTLS association failed: {0}")]
    Association(String),
}

/// Where the association stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtlsPhase {
    /// Handshake under way (or, as server, not yet started).
    Handshaking,
    /// Keys exported; media may flow.
    Connected,
    /// Closed by either side.
    Closed,
    /// Failed; see the `Failed` event.
    Failed,
}

/// Counters for one transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DtlsStats {
    /// Datagrams handed to `handle_input`.
    pub datagrams_in: u64,
    /// Datagrams dropped before rtc-dtls: bad record framing, or after close/failure.
    pub datagrams_ignored: u64,
    /// Datagrams produced for the peer.
    pub datagrams_out: u64,
    /// Application data records received (we run no data channel: dropped).
    pub app_data_dropped: u64,
    /// Non-fatal errors rtc-dtls reported after the handshake.
    pub errors_after_connect: u64,
}

/// The DTLS association with one peer (sans-IO).
pub struct DtlsTransport {
    endpoint: Endpoint,
    peer: SocketAddr,
    role: DtlsRole,
    phase: DtlsPhase,
    remote_fingerprints: Vec<(String, Vec<u8>)>,
    events: VecDeque<DtlsEvent>,
    stats: DtlsStats,
}

impl DtlsTransport {
    /// Sets up the association with `peer`. As [`DtlsRole::Client`] the
    /// ClientHello is queued at once (drain [`Self::poll_transmit`]).
    ///
    /// `remote_fingerprints` are the offer's `a=fingerprint` lines as
    /// (hash name, digest bytes); see [`parse_fingerprint`].
    pub fn new(
        cert: &DtlsCert,
        role: DtlsRole,
        local: SocketAddr,
        peer: SocketAddr,
        remote_fingerprints: Vec<(String, Vec<u8>)>,
        now: Instant,
    ) -> Result<Self, DtlsError> {
        if !remote_fingerprints
            .iter()
            .any(|(alg, _)| FingerprintAlg::from_name(alg).is_some())
        {
            return Err(DtlsError::NoUsableFingerprint(
                remote_fingerprints.into_iter().map(|(a, _)| a).collect(),
            ));
        }
        let expected = remote_fingerprints.clone();
        let verify: VerifyPeerCertificateFn = Arc::new(move |raw: &[Vec<u8>], _| {
            let Some(leaf) = raw.first() else {
                return Err(rtc_shared::error::Error::Other(
                    "no peer certificate".into(),
                ));
            };
            if cert::matches_any(leaf, &expected) {
                Ok(())
            } else {
                Err(rtc_shared::error::Error::Other(format!(
                    "fingerprint mismatch: sha-256 {}",
                    format_fingerprint(&fingerprint(FingerprintAlg::Sha256, leaf))
                )))
            }
        });
        let is_client = role == DtlsRole::Client;
        let config = ConfigBuilder::default()
            .with_crypto_provider(cert.provider.clone())
            .with_certificates(vec![cert.cert.clone()])
            .with_srtp_protection_profiles(vec![
                SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
                SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
            ])
            // aiortc (OpenSSL), Chromium (BoringSSL) and GnuTLS all send EMS (RFC 7627).
            .with_extended_master_secret(ExtendedMasterSecretType::Require)
            .with_client_auth(ClientAuthType::RequireAnyClientCert)
            // No CA chain in WebRTC: the fingerprint check below replaces it.
            .with_insecure_skip_verify(true)
            .with_verify_peer_certificate(Some(verify))
            .with_flight_interval(FLIGHT_INTERVAL)
            .build(is_client, Some(peer))
            .map_err(|e| DtlsError::Config(e.to_string()))?;
        let config = Arc::new(config);
        let mut t = Self {
            endpoint: Endpoint::new(
                local,
                TransportProtocol::UDP,
                (!is_client).then(|| config.clone()),
            ),
            peer,
            role,
            phase: DtlsPhase::Handshaking,
            remote_fingerprints,
            events: VecDeque::new(),
            stats: DtlsStats::default(),
        };
        if is_client {
            t.endpoint
                .connect(now, peer, config, None)
                .map_err(|e| DtlsError::Handshake(e.to_string()))?;
        }
        Ok(t)
    }

    /// Our role.
    pub fn role(&self) -> DtlsRole {
        self.role
    }

    /// The peer's address (all output goes there).
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Where the association stands.
    pub fn phase(&self) -> DtlsPhase {
        self.phase
    }

    /// The counters so far.
    pub fn stats(&self) -> DtlsStats {
        self.stats
    }

    /// Feeds one DTLS datagram (first byte 20..=63) received from the peer.
    pub fn handle_input(&mut self, now: Instant, datagram: &[u8]) {
        self.stats.datagrams_in += 1;
        if matches!(self.phase, DtlsPhase::Closed | DtlsPhase::Failed) || !well_framed(datagram) {
            // rtc-dtls would return an error for bad framing; RFC 6347 §4.1.2.7 says drop it.
            self.stats.datagrams_ignored += 1;
            return;
        }
        let result = self
            .endpoint
            .read(now, self.peer, None, BytesMut::from(datagram));
        match result {
            Ok(events) => {
                for ev in events {
                    match ev {
                        EndpointEvent::HandshakeComplete => self.on_handshake_complete(),
                        EndpointEvent::ApplicationData(_) => self.stats.app_data_dropped += 1,
                        EndpointEvent::PeerClosed => {
                            self.phase = DtlsPhase::Closed;
                            self.events.push_back(DtlsEvent::Closed);
                        }
                        _ => {}
                    }
                }
            }
            Err(e) => self.on_read_error(e),
        }
    }

    /// The next datagram to send to [`Self::peer`].
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        let m = self.endpoint.poll_transmit()?;
        self.stats.datagrams_out += 1;
        Some(m.message.freeze())
    }

    /// When [`Self::handle_timeout`] must be called next (flight retransmission).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            DtlsPhase::Handshaking | DtlsPhase::Connected => self.endpoint.poll_timeout(&self.peer),
            DtlsPhase::Closed | DtlsPhase::Failed => None,
        }
    }

    /// Fires a due retransmission; harmless to call early or repeatedly.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        if let Err(e) = self.endpoint.handle_timeout(self.peer, now) {
            self.fail(DtlsError::Timeout(e.to_string()));
        }
    }

    /// The next event, in order.
    pub fn poll_event(&mut self) -> Option<DtlsEvent> {
        self.events.pop_front()
    }

    /// Sends close_notify (drain [`Self::poll_transmit`]) and stops the association.
    /// No `Closed` event is emitted for our own close.
    pub fn close(&mut self, now: Instant) {
        if matches!(self.phase, DtlsPhase::Closed | DtlsPhase::Failed) {
            return;
        }
        self.endpoint.stop(now, self.peer);
        self.phase = DtlsPhase::Closed;
    }

    fn state(&self) -> Option<&State> {
        self.endpoint.get_connection_state(self.peer)
    }

    fn on_handshake_complete(&mut self) {
        match self.connected_keys() {
            Ok(srtp) => {
                self.phase = DtlsPhase::Connected;
                self.events.push_back(DtlsEvent::Connected { srtp });
            }
            Err(e) => self.fail(e),
        }
    }

    /// Checks the peer certificate once more (the callback only runs when a
    /// certificate arrives) and exports the SRTP keys.
    fn connected_keys(&self) -> Result<SrtpKeys, DtlsError> {
        let state = self
            .state()
            .ok_or_else(|| DtlsError::Handshake("association vanished at completion".into()))?;
        let leaf = state
            .peer_certificates
            .first()
            .ok_or(DtlsError::NoPeerCertificate)?;
        if !cert::matches_any(leaf, &self.remote_fingerprints) {
            return Err(DtlsError::FingerprintMismatch {
                sha256: format_fingerprint(&fingerprint(FingerprintAlg::Sha256, leaf)),
            });
        }
        let negotiated = state.srtp_protection_profile();
        let profile = SrtpProfile::from_code(negotiated as u16)
            .filter(|_| negotiated != SrtpProtectionProfile::Unsupported)
            .ok_or_else(|| DtlsError::NoSrtpProfile(format!("{negotiated:?}")))?;
        let km = state
            .export_keying_material(SRTP_EXPORTER_LABEL, &[], profile.keying_material_len())
            .map_err(|e| DtlsError::KeyExport(e.to_string()))?;
        Ok(SrtpKeys {
            profile,
            keying_material: km.as_ref().to_vec(),
            is_client: state.is_client(),
        })
    }

    fn on_read_error(&mut self, e: rtc_shared::error::Error) {
        if self.phase == DtlsPhase::Connected {
            // After the handshake, rtc-dtls drops forged/stale records silently; an
            // error here is a fatal alert sent or received.
            if matches!(e, rtc_shared::error::Error::ErrAlertFatalOrClose) {
                self.fail(DtlsError::Association(e.to_string()));
            } else {
                self.stats.errors_after_connect += 1;
            }
            return;
        }
        // During the handshake every error is fatal to it: name a bad certificate precisely.
        let mismatch = self
            .state()
            .and_then(|s| s.peer_certificates.first())
            .filter(|leaf| !cert::matches_any(leaf, &self.remote_fingerprints))
            .map(|leaf| format_fingerprint(&fingerprint(FingerprintAlg::Sha256, leaf)));
        let err = match mismatch {
            Some(sha256) => DtlsError::FingerprintMismatch { sha256 },
            None => DtlsError::Handshake(e.to_string()),
        };
        self.fail(err);
    }

    fn fail(&mut self, e: DtlsError) {
        if self.phase != DtlsPhase::Failed {
            self.phase = DtlsPhase::Failed;
            self.events.push_back(DtlsEvent::Failed(e));
        }
    }
}

impl std::fmt::Debug for DtlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsTransport")
            .field("peer", &self.peer)
            .field("role", &self.role)
            .field("phase", &self.phase)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Whether `d` is a whole number of DTLS records (the framing rtc-dtls insists
/// on) of known content types and DTLS versions. rtc-dtls answers an unknown
/// content type with a fatal alert, which would let one stray datagram end the
/// handshake; RFC 6347 §4.1.2.7 says to drop invalid records silently.
fn well_framed(d: &[u8]) -> bool {
    let mut off = 0;
    while off < d.len() {
        let Some(h) = d.get(off..off + RECORD_HEADER_LEN) else {
            return false;
        };
        // change_cipher_spec, alert, handshake, application_data; DTLS 1.0 or 1.2.
        if !(20..=23).contains(&h[0]) || h[1] != 0xfe || !matches!(h[2], 0xff | 0xfd) {
            return false;
        }
        let len = usize::from(u16::from_be_bytes([h[11], h[12]]));
        // rtc-dtls also rejects an empty record body (header only).
        if len == 0 || off + RECORD_HEADER_LEN + len > d.len() {
            return false;
        }
        off += RECORD_HEADER_LEN + len;
    }
    off > 0
}
