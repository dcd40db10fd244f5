//! `process` subcommand: runs the imaging pipeline over local files (no upload), for
//! benchmarking and local use; one JSON line per file plus a summary line.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context as _;
use serde_json::json;

use crate::imaging::{self, ImageDefaults, Limits, OutputFormat, ProcessOptions, Quality};

#[derive(clap::Args, Debug, Clone)]
pub struct ProcessArgs {
    /// Directory for the outputs (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Files processed in parallel (each file uses one thread).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// auto, webp, original, png or jpeg.
    #[arg(long, default_value_t = OutputFormat::Auto)]
    pub format: OutputFormat,
    /// Lossy quality 1–100.
    #[arg(long, default_value_t = Quality::DEFAULT)]
    pub quality: Quality,
    /// Fit width (0 = no limit).
    #[arg(long, default_value_t = ImageDefaults::MAX_WIDTH)]
    pub max_width: u32,
    /// Fit height (0 = no limit).
    #[arg(long, default_value_t = ImageDefaults::MAX_HEIGHT)]
    pub max_height: u32,
    /// Extra rendition widths, comma separated (e.g. 480,960).
    #[arg(long, value_delimiter = ',')]
    pub widths: Vec<u32>,
    /// Render SVGs to raster images instead of storing sanitized SVG.
    #[arg(long)]
    pub rasterize: bool,
    /// Largest accepted width × height.
    #[arg(long, env = "MAX_PIXELS", default_value_t = Limits::default().max_pixels)]
    pub max_pixels: u64,
    /// Largest accepted input in bytes.
    #[arg(long, env = "MAX_INPUT_BYTES", default_value_t = Limits::default().max_input_bytes)]
    pub max_input_bytes: usize,
    /// Input images.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

impl ProcessArgs {
    /// The same options the server builds from its config and tool arguments.
    pub fn options(&self) -> ProcessOptions {
        ProcessOptions {
            format: self.format,
            quality: self.quality,
            max_width: self.max_width,
            max_height: self.max_height,
            widths: self.widths.clone(),
            rasterize: self.rasterize,
            limits: Limits {
                max_pixels: self.max_pixels,
                max_input_bytes: self.max_input_bytes,
            },
        }
    }
}

pub fn run(args: ProcessArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating output directory {}", args.out.display()))?;
    let opts = args.options();
    let threads = args.threads.clamp(1, 64);
    let names = Mutex::new(HashSet::new());
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let totals = Mutex::new((0u64, 0u64, 0f64)); // input bytes, output bytes, cpu ms
    let start = Instant::now();

    std::thread::scope(|s| {
        for _ in 0..threads.min(args.files.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = args.files.get(i) else { break };
                    let line = one_file(path, &args.out, &opts, &names);
                    match &line {
                        Ok((v, inb, outb, ms)) => {
                            let mut t = totals.lock().unwrap_or_else(|e| e.into_inner());
                            t.0 += inb;
                            t.1 += outb;
                            t.2 += ms;
                            println!("{v}");
                        }
                        Err(v) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            println!("{v}");
                        }
                    }
                }
            });
        }
    });

    let (inb, outb, cpu) = *totals.lock().unwrap_or_else(|e| e.into_inner());
    let failed = failed.into_inner();
    println!(
        "{}",
        json!({
            "summary": true,
            "files": args.files.len(),
            "ok": args.files.len() - failed,
            "failed": failed,
            "threads": threads,
            "input_bytes": inb,
            "output_bytes": outb,
            "process_ms_sum": round(cpu),
            "wall_ms": round(start.elapsed().as_secs_f64() * 1000.0),
        })
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

type Line = (serde_json::Value, u64, u64, f64);

fn one_file(
    path: &Path,
    out_dir: &Path,
    opts: &ProcessOptions,
    names: &Mutex<HashSet<String>>,
) -> Result<Line, serde_json::Value> {
    let input_name = path.display().to_string();
    let fail = |kind: &str, msg: String, ms: f64| json!({"input": input_name, "ok": false, "error_kind": kind, "error": msg, "ms": round(ms)});
    let data = std::fs::read(path).map_err(|e| fail("io", e.to_string(), 0.0))?;
    let t = Instant::now();
    let p = imaging::process(&data, opts).map_err(|e| fail(e.kind(), e.to_string(), ms(t)))?;
    let elapsed = ms(t);

    let stem = unique_stem(path, names);
    let output = out_dir.join(format!("{stem}.{}", p.kind.extension()));
    std::fs::write(&output, &p.bytes).map_err(|e| fail("io", e.to_string(), elapsed))?;
    let mut variants = Vec::new();
    for v in &p.variants {
        let vpath = out_dir.join(format!("{stem}-{}w.{}", v.width, p.kind.extension()));
        std::fs::write(&vpath, &v.bytes).map_err(|e| fail("io", e.to_string(), elapsed))?;
        variants.push(json!({"output": vpath.display().to_string(), "width": v.width, "height": v.height, "bytes": v.bytes.len()}));
    }
    let line = json!({
        "input": input_name,
        "ok": true,
        "output": output.display().to_string(),
        "input_kind": p.input_kind,
        "kind": p.kind,
        "encoder": p.encoder,
        "original_bytes": p.original_bytes,
        "bytes": p.bytes.len(),
        "width": p.width,
        "height": p.height,
        "frames": p.frames,
        "resized": p.resized,
        "orientation_applied": p.orientation_applied,
        "variants": variants,
        "ms": round(elapsed),
        "decode_ms": round(p.timings.decode_ms),
        "resize_ms": round(p.timings.resize_ms),
        "encode_ms": round(p.timings.encode_ms),
    });
    Ok((line, data.len() as u64, p.bytes.len() as u64, elapsed))
}

/// Output names come from the input file stem; a second `a.png` next to `a.jpg` gets `a-2`.
fn unique_stem(path: &Path, names: &Mutex<HashSet<String>>) -> String {
    let base: String = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let mut names = names.lock().unwrap_or_else(|e| e.into_inner());
    let mut candidate = base.clone();
    let mut n = 1;
    while !names.insert(candidate.clone()) {
        n += 1;
        candidate = format!("{base}-{n}");
    }
    candidate
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ProcessArgs,
    }

    #[test]
    fn defaults_match_the_server_defaults() {
        let cli = Cli::parse_from(["x", "--out", "/tmp/o", "a.png"]);
        assert_eq!(cli.args.options(), ProcessOptions::default());
    }

    #[test]
    fn format_and_widths_parse() {
        let cli = Cli::parse_from([
            "x", "--out", "o", "--format", "WEBP", "--widths", "320,640", "a.png",
        ]);
        let o = cli.args.options();
        assert_eq!(o.format, OutputFormat::Webp);
        assert_eq!(o.widths, vec![320, 640]);
    }

    #[test]
    fn duplicate_stems_get_distinct_outputs() {
        let names = Mutex::new(HashSet::new());
        assert_eq!(unique_stem(Path::new("d/a.png"), &names), "a");
        assert_eq!(unique_stem(Path::new("e/a.jpg"), &names), "a-2");
    }
}
