#!/usr/bin/env bash
# Side-by-side benchmark of the `process` pipeline against sharp 0.34 (libvips) and Pillow over
# the still raster images in ../shared/corpus/images, same job for all three:
#   fit inside 1920×1080 (never enlarge), apply EXIF orientation, lossy WebP q80, method/effort 4,
#   one thread. Prints time (best of $RUNS), output bytes, peak RSS, our decode/resize/encode
#   split and the --threads 2 batch throughput.
#
# Installs what it needs into $BENCH_DIR (default /tmp/s3mcp-bench): sharp via npm, Pillow via pip
# in a venv. Usage: scripts/bench.sh   (env: RUNS=3, BENCH_DIR, CARGO_TARGET_DIR)
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
corpus="$here/../shared/corpus/images"
bench="${BENCH_DIR:-/tmp/s3mcp-bench}"
runs="${RUNS:-3}"
target="${CARGO_TARGET_DIR:-$here/target}"
bin="$target/release/s3-upload-mcp"
mkdir -p "$bench"

echo "== building release binary" >&2
(cd "$here" && CARGO_TARGET_DIR="$target" cargo build --release --quiet --bin s3-upload-mcp)

if [ ! -d "$bench/node_modules/sharp" ]; then
  echo "== installing sharp@0.34" >&2
  (cd "$bench" && npm init -y >/dev/null && npm i --silent sharp@0.34 >&2)
fi
if [ ! -x "$bench/venv/bin/python" ]; then
  echo "== installing Pillow" >&2
  python3 -m venv "$bench/venv"
  "$bench/venv/bin/pip" install --quiet pillow >&2
fi

# Still rasters only: sharp and Pillow keep only the first frame of animations unless told
# otherwise, and neither reads AVIF the same way; SVG is sanitized, not rendered, by default.
mapfile -t files < <(find "$corpus" -maxdepth 1 -type f \
  \( -name '*.jpg' -o -name '*.jpeg' -o -name '*.png' -o -name '*.webp' \) \
  ! -name 'animated-*' | sort)
printf '%s\n' "${files[@]}" > "$bench/files.txt"
echo "== ${#files[@]} files, $(du -cb "${files[@]}" | tail -1 | cut -f1) bytes" >&2

cat > "$bench/sharp-run.js" <<'EOF'
const sharp = require('sharp');
const fs = require('fs'); const path = require('path');
sharp.concurrency(1); sharp.cache(false);
const [list, out] = process.argv.slice(2);
const files = fs.readFileSync(list, 'utf8').trim().split('\n');
(async () => {
  const t0 = process.hrtime.bigint();
  for (const f of files) {
    const buf = await sharp(f).rotate()
      .resize(1920, 1080, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80, effort: 4 }).toBuffer();
    fs.writeFileSync(path.join(out, path.parse(f).name + '.webp'), buf);
  }
  console.error(`sharp_ms ${Number(process.hrtime.bigint() - t0) / 1e6}`);
})();
EOF

cat > "$bench/pillow-run.py" <<'EOF'
import os, sys, time
from PIL import Image, ImageOps
lst, out = sys.argv[1:]
files = open(lst).read().split()
t0 = time.perf_counter()
for f in files:
    im = Image.open(f)
    im = ImageOps.exif_transpose(im)
    if im.mode not in ("RGB", "RGBA"):
        im = im.convert("RGBA" if ("A" in im.mode or "transparency" in im.info) else "RGB")
    im.thumbnail((1920, 1080), Image.LANCZOS)
    im.save(os.path.join(out, os.path.splitext(os.path.basename(f))[0] + ".webp"),
            "WEBP", quality=80, method=4)
print(f"pillow_ms {(time.perf_counter()-t0)*1000:.1f}", file=sys.stderr)
EOF

# run NAME CMD... : best-of-$runs wall time, peak RSS, output bytes
run() {
  local name="$1"; shift
  local best="" rss=0 cpu=""
  for i in $(seq "$runs"); do
    rm -rf "$bench/out-$name"; mkdir -p "$bench/out-$name"
    local log="$bench/time-$name.txt"
    /usr/bin/time -v "$@" > "$bench/stdout-$name.txt" 2> "$log" || true
    local wall; wall=$(awk -F': ' '/Elapsed \(wall clock\)/{split($2,a,":"); if (length(a)==3) print a[1]*3600+a[2]*60+a[3]; else print a[1]*60+a[2]}' "$log")
    local r; r=$(awk -F': ' '/Maximum resident set size/{print $2}' "$log")
    local c; c=$(awk -F': ' '/User time|System time/{s+=$2} END{print s}' "$log")
    if [ -z "$best" ] || awk "BEGIN{exit !($wall < $best)}"; then best=$wall; fi
    if [ -z "$cpu" ] || awk "BEGIN{exit !($c < $cpu)}"; then cpu=$c; fi
    if [ "$r" -gt "$rss" ]; then rss=$r; fi
  done
  local bytes; bytes=$(find "$bench/out-$name" -type f -printf '%s\n' | awk '{s+=$1} END{print s+0}')
  local count; count=$(find "$bench/out-$name" -type f | wc -l)
  echo "$name $best $rss $bytes $count $cpu" >> "$bench/results.txt"
}

rm -f "$bench/results.txt"
export UV_THREADPOOL_SIZE=1 VIPS_CONCURRENCY=1 OMP_NUM_THREADS=1
echo "== ours" >&2
run ours "$bin" process --out "$bench/out-ours" --threads 1 --format webp --quality 80 \
  --max-width 1920 --max-height 1080 "${files[@]}"
cp "$bench/stdout-ours.txt" "$bench/ours-lines.jsonl"
echo "== sharp" >&2
run sharp node "$bench/sharp-run.js" "$bench/files.txt" "$bench/out-sharp"
echo "== pillow" >&2
run pillow "$bench/venv/bin/python" "$bench/pillow-run.py" "$bench/files.txt" "$bench/out-pillow"

# Batch throughput: the corpus four times over, one vs two worker threads.
batch=("${files[@]}" "${files[@]}" "${files[@]}" "${files[@]}")
echo "== ours batch x4, --threads 1 / 2" >&2
run batch1 "$bin" process --out "$bench/out-batch1" --threads 1 --format webp "${batch[@]}"
run batch2 "$bin" process --out "$bench/out-batch2" --threads 2 --format webp "${batch[@]}"

python3 - "$bench" <<'EOF'
import json, sys
b = sys.argv[1]
res = {}
for line in open(f"{b}/results.txt"):
    n, wall, rss, by, cnt, cpu = line.split()
    res[n] = dict(wall=float(wall), rss=int(rss) / 1024, bytes=int(by), count=int(cnt), cpu=float(cpu))
print(f"\n{'tool':<10}{'wall s':>9}{'CPU s':>9}{'peak RSS MiB':>14}{'output bytes':>14}{'files':>7}")
for n in ("ours", "sharp", "pillow"):
    r = res[n]
    print(f"{n:<10}{r['wall']:>9.2f}{r['cpu']:>9.2f}{r['rss']:>14.1f}{r['bytes']:>14,}{r['count']:>7}")
o, s, p = res["ours"], res["sharp"], res["pillow"]
print("(best of runs; CPU = user+sys, the fairer number on a shared machine)")
print(f"\nspeed vs sharp:  wall {s['wall']/o['wall']:.2f}x, CPU {s['cpu']/o['cpu']:.2f}x   (>= 1.00 wanted)")
print(f"speed vs Pillow: wall {p['wall']/o['wall']:.2f}x, CPU {p['cpu']/o['cpu']:.2f}x   (>= 1.50 wanted)")
print(f"bytes vs sharp:  {100*(o['bytes']-s['bytes'])/s['bytes']:+.1f} %  (within ±3 % wanted)")
print(f"peak RSS:        {o['rss']:.1f} MiB (<= 80 wanted)")
print(f"--threads 2 throughput: {res['batch1']['wall']/res['batch2']['wall']:.2f}x of --threads 1 by wall time (>= 1.8 wanted; needs 2 idle cores)")
print(f"load average now: {open('/proc/loadavg').read().split()[0]} on {__import__('os').cpu_count()} cores")
d = r_ = e = t = 0.0
rows = []
for line in open(f"{b}/ours-lines.jsonl"):
    j = json.loads(line)
    if j.get("ok") is True and "input" in j:
        d += j["decode_ms"]; r_ += j["resize_ms"]; e += j["encode_ms"]; t += j["ms"]
        rows.append((j["ms"], j["input"].split('/')[-1], j["decode_ms"], j["resize_ms"], j["encode_ms"]))
print(f"\nours, per stage (sum over files): total {t:.0f} ms = decode {d:.0f} ({100*d/t:.0f} %) + resize {r_:.0f} ({100*r_/t:.0f} %) + encode {e:.0f} ({100*e/t:.0f} %) + other {t-d-r_-e:.0f} ({100*(t-d-r_-e)/t:.1f} %)")
print("slowest files (ms total / decode / resize / encode):")
for row in sorted(rows, reverse=True)[:6]:
    print(f"  {row[1]:<40}{row[0]:>8.0f}{row[2]:>8.0f}{row[3]:>8.0f}{row[4]:>8.0f}")
EOF
