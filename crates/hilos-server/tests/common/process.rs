//! `hilos-server` as a child process, as an operator runs it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_hilos-server");

/// A server process listening on a port the OS chose.
pub struct ServerProcess {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// What it printed on stdout before it listened.
    pub stdout: Vec<String>,
}

impl ServerProcess {
    /// Starts `hilos-server` with no arguments in `dir`, bound to port 0, with
    /// `env` added; returns once it listens.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_with_stderr(dir, env, Stdio::null())
    }

    /// [`ServerProcess::start`], with the server's stderr (its log) sent to
    /// `stderr`.
    pub fn start_with_stderr(dir: &Path, env: &[(&str, &str)], stderr: Stdio) -> Self {
        let addr_file = dir.join(format!("addr-{}", uuid::Uuid::new_v4().simple()));
        let mut command = Command::new(BIN);
        command
            .current_dir(dir)
            .env("HILOS_BIND", "127.0.0.1:0")
            .env("HILOS_ADDR_FILE", &addr_file)
            .env("HILOS_LOG", "warn")
            .env_remove("HILOS_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start hilos-server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !addr_file.exists() {
            assert!(Instant::now() < deadline, "the server did not start");
            if let Some(status) = child.try_wait().expect("poll") {
                panic!("the server exited early: {status}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The address file is written after the first-start lines are printed.
        let addr = std::fs::read_to_string(&addr_file).expect("address");
        let reader = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stdout = Vec::new();
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
            stdout.push(line);
        }
        Self {
            child,
            base: format!("http://{addr}"),
            stdout,
        }
    }

    /// The API token the first start printed.
    pub fn token(&self) -> String {
        self.stdout
            .iter()
            .find_map(|l| l.strip_prefix("API token: "))
            .expect("the first start prints a token")
            .to_owned()
    }

    /// Sends SIGKILL and waits until the process is gone, asserting that
    /// the signal (not an earlier exit of its own) is what ended it.
    pub fn kill(mut self) {
        use std::os::unix::process::ExitStatusExt as _;

        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().expect("wait");
        assert_eq!(
            status.signal(),
            Some(9),
            "the server was running until SIGKILL: {status}"
        );
    }

    /// Sends SIGTERM.
    pub fn signal_term(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(self) {
        self.signal_term();
        self.wait_for_clean_exit();
    }

    /// Waits for the process to exit 0.
    pub fn wait_for_clean_exit(mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "exit status after SIGTERM: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
