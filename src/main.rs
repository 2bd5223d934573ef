//! The `replaylake` binary: parses the command line and runs a command; errors print their
//! `Display` and map to the exit codes documented in `--help`.

use clap::Parser;
use replaylake::cli::{self, Cli, Command, exit};
use tracing_subscriber::EnvFilter;

fn main() {
    // Die quietly on a closed pipe (`replaylake ... | head`), like other Unix tools.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = match Cli::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let level = match (args.quiet, args.verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        (_, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("replaylake={level},warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();

    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(exit::FAILED);
        }
    };
    let handle = rt.handle().clone();
    let result = match &args.command {
        Command::Convert(a) => cli::convert::run(a, args.quiet, handle),
        Command::Schema(a) => cli::schema::run(a),
        Command::Demo(a) => cli::demo::run(a, handle),
        Command::Pull(a) => cli::pull::run(a, args.quiet, handle),
        Command::Query(a) => cli::query::run(a, handle),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(exit::FAILED);
        }
    }
}
