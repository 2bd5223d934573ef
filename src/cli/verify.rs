//! `replaylake verify FILE...`: checks portable files, one line per file.

use clap::Args;

use crate::cli::exit;
use crate::error::Result;
use crate::portable::verify::verify_file;
use crate::source::expand_inputs;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Portable files (gzip or zstd ones too), directories (read recursively) or glob patterns.
    #[arg(required = true)]
    pub files: Vec<String>,
}

/// Prints `FILE: ok (…)` or `FILE: line N: problem` per file; [`exit::INVALID`] when any has a
/// problem.
pub fn run(args: &VerifyArgs) -> Result<i32> {
    let mut bad = 0usize;
    for f in expand_inputs(&args.files)? {
        let Some(path) = f.local_path() else {
            continue; // expand_inputs lists local files only
        };
        let v = verify_file(path);
        let name = path.display();
        let sid = v.session_id.as_deref().unwrap_or("?");
        match &v.problem {
            None => println!("{name}: ok (session {sid}, {} events)", v.events),
            Some((line, why)) => {
                bad += 1;
                println!("{name}: line {line}: {why}");
            }
        }
    }
    Ok(if bad == 0 { exit::OK } else { exit::INVALID })
}
