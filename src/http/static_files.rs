//! Mapping URL paths to files under a root directory, safely.
//!
//! Reading the file is the runtime's job; [`resolve_static`] only decides
//! which file (it touches the filesystem to canonicalize, so symlinks that
//! lead out of the root are caught).

use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::http::query::percent_decode_strict;
use crate::http::response::Response;

/// Why a URL path does not name a servable file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StaticError {
    /// The path tries to leave the root (`..`, NUL, backslash, or a
    /// symlink pointing outside) (403).
    #[error("forbidden path {path:?}")]
    Forbidden {
        /// The URL path as given (truncated to 256 bytes).
        path: String,
    },
    /// No such file, or not a regular file (404).
    #[error("not found {path:?}")]
    NotFound {
        /// The URL path as given (truncated to 256 bytes).
        path: String,
    },
    /// Broken percent-encoding or non-UTF-8 path (400).
    #[error("bad path encoding {path:?}")]
    BadEncoding {
        /// The URL path as given (truncated to 256 bytes).
        path: String,
    },
}

impl StaticError {
    /// The HTTP status that reports this error: 403, 404 or 400.
    pub fn status(&self) -> u16 {
        match self {
            StaticError::Forbidden { .. } => 403,
            StaticError::NotFound { .. } => 404,
            StaticError::BadEncoding { .. } => 400,
        }
    }
}

/// Resolves `url_path` — the request target's path **as sent**
/// (percent-encoded; a `?query` or `#fragment` is ignored; pass
/// [`crate::http::Request::raw_target`]) — to a canonical file path inside
/// `root`. A directory maps to its `index.html`.
///
/// Refused: `..` segments (also encoded as `%2e%2e`), NUL, backslashes
/// ([`StaticError::Forbidden`]); anything whose canonical path (symlinks
/// resolved) is outside the canonical root ([`StaticError::Forbidden`]);
/// missing files and non-files ([`StaticError::NotFound`]).
pub fn resolve_static(root: &Path, url_path: &str) -> Result<PathBuf, StaticError> {
    let shown = crate::http::request::truncate(url_path, 256);
    let forbidden = || StaticError::Forbidden {
        path: shown.clone(),
    };
    let not_found = || StaticError::NotFound {
        path: shown.clone(),
    };
    let raw = url_path.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode_strict(raw).map_err(|_| StaticError::BadEncoding {
        path: shown.clone(),
    })?;
    let mut rel = PathBuf::new();
    for segment in decoded.split('/') {
        if segment.contains(['\0', '\\']) || segment == ".." {
            return Err(forbidden());
        }
        if segment.is_empty() || segment == "." {
            continue;
        }
        rel.push(segment);
    }
    let root = root.canonicalize().map_err(|_| not_found())?;
    let mut path = root.join(&rel).canonicalize().map_err(|_| not_found())?;
    if !path.starts_with(&root) {
        return Err(forbidden());
    }
    if path.is_dir() {
        path = path
            .join("index.html")
            .canonicalize()
            .map_err(|_| not_found())?;
        if !path.starts_with(&root) {
            return Err(forbidden());
        }
    }
    if !path.is_file() {
        return Err(not_found());
    }
    Ok(path)
}

/// The Content-Type for a file, by extension (case-insensitive);
/// `application/octet-stream` when unknown.
pub fn content_type_for(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "m3u8" => "application/vnd.apple.mpegurl",
        "ts" => "video/MP2T",
        "flv" => "video/x-flv",
        "mp4" => "video/mp4",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// A 200 response for a file's contents, typed by [`content_type_for`].
/// Playlists (`.m3u8`) get `Cache-Control: no-cache` since they change.
pub fn static_response(path: &Path, contents: impl Into<Bytes>) -> Response {
    let resp = Response::bytes(200, content_type_for(path), contents);
    if content_type_for(path) == "application/vnd.apple.mpegurl" {
        resp.with_header("Cache-Control", "no-cache")
    } else {
        resp
    }
}
