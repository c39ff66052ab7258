"""Helpers for docker/e2e/run.sh, run with the project venv's python.

free-port                              print a free TCP port on 127.0.0.1
wait-http URL TIMEOUT                  poll URL until it answers 200 (bounded)
deploy-config SRC DEST IMAGE           write SRC (flows/prefect.yaml) to DEST without its
                                       build/push steps, every deployment on IMAGE
flow-run-id TEXT_FILE                  print the flow run id `prefect deployment run` printed
wait-flow-run ID TIMEOUT               poll the API until the run is final (bounded); print
                                       its state; exit 0 only if it is Completed
check-deployment JSON_FILE             `prefect deployment inspect -o json` output: a concurrency
                                       limit of 1 (ENQUEUE), the Secret block named, no URL
"""

from __future__ import annotations

import asyncio
import re
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from uuid import UUID

POLL_SECONDS = 3.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        print(sock.getsockname()[1])
    return 0


def wait_http(url: str, timeout: str) -> int:
    deadline = time.monotonic() + float(timeout)
    last_error = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return 0
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.5)
    print(f"{url} did not answer within {timeout}s: {last_error}", file=sys.stderr)
    return 1


def deploy_config(src: str, dest: str, image: str) -> int:
    import yaml

    config = yaml.safe_load(Path(src).read_text())
    # The image is already built (and tested) by the e2e run: deploy exactly that one
    # instead of building again through the prefect.yaml build steps.
    config.pop("build", None)
    config.pop("push", None)
    config.pop("definitions", None)
    deployments = config.get("deployments") or []
    if not deployments:
        print(f"{src} defines no deployments", file=sys.stderr)
        return 1
    for deployment in deployments:
        job_variables = dict(deployment.get("work_pool", {}).get("job_variables") or {})
        job_variables["image"] = image
        # The image exists only in this engine; never try a registry for it.
        job_variables["image_pull_policy"] = "Never"
        deployment.setdefault("work_pool", {})["job_variables"] = job_variables
        deployment["build"] = None
    Path(dest).write_text(yaml.safe_dump(config, sort_keys=False))
    return 0


def flow_run_id(text_file: str) -> int:
    text = Path(text_file).read_text()
    match = re.search(r"UUID:\s*([0-9a-f-]{36})", text) or re.search(
        r"flow-run/([0-9a-f-]{36})", text
    )
    if not match:
        print(f"no flow run id in:\n{text}", file=sys.stderr)
        return 1
    print(match.group(1))
    return 0


async def _wait_flow_run(run_id: UUID, timeout: float) -> int:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    last = None
    async with get_client() as client:
        while True:
            run = await client.read_flow_run(run_id)
            state = run.state
            label = f"{state.type.value}/{state.name}" if state else "no state"
            if label != last:
                print(f"[flow run {run_id}] {label}", file=sys.stderr, flush=True)
                last = label
            if state is not None and state.is_final():
                print(f"final state: {state.name} ({state.type.value})")
                if state.message:
                    print(f"message: {state.message}")
                return 0 if state.is_completed() else 1
            if time.monotonic() >= deadline:
                print(f"final state: none within {timeout:.0f}s (last seen {label})")
                return 2
            await asyncio.sleep(POLL_SECONDS)


def wait_flow_run(run_id: str, timeout: str) -> int:
    return asyncio.run(_wait_flow_run(UUID(run_id), float(timeout)))


def check_deployment(json_file: str) -> int:
    import json

    deployment = json.loads(Path(json_file).read_text())
    problems = []
    limit = (deployment.get("global_concurrency_limit") or {}).get("limit")
    strategy = (deployment.get("concurrency_options") or {}).get("collision_strategy")
    if (limit, strategy) != (1, "ENQUEUE"):
        problems.append(f"concurrency limit {limit!r} / {strategy!r}, expected 1 / 'ENQUEUE'")
    env = (deployment.get("job_variables") or {}).get("env") or {}
    if env.get("ZLURI_DATABASE_SECRET") != "zluri-database-url":
        problems.append(f"ZLURI_DATABASE_SECRET is {env.get('ZLURI_DATABASE_SECRET')!r}")
    if "ZLURI_DATABASE_URL" in env:
        problems.append("the job variables hold ZLURI_DATABASE_URL")
    for problem in problems:
        print(f"{deployment.get('name')}: {problem}", file=sys.stderr)
    return 1 if problems else 0


COMMANDS = {
    "free-port": (free_port, 0),
    "wait-http": (wait_http, 2),
    "deploy-config": (deploy_config, 3),
    "flow-run-id": (flow_run_id, 1),
    "wait-flow-run": (wait_flow_run, 2),
    "check-deployment": (check_deployment, 1),
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS or len(argv) - 1 != COMMANDS[argv[0]][1]:
        print(__doc__, file=sys.stderr)
        return 64
    function, _ = COMMANDS[argv[0]]
    return function(*argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
