#!/usr/bin/env python3
"""Load driver for `s3-upload-mcp serve`: N uploads at once through the MCP endpoint, then checks
that every returned URL serves bytes with the reported sha256. Standard library only.

Prints one JSON object: counts, latency percentiles (ms), throughput. Exit status 1 on any loss.
"""

import argparse
import base64
import concurrent.futures
import hashlib
import json
import pathlib
import statistics
import sys
import time
import urllib.error
import urllib.request


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def call_upload(endpoint, i, name, data, run, timeout):
    message = {
        "jsonrpc": "2.0",
        "id": i,
        "method": "tools/call",
        "params": {
            "name": "upload_image_to_s3",
            "arguments": {
                "data": data,
                "filename": name,
                # A key of its own per upload, so identical images are still distinct objects.
                "key": f"load/{run}/{i:05d}-{pathlib.Path(name).stem}",
            },
        },
    }
    request = urllib.request.Request(
        endpoint,
        data=json.dumps(message).encode(),
        headers={"content-type": "application/json", "accept": "application/json, text/event-stream"},
        method="POST",
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as e:
        return i, time.perf_counter() - started, None, f"HTTP {e.code}: {e.read()[:200]!r}"
    except Exception as e:  # noqa: BLE001 - any failure is a lost upload
        return i, time.perf_counter() - started, None, f"{type(e).__name__}: {e}"
    elapsed = time.perf_counter() - started
    result = body.get("result") or {}
    if result.get("isError") or "structuredContent" not in result:
        return i, elapsed, None, json.dumps(body)[:300]
    return i, elapsed, result["structuredContent"], None


def verify(outcome, timeout):
    with urllib.request.urlopen(outcome["url"], timeout=timeout) as response:
        body = response.read()
    return hashlib.sha256(body).hexdigest() == outcome["sha256"]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", required=True, help="http://127.0.0.1:PORT/mcp")
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--corpus", default=str(pathlib.Path(__file__).resolve().parents[1] / "../shared/corpus/images"))
    parser.add_argument("--max-bytes", type=int, default=1_000_000, help="skip corpus files larger than this")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()

    files = sorted(
        p for p in pathlib.Path(args.corpus).iterdir()
        if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp", ".gif"} and p.stat().st_size <= args.max_bytes
    )
    if not files:
        sys.exit(f"no images under {args.corpus}")
    images = [(p.name, base64.b64encode(p.read_bytes()).decode()) for p in files]
    run = time.strftime("%Y%m%d-%H%M%S")

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        futures = [
            pool.submit(call_upload, args.endpoint, i, *images[i % len(images)], run, args.timeout)
            for i in range(args.uploads)
        ]
        results = [f.result() for f in futures]
    wall = time.perf_counter() - started

    failures = [(i, err) for i, _, _, err in results if err]
    outcomes = [o for _, _, o, _ in results if o]
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        verified = list(pool.map(lambda o: verify(o, args.timeout), outcomes))
    mismatched = [o["key"] for o, ok in zip(outcomes, verified) if not ok]

    latencies = sorted(elapsed * 1000 for _, elapsed, o, _ in results if o)
    report = {
        "uploads": args.uploads,
        "concurrency": args.concurrency,
        "distinct_images": len(images),
        "succeeded": len(outcomes),
        "failed": len(failures),
        "bytes_mismatched": len(mismatched),
        "wall_seconds": round(wall, 2),
        "uploads_per_second": round(len(outcomes) / wall, 2) if wall else None,
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 1) if latencies else None,
            "p90": round(percentile(latencies, 90), 1) if latencies else None,
            "p99": round(percentile(latencies, 99), 1) if latencies else None,
            "max": round(latencies[-1], 1) if latencies else None,
            "mean": round(statistics.fmean(latencies), 1) if latencies else None,
        },
        "first_failures": failures[:5],
        "first_mismatches": mismatched[:5],
    }
    print(json.dumps(report, indent=2))
    sys.exit(1 if failures or mismatched else 0)


if __name__ == "__main__":
    main()
