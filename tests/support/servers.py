"""Real servers for integration tests: install from Debian packages, start on loopback.

A test that needs nginx, Redis or Chromium calls ``require_program``; when the
program is missing and this process may use apt-get (root, or CI), it installs
the package; when it cannot, the test is skipped with a reason pytest prints.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

_APT_UPDATED = False


def _apt_install(packages: list[str]) -> str | None:
    """Install Debian packages; returns None on success or the reason it failed."""
    global _APT_UPDATED
    if shutil.which("apt-get") is None:
        return "apt-get is not available on this machine"
    if os.geteuid() != 0:
        return "installing Debian packages needs root"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _APT_UPDATED:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        _APT_UPDATED = True
    done = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        return f"apt-get install {' '.join(packages)} failed: {done.stderr.strip()[-300:]}"
    return None


def _which(program: str) -> str | None:
    sbin = f"/usr/sbin/{program}"
    return shutil.which(program) or (sbin if os.path.exists(sbin) else None)


def require_program(program: str, package: str | None = None) -> str:
    """Path of ``program``, installing its Debian ``package`` when missing; else skip."""
    found = _which(program)
    if found:
        return found
    problem = _apt_install([package or program])
    found = _which(program)
    if found:
        return found
    pytest.skip(f"{program} unavailable: {problem or 'installed package has no such program'}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, *, timeout_s: float = 30.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before listening on {port}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout_s}s")


@contextmanager
def running(
    args: list[str], port: int, *, timeout_s: float = 60.0, **popen: object
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process, wait for its port, and always stop it afterwards."""
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **popen)  # type: ignore[call-overload]
    try:
        wait_for_port(port, timeout_s=timeout_s, process=process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
