//! Tests of the configuration module.
