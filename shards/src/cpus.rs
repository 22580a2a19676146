//! Which CPUs this process may run on.

/// The CPUs in this process's affinity mask (`sched_getaffinity`), in order.
///
/// glommio's `CpuSet::online()` lists every online CPU and ignores `taskset`,
/// systemd's `CPUAffinity=` and container limits; pinning a shard to a CPU
/// outside the mask would fail or oversubscribe, so shards are placed on
/// these instead. Falls back to `0..available_parallelism` if the call fails.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it for pid 0 (us).
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        return (0..n).collect();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the set's capacity.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// CPU time the calling thread has used (`CLOCK_THREAD_CPUTIME_ID`): what a
/// shard's busy share is measured with, since wall-clock run time would also
/// count the moments other processes had its CPU.
pub fn thread_cpu_time() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_least_one_cpu_is_allowed() {
        let cpus = allowed_cpus();
        assert!(!cpus.is_empty());
        assert!(cpus.windows(2).all(|w| w[0] < w[1]), "sorted: {cpus:?}");
    }
}
