"""The class archive: written by a child session, then mapped by the next session's JVM."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from zluri_staging import classes

_SESSION = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from zluri_staging.spark import build_spark

    jars_dir, log = Path(sys.argv[1]), sys.argv[2]
    spark = build_spark("local[1]", "zluri-classes-test", jars_dir=jars_dir, java_options=[f"-Xlog:cds=info:file={log}"])
    print(spark.range(3).count())
    spark.stop()
    """
)


def test_an_archive_written_by_one_session_is_mapped_by_the_next(tmp_path):
    assert classes.java_options(tmp_path) == []  # none yet: the session loads classes from the jars
    archive = classes.create(tmp_path)
    assert archive == tmp_path / classes.ARCHIVE
    assert archive.stat().st_size > 10 * 1024**2  # Spark's, Delta's and Parquet's classes
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial file left
    assert classes.java_options(tmp_path)[0] == f"-XX:SharedArchiveFile={archive}"

    log, script = tmp_path / "cds.log", tmp_path / "session.py"
    script.write_text(_SESSION)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(log)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "3"
    mapped = log.read_text()
    assert "Mapped dynamic region" in mapped
    assert "Unable to use shared archive" not in mapped
    assert "shared archive" not in done.stdout + done.stderr  # an archive in use, or not, says nothing
    # The bundled log4j setup keeps Spark's shell banner off the console of a Python driver.
    assert "Setting default log level" not in done.stderr
