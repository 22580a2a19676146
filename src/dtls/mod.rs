//! DTLS: the certificate, the handshake as client or server, fingerprint checks, SRTP key export (sans-IO).
