//! Tests for the sdp module.
