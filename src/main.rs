//! The `hopdb` command-line tool: a thin layer over the `hopdb` library.

mod cli;

fn main() -> std::process::ExitCode {
    // Die quietly on a closed pipe (`hopdb stats | head`), like other Unix tools.
    // SAFETY: resetting a signal disposition to its default at start-up, before any threads.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    cli::run()
}
