"""Headless Debian ``chromium``, driven over the Chrome DevTools protocol.

Why not playwright or selenium: both want a browser build or a driver binary of their own;
the protocol is a websocket of JSON messages, and aiohttp (a dependency already) speaks
websockets. This is the whole driver: start, open a page, evaluate JavaScript, wait.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

T = TypeVar("T")

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


def chromium_path() -> str | None:
    """The Chromium executable, if one is installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium process with a fresh profile; :meth:`close` ends it."""

    def __init__(self, executable: str) -> None:
        self._profile = tempfile.mkdtemp(prefix="weespin-chromium-")
        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.port = self._wait_for_port(Path(self._profile) / "DevToolsActivePort")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._session = self.run(self._open_session())

    def _wait_for_port(self, path: Path, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with status {self.process.returncode}")
            try:
                return int(path.read_text().split()[0])
            except (OSError, IndexError, ValueError):
                time.sleep(0.05)
        raise RuntimeError(f"chromium did not open its DevTools port within {timeout} s")

    async def _open_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coroutine`` on the driver's event loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def new_page(self) -> Page:
        """A new tab at ``about:blank``."""

        async def open_tab() -> Any:
            url = f"http://127.0.0.1:{self.port}/json/new?about:blank"
            async with self._session.put(url) as response:
                target = await response.json()
            return await self._session.ws_connect(
                target["webSocketDebuggerUrl"], max_msg_size=0
            ), target["id"]

        ws, target_id = self.run(open_tab())
        return Page(self, ws, target_id)

    def close(self) -> None:
        """Close the connection and end the process (killed if it lingers)."""
        try:
            self.run(self._session.close(), timeout=5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            shutil.rmtree(self._profile, ignore_errors=True)


class Page:
    """One tab: navigate, evaluate JavaScript, wait for a condition."""

    def __init__(self, browser: Browser, ws: aiohttp.ClientWebSocketResponse, target: str):
        self._browser = browser
        self._ws = ws
        self._target = target
        self._ids = itertools.count(1)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One protocol command; its ``result`` (an ``AssertionError`` on a protocol error)."""

        async def call() -> dict[str, Any]:
            message_id = next(self._ids)
            await self._ws.send_str(
                json.dumps({"id": message_id, "method": method, "params": params})
            )
            while True:  # events arrive in between; the answer carries our id
                message = json.loads(await self._ws.receive_str())
                if message.get("id") == message_id:
                    if "error" in message:
                        raise AssertionError(f"{method}: {message['error']}")
                    result: dict[str, Any] = message.get("result", {})
                    return result

        return self._browser.run(call())

    def goto(self, url: str) -> None:
        """Load ``url`` and wait until its document is complete."""
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises are awaited)."""
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 15.0) -> Any:
        """Poll ``expression`` until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        status = self.evaluate("(document.getElementById('status') || {}).textContent")
        raise AssertionError(f"still false after {timeout} s: {expression} (status: {status!r})")

    def viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        """Emulate a screen of ``width`` x ``height`` CSS pixels."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )

    def close(self) -> None:
        """Close the tab."""
        self._browser.run(self._ws.close(), timeout=5)
