//! Drives `hopdb repl` through a pseudo-terminal, as a person at a terminal would: the line
//! editor (rustyline) only runs its interactive mode on a real tty. The pty comes from
//! `openpty(3)` via the `libc` crate, so no extra tool (tmux, expect) is needed.
//!
//! Covered: the banner and prompts (`hopdb> `, continuation `   ...> `), a statement typed
//! over three lines, the table output, `.format csv`, a parse error with its caret followed by
//! a good query (the shell continues), Ctrl-C cancelling a half-typed statement, Tab
//! completion of a field name, `.timer on`, `.schema`, `.quit`, history saved to
//! `$HOPDB_HISTORY` and recalled with the Up arrow in a new session, and Ctrl-D leaving.
#![cfg(unix)]

use hopdb::store::Store;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/devi2025");
const TIMEOUT: Duration = Duration::from_secs(30);

/// A store with the devi2025 dataset, closed again so the REPL can open it.
fn make_store(dir: &Path) -> PathBuf {
    let db = dir.join("db");
    let store = Store::create(&db).expect("create store");
    let groups = store.class_groups().expect("class groups");
    let (cands, errs) =
        hopdb::import::devi::read_dir_with(Path::new(DATA), &groups, false).expect("read dataset");
    hopdb::import::commit(&store, cands, errs, &Default::default(), "repl_pty").expect("import");
    db
}

/// A `hopdb repl` on the slave side of a pty; we hold the master side.
struct Repl {
    child: Child,
    writer: File,
    output: Arc<Mutex<Vec<u8>>>,
    /// How much of the (cleaned) transcript earlier expectations consumed.
    cursor: usize,
}

impl Repl {
    fn start(db: &Path, history: &Path) -> Repl {
        let (mut master, mut slave) = (-1, -1);
        let ws = libc::winsize {
            ws_row: 50,
            ws_col: 160,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two fds into the provided ints; the other pointers may be null.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &ws,
            )
        };
        assert_eq!(rc, 0, "openpty failed: {}", std::io::Error::last_os_error());
        // SAFETY: `master` and `slave` are fresh fds that we own from here on.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hopdb"));
        cmd.arg("--db")
            .arg(db)
            .arg("repl")
            .env_remove("HOPDB_DB")
            .env("HOPDB_HISTORY", history)
            .env("TERM", "xterm")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec: make the pty the
        // child's controlling terminal, as a terminal emulator does.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn hopdb repl");
        drop(cmd); // closes our copies of the slave side
        let mut reader = File::from(master.try_clone().unwrap());
        let writer = File::from(master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the child has exited and the slave side is closed.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Repl {
            child,
            writer,
            output,
            cursor: 0,
        }
    }

    /// The transcript so far, without carriage returns and terminal escape sequences.
    fn transcript(&self) -> String {
        clean(&String::from_utf8_lossy(&self.output.lock().unwrap()))
    }

    /// Wait until `needle` appears after what earlier expectations consumed; return the text
    /// up to and including it, and move past it.
    fn expect(&mut self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let t = self.transcript();
            if let Some(i) = t.get(self.cursor..).and_then(|rest| rest.find(needle)) {
                let end = self.cursor + i + needle.len();
                let got = t[self.cursor..end].to_string();
                self.cursor = end;
                return got;
            }
            if start.elapsed() > TIMEOUT {
                panic!(
                    "timed out waiting for {needle:?}; transcript after the cursor:\n{}",
                    &t[self.cursor.min(t.len())..]
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn send(&mut self, keys: &str) {
        self.writer
            .write_all(keys.as_bytes())
            .expect("write to pty");
        self.writer.flush().expect("flush pty");
    }

    /// Type a line and press Enter.
    fn line(&mut self, text: &str) {
        self.send(text);
        self.send("\r");
    }

    /// Wait for the process to exit; its exit status must be success.
    fn wait_exit(&mut self) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(
                    status.success(),
                    "hopdb repl exited with {status}; transcript:\n{}",
                    self.transcript()
                );
                return;
            }
            if start.elapsed() > TIMEOUT {
                let _ = self.child.kill();
                panic!(
                    "hopdb repl did not exit; transcript:\n{}",
                    self.transcript()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Repl {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Remove `\r` and ANSI escape sequences (CSI `ESC [ ... final`, and other `ESC x`).
fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\r' => {}
            '\x1b' => {
                if it.next() == Some('[') {
                    for d in it.by_ref() {
                        if ('@'..='~').contains(&d) {
                            break;
                        }
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[test]
fn repl_session_through_a_pty() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_store(dir.path());
    let history = dir.path().join("history");

    let mut r = Repl::start(&db, &history);
    let banner = r.expect("hopdb> ");
    assert!(
        banner.contains("HopQL shell") && banner.contains("619 hops"),
        "banner: {banner}"
    );

    // A statement over three lines, with the continuation prompt, in the table format.
    r.line("SELECT ion, COUNT(*)");
    r.expect("   ...> ");
    r.line("FROM hops GROUP BY ion");
    r.expect("   ...> ");
    r.line("ORDER BY ion;");
    let out = r.expect("(9 rows)");
    let rows: Vec<&str> = out.lines().filter(|l| l.starts_with('│')).collect();
    assert_eq!(rows.len(), 10, "header and 9 rows expected:\n{out}");
    assert!(
        rows[0].contains("ion") && rows[0].contains("COUNT(*)"),
        "{out}"
    );
    assert!(rows[1].contains("Al") && rows[1].contains('7'), "{out}");
    assert!(rows[4].contains("Li") && rows[4].contains("175"), "{out}");
    r.expect("hopdb> ");

    // .format csv
    r.line(".format csv");
    r.expect("hopdb> ");
    r.line("SELECT ion, COUNT(*) AS n FROM hops WHERE ion IN ('Sr', 'Al') GROUP BY ion;");
    r.expect("ion,n\nAl,7\nSr,2\n");
    r.expect("hopdb> ");

    // A parse error prints the caret rendering, and the shell carries on.
    r.line("SELECT emm FROM hops;");
    let err = r.expect("^^^");
    assert!(
        err.contains("error: unknown field 'emm', did you mean 'em'?"),
        "{err}"
    );
    assert!(err.contains("1 | SELECT emm FROM hops;"), "{err}");
    r.expect("hopdb> ");
    r.line("SELECT COUNT(*) AS k FROM hops WHERE ion = 'K';");
    r.expect("k\n36\n");
    r.expect("hopdb> ");

    // Ctrl-C drops the half-typed statement (including an unfinished first line).
    r.line("SELECT nonsense");
    r.expect("   ...> ");
    r.send("FROM");
    r.expect("FROM");
    r.send("\x03");
    r.expect("hopdb> ");
    r.line("SELECT COUNT(*) AS total FROM hops;");
    r.expect("total\n619\n");
    r.expect("hopdb> ");

    // Tab completes a field name: `sys_na` -> `sys_name`.
    r.send("SELECT sys_na\t");
    r.expect("sys_name");
    r.line(" FROM hops WHERE id = 'devi2025:LiCoO2_1';");
    r.expect("sys_name\nLiCoO2_1\n");
    r.expect("hopdb> ");

    // .timer and .schema
    r.line(".timer on");
    r.expect("hopdb> ");
    r.line("SELECT COUNT(*) FROM hops WHERE elements HAS 'Se';");
    r.expect("Time: ");
    r.expect(" ms");
    r.expect("hopdb> ");
    r.line(".schema");
    r.expect("field,type,indexed,doc\nid,Str,true,");
    r.expect("hopdb> ");

    r.line(".quit");
    r.wait_exit();
    if std::env::var_os("HOPDB_PTY_DEBUG").is_some() {
        eprintln!("transcript:\n{}", r.transcript());
    }

    // History was saved, the multi-line statement as one entry.
    let saved = std::fs::read_to_string(&history).expect("history file");
    assert!(
        saved.contains("SELECT ion, COUNT(*)\\nFROM hops GROUP BY ion\\nORDER BY ion;"),
        "history:\n{saved}"
    );
    assert!(
        !saved.contains("nonsense"),
        "a cancelled statement is not history:\n{saved}"
    );

    // A new session recalls it with the Up arrow; Ctrl-D leaves.
    let mut r = Repl::start(&db, &history);
    r.expect("hopdb> ");
    r.line(".format csv");
    r.expect("hopdb> ");
    r.send("\x1b[A"); // Up: the `.format csv` just typed
    r.expect(".format csv");
    r.send("\x1b[A"); // Up again: `.quit` from the previous session
    r.expect(".quit");
    r.send("\x1b[A"); // `.schema`
    r.expect(".schema");
    r.send("\x1b[A"); // `SELECT ... 'Se';`
    r.expect("'Se';");
    r.send("\r");
    r.expect("COUNT(*)\n");
    r.expect("hopdb> ");
    r.send("\x04");
    r.wait_exit();
}
