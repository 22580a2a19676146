//! STUN messages and the ICE-lite agent (sans-IO).
