"""Prefect's API for a run from the command line or the benchmark when none is configured.

Without ``PREFECT_API_URL`` Prefect starts a temporary server the first time a run needs a client.
To do so it imports its whole server (FastAPI, SQLAlchemy, the server's models) into the run's own
process, only to start the server in a subprocess: 4 s of CPU and 78 MiB of the driver's memory
for the rest of the run. ``temporary_api`` starts the same subprocess (uvicorn serving
``prefect.server.api.server:create_app``, with the environment Prefect gives it) without that
import, and points the block's Prefect settings at it. With an API configured, or temporary servers
turned off, it does nothing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

HEALTH_POLL_SECONDS = 0.1
STOP_WAIT_SECONDS = 5
# uvicorn exits with 3 when its port was taken between our choice and its bind: choose again.
_PORT_TAKEN = 3
_PORT_ATTEMPTS = 5


class TemporaryApiError(RuntimeError):
    """The temporary Prefect server did not start."""


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_command(port: int) -> list[str]:
    import prefect

    return [
        sys.executable, "-m", "uvicorn", "--app-dir", str(Path(prefect.__file__).parent.parent),
        "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "error", "--lifespan", "on",
    ]  # fmt: skip


def _server_environment() -> dict[str, str]:
    from prefect.settings import get_current_settings

    return {
        **os.environ,
        # What Prefect's own temporary server runs with: no UI, and told it is temporary.
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
        **get_current_settings().to_environment_variables(exclude_unset=True),
    }


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_healthy(process: subprocess.Popen[bytes], api_url: str, timeout: float) -> bool:
    """True once the server answers its health check; False if it exited because its port was
    taken. Raises if it exits otherwise or does not answer within ``timeout`` seconds."""
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client() as client:
        while time.monotonic() < deadline:
            code = process.poll()
            if code == _PORT_TAKEN:
                return False
            if code is not None:
                raise TemporaryApiError(f"the temporary Prefect server exited with code {code}")
            try:
                if client.get(f"{api_url}/health").status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(HEALTH_POLL_SECONDS)
    raise TemporaryApiError(
        f"the temporary Prefect server did not answer within {timeout:.0f} s "
        "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)"
    )


def _drain_senders() -> None:
    """Send what Prefect's background senders still hold (run logs, events) while the server is up:
    stopped with work queued, they retry against a closed port for a minute and print errors."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for sender in (APILogWorker, EventsWorker):
        sender.drain_all(timeout=STOP_WAIT_SECONDS)


def _start_server(timeout: float) -> tuple[subprocess.Popen[bytes], str]:
    """The server process, answering, and its API URL (a port taken before uvicorn bound it is
    chosen again)."""
    environment = _server_environment()
    for _ in range(_PORT_ATTEMPTS):
        port = _free_port()
        api_url = f"http://127.0.0.1:{port}/api"
        process = subprocess.Popen(_server_command(port), env=environment)
        try:
            if _wait_healthy(process, api_url, timeout):
                return process, api_url
        except BaseException:
            _stop(process)
            raise
    raise TemporaryApiError(f"no free port for the temporary Prefect server after {_PORT_ATTEMPTS} attempts")


@contextmanager
def temporary_api() -> Iterator[str | None]:
    """A temporary Prefect server for the block, when no API is configured; yields its API URL
    (None when an API is configured or temporary servers are turned off). Stopped on exit."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_ENABLED,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        yield None
        return
    process, api_url = _start_server(float(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()))
    try:
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            try:
                yield api_url
            finally:
                _drain_senders()
    finally:
        _stop(process)
