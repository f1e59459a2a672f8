//! `tilebox-server` processes for tests that need several of them on one database, a restart, or an
//! environment of their own (object-store credentials and endpoints).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A `tilebox-server` process; killed (SIGKILL) when dropped.
pub struct ServerProcess {
    child: Child,
    /// Where it listens (`http://127.0.0.1:<port>`).
    pub url: String,
}

impl ServerProcess {
    /// Starts a server with `args` (it listens on a free loopback port) and waits until it listens.
    pub fn start(args: &[&str]) -> ServerProcess {
        ServerProcess::listening(ServerProcess::spawn_env(args, &[]))
    }

    /// Spawns a server with `args` without waiting for it.
    pub fn spawn(args: &[&str]) -> Child {
        ServerProcess::spawn_env(args, &[])
    }

    /// Spawns a server with `args` and extra environment variables without waiting for it.
    pub fn spawn_env(args: &[&str], env: &[(&str, &str)]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_tilebox-server"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tilebox-server starts")
    }

    /// Waits until the server prints its URL (it is listening, demo data seeded).
    pub fn listening(mut child: Child) -> ServerProcess {
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("the server prints its URL before exiting")
                .unwrap();
            if let Some(url) = line.strip_prefix("tilebox-server listening on ") {
                break url.trim().to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        ServerProcess { child, url }
    }

    /// SIGKILL: the process ends mid-request, without any chance to clean up.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
