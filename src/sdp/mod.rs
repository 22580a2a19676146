//! SDP: parse offers, build answers, choose ICE candidates (sans-IO).
