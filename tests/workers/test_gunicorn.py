"""gunicorn with several workers, with and without --preload, recycled by --max-requests:
one device per visitor, one device for the service across all workers and recycles."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from weespin_instrument.collector import Collector

ROOT = Path(__file__).resolve().parents[2]
KEY = "gunicorn-test-key"

pytest.importorskip("gunicorn")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_gunicorn(
    collector: Collector, device_file: Path, *options: str
) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEESPIN_")}
    env.update(
        WEESPIN_API_KEY=KEY,
        WEESPIN_BASE_URL=collector.url,
        SERVICE_DEVICE_FILE=str(device_file),
        PYTHONPATH=str(ROOT),
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "3",
            *options,
            "tests.workers.wsgi_service:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"gunicorn ended: {process.stdout.read() if process.stdout else ''}"
            )
        try:
            httpx.get(url + "/ping", timeout=1.0)
            return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("gunicorn did not start within 30 s")


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)  # graceful: workers finish, drain and exit
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


@pytest.mark.parametrize("preload", [False, True], ids=["fork-then-import", "preload"])
def test_recycled_workers_keep_one_service_device_and_one_device_per_visitor(
    collector: Collector, tmp_path: Path, preload: bool
) -> None:
    options = ["--max-requests", "4"] + (["--preload"] if preload else [])
    process, url = start_gunicorn(collector, tmp_path / "service-device", *options)
    try:
        visitors = [httpx.Client(base_url=url, headers={"X-User": f"u_{n}"}) for n in range(3)]
        pids = set()
        for round_ in range(4):
            for visitor in visitors:
                pids.add(visitor.post("/checkout").text)
            for n in range(2):
                pids.add(httpx.get(f"{url}/internal/job?n={round_ * 2 + n}").text)
        lurker = httpx.Client(base_url=url)  # browses without tracking anything
        lurker.get("/about")
    finally:
        output = stop(process)
    assert len(pids) > 3, f"workers were not recycled: {pids}\n{output}"

    purchases = collector.wait_for(12, name="purchase", timeout=15)
    jobs = collector.wait_for(8, name="job_done", timeout=15)
    for n, visitor in enumerate(visitors):
        device_id = visitor.cookies["weespin_device_id"]
        assert {(e["device_id"], e["user_id"]) for e in purchases if e["user_id"] == f"u_{n}"} == {
            (device_id, f"u_{n}")
        }
        visitor.close()
    assert "weespin_device_id" not in lurker.cookies
    service_devices = {e["device_id"] for e in jobs}
    assert len(service_devices) == 1, f"one device for the service, got {service_devices}"
    assert service_devices == {(tmp_path / "service-device").read_text().strip()}
    inits = [r for r in collector.request_log if r["path"] == "/initialize-device"]
    assert len(inits) == 3 + 1, "one init per visitor that tracked, one for the service"
