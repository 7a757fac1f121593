//! The `wxlogin` binary as a child process, for every integration test of this crate.
//!
//! [`Process::spawn`] starts `wxlogin ARGS…` with piped output and waits for the
//! `listening on ADDR` line that `serve` and `simulate` print first ([`Process::addr`]).
//! Everything the process writes after that line, stderr and stdout, is collected on threads of
//! its own, so the child never blocks on a full pipe and a test can grep it
//! ([`Process::output`]); stdout lines are also handed out one by one
//! ([`Process::next_stdout_line`], e.g. the simulator's `tls ca written to PATH` under `--tls`).
//! The child sees none of the developer's `WXLOGIN_*` variables, and it is killed when the
//! [`Process`] is dropped.
//!
//! `server.rs` and `sensitive.rs` get this through `support`; the simulator's own tests, which
//! need nothing else from `support`, include this file alone with `#[path]`.

#![allow(
    dead_code,
    reason = "included by several test binaries, each of which uses part of it"
)]

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long [`Process::next_stdout_line`] waits before it gives up.
const STDOUT_LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// A child process of the `wxlogin` binary, killed when dropped.
pub(crate) struct Process {
    child: Child,
    addr: String,
    /// Everything the process wrote after its `listening on` line: stderr and stdout.
    output: Arc<Mutex<String>>,
    /// The stdout lines after the `listening on` one, without trailing whitespace.
    stdout_lines: Mutex<Receiver<String>>,
}

impl Process {
    /// The `wxlogin` binary as a command, with none of the developer's `WXLOGIN_*` variables:
    /// only the config file counts. For one-shot runs (operator commands); servers go through
    /// [`Process::spawn`].
    pub(crate) fn command() -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wxlogin"));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("WXLOGIN_") {
                command.env_remove(name);
            }
        }
        command
    }

    /// Starts `wxlogin ARGS…` and waits for its `listening on ADDR` line; panics, with what the
    /// process wrote on stderr, if the first stdout line is anything else.
    pub(crate) fn spawn<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Self {
        let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let mut command = Self::command();
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("cannot start wxlogin");
        let output = Arc::new(Mutex::new(String::new()));
        drain(child.stderr.take().unwrap(), output.clone());
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let Some(addr) = first.trim_end().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            // Give the stderr thread a moment to collect the reason.
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "wxlogin {args:?}: first stdout line was {first:?}; stderr:\n{}",
                output.lock().unwrap()
            );
        };
        let addr = addr.to_owned();
        let stdout_lines = drain_lines(stdout, output.clone());
        Self {
            child,
            addr,
            output,
            stdout_lines: Mutex::new(stdout_lines),
        }
    }

    /// The `ADDR` of the `listening on ADDR` line: `IP:PORT`, without a scheme.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// What the process wrote so far after its `listening on` line, stderr and stdout.
    pub(crate) fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits for the next stdout line after the `listening on` one (and those taken before),
    /// which must start with `prefix`, and returns the rest of it without trailing whitespace. Panics
    /// if the line is anything else, or if none comes.
    #[track_caller]
    pub(crate) fn next_stdout_line(&self, prefix: &str) -> String {
        let next = self
            .stdout_lines
            .lock()
            .unwrap()
            .recv_timeout(STDOUT_LINE_TIMEOUT);
        let line = match next {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!(
                "no stdout line `{prefix}…` within {STDOUT_LINE_TIMEOUT:?}; output:\n{}",
                self.output()
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "stdout closed before a line `{prefix}…`; output:\n{}",
                self.output()
            ),
        };
        match line.strip_prefix(prefix) {
            Some(rest) => rest.to_owned(),
            None => panic!("expected `{prefix}…` on stdout, got {line:?}"),
        }
    }

    /// Kills the process (SIGKILL: no chance to tidy up) and waits for it.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Copies everything from `from` into `into` on a thread of its own, so the child never blocks
/// on a full pipe.
fn drain(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
}

/// [`drain`], a line at a time, also sending each line (without trailing whitespace) to the
/// receiver it returns.
fn drain_lines(
    mut from: impl BufRead + Send + 'static,
    into: Arc<Mutex<String>>,
) -> Receiver<String> {
    let (lines, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match from.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&buf);
            into.lock().unwrap().push_str(&line);
            // Nobody may be waiting for lines; the output keeps them all the same.
            let _ = lines.send(line.trim_end().to_owned());
        }
    });
    receiver
}
