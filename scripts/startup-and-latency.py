#!/usr/bin/env python3
"""Measures what a new user feels: process start → /healthz ready, and tools/call latency for one
inline image (median of N runs). Not a test: prints numbers only.

    python3 scripts/startup-and-latency.py [BINARY] [IMAGE] [RUNS]
    defaults: target/release/s3-upload-mcp, ../shared/corpus/images/gain-map.jpg (1.2 MB JPEG), 9
"""
import base64, json, os, socket, statistics, subprocess, sys, tempfile, time, urllib.request

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "target/release/s3-upload-mcp")
image = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "../shared/corpus/images/gain-map.jpg")
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 9

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port

port, s3_port = free_port(), free_port()
data_dir = tempfile.mkdtemp()
started = time.perf_counter()
server = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--s3-listen", f"127.0.0.1:{s3_port}",
                           "--data-dir", data_dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            break
        except OSError:
            time.sleep(0.002)
    ready_ms = (time.perf_counter() - started) * 1000

    data = base64.b64encode(open(image, "rb").read()).decode()
    latencies = []
    for i in range(runs):
        # A different filename each time; identical content would be a (fast) dedupe hit after the first.
        body = json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {
            "name": "upload_image_to_s3", "arguments": {"data": data, "filename": f"run-{i}.jpg", "key": f"latency/run-{i}.webp", "format": "webp"}}}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/mcp", data=body, headers={
            "Content-Type": "application/json", "Accept": "application/json, text/event-stream"})
        t = time.perf_counter()
        reply = json.loads(urllib.request.urlopen(request).read())
        latencies.append((time.perf_counter() - t) * 1000)
        assert not reply["result"].get("isError"), reply
    out = reply["result"]["structuredContent"]
    print(f"binary: {os.path.getsize(binary) / 1e6:.1f} MB ({binary})")
    print(f"start → /healthz ready: {ready_ms:.0f} ms")
    print(f"tools/call upload of {os.path.basename(image)} ({os.path.getsize(image) / 1e6:.2f} MB → "
          f"{out['width']}x{out['height']} {out['format']}, {out['bytes']} bytes): median {statistics.median(latencies):.0f} ms, "
          f"min {min(latencies):.0f} ms, max {max(latencies):.0f} ms over {runs} runs")
finally:
    server.terminate(); server.wait()
