"""Cold start: from ``closeloop serve`` to a ready ``/readyz``, on SQLite with the migrations already done.

    .venv/bin/python bench/coldstart.py            # 7 starts of each, medians
    .venv/bin/python bench/coldstart.py --runs 15

Each run starts a new process and polls ``GET /readyz`` every 5 ms until it answers
200 (the database took a write). The baseline, measured in the same run the same
way, is a bare aiohttp server that answers 200 at once — the least any Python web
process on this machine costs to come up. The sandbox is on (no platform
configured), the scheduler and the workers run, as ``closeloop serve`` always does.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BARE = """
from aiohttp import web
async def ok(request): return web.json_response({"status": "ready"})
app = web.Application(); app.router.add_get("/readyz", ok)
web.run_app(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), print=None)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env(directory: str) -> dict[str, str]:
    prefixes = ("CLOSELOOP_", "FEISHU_", "SLACK_", "DINGTALK_", "WECOM_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    clean["CLOSELOOP_DATABASE_URL"] = f"sqlite:///{directory}/closeloop.db"
    return clean


def time_to_ready(command: Callable[[int], list[str]], cwd: str) -> float:
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(command(port), cwd=cwd, env=env(cwd), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError):
                pass
            if process.poll() is not None:
                raise RuntimeError(process.stderr.read().decode() if process.stderr else "exited")
            time.sleep(0.005)
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=directory, env=env(directory), check=True,
                       capture_output=True)  # fmt: skip
        bare_script = Path(directory) / "bare.py"
        bare_script.write_text(BARE)
        bare, serve = [], []
        for _ in range(args.runs):  # interleaved, so a busy moment of the machine hits both alike
            bare.append(time_to_ready(lambda port: [sys.executable, str(bare_script), str(port)], directory))
            serve.append(
                time_to_ready(lambda port: [sys.executable, "-m", "bot", "serve", "--port", str(port)], directory)
            )
    b, s = statistics.median(bare), statistics.median(serve)
    print(f"bare aiohttp (baseline): median {b:.3f} s (min {min(bare):.3f}, max {max(bare):.3f})")
    print(
        f"closeloop serve:         median {s:.3f} s (min {min(serve):.3f}, max {max(serve):.3f}) = {s / b:.1f}× the baseline"
    )


if __name__ == "__main__":
    main()
