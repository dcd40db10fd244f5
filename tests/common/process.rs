//! The release binary as a user runs it: `serve` in a child process, its stdout read line by
//! line (the banner, then one JSON audit line per call).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use serde_json::Value;

pub struct ServeProcess {
    pub mcp_url: String,
    child: Child,
    lines: Receiver<String>,
    /// Everything written to stderr, read as it comes: a full pipe would block the server.
    logs: Option<std::thread::JoinHandle<String>>,
}

impl ServeProcess {
    /// `s3-upload-mcp serve` on a free loopback port with data in `data_dir` and only `vars`
    /// (and PATH) in its environment; returns once the banner names the MCP endpoint.
    pub fn start(data_dir: &Path, vars: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_s3-upload-mcp"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let mut stderr = child.stderr.take().unwrap();
        let logs = std::thread::spawn(move || {
            let mut logs = String::new();
            let _ = stderr.read_to_string(&mut logs);
            logs
        });
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let mcp_url = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .expect("serve prints its banner");
            if let Some(url) = line.trim().strip_prefix("MCP endpoint:") {
                break url.trim().to_owned();
            }
        };
        ServeProcess {
            mcp_url,
            child,
            lines,
            logs: Some(logs),
        }
    }

    /// The next `count` audit lines (other stdout lines are skipped).
    pub fn audit_lines(&self, count: usize) -> Vec<Value> {
        let mut audit = Vec::new();
        while audit.len() < count {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .expect("audit lines arrive");
            if let Ok(event) = serde_json::from_str::<Value>(&line)
                && event["type"] == "audit"
            {
                audit.push(event);
            }
        }
        audit
    }

    /// Stops the process; returns what it wrote to stderr (its logs).
    pub fn stop(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let logs = self.logs.take().expect("stopped once");
        logs.join()
            .expect("the stderr reader ends with the process")
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        // Also when a test fails before `stop`: never leave a server running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
