"""Headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``): no driver,
no websocket library. Enough to set a login cookie, open a page, wait for text and take a screenshot."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class CDPError(RuntimeError):
    pass


class Chromium:
    """``with Chromium(profile_dir) as browser: browser.open(url); browser.screenshot(png)``."""

    def __init__(self, profile: str | Path, width: int = 1280, height: int = 1000, binary: Path = CHROMIUM):
        self.profile, self.width, self.height, self.binary = Path(profile), width, height, binary
        self._id = 0
        self._buffer = b""
        self.session: str | None = None

    # -- the pipe

    def __enter__(self) -> Chromium:
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def fds() -> None:  # the child reads commands on fd 3 and writes answers on fd 4 (inheritable copies;
            os.dup2(to_child_r, 3)  # every other descriptor Python opened is close-on-exec)
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen(
            [str(self.binary), *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-pipe",
             f"--window-size={self.width},{self.height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=fds, close_fds=False, start_new_session=True)
        os.close(to_child_r)
        os.close(from_child_w)
        try:
            target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            self.send("Page.enable", session=True)
            self.send("Emulation.setDeviceMetricsOverride", {"width": self.width, "height": self.height,
                                                             "deviceScaleFactor": 1, "mobile": False}, session=True)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.proc.poll() is None:
                with contextlib.suppress(CDPError, OSError):
                    self.send("Browser.close", timeout=5)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)  # chromium and its renderers
                    self.proc.wait(timeout=10)
        finally:
            for fd in (self._to_child, self._from_child):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def send(self, method: str, params: dict | None = None, *, session: bool = False, timeout: float = 30) -> dict:
        self._id += 1
        msg: dict = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self._id:
                    if "error" in answer:
                        raise CDPError(f"{method}: {answer['error']}")
                    return answer.get("result", {})
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError(f"{method}: no answer in {timeout} s")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 16)
                if not chunk:
                    raise CDPError(f"{method}: chromium closed the pipe (exit {self.proc.poll()})")
                self._buffer += chunk

    # -- what a test does

    def set_cookie(self, name: str, value: str, url: str) -> None:
        self.send("Network.setCookie", {"name": name, "value": value, "url": url}, session=True)

    def open(self, url: str) -> None:
        self.send("Page.navigate", {"url": url}, session=True)

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        return result.get("result", {}).get("value")

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def wait_for(self, expression: str, timeout: float = 60) -> None:
        """Until a JavaScript expression is true; CDPError naming it after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(f"Boolean({expression})"):
                return
            time.sleep(0.25)
        raise CDPError(f"page never showed: {expression}")

    def screenshot(self, path: str | Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"}, session=True, timeout=60)["data"]
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path
