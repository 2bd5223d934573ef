//! The video file: frames (JPEG or PNG images, one after another) go to an `ffmpeg` child over
//! its stdin (`image2pipe`), which encodes them with the settings of PostHog's renderer
//! (FORMATS.md §8): H.264 MP4 (yuv420p, `+faststart`), VP9 WebM, or a GIF with its own
//! palette. ffmpeg writes `<out>.partial`, renamed to `<out>` once it exits cleanly, so a
//! reader never sees half a video. The child is killed if the encoder is dropped unfinished.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::render::browser::keep_tail;
use crate::render::{RenderError, VideoFormat};

/// The ffmpeg to run: `REPLAYLAKE_FFMPEG`, else `ffmpeg` on the PATH.
pub fn locate() -> Result<PathBuf, RenderError> {
    if let Some(p) = std::env::var_os("REPLAYLAKE_FFMPEG") {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("ffmpeg"))
        .find(|p| p.is_file())
        .ok_or(RenderError::FfmpegMissing)
}

/// ffmpeg's output options for `format` at `fps`.
fn output_args(format: VideoFormat, fps: u32) -> Vec<String> {
    let even = "pad=ceil(iw/2)*2:ceil(ih/2)*2";
    let v: Vec<&str> = match format {
        VideoFormat::Mp4 => vec![
            "-vf",
            even,
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
        ],
        VideoFormat::Webm => vec![
            "-vf",
            even,
            "-c:v",
            "libvpx-vp9",
            "-crf",
            "30",
            "-b:v",
            "0",
            "-deadline",
            "realtime",
            "-cpu-used",
            "5",
            "-row-mt",
            "1",
            "-pix_fmt",
            "yuv420p",
            "-f",
            "webm",
        ],
        VideoFormat::Gif => vec![
            "-vf",
            "scale='min(800,iw)':-1:flags=lanczos,split[a][b];[a]palettegen[p];[b][p]paletteuse",
            "-f",
            "gif",
        ],
    };
    let mut out: Vec<String> = v.into_iter().map(String::from).collect();
    out.extend(["-r".to_string(), fps.to_string()]);
    out
}

/// An ffmpeg child being fed frames.
pub struct Encoder {
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<Vec<u8>>>,
    partial: PathBuf,
    out: PathBuf,
}

impl Encoder {
    /// Starts `ffmpeg` writing `out` in `format` at `fps`; frames are `jpeg` or PNG images.
    pub fn start(
        ffmpeg: &Path,
        out: &Path,
        format: VideoFormat,
        fps: u32,
        jpeg: bool,
    ) -> Result<Encoder, RenderError> {
        let partial = PathBuf::from(format!("{}.partial", out.display()));
        let mut cmd = Command::new(ffmpeg);
        cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
            .args(["-f", "image2pipe", "-framerate", &fps.to_string()])
            .args(["-c:v", if jpeg { "mjpeg" } else { "png" }, "-i", "pipe:0"])
            .args(["-an", "-map_metadata", "-1", "-fflags", "+bitexact"])
            .args(output_args(format, fps))
            .arg(&partial)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => RenderError::FfmpegMissing,
            _ => RenderError::launch(ffmpeg, e),
        })?;
        let stdin = child.stdin.take();
        let stderr = keep_tail(child.stderr.take());
        Ok(Encoder {
            child,
            stdin,
            stderr,
            partial,
            out: out.to_path_buf(),
        })
    }

    /// Writes one frame.
    pub fn push(&mut self, image: &[u8]) -> Result<(), RenderError> {
        let w = self.stdin.as_mut().expect("encoder open");
        if w.write_all(image).is_err() {
            return Err(self.failed());
        }
        Ok(())
    }

    /// Closes the input, waits for ffmpeg and puts the file in place; returns its size.
    pub fn finish(mut self) -> Result<u64, RenderError> {
        drop(self.stdin.take());
        let status = self
            .child
            .wait()
            .map_err(|e| RenderError::launch(Path::new("ffmpeg"), e))?;
        if !status.success() {
            return Err(self.failed());
        }
        std::fs::rename(&self.partial, &self.out).map_err(|source| RenderError::Io {
            path: self.out.clone(),
            source,
        })?;
        Ok(std::fs::metadata(&self.out).map(|m| m.len()).unwrap_or(0))
    }

    fn failed(&mut self) -> RenderError {
        drop(self.stdin.take());
        let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let stderr = String::from_utf8_lossy(&self.stderr.lock().expect("stderr"))
            .trim()
            .to_string();
        RenderError::Ffmpeg { status, stderr }
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        if self.stdin.is_some() || self.partial.exists() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}
