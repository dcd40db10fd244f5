"""Drives s3-upload-mcp with the official MCP Python SDK, as a real client would.

    py_client.py http URL IMAGE [--mode auto|legacy] [--header 'Name: value']...
        lists tools, uploads IMAGE inline, GETs the returned URL and compares its sha256.
    py_client.py stdio --bin BINARY --allow-dir DIR... --image IMAGE --outside FILE [--escape LINK]
                       [-- server args...]
        launches `BINARY stdio --allow-dir DIR... [server args]`, uploads IMAGE by `path`, checks
        the URL, and checks that FILE (outside every DIR), a `..` path to it and LINK (a symlink
        inside a DIR pointing outside) are refused.

Prints one line per check (`ok - …` / `not ok - …`) and exits non-zero if any failed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

EXPECTED_TOOLS = {"upload_image_to_s3", "list_s3_buckets"}
failures = 0


def check(ok: bool, what: str, detail: str = "") -> bool:
    global failures
    if ok:
        print(f"ok - {what}")
    else:
        failures += 1
        print(f"not ok - {what}" + (f": {detail}" if detail else ""))
    return ok


def outcome_of(result) -> dict:
    """The tool's JSON result: structuredContent, or the text block older clients read."""
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


def error_text(result) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def list_tools(client: Client) -> None:
    listed = await client.list_tools()
    names = {tool.name for tool in listed.tools}
    check(EXPECTED_TOOLS <= names, f"tools/list shows {sorted(EXPECTED_TOOLS)}", f"got {sorted(names)}")
    upload = next((t for t in listed.tools if t.name == "upload_image_to_s3"), None)
    if upload is not None:
        props = set(upload.input_schema.get("properties", {}))
        check({"data", "path", "filename"} <= props, "upload_image_to_s3 schema has data, path, filename", str(props))


def check_url_serves(outcome: dict, label: str) -> None:
    url = outcome.get("url", "")
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read()
            content_type = response.headers.get("Content-Type", "")
    except Exception as e:  # noqa: BLE001 - any failure to fetch is the finding
        check(False, f"{label}: GET {url}", repr(e))
        return
    digest = hashlib.sha256(body).hexdigest()
    check(digest == outcome.get("sha256"), f"{label}: GET url serves bytes with the result's sha256", f"{digest} != {outcome.get('sha256')}")
    check(len(body) == outcome.get("bytes"), f"{label}: served size equals result bytes ({len(body)})")
    check(content_type == outcome.get("content_type"), f"{label}: Content-Type {content_type}", f"result says {outcome.get('content_type')}")


async def upload_inline(client: Client, image: Path) -> None:
    print(f"# connected: protocol {client.protocol_version}, server {client.server_info}")
    await list_tools(client)
    buckets = await client.call_tool("list_s3_buckets", {})
    check(not buckets.is_error and bool(outcome_of(buckets).get("default_bucket")), "list_s3_buckets names a default bucket", error_text(buckets))
    data = base64.b64encode(image.read_bytes()).decode()
    result = await client.call_tool("upload_image_to_s3", {"data": data, "filename": image.name})
    if check(not result.is_error, f"upload_image_to_s3 inline {image.name}", error_text(result)):
        outcome = outcome_of(result)
        print(f"# url {outcome['url']} ({outcome['bytes']} bytes, {outcome['width']}x{outcome['height']} {outcome['format']})")
        check_url_serves(outcome, "inline")


async def run_http(args: argparse.Namespace) -> None:
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    http = httpx2.AsyncClient(headers=headers, timeout=60) if headers else None
    from mcp.client.streamable_http import streamable_http_client

    transport = streamable_http_client(args.url, http_client=http) if http else args.url
    async with Client(transport, mode=args.mode) as client:
        await upload_inline(client, Path(args.image))


async def run_proxy(args: argparse.Namespace) -> None:
    """A stdio-to-HTTP bridge (mcp-remote), launched the way Claude Desktop launches it."""
    command = args.command_line[1:] if args.command_line[:1] == ["--"] else args.command_line
    env = dict(e.split("=", 1) for e in args.env)
    params = StdioServerParameters(command=command[0], args=command[1:], env=env)
    # The bridge logs every message on stderr: keep it, and show it only when something failed.
    with tempfile.TemporaryFile("w+") as errlog:
        try:
            async with Client(stdio_client(params, errlog=errlog), mode=args.mode) as client:
                await upload_inline(client, Path(args.image))
        finally:
            if failures:
                errlog.seek(0)
                print("# bridge stderr (last 30 lines):\n" + "".join(errlog.readlines()[-30:]), end="")


async def run_stdio(args: argparse.Namespace) -> None:
    image = Path(args.image).resolve()
    outside = Path(args.outside).resolve()
    allow = [arg for d in args.allow_dir for arg in ("--allow-dir", d)]
    server_args = args.server_args[1:] if args.server_args[:1] == ["--"] else args.server_args
    params = StdioServerParameters(
        command=args.binary,
        args=["stdio", *allow, *server_args],
        env={"RUST_LOG": os.environ.get("RUST_LOG", "warn")},
    )
    async with Client(params, mode=args.mode) as client:
        print(f"# connected over stdio: protocol {client.protocol_version}, server {client.server_info}")
        await list_tools(client)
        result = await client.call_tool("upload_image_to_s3", {"path": str(image), "filename": image.name})
        if check(not result.is_error, f"upload_image_to_s3 by path {image}", error_text(result)):
            outcome = outcome_of(result)
            print(f"# url {outcome['url']} ({outcome['bytes']} bytes)")
            check_url_serves(outcome, "path")
        refused = await client.call_tool("upload_image_to_s3", {"path": str(outside), "filename": outside.name})
        message = error_text(refused)
        check(refused.is_error and "outside the allowed directories" in message, "a path outside --allow-dir is refused", message or "no error")
        # `..` cannot climb out of the allowed directory either.
        depth = len(Path(args.allow_dir[0]).resolve().parts)
        climbing = str(Path(args.allow_dir[0]).joinpath(*[".."] * depth, outside.relative_to(outside.anchor)))
        refused = await client.call_tool("upload_image_to_s3", {"path": climbing, "filename": outside.name})
        message = error_text(refused)
        check(refused.is_error and "outside the allowed directories" in message, "a `..` path leaving --allow-dir is refused", message or "no error")
        if args.escape:
            refused = await client.call_tool("upload_image_to_s3", {"path": args.escape, "filename": "escape.jpeg"})
            message = error_text(refused)
            check(refused.is_error and "outside the allowed directories" in message, "a symlink inside --allow-dir pointing outside is refused", message or "no error")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="auto", help="auto (server/discover, 2026-07-28) or legacy (initialize)")
    sub = parser.add_subparsers(dest="command", required=True)
    http = sub.add_parser("http")
    http.add_argument("url")
    http.add_argument("image")
    http.add_argument("--header", action="append", default=[])
    proxy = sub.add_parser("proxy")
    proxy.add_argument("image")
    proxy.add_argument("--env", action="append", default=[], help="NAME=value for the launched command")
    proxy.add_argument("command_line", nargs=argparse.REMAINDER)
    stdio = sub.add_parser("stdio")
    stdio.add_argument("--bin", dest="binary", required=True)
    stdio.add_argument("--allow-dir", action="append", required=True)
    stdio.add_argument("--image", required=True)
    stdio.add_argument("--outside", required=True)
    stdio.add_argument("--escape")
    stdio.add_argument("server_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    runner = {"http": run_http, "proxy": run_proxy, "stdio": run_stdio}[args.command]
    try:
        asyncio.run(runner(args))
    except Exception as e:  # noqa: BLE001 - a client that cannot even connect is a failed check
        check(False, f"{args.command} session", f"{type(e).__name__}: {e}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
