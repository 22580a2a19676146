//! Checking once, before any shard starts, that this process may use io_uring.
//!
//! glommio needs io_uring; where it is blocked (Docker's default seccomp
//! profile, `kernel.io_uring_disabled`, a systemd `SystemCallFilter=`, an old
//! kernel) its own error comes from deep inside executor creation. The probe
//! turns that into one line that says what to change.

use std::io;

/// io_uring cannot be used by this process.
#[derive(Debug, thiserror::Error)]
#[error(
    "io_uring is unavailable: io_uring_setup failed with {source}{sysctl}; shardsfu's runtime \
     (glommio) needs it. Fix: {hint}"
)]
pub struct IoUringUnavailable {
    /// The error `io_uring_setup(2)` returned.
    pub source: io::Error,
    /// `, kernel.io_uring_disabled is N` when that sysctl is not 0.
    sysctl: String,
    hint: &'static str,
}

const HINT_BLOCKED: &str = "allow io_uring_setup, io_uring_enter and io_uring_register: \
    under Docker run with --security-opt seccomp=unconfined or a seccomp profile that allows \
    them; under systemd keep them in SystemCallFilter=; and set sysctl kernel.io_uring_disabled=0";
const HINT_SYSCTL: &str = "sysctl -w kernel.io_uring_disabled=0 (or 1 with this user's group \
    in kernel.io_uring_group); under Docker also run with --security-opt seccomp=unconfined or a \
    seccomp profile that allows io_uring_setup, io_uring_enter and io_uring_register";
const HINT_MISSING: &str = "run on Linux 5.8 or newer built with CONFIG_IO_URING; if the kernel \
    is new enough, a seccomp filter hides the call: under Docker run with --security-opt \
    seccomp=unconfined or a seccomp profile that allows io_uring_setup, io_uring_enter and \
    io_uring_register";
const HINT_MEMLOCK: &str = "raise RLIMIT_MEMLOCK (ulimit -l, systemd LimitMEMLOCK=, \
    docker --ulimit memlock=)";

/// Creates and closes a one-entry io_uring. Call it once at start: it costs
/// two system calls.
pub fn probe_io_uring() -> Result<(), IoUringUnavailable> {
    // struct io_uring_params is 120 bytes; all-zero asks for defaults.
    let mut params = [0u32; 30];
    // SAFETY: io_uring_setup(2) with a valid pointer to a zeroed params
    // struct of the kernel's size; it writes only inside it.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1u32, params.as_mut_ptr()) };
    if fd >= 0 {
        // SAFETY: the fd was just returned to us and is closed once.
        unsafe { libc::close(fd as libc::c_int) };
        return Ok(());
    }
    let source = io::Error::last_os_error();
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|v| v != "0");
    let hint = match source.raw_os_error() {
        _ if disabled.is_some() => HINT_SYSCTL,
        Some(libc::ENOSYS) => HINT_MISSING,
        Some(libc::ENOMEM) => HINT_MEMLOCK,
        _ => HINT_BLOCKED,
    };
    Err(IoUringUnavailable {
        source,
        sysctl: disabled.map_or_else(String::new, |v| {
            format!(" and sysctl kernel.io_uring_disabled is {v}")
        }),
        hint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_passes_where_executors_start() {
        // The runtime's own tests start glommio executors in this process.
        probe_io_uring().expect("io_uring");
    }

    #[test]
    fn the_message_is_one_line_naming_the_fixes() {
        let e = IoUringUnavailable {
            source: io::Error::from_raw_os_error(libc::EPERM),
            sysctl: String::new(),
            hint: HINT_BLOCKED,
        };
        let s = e.to_string();
        assert!(!s.contains('\n'), "{s}");
        for want in [
            "io_uring",
            "seccomp=unconfined",
            "io_uring_disabled=0",
            "os error 1",
        ] {
            assert!(s.contains(want), "{want}: {s}");
        }
    }
}
