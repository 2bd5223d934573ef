//! Runs a child process and measures its peak memory: its `VmHWM`, sampled every 10 ms while it
//! runs, and a watchdog that kills it (before it is reaped, so the pid is still ours) when that
//! passes a hard limit or a safety deadline passes. The limit keeps a test of unbounded memory
//! from taking the machine down; the assertion is on the peak.
//!
//! Not `ru_maxrss` from `wait4`: std spawns with vfork semantics, and exec records the high
//! water mark of the memory the child borrowed, i.e. the test process's own peak (hundreds of
//! MB while the query tests run beside it).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a measured run came to.
#[derive(Debug)]
pub struct Measured {
    /// The exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Peak resident set size (the last `VmHWM` read before it ended).
    pub peak_rss_mb: f64,
    /// Why the watchdog killed it, if it did.
    pub killed: Option<String>,
}

fn vm_hwm_kb(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `cmd` to its end, killing it past `limit_mb` of RSS or after `deadline`.
pub fn run(mut cmd: Command, limit_mb: u64, deadline: Duration) -> Measured {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let mut killed = None;
    let mut peak_kb = 0u64;
    let status = loop {
        let mut status = 0;
        // SAFETY: pid is our child, not yet reaped; the pointer is to a live local
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break status;
        }
        assert_eq!(r, 0, "waitpid: {}", std::io::Error::last_os_error());
        // spawn() returns after the exec: this is the child's own memory
        peak_kb = peak_kb.max(vm_hwm_kb(pid).unwrap_or(0));
        if killed.is_none() {
            let hwm = peak_kb;
            if hwm > limit_mb << 10 {
                killed = Some(format!("VmHWM {} MB passed {limit_mb} MB", hwm >> 10));
            } else if started.elapsed() > deadline {
                killed = Some(format!("still running after {deadline:?}"));
            }
            if killed.is_some() {
                // SAFETY: the child has not been reaped, so the pid is still ours
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(child);
    Measured {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        peak_rss_mb: peak_kb as f64 / 1024.0,
        killed,
    }
}
