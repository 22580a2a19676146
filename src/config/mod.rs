//! The SRS-style configuration file: parser, typed settings, environment overrides.
