"""Checks of ``make cluster-e2e``, run with the project venv's python.

free-port                         print a free TCP port on 127.0.0.1
wait-workers MASTER_UI N TIMEOUT  poll the master's /json/ until N workers are ALIVE (bounded)
truth EXPECTED_JSON               core tables (ZLURI_DATABASE_URL) equal the generator's final state,
                                  and every metrics row of the days is a success
events EVENT_LOG_DIR              from Spark's event log (the listener bus, written to disk): every
                                  task ran on an executor of the cluster, on more than one; prints
                                  per stage where it ran, bytes read, rows written, bytes sent back
                                  to the driver; with CLUSTER_LOAD_STAGE set (a regex on stage
                                  names), those stages must exist and have run on executors
no-secrets FILE_OR_DIR...         none of the values of the variables named in CLUSTER_SECRET_VARS
                                  appears in any file (values are never printed)
loopback PID...                   every listening TCP socket of these processes (and their
                                  children) is bound to a loopback address
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        print(sock.getsockname()[1])
    return 0


def wait_workers(master_ui: str, count: str, timeout: str) -> int:
    deadline = time.monotonic() + float(timeout)
    alive = 0
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{master_ui}/json/", timeout=5) as response:
                state = json.load(response)
            alive = sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")
            if alive >= int(count):
                print(f"{alive} workers alive, {state.get('cores')} cores, {state.get('memory')} MiB")
                return 0
        except (OSError, ValueError):
            # Not up yet, or the master's page answered before its state was ready (an empty or partial body).
            pass
        time.sleep(0.5)
    print(f"only {alive} of {count} workers registered within {timeout}s", file=sys.stderr)
    return 1


def _query(sql: str) -> list[dict]:
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(os.environ["ZLURI_DATABASE_URL"]) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql)
        return cur.fetchall()


def truth(expected_json: str) -> int:
    final = json.loads(Path(expected_json).read_text())["final"]
    results: dict[str, bool] = {}
    agents = {
        str(r["agent_id"]): {"status": r["status"], "deactivated": r["deactivated"]}
        for r in _query("select agent_id, status, deactivated from core.agents")
    }
    results[f"core.agents ({len(agents)} rows)"] = agents == final["agents"]
    history: dict[str, dict[str, str]] = {}
    for r in _query("select day, agent_id, status from core.agent_status_history"):
        history.setdefault(r["day"], {})[str(r["agent_id"])] = r["status"]
    results[f"core.agent_status_history ({len(history)} days)"] = history == final["agent_status_by_day"]
    groups = {
        str(r["group_id"]): {"status": r["status"], "parent_group_id": r["parent_group_id"]}
        for r in _query("select group_id, status, parent_group_id from core.groups")
    }
    results[f"core.groups ({len(groups)} rows)"] = groups == final["groups"]
    memberships = [
        [r["group_id"], r["agent_id"]]
        for r in _query("select group_id, agent_id from core.group_memberships order by 1, 2")
    ]
    results[f"core.group_memberships ({len(memberships)} rows)"] = memberships == final["memberships"]
    roles = [
        [r["agent_id"], r["role_id"]] for r in _query("select agent_id, role_id from core.agent_roles order by 1, 2")
    ]
    results[f"core.agent_roles ({len(roles)} rows)"] = roles == final["agent_roles"]
    transactions = {
        r["transaction_id"]: (
            r["updated_at"].isoformat(),
            r["original_amount"].normalize(),
            r["original_currency"],
            r["transaction_type"],
        )
        for r in _query("select * from core.transactions")
    }
    expected = {
        tid: (t["updated_at"], Decimal(t["original_amount"]).normalize(), t["original_currency"], t["transaction_type"])
        for tid, t in final["transactions"].items()
    }
    results[f"core.transactions ({len(transactions)} rows)"] = transactions == expected
    failed = _query("select count(*) as n from ops.pipeline_metrics where status <> 'success'")[0]["n"]
    days = _query("select count(distinct day) as n, count(*) as rows from ops.pipeline_metrics")[0]
    results[f"ops.pipeline_metrics: {days['rows']} rows over {days['n']} days, all success"] = (
        failed == 0 and days["rows"] > 0
    )
    for name, ok in results.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    return 0 if all(results.values()) else 1


def _events(folder: str) -> list[dict]:
    files = [p for p in Path(folder).rglob("*") if p.is_file()]
    if not files:
        raise FileNotFoundError(f"no Spark event log in {folder}")
    events: list[dict] = []
    for path in files:
        with path.open() as lines:
            events.extend(json.loads(line) for line in lines if line.strip())
    return events


def events(folder: str) -> int:
    log = _events(folder)
    executors = {
        e["Executor ID"]: e["Executor Info"]["Host"] for e in log if e["Event"] == "SparkListenerExecutorAdded"
    }
    stage_names = {
        e["Stage Info"]["Stage ID"]: e["Stage Info"]["Stage Name"]
        for e in log
        if e["Event"] in ("SparkListenerStageSubmitted", "SparkListenerStageCompleted")
    }
    per_stage: dict[str, dict] = defaultdict(
        lambda: {"tasks": 0, "executors": set(), "read": 0, "written": 0, "result": 0}
    )
    by_executor: dict[str, int] = defaultdict(int)
    for e in log:
        if e["Event"] != "SparkListenerTaskEnd":
            continue
        name = re.sub(r"\s+", " ", stage_names.get(e["Stage ID"], f"stage {e['Stage ID']}"))
        info, metrics = e["Task Info"], e.get("Task Metrics") or {}
        stage = per_stage[name]
        stage["tasks"] += 1
        stage["executors"].add(info["Executor ID"])
        stage["read"] += (metrics.get("Input Metrics") or {}).get("Bytes Read", 0)
        stage["written"] += (metrics.get("Output Metrics") or {}).get("Records Written", 0)
        stage["result"] += metrics.get("Result Size", 0)
        by_executor[info["Executor ID"]] += 1
    print(
        f"executors: {', '.join(f'{k}@{v}' for k, v in sorted(executors.items()))}; "
        f"tasks per executor: {dict(sorted(by_executor.items()))}"
    )
    print(f"{'tasks':>6} {'executors':>9} {'bytes read':>11} {'rows written':>12} {'to driver':>10}  stage")
    for name, s in sorted(per_stage.items(), key=lambda kv: -kv[1]["tasks"])[:40]:
        print(
            f"{s['tasks']:>6} {','.join(sorted(s['executors'])):>9} {s['read']:>11} {s['written']:>12} "
            f"{s['result']:>10}  {name[:90]}"
        )
    total = {k: sum(s[k] for s in per_stage.values()) for k in ("tasks", "read", "written", "result")}
    print(
        f"total: {total['tasks']} tasks, {total['read']} bytes read from storage, {total['written']} rows "
        f"written, {total['result']} bytes of task results sent to the driver"
    )
    checks = {
        "every task ran on a registered executor (none on the driver)": bool(by_executor)
        and set(by_executor) <= set(executors)
        and "driver" not in by_executor,
        "tasks ran on more than one executor": len(by_executor) >= 2,
        "executors read the input from storage": total["read"] > 0,
        "executors wrote rows (bronze)": total["written"] > 0,
    }
    pattern = os.environ.get("CLUSTER_LOAD_STAGE")
    if pattern:
        load = [s for name, s in per_stage.items() if re.search(pattern, name)]
        checks[f"load stages /{pattern}/ ran on executors"] = bool(load) and all(
            s["executors"] <= set(executors) for s in load
        )
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    return 0 if all(checks.values()) else 1


def no_secrets(*paths: str) -> int:
    names = [n for n in os.environ.get("CLUSTER_SECRET_VARS", "").split(",") if n]
    secrets = {n: os.environ[n].encode() for n in names if os.environ.get(n)}
    if len(secrets) != len(names):
        print("CLUSTER_SECRET_VARS names a variable that is not set", file=sys.stderr)
        return 1
    files = [f for p in map(Path, paths) for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()]
    leaks = [(f, n) for f in files for n, value in secrets.items() if value in f.read_bytes()]
    for f, n in leaks:
        print(f"FAIL the value of {n} appears in {f}")
    print(f"{'FAIL' if leaks else 'ok  '} no secret ({', '.join(secrets)}) in {len(files)} log and output files")
    return 1 if leaks else 0


def _children(pids: set[int]) -> set[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    parent = {int(p): int(pp) for p, pp in (line.split() for line in out.splitlines())}
    found = set(pids)
    while True:
        more = {p for p, pp in parent.items() if pp in found} - found
        if not more:
            return found
        found |= more


def loopback(*pids: str) -> int:
    ours = _children({int(p) for p in pids})
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    bad, good = [], 0
    for line in out.splitlines():
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if not owners & ours:
            continue
        local = line.split()[3]
        address = local.rsplit(":", 1)[0].strip("[]")
        if address in ("127.0.0.1", "::1", "::ffff:127.0.0.1") or address.startswith("127."):
            good += 1
        else:
            bad.append(local)
    print(
        f"{'FAIL' if bad else 'ok  '} {good} listening sockets of {len(ours)} processes on loopback"
        + (f"; NOT loopback: {', '.join(bad)}" if bad else "")
    )
    return 1 if bad or not good else 0


COMMANDS: dict[str, tuple[Callable[..., int], int | None]] = {
    "free-port": (free_port, 0),
    "wait-workers": (wait_workers, 3),
    "truth": (truth, 1),
    "events": (events, 1),
    "no-secrets": (no_secrets, None),
    "loopback": (loopback, None),
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 64
    function, arity = COMMANDS[argv[0]]
    if arity is not None and len(argv) - 1 != arity:
        print(__doc__, file=sys.stderr)
        return 64
    return function(*argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
