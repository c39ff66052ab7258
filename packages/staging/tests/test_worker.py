"""A worker's Arrow conversions do not import pandas, and pandas stays importable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

# The script below imports these; imported here too, so they are there wherever the test runs (Pants
# gives a test the modules its imports name).
from zluri_staging import load, read, worker  # noqa: F401
from zluri_staging.split import ERR_NOT_OBJECT

# Run in a fresh interpreter, from a file as test_classes runs its session (under `python -c`,
# importing pyspark.sql.connect ends the process): the test process has pandas imported already.
WORKER = textwrap.dedent(
    """
    import io, json, sys
    import pyarrow as pa
    from zluri_staging import load, read
    from zluri_staging.worker import arrow_without_pandas

    finders = list(sys.meta_path)
    arrow_without_pandas()
    assert sys.meta_path == finders, "the refusing finder is left behind"
    # What the workers convert: a file cut into rows, a partition's report, COPY's constant columns.
    text = json.dumps({"results": [{"id": 1}, {"id": 2}, "not an object"]}).encode()
    rows = pa.Table.from_batches(list(read.split_rows("a.json", io.BytesIO(text), "results")))
    report = pa.RecordBatch.from_pydict({"part": [3], "rows": [2]}, schema=load._COPIED_ARROW)
    constant = pa.repeat(pa.scalar("day1", pa.string()), 2)
    print(json.dumps({
        "pandas_after_conversions": "pandas" in sys.modules,
        "positions": rows.column("position").to_pylist(),
        "errors": rows.column("read_error").to_pylist(),
        "report": report.to_pylist(),
        "constant": constant.to_pylist(),
    }))
    # pandas is imported when a conversion to it asks, and its objects still convert.
    frame = rows.select(["position"]).to_pandas()
    assert "pandas" in sys.modules
    assert pa.array(frame["position"]).to_pylist()[:2] == [0.0, 1.0], pa.array(frame["position"])
    """
)


def test_a_worker_converts_without_importing_pandas(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {
        "pandas_after_conversions": False,
        "positions": [0, 1, 2, None],
        "errors": [None, None, ERR_NOT_OBJECT, None],
        "report": [{"part": 3, "rows": 2}],
        "constant": ["day1", "day1"],
    }
