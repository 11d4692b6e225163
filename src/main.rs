//! The `hopdb` command-line tool: a thin layer over the `hopdb` library.

mod cli;

/// mimalloc: the query and import paths allocate many small values, and glibc's malloc cost
/// about half of an indexed `SELECT *` (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Die quietly on a closed pipe (`hopdb stats | head`), like other Unix tools.
    // SAFETY: resetting a signal disposition to its default at start-up, before any threads.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    cli::run()
}
