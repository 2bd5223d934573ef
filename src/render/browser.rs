//! The headless browser a render drives: found, started with a DevTools pipe, kept off the
//! network, and killed when dropped.
//!
//! Debian's `chromium-headless-shell` is the one to use (it is what PostHog's renderer runs,
//! and it starts fast); full `chromium` works too. The browser gets a fresh profile directory
//! of its own, fd 3/4 as the DevTools pipe ([`super::cdp`]), and no network: every host name
//! fails to resolve and the proxy is a closed loopback port, so a recording's remote images,
//! fonts and scripts fail at once instead of loading (the replay page itself is one file).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::render::RenderError;
use crate::render::cdp::Cdp;

/// Where a browser is looked for when `--browser` is not given.
pub const CANDIDATES: &[&str] = &[
    "/usr/bin/chromium-headless-shell",
    "/usr/lib/chromium/headless_shell",
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
];
/// The variable that names a browser.
pub const ENV: &str = "REPLAYLAKE_BROWSER";

/// The browser to run: `explicit` (`--browser`), else [`ENV`], else the first of [`CANDIDATES`].
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, RenderError> {
    if let Some(p) = explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(ENV).map(PathBuf::from))
    {
        if !p.is_file() {
            let looked = p.display().to_string();
            return Err(RenderError::BrowserMissing { looked });
        }
        return Ok(p);
    }
    CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| RenderError::BrowserMissing {
            looked: CANDIDATES.join(", "),
        })
}

/// The flags every render starts the browser with.
fn flags(profile: &Path, width: u32, height: u32) -> Vec<String> {
    let mut f: Vec<String> = [
        "--headless",
        "--remote-debugging-pipe",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--mute-audio",
        "--font-render-hinting=none",
        "--force-device-scale-factor=1",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
    ]
    .map(String::from)
    .to_vec();
    f.push(format!("--user-data-dir={}", profile.display()));
    f.push(format!("--window-size={width},{height}"));
    f.push("about:blank".into());
    f
}

/// A pipe as two owned ends (read, write), close-on-exec.
fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new descriptors into `fds`.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A running browser with one page, and the DevTools session of that page.
pub struct Browser {
    child: Child,
    pub cdp: Cdp,
    /// The page's DevTools session id.
    pub session: String,
    profile: PathBuf,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Browser {
    /// Starts `path` with a `width` × `height` page and attaches to that page.
    pub fn launch(
        path: &Path,
        width: u32,
        height: u32,
        timeout: Duration,
    ) -> Result<Browser, RenderError> {
        let profile = profile_dir()?;
        let (cmd_r, cmd_w) = pipe().map_err(|e| RenderError::launch(path, e))?;
        let (out_r, out_w) = pipe().map_err(|e| RenderError::launch(path, e))?;
        let (a, b) = (cmd_r.as_raw_fd(), out_w.as_raw_fd());
        let mut cmd = Command::new(path);
        cmd.args(flags(&profile, width, height))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec. The ends are
        // first copied above fd 10, so that dup2 onto 3 cannot close the other one.
        unsafe {
            cmd.pre_exec(move || {
                let (a2, b2) = (
                    libc::fcntl(a, libc::F_DUPFD, 10),
                    libc::fcntl(b, libc::F_DUPFD, 10),
                );
                if a2 < 0 || b2 < 0 || libc::dup2(a2, 3) < 0 || libc::dup2(b2, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(a2);
                libc::close(b2);
                Ok(())
            })
        };
        let mut child = cmd.spawn().map_err(|e| RenderError::launch(path, e))?;
        drop((cmd_r, out_w));
        let stderr = keep_tail(child.stderr.take());
        let cdp = Cdp::new(
            std::fs::File::from(cmd_w),
            std::fs::File::from(out_r),
            timeout,
        );
        let mut b = Browser {
            child,
            cdp,
            session: String::new(),
            profile,
            stderr,
        };
        b.attach().map_err(|e| b.explain(e))?;
        Ok(b)
    }

    /// Opens a page target and attaches to it (flat sessions).
    fn attach(&mut self) -> Result<(), RenderError> {
        let t = self.cdp.call_within(
            None,
            "Target.createTarget",
            json!({"url": "about:blank"}),
            Duration::from_secs(30),
        )?;
        let id = t["targetId"].as_str().unwrap_or_default().to_string();
        let s = self.cdp.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": id, "flatten": true}),
        )?;
        self.session = s["sessionId"].as_str().unwrap_or_default().to_string();
        for m in ["Page.enable", "Runtime.enable"] {
            self.page(m, json!({}))?;
        }
        Ok(())
    }

    /// A command to the page.
    pub fn page(&mut self, method: &str, params: Value) -> Result<Value, RenderError> {
        let s = self.session.clone();
        self.cdp.call(Some(&s), method, params)
    }

    /// Adds what the browser printed to an error, when it has exited.
    pub fn explain(&mut self, e: RenderError) -> RenderError {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                std::thread::sleep(Duration::from_millis(50));
                let tail = String::from_utf8_lossy(&self.stderr.lock().expect("stderr"))
                    .trim()
                    .to_string();
                RenderError::BrowserExited {
                    status: status.to_string(),
                    stderr: tail,
                }
            }
            _ => e,
        }
    }

    /// The browser's process id (the benchmark reads its memory).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The profile directory (a page to open may be written there).
    pub fn profile(&self) -> &Path {
        &self.profile
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A new, empty directory for the browser's profile.
fn profile_dir() -> Result<PathBuf, RenderError> {
    let p = std::env::temp_dir().join(format!(
        "replaylake-browser-{}-{:016x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&p).map_err(|source| RenderError::Io {
        path: p.clone(),
        source,
    })?;
    Ok(p)
}

/// Reads a child's stderr in a thread, keeping its last 8 KiB for error messages.
pub(crate) fn keep_tail(r: Option<impl std::io::Read + Send + 'static>) -> Arc<Mutex<Vec<u8>>> {
    let tail = Arc::new(Mutex::new(Vec::new()));
    if let Some(mut r) = r {
        let t = tail.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut v = t.lock().expect("stderr");
                v.extend_from_slice(&buf[..n]);
                let cut = v.len().saturating_sub(8192);
                v.drain(..cut);
            }
        });
    }
    tail
}
