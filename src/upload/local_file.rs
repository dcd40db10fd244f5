//! `path` sources (stdio's `--allow-dir`): a file is opened once, beneath an allowed directory
//! and without following links out of it, then checked and read through that one descriptor.
//!
//! Checking a path and then reading it again by name is a race: a directory swapped for a
//! symlink between the two reads whatever the link points to (an outside file, `/dev/zero`, a
//! FIFO that never answers). Here nothing is ever looked up twice. On Linux `openat2` with
//! `RESOLVE_BENEATH` refuses, inside the kernel, any `..` or link that leads out of the
//! directory; elsewhere (or on kernels before 5.6) the opened descriptor's real path is checked
//! instead. The descriptor is opened non-blocking (a FIFO cannot stall it), `fstat` must show a
//! regular file within the limit, and the read stops one byte past the limit whatever the file
//! does meanwhile. A refusal reads the same whether or not a file outside the allowed
//! directories exists, so `path` cannot probe the disk.

use std::fs::File;
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

use super::{InputReason, UploadError};
use crate::imaging::ImagingError;

/// Reads the file at `path` if it lies inside one of `allowed_dirs` (canonical paths), at most
/// `max_bytes` of it.
pub(super) async fn read(
    path: &Path,
    allowed_dirs: &[PathBuf],
    max_bytes: usize,
) -> Result<Vec<u8>, UploadError> {
    if allowed_dirs.is_empty() {
        return Err(refused(
            "`path` is only accepted by the local stdio server (s3-upload-mcp stdio --allow-dir DIR); \
             send the image in `data`, or use create_upload_url"
                .into(),
        ));
    }
    let (path, allowed_dirs) = (path.to_owned(), allowed_dirs.to_vec());
    tokio::task::spawn_blocking(move || read_blocking(&path, &allowed_dirs, max_bytes))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading a local file failed");
            UploadError::Internal
        })?
}

fn read_blocking(
    path: &Path,
    allowed_dirs: &[PathBuf],
    max_bytes: usize,
) -> Result<Vec<u8>, UploadError> {
    let shown = path.display();
    if !path.is_absolute() {
        return Err(refused(format!(
            "{shown} is not an absolute path; pass the file's full path, e.g. /Users/me/Pictures/hero.png"
        )));
    }
    let Some((dir, relative)) = locate(path, allowed_dirs) else {
        return Err(outside(path, allowed_dirs));
    };
    let file = match open_beneath(dir, &relative) {
        Ok(file) => file,
        Err(Opened::Escapes) => return Err(outside(path, allowed_dirs)),
        // Resolution never left `dir`, so these speak of the allowed directory only.
        Err(Opened::Failed(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(refused(format!(
                "{shown}: no such file in the allowed directory {}; check the path",
                dir.display()
            )));
        }
        Err(Opened::Failed(e)) => return Err(refused(format!("cannot open {shown}: {e}"))),
    };
    let metadata = file
        .metadata()
        .map_err(|e| refused(format!("cannot read {shown}: {e}")))?;
    if !metadata.is_file() {
        return Err(refused(format!(
            "{shown} is not a regular file (a directory, device, FIFO or socket); pass an image file"
        )));
    }
    let too_large = |bytes: u64| -> UploadError {
        ImagingError::InputTooLarge {
            bytes: usize::try_from(bytes).unwrap_or(usize::MAX),
            limit: max_bytes,
        }
        .into()
    };
    if metadata.len() > max_bytes as u64 {
        return Err(too_large(metadata.len()));
    }
    // The file may grow after fstat: the read stops one byte past the limit regardless.
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(max_bytes));
    file.take(max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| refused(format!("cannot read {shown}: {e}")))?;
    if bytes.len() > max_bytes {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// The allowed directory `path` names and the part below it: by its text, or else by its
/// canonical form (a link outside pointing in; `/tmp` → `/private/tmp` on macOS). A path with
/// `..` is only taken by its text: resolving `/outside/x/../../allowed/a.png` would tell
/// whether `/outside/x` exists. Whatever this returns is still opened beneath the directory.
fn locate<'a>(path: &Path, allowed_dirs: &'a [PathBuf]) -> Option<(&'a Path, PathBuf)> {
    let below = |candidate: &Path| {
        allowed_dirs.iter().find_map(|dir| {
            let relative = candidate.strip_prefix(dir).ok()?;
            Some((dir.as_path(), relative.to_owned()))
        })
    };
    if let Some(found) = below(path) {
        return Some(found);
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return None;
    }
    below(&std::fs::canonicalize(path).ok()?)
}

/// Why a file could not be opened beneath its directory.
enum Opened {
    /// A `..` or a link leads out of the directory, or the directory itself is now a link (or,
    /// where the system cannot tell, the file is missing).
    Escapes,
    /// Anything else, about a path inside the directory.
    Failed(std::io::Error),
}

/// Opens `relative` beneath `dir` in one step the kernel keeps inside `dir`.
#[cfg(target_os = "linux")]
fn open_beneath(dir: &Path, relative: &Path) -> Result<File, Opened> {
    use rustix::fs::{CWD, Mode, OFlags, ResolveFlags, openat2};
    use rustix::io::Errno;

    // The allowed directory by a path with no links at all: had someone replaced it (or a
    // parent) with a link since start, this fails instead of following it.
    let dir_fd = match openat2(
        CWD,
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS,
    ) {
        Ok(fd) => fd,
        // No openat2 (Linux before 5.6, some sandboxes): check the descriptor instead.
        Err(Errno::NOSYS) => return open_then_verify(dir, relative),
        Err(Errno::LOOP | Errno::NOTDIR) => return Err(Opened::Escapes),
        Err(e) => return Err(Opened::Failed(e.into())),
    };
    let how = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let beneath = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    // EAGAIN: a rename raced a `..` lookup and the kernel would not vouch for the result.
    for _ in 0..3 {
        match openat2(&dir_fd, relative, how, Mode::empty(), beneath) {
            Ok(fd) => return Ok(File::from(fd)),
            Err(Errno::AGAIN) => continue,
            Err(Errno::XDEV | Errno::LOOP) => return Err(Opened::Escapes),
            Err(e) => return Err(Opened::Failed(e.into())),
        }
    }
    Err(Opened::Failed(std::io::ErrorKind::Interrupted.into()))
}

#[cfg(all(unix, not(target_os = "linux")))]
fn open_beneath(dir: &Path, relative: &Path) -> Result<File, Opened> {
    open_then_verify(dir, relative)
}

/// Opens the file (non-blocking, so a FIFO cannot stall the open), then checks where the
/// descriptor really points: whatever is read comes from that descriptor, so a swap after the
/// check cannot change it.
#[cfg(unix)]
fn open_then_verify(dir: &Path, relative: &Path) -> Result<File, Opened> {
    use std::os::unix::fs::OpenOptionsExt as _;

    let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY;
    // Where a failed open was heading cannot be known without looking the name up again, so
    // every failure gets the one answer that reveals nothing about outside files.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(dir.join(relative))
        .map_err(|_| Opened::Escapes)?;
    match descriptor_path(&file) {
        Some(real) if real.starts_with(dir) => Ok(file),
        _ => Err(Opened::Escapes),
    }
}

#[cfg(all(unix, any(target_os = "linux", target_os = "android")))]
fn descriptor_path(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd as _;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

#[cfg(all(unix, target_vendor = "apple"))]
fn descriptor_path(file: &File) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt as _;
    let path = rustix::fs::getpath(file).ok()?;
    Some(PathBuf::from(std::ffi::OsString::from_vec(
        path.into_bytes(),
    )))
}

/// No way to ask this system where a descriptor points: refuse rather than trust the name.
#[cfg(all(
    unix,
    not(any(target_os = "linux", target_os = "android", target_vendor = "apple"))
))]
fn descriptor_path(_: &File) -> Option<PathBuf> {
    None
}

#[cfg(not(unix))]
fn open_beneath(_: &Path, _: &Path) -> Result<File, Opened> {
    Err(Opened::Failed(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "`path` uploads need Linux or macOS; send the image in `data` instead",
    )))
}

fn refused(message: String) -> UploadError {
    UploadError::invalid(InputReason::Path, message)
}

/// The one answer for anything outside: missing, present, or reached through a link.
fn outside(path: &Path, allowed_dirs: &[PathBuf]) -> UploadError {
    let dirs: Vec<String> = allowed_dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    refused(format!(
        "{} is missing, or outside the allowed directories ({}) or reached through a link out of \
         them; move the file into one of them, or start the server with --allow-dir",
        path.display(),
        dirs.join(", ")
    ))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn dirs(root: &Path) -> Vec<PathBuf> {
        vec![std::fs::canonicalize(root.join("allowed")).unwrap()]
    }

    fn layout() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("allowed/sub")).unwrap();
        std::fs::create_dir_all(root.path().join("outside")).unwrap();
        std::fs::write(root.path().join("allowed/sub/a.png"), b"inside").unwrap();
        std::fs::write(root.path().join("outside/a.png"), b"outside").unwrap();
        root
    }

    #[test]
    fn a_file_inside_is_read_and_links_within_the_directory_are_followed() {
        let root = layout();
        let allowed = dirs(root.path());
        std::os::unix::fs::symlink("sub/a.png", allowed[0].join("link.png")).unwrap();
        for path in ["sub/a.png", "sub/../sub/a.png", "link.png"] {
            assert_eq!(
                read_blocking(&allowed[0].join(path), &allowed, 100).unwrap(),
                b"inside",
                "{path}"
            );
        }
    }

    #[test]
    fn links_and_dot_dots_out_of_the_directory_are_refused_alike() {
        let root = layout();
        let allowed = dirs(root.path());
        let outside = std::fs::canonicalize(root.path().join("outside")).unwrap();
        std::os::unix::fs::symlink(outside.join("a.png"), allowed[0].join("abs.png")).unwrap();
        std::os::unix::fs::symlink("../outside/a.png", allowed[0].join("rel.png")).unwrap();
        std::os::unix::fs::symlink(&outside, allowed[0].join("dir")).unwrap();
        for path in [
            allowed[0].join("abs.png"),
            allowed[0].join("rel.png"),
            allowed[0].join("dir/a.png"),
            allowed[0].join("../outside/a.png"),
            outside.join("a.png"),
            outside.join("missing.png"),
            outside.join("x/../../allowed/sub/a.png"),
        ] {
            let err = read_blocking(&path, &allowed, 100).unwrap_err().to_string();
            assert!(
                err.contains("outside the allowed directories"),
                "{path:?}: {err}"
            );
        }
    }

    /// The path taken without openat2 (macOS, old kernels), exercised here through /proc.
    #[test]
    fn without_openat2_the_descriptors_real_path_decides() {
        let root = layout();
        let allowed = dirs(root.path());
        let outside = std::fs::canonicalize(root.path().join("outside")).unwrap();
        std::os::unix::fs::symlink(outside.join("a.png"), allowed[0].join("abs.png")).unwrap();
        std::os::unix::fs::symlink("sub/a.png", allowed[0].join("inner.png")).unwrap();
        for inside in ["sub/a.png", "inner.png"] {
            let file = open_then_verify(&allowed[0], Path::new(inside))
                .unwrap_or_else(|_| panic!("{inside} is inside"));
            assert!(file.metadata().unwrap().is_file());
        }
        for escaping in ["abs.png", "../outside/a.png", "missing.png"] {
            assert!(
                matches!(
                    open_then_verify(&allowed[0], Path::new(escaping)),
                    Err(Opened::Escapes)
                ),
                "{escaping}"
            );
        }
    }

    #[test]
    fn the_read_stops_at_the_limit_and_relative_paths_are_refused() {
        let root = layout();
        let allowed = dirs(root.path());
        let err = read_blocking(&allowed[0].join("sub/a.png"), &allowed, 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("6") && err.contains("3"), "{err}");
        let err = read_blocking(Path::new("sub/a.png"), &allowed, 100)
            .unwrap_err()
            .to_string();
        assert!(err.contains("absolute"), "{err}");
    }
}
