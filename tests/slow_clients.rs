//! Slow and greedy clients against the real `serve` binary, on both of its listeners (the MCP
//! endpoint and the embedded S3 store): half-sent requests, more connections than the cap,
//! stalled bodies, and a file-descriptor limit that makes accepting fail.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `s3-upload-mcp serve` on loopback ports, started through `prlimit` when `nofile` is given.
struct Server {
    child: Child,
    mcp: SocketAddr,
    store: SocketAddr,
    _data: tempfile::TempDir,
}

impl Server {
    fn start(vars: &[(&str, &str)], nofile: Option<u32>) -> Self {
        let data = tempfile::tempdir().unwrap();
        let binary = env!("CARGO_BIN_EXE_s3-upload-mcp");
        let mut command = match nofile {
            Some(limit) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={limit}")).arg("--").arg(binary);
                c
            }
            None => Command::new(binary),
        };
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .env_clear()
            .env("RUST_LOG", "warn")
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().expect("the binary starts");
        // Read the banner on a thread that keeps draining stdout: a closed pipe would make the
        // server's next line fail.
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (lines, banner) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let (mut mcp, mut store) = (None, None);
        while mcp.is_none() || store.is_none() {
            let line = banner
                .recv_timeout(Duration::from_secs(60))
                .expect("serve prints its banner");
            let address = |marker: &str| {
                let rest = line.split(marker).nth(1)?.trim();
                let host_port = rest
                    .trim_start_matches("http://")
                    .split(['/', ' '])
                    .next()?;
                host_port.parse::<SocketAddr>().ok()
            };
            mcp = mcp.or_else(|| address("health:"));
            store = store.or_else(|| address("embedded S3 at "));
        }
        Server {
            child,
            mcp: mcp.expect("serve prints its health URL"),
            store: store.expect("serve prints the store's address"),
            _data: data,
        }
    }

    /// CPU time (user + system) the server has used so far.
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // USER_HZ is 100 on every Linux configuration that matters.
        Duration::from_millis(ticks * 10)
    }

    fn open_descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|entries| entries.count())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status line of a complete GET, or what went wrong, within `timeout`.
fn get(address: SocketAddr, path: &str, timeout: Duration) -> Result<String, String> {
    let mut stream = TcpStream::connect_timeout(&address, timeout).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(timeout)).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&head[..n]);
    Ok(text.lines().next().unwrap_or("closed").to_owned())
}

/// Connections that each sent the start of a request and nothing more.
fn trickle(address: SocketAddr, count: usize, start: &[u8]) -> Vec<TcpStream> {
    (0..count)
        .filter_map(|_| {
            let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
            stream.write_all(start).ok()?;
            Some(stream)
        })
        .collect()
}

const HALF_A_REQUEST_LINE: &[u8] = b"GET /healthz HT";
const A_STALLED_BODY: &[u8] =
    b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n\
accept: application/json, text/event-stream\r\ncontent-length: 1000\r\n\r\n{\"jsonrpc\"";

/// What the server did with each connection: the first line it answered, or "closed", or
/// "open" if it has said nothing and kept it.
fn fates(streams: &mut [TcpStream]) -> Vec<String> {
    streams
        .iter_mut()
        .map(|stream| {
            stream
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let mut buffer = [0u8; 64];
            match stream.read(&mut buffer) {
                Ok(0) => "closed".to_owned(),
                Ok(n) => String::from_utf8_lossy(&buffer[..n])
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    "open".to_owned()
                }
                Err(_) => "closed".to_owned(),
            }
        })
        .collect()
}

fn count(fates: &[String], what: &str) -> usize {
    fates.iter().filter(|f| f.starts_with(what)).count()
}

/// Slowloris on both listeners: past the cap, the oldest half-sent connections make room at
/// once, the rest are closed when the header-read timeout ends, and `/healthz` answers
/// throughout.
#[test]
fn half_sent_requests_cannot_hold_either_listener_and_healthz_keeps_answering() {
    let server = Server::start(
        &[
            ("MAX_CONNECTIONS", "16"),
            ("HEADER_READ_TIMEOUT_MS", "1500"),
        ],
        None,
    );
    // "At once" leaves room for a busy test machine; before, these waited forever.
    let quick = Duration::from_secs(3);
    for (address, probe) in [(server.mcp, "/healthz"), (server.store, "/")] {
        let mut held = trickle(address, 48, HALF_A_REQUEST_LINE);
        assert_eq!(held.len(), 48);
        let started = Instant::now();
        let answer = get(address, probe, quick).expect("the listener answers at once");
        assert!(answer.starts_with("HTTP/1.1"), "{probe}: {answer}");
        assert!(started.elapsed() < quick);
        assert_eq!(
            get(server.mcp, "/healthz", quick).as_deref(),
            Ok("HTTP/1.1 200 OK")
        );
        let now = fates(&mut held);
        assert!(
            count(&now, "closed") >= 48 - 16,
            "past the cap of 16, the oldest half-sent connections are closed: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(3500));
        let later = fates(&mut held);
        assert_eq!(
            count(&later, "open"),
            0,
            "after the header timeout: {later:?}"
        );
    }
    assert!(
        server.open_descriptors() < 64,
        "{}",
        server.open_descriptors()
    );
}

/// When every connection is serving a request, a newcomer is told 503 at once instead of
/// waiting; a body that stalls is answered 408 when the body-read timeout ends, and the
/// server is whole again.
#[test]
fn past_the_cap_of_busy_connections_a_newcomer_gets_503_at_once_and_stalled_bodies_408() {
    let server = Server::start(
        &[("MAX_CONNECTIONS", "4"), ("BODY_READ_TIMEOUT_MS", "1500")],
        None,
    );
    let mut stalled = trickle(server.mcp, 4, A_STALLED_BODY);
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(
        get(server.mcp, "/healthz", Duration::from_secs(3)).as_deref(),
        Ok("HTTP/1.1 503 Service Unavailable")
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    std::thread::sleep(Duration::from_millis(3000));
    let answered = fates(&mut stalled);
    assert_eq!(
        count(&answered, "HTTP/1.1 408"),
        4,
        "stalled bodies: {answered:?}"
    );
    assert_eq!(
        get(server.mcp, "/healthz", Duration::from_secs(3)).as_deref(),
        Ok("HTTP/1.1 200 OK")
    );
}

/// Under a file-descriptor limit the listeners cannot accept: with half-sent connections to
/// close they make room and `/healthz` answers; with only busy ones they back off rather than
/// spin (before: the store's accept loop spun at 100 % CPU and `/healthz` timed out).
#[test]
fn out_of_descriptors_the_listeners_neither_spin_nor_lock_out_healthz() {
    let server = Server::start(
        &[
            ("MAX_CONNECTIONS", "1000"),
            ("HEADER_READ_TIMEOUT_MS", "60000"),
            ("BODY_READ_TIMEOUT_MS", "3000"),
        ],
        Some(64),
    );
    let mut half_sent = trickle(server.store, 120, HALF_A_REQUEST_LINE);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        get(server.mcp, "/healthz", Duration::from_secs(5)).as_deref(),
        Ok("HTTP/1.1 200 OK"),
        "a half-sent connection gave its descriptor back"
    );
    assert!(count(&fates(&mut half_sent), "closed") > 0);
    drop(half_sent);

    // Busy connections only: nothing to close, so accepting fails until bodies time out.
    let stalled = trickle(server.mcp, 120, A_STALLED_BODY);
    std::thread::sleep(Duration::from_millis(300));
    let (cpu, wall) = (server.cpu_time(), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let used = server.cpu_time() - cpu;
    let share = used.as_secs_f64() / wall.elapsed().as_secs_f64();
    assert!(
        share < 0.2,
        "the server used {used:?} of CPU in {:?} while out of descriptors",
        wall.elapsed()
    );
    std::thread::sleep(Duration::from_secs(2));
    drop(stalled);
    assert_eq!(
        get(server.mcp, "/healthz", Duration::from_secs(5)).as_deref(),
        Ok("HTTP/1.1 200 OK"),
        "the listener accepts again"
    );
}
