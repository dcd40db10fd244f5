//! `path` uploads through the real stdio binary, under attack: directories swapped for links to
//! outside files, `/dev/zero` and FIFOs while uploads run, and refusals that must not tell
//! whether a file outside the allowed directories exists.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The image inside the allowed directory: 256×192.
const INSIDE: &str = "images/with-alpha.png";
const INSIDE_WIDTH: u64 = 256;
/// The file outside it that must never be stored: 600×450.
const OUTSIDE: &str = "images/Landscape_1.jpg";
const OUTSIDE_WIDTH: u64 = 600;
/// Address space the server may use: reading `/dev/zero` without a bound ends here, not in the
/// machine's memory.
const ADDRESS_SPACE_LIMIT: &str = "--as=4294967296";

fn corpus(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(relative)
}

/// `s3-upload-mcp stdio --allow-dir DIR` on an embedded store, spoken to over its pipes.
struct StdioServer {
    child: Child,
    stdin: ChildStdin,
    replies: Receiver<Value>,
    next_id: u64,
    _data: tempfile::TempDir,
}

impl StdioServer {
    fn start(allow_dir: &Path) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new("prlimit")
            .arg(ADDRESS_SPACE_LIMIT)
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_s3-upload-mcp"))
            .args(["stdio", "--s3-listen", "127.0.0.1:0", "--allow-dir"])
            .arg(allow_dir)
            .arg("--data-dir")
            .arg(data.path())
            .env_clear()
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("prlimit and the binary start");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, replies) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(message) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(message);
                }
            }
        });
        let mut server = StdioServer {
            child,
            stdin,
            replies,
            next_id: 1,
            _data: data,
        };
        let id = server.send(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "stdio-path-tests", "version": "1"}}),
        );
        server.wait_for(&[id], Duration::from_secs(60));
        server.write(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        server
    }

    fn write(&mut self, message: &Value) {
        writeln!(self.stdin, "{message}").expect("the server reads its stdin");
        self.stdin.flush().unwrap();
    }

    fn send(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.write(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    fn upload(&mut self, path: &Path) -> u64 {
        self.send(
            "tools/call",
            json!({"name": "upload_image_to_s3",
                   "arguments": {"path": path, "filename": "photo.png"}}),
        )
    }

    /// The replies to `ids`, by id; panics if one does not come in time (a hung read) or the
    /// server dies (an unbounded one).
    fn wait_for(&mut self, ids: &[u64], timeout: Duration) -> HashMap<u64, Value> {
        let deadline = Instant::now() + timeout;
        let mut replies = HashMap::new();
        while replies.len() < ids.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.replies.recv_timeout(left) {
                Ok(reply) => {
                    if let Some(id) = reply["id"].as_u64().filter(|id| ids.contains(id)) {
                        replies.insert(id, reply);
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{} of {} calls unanswered after {timeout:?}: a read hung",
                    ids.len() - replies.len(),
                    ids.len()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "the server died after {} of {} replies ({:?})",
                    replies.len(),
                    ids.len(),
                    self.child.try_wait()
                ),
            }
        }
        replies
    }

    /// The text of a tool error, or `None` when the call succeeded.
    fn error_of(reply: &Value) -> Option<String> {
        let result = &reply["result"];
        (result["isError"] == json!(true)).then(|| {
            result["content"][0]["text"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
    }
}

impl Drop for StdioServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// root/allowed/{photo.png, sub/photo.png} inside; root/outside/photo.png the secret;
/// root/zero/photo.png → /dev/zero; root/fifo/photo.png a FIFO.
struct Layout {
    _root: tempfile::TempDir,
    root: PathBuf,
}

impl Layout {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        for folder in ["allowed/sub", "outside", "zero", "fifo"] {
            std::fs::create_dir_all(root.join(folder)).unwrap();
        }
        std::fs::copy(corpus(INSIDE), root.join("allowed/photo.png")).unwrap();
        std::fs::copy(corpus(INSIDE), root.join("allowed/sub/photo.png")).unwrap();
        std::fs::copy(corpus(OUTSIDE), root.join("outside/photo.png")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", root.join("zero/photo.png")).unwrap();
        let fifo = Command::new("mkfifo")
            .arg(root.join("fifo/photo.png"))
            .status()
            .unwrap();
        assert!(fifo.success());
        Layout { _root: dir, root }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }
}

/// Swaps each directory for a symlink to each target in turn, and back, until told to stop.
fn swap_until(stop: &AtomicBool, swaps: &AtomicUsize, dirs: &[PathBuf], targets: &[PathBuf]) {
    while !stop.load(Ordering::Relaxed) {
        for dir in dirs {
            let aside = dir.with_extension("real");
            for target in targets {
                std::fs::rename(dir, &aside).expect("the directory moves aside");
                std::os::unix::fs::symlink(target, dir).unwrap();
                std::thread::yield_now();
                std::fs::remove_file(dir).unwrap();
                std::fs::rename(&aside, dir).expect("the directory goes back");
                swaps.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The check-then-read race: while a thread swaps the allowed directory, and a folder inside
/// it, for links to an outside image, `/dev/zero` and a FIFO, 400 uploads by `path` run. None
/// may store the outside image, hang, or read without a bound (the server runs under a 4 GiB
/// address-space limit, so an unbounded read kills it instead of the machine).
#[test]
fn swapping_allowed_directories_for_links_never_stores_outside_content_or_hangs() {
    let layout = Layout::new();
    let allowed = layout.path("allowed");
    let mut server = StdioServer::start(&allowed);
    let targets = [
        layout.path("outside"),
        layout.path("zero"),
        layout.path("fifo"),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicUsize::new(0));
    let swapper = {
        let (stop, swaps) = (stop.clone(), swaps.clone());
        let dirs = [allowed.join("sub"), allowed.clone()];
        std::thread::spawn(move || swap_until(&stop, &swaps, &dirs, &targets))
    };

    let started = Instant::now();
    let ids: Vec<u64> = (0..400)
        .map(|i| {
            let path = if i % 2 == 0 {
                allowed.join("sub/photo.png")
            } else {
                allowed.join("photo.png")
            };
            server.upload(&path)
        })
        .collect();
    let replies = server.wait_for(&ids, Duration::from_secs(180));
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();

    let mut stored = 0;
    let mut refusals: HashMap<String, usize> = HashMap::new();
    for reply in replies.values() {
        match StdioServer::error_of(reply) {
            None => {
                let width = reply["result"]["structuredContent"]["width"].as_u64();
                assert_ne!(
                    width,
                    Some(OUTSIDE_WIDTH),
                    "the outside image was stored: {reply}"
                );
                assert_eq!(width, Some(INSIDE_WIDTH), "{reply}");
                stored += 1;
            }
            Some(text) => {
                let text = text.replace(&*layout.root.to_string_lossy(), "<root>");
                *refusals.entry(text).or_default() += 1;
            }
        }
    }
    eprintln!(
        "{stored} of 400 stored, {} swaps, {:?}; refusals: {refusals:#?}",
        swaps.load(Ordering::Relaxed),
        started.elapsed()
    );
    assert!(swaps.load(Ordering::Relaxed) > 0, "the race never ran");
    assert!(stored > 0, "no upload went through at all: {refusals:#?}");
    // The server is still there and still serves the file once nothing moves.
    let id = server.upload(&allowed.join("sub/photo.png"));
    let reply = &server.wait_for(&[id], Duration::from_secs(60))[&id];
    assert_eq!(StdioServer::error_of(reply), None, "{reply}");
}

/// A refusal says the same whether or not a file outside the allowed directories exists, so
/// `path` cannot be used to probe the disk; special files inside are refused without a read.
#[test]
fn refusals_do_not_reveal_whether_an_outside_file_exists_and_special_files_are_not_read() {
    let layout = Layout::new();
    let allowed = layout.path("allowed");
    std::os::unix::fs::symlink(layout.path("outside/photo.png"), allowed.join("escape.png"))
        .unwrap();
    std::os::unix::fs::symlink("../outside/missing.png", allowed.join("dangling.png")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", allowed.join("zero.png")).unwrap();
    Command::new("mkfifo")
        .arg(allowed.join("fifo.png"))
        .status()
        .unwrap();
    let mut server = StdioServer::start(&allowed);

    let mut refusal = |path: PathBuf| -> String {
        let id = server.upload(&path);
        let reply = &server.wait_for(&[id], Duration::from_secs(30))[&id];
        let text =
            StdioServer::error_of(reply).unwrap_or_else(|| panic!("{path:?} was read: {reply}"));
        // The path is echoed back as given; what follows it must not depend on the disk.
        text.replace(&*path.to_string_lossy(), "<path>")
    };
    let outside = [
        layout.path("outside/photo.png"),
        layout.path("outside/missing.png"),
        layout.path("nowhere/missing.png"),
        allowed.join("../outside/photo.png"),
        allowed.join("../outside/missing.png"),
        allowed.join("escape.png"),
        allowed.join("dangling.png"),
    ];
    let texts: Vec<String> = outside.iter().cloned().map(&mut refusal).collect();
    for (path, text) in outside.iter().zip(&texts) {
        assert_eq!(
            text, &texts[0],
            "{path:?} is told apart from {:?}",
            outside[0]
        );
        assert!(text.contains("outside the allowed directories"), "{text}");
    }

    for special in ["zero.png", "fifo.png"] {
        let started = Instant::now();
        let text = refusal(allowed.join(special));
        assert!(
            text.contains("not a regular file") || text.contains("outside the allowed directories"),
            "{special}: {text}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{special} blocked"
        );
    }
    let missing = refusal(allowed.join("missing.png"));
    assert!(missing.contains("no such file"), "{missing}");
}
