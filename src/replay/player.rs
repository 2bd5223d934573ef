//! Where rrweb-player's JavaScript and CSS come from: the npm package as
//! `scripts/setup-player.sh` installed it, in a cache outside the clone. The binary reads them
//! from disk to inline them; it never downloads anything.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The rrweb-player version the page is built for (2.0.0, 2.0.1 and 2.1.0 never create the
/// Replayer: rrweb-io/rrweb#1872).
pub const VERSION: &str = "2.1.7";
/// The variable that names the installed package's directory.
pub const ENV: &str = "REPLAYLAKE_PLAYER_DIR";
const JS: &str = "dist/rrweb-player.umd.min.cjs";
const CSS: &str = "dist/style.min.css";

/// rrweb-player's build, read from its package directory.
#[derive(Debug, Clone)]
pub struct Assets {
    pub dir: PathBuf,
    pub js: String,
    pub css: String,
}

/// The default directory: `~/.cache/replaylake/player/rrweb-player-<VERSION>`.
pub fn default_dir() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    Some(
        Path::new(&home)
            .join(".cache/replaylake/player")
            .join(format!("rrweb-player-{VERSION}")),
    )
}

/// Finds the package: `dir` (from `--player-dir`), else [`ENV`], else [`default_dir`].
pub fn locate(dir: Option<&Path>) -> Result<Assets> {
    let dir = dir
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(ENV).map(PathBuf::from))
        .or_else(default_dir)
        .unwrap_or_default();
    let read = |rel: &str| std::fs::read_to_string(dir.join(rel));
    match (read(JS), read(CSS)) {
        (Ok(js), Ok(css)) => Ok(Assets { dir, js, css }),
        _ => Err(Error::Missing(format!(
            "rrweb-player {VERSION} is not installed in {}: run scripts/setup-player.sh (it \
             installs it from the npm registry), or point --player-dir or {ENV} at an unpacked \
             rrweb-player@{VERSION} package (the directory with dist/)",
            dir.display()
        ))),
    }
}
