//! SRTP/SRTCP contexts: protect and unprotect with counted failures.
