//! The `replaylake` binary: parses the command line and runs a command; errors print their
//! `Display` and map to the exit codes documented in `--help`.

use clap::{CommandFactory, FromArgMatches};
use replaylake::cli::{self, Cli, Command, exit};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

// convert allocates many small, short-lived objects (decoded events, DOM nodes); mimalloc serves
// them with far less overhead than the system allocator (measured in benches/ and scripts/bench.sh).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Makes mimalloc hand freed memory back to the OS after 100 ms (its default waits a second),
/// commit arena memory on demand, and use no transparent huge pages: convert frees large Arrow
/// buffers all the time. Converting 300 MB (scripts/bench.sh): defaults 5.9 s / 263 MB peak RSS;
/// purge at once 8.5 s / 173 MB; 100 ms 6.1–6.6 s / 177 MB. With huge pages (Debian's THP mode
/// is `madvise`, and mimalloc asks for them), every page that comes back after a purge is a 2 MiB
/// page the kernel zeroes: 13 % of convert's CPU in `clear_page`, and a third more peak RSS.
/// Without them, on 100 MB: peak 148 MB instead of 211 MB, sys time 0.30 s instead of 0.49 s,
/// wall time 5 % less. A `MIMALLOC_*` variable set by the user wins.
fn tune_allocator() {
    // Positions in mimalloc v3's `mi_option_t` (mimalloc.h), the version libmimalloc-sys builds
    // (`MIMALLOC_VERBOSE=1` lists the options in order).
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    const ALLOW_THP: libmimalloc_sys::mi_option_t = 43;
    for (option, env, value) in [
        (PURGE_DELAY, "MIMALLOC_PURGE_DELAY", 100),
        (ARENA_EAGER_COMMIT, "MIMALLOC_ARENA_EAGER_COMMIT", 0),
        (ALLOW_THP, "MIMALLOC_ALLOW_THP", 0),
    ] {
        if std::env::var_os(env).is_none() {
            // SAFETY: mi_option_set only writes mimalloc's option table.
            unsafe { libmimalloc_sys::mi_option_set(option, value) };
        }
    }
    // mimalloc reads `allow_thp` once, at its start before main, to tell the kernel; memory it
    // mapped by now would still get huge pages, so tell the kernel here too.
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: PR_SET_THP_DISABLE only sets a flag of this process.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}

fn main() {
    tune_allocator();
    // Die quietly on a closed pipe (`replaylake ... | head`), like other Unix tools.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // every command's --help ends with the exit codes, as the top level's does
    let parsed = Cli::command()
        .mut_subcommands(|c| c.after_help(cli::EXIT_CODES_HELP))
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let args = match parsed {
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
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match args.log_format {
        // one JSON object per line, the event's fields at the top level beside level and time
        cli::LogFormat::Json => logs.json().flatten_event(true).init(),
        // colour codes only for a person at a terminal, never in a log file or a CI log
        cli::LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }

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
        Command::Compact(a) => cli::compact::run(a, args.quiet, handle),
        Command::Export(a) => cli::export::run(a, args.quiet, handle),
        Command::Verify(a) => cli::verify::run(a),
        Command::Replay(a) => cli::replay::run(a, args.quiet, handle),
        Command::Render(a) => cli::render::run(a, args.quiet, handle),
        Command::State(a) => cli::state::run(a, handle),
        Command::Prune(a) => cli::prune::run(a, args.quiet, handle),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let code = if e.is_usage() {
                exit::USAGE
            } else {
                exit::FAILED
            };
            if args.log_format == cli::LogFormat::Json {
                // a log collector reads the failure as one more JSON line
                tracing::error!(exit_code = code, "{e}");
            } else {
                eprintln!("error: {e}");
            }
            std::process::exit(code);
        }
    }
}
