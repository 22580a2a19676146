//! Static files of `http_server.dir`, streamed without blocking the shard:
//! the path is resolved (canonicalized, symlinks followed and checked to
//! stay inside the root) on glommio's blocking-task thread, the file is
//! opened, measured and read through io_uring ([`BufferedFile`]), and its
//! bytes go to the socket [`CHUNK`] by [`CHUNK`]: a request holds at most
//! one chunk in memory, whatever the file's size, and a large or slow file
//! never stalls the shard's other connections.

use std::io;
use std::path::PathBuf;

use bytes::Bytes;
use futures_lite::AsyncWrite;
use shards::glommio::{self, io::BufferedFile};

use crate::http::{self, Response};
use crate::server::timeouts;

/// Bytes read from the file and written to the socket at a time.
pub const CHUNK: usize = 64 * 1024;

/// A file opened for a response: its length is the `Content-Length`.
pub struct OpenFile {
    file: BufferedFile,
    len: u64,
}

impl OpenFile {
    /// The file's length when it was opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes the file's [`OpenFile::len`] bytes to `w`, [`CHUNK`] by
    /// [`CHUNK`], each write within the write timeout. A file that shrank
    /// meanwhile is an error (the `Content-Length` cannot be kept: the
    /// caller closes the connection); one that grew is cut at the length.
    pub async fn send<W: AsyncWrite + Unpin + ?Sized>(self, w: &mut W) -> io::Result<()> {
        let mut pos = 0u64;
        let result = async {
            while pos < self.len {
                let want = (self.len - pos).min(CHUNK as u64) as usize;
                let chunk = self.file.read_at(pos, want).await?;
                if chunk.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file shrank while it was sent",
                    ));
                }
                timeouts::write_all(w, &chunk).await?;
                pos += chunk.len() as u64;
            }
            Ok(())
        }
        .await;
        let _ = self.file.close().await;
        result
    }

    /// Closes the file unread (a HEAD request).
    pub async fn close(self) {
        let _ = self.file.close().await;
    }
}

/// Opens the file `raw_target` (the request target as sent) names under
/// `root`: the head of its `200` (Content-Type by extension, no body: the
/// caller sets the `Content-Length` from [`OpenFile::len`] and streams it),
/// or the error response (403 outside the root, 404, 400 bad encoding).
pub async fn open(root: &str, raw_target: &str) -> Result<(Response, OpenFile), Response> {
    let not_found = || Response::error(404, &format!("not found: {raw_target}"));
    // canonicalize() and the stat calls block on the filesystem: not here.
    let (root_owned, target) = (PathBuf::from(root), raw_target.to_owned());
    let resolved = glommio::executor()
        .spawn_blocking(move || http::resolve_static(&root_owned, &target))
        .await;
    let path = resolved.map_err(|e| Response::error(e.status(), &e.to_string()))?;
    let file = BufferedFile::open(&path).await.map_err(|_| not_found())?;
    let len = match file.file_size().await {
        Ok(len) => len,
        Err(_) => {
            let _ = file.close().await;
            return Err(not_found());
        }
    };
    Ok((
        http::static_response(&path, Bytes::new()),
        OpenFile { file, len },
    ))
}
