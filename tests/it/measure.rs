//! Runs a child process and measures its peak memory: the child's own `ru_maxrss` from
//! `wait4`, while a watchdog kills it (before it is reaped, so the pid is still ours) when its
//! `VmHWM` passes a hard limit or a safety deadline passes. The limit keeps a test of unbounded
//! memory from taking the machine down; the assertion is on the peak.

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
    /// Peak resident set size.
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
    let (status, usage) = loop {
        let mut status = 0;
        // SAFETY: a zeroed rusage is a valid value for wait4 to fill in
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our child, not yet reaped; the pointers are to live locals
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break (status, usage);
        }
        assert_eq!(r, 0, "wait4: {}", std::io::Error::last_os_error());
        if killed.is_none() {
            let hwm = vm_hwm_kb(pid).unwrap_or(0);
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
        // Linux reports ru_maxrss in KiB
        peak_rss_mb: usage.ru_maxrss as f64 / 1024.0,
        killed,
    }
}
