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
import resource
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


def time_to_ready(command: Callable[[int], list[str]], cwd: str) -> tuple[float, float]:
    """Seconds from spawn to the first 200, and the CPU seconds the process used until then (load does not move these)."""
    port = free_port()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    ready = 0.0
    process = subprocess.Popen(command(port), cwd=cwd, env=env(cwd), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        ready = time.perf_counter() - started
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            if process.poll() is not None:
                raise RuntimeError(process.stderr.read().decode() if process.stderr else "exited")
            time.sleep(0.005)
    finally:
        process.kill()  # at once: the CPU it used is then what the start-up cost
        process.wait(timeout=10)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ready, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=directory, env=env(directory), check=True,
                       capture_output=True)  # fmt: skip
        bare_script = Path(directory) / "bare.py"
        bare_script.write_text(BARE)
        bare: list[tuple[float, float]] = []
        serve: list[tuple[float, float]] = []
        for _ in range(args.runs):  # interleaved, so a busy moment of the machine hits both alike
            bare.append(time_to_ready(lambda port: [sys.executable, str(bare_script), str(port)], directory))
            serve.append(
                time_to_ready(lambda port: [sys.executable, "-m", "bot", "serve", "--port", str(port)], directory)
            )
    for name, runs in (("bare aiohttp (baseline)", bare), ("closeloop serve", serve)):
        wall, cpu = [w for w, _ in runs], [c for _, c in runs]
        print(f"{name:24} to ready: median {statistics.median(wall):.3f} s (min {min(wall):.3f}, max {max(wall):.3f}); "
              f"CPU median {statistics.median(cpu):.3f} s")  # fmt: skip
    ratio = statistics.median(w for w, _ in serve) / statistics.median(w for w, _ in bare)
    cpu_ratio = statistics.median(c for _, c in serve) / statistics.median(c for _, c in bare)
    print(f"closeloop serve = {ratio:.1f}× the baseline to ready, {cpu_ratio:.1f}× its CPU")


if __name__ == "__main__":
    main()
