//! HTTP/1.1: request parsing with limits, responses, CORS and static files (sans-IO).
