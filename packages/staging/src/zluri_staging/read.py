"""Reading one entity of one day: ``<input_root>/sync-<day>/<entity>/*.json``, with an explicit
schema, never inferring one, in memory that does not grow with file size.

The driver only lists the folder. The files are cut into records on the executors, while they are
read, by ``split.FileSplit`` (inside ``mapInArrow``, so records reach the JVM as Arrow batches);
each record keeps its exact text, and Spark's JSON parser then reads that text with the entity's
record schema. Neither a whole file nor a whole day passes through one string or one row: Spark's
own JSON reader cannot do that for these layouts (a top-level array, or the ``results`` array of a
page, is materialised whole before its first row is returned; see README, Scale).

Every listed ``*.json`` file yields exactly one *file row* (position null) with its checksum, its
record count (null when unreadable) and, for an unreadable file, the reason and the file's first
bytes; a good file's records follow as *record rows*. Whether a file is good is known only at its
end, so ``records`` drops the record rows of files whose file row says they are unreadable: an
unreadable file is one quarantine entry, never half loaded. Names Spark's own file index would
skip (``_x.json``, ``.x.json``) are read like any other; a symbolic link that leaves the day's
folder is not followed but quarantined.
"""

from __future__ import annotations

import fnmatch
import io
import logging
import os
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from zluri_staging.fs import S3Settings, open_s3a
from zluri_staging.schemas import ENTITIES, INPUT_FILES, EntitySpec
from zluri_staging.split import ERR_EMPTY, ERR_NOT_JSON, ERR_NOT_OBJECT, ERR_NOT_UTF8, FileSplit
from zluri_staging.worker import arrow_without_pandas

log = logging.getLogger(__name__)

FILE_PATTERN = "*.json"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ERR_LINK_OUTSIDE = "symbolic link leads outside the day's folder (not followed)"
ERR_UNREADABLE = "file cannot be opened"
BATCH_ROWS = 2048  # records per Arrow batch handed to the JVM: a few MB at most
BATCH_TEXT = 8 << 20  # or fewer, once their texts reach this many characters

SPLIT_SCHEMA = T.StructType(
    [
        T.StructField("source_file", T.StringType(), False),
        T.StructField("sha256", T.StringType()),
        T.StructField("file_records", T.LongType()),
        T.StructField("position", T.IntegerType()),
        T.StructField("raw_record", T.StringType()),
        T.StructField("read_error", T.StringType()),
    ]
)
_ARROW = pa.schema(
    [
        ("source_file", pa.string()),
        ("sha256", pa.string()),
        ("file_records", pa.int64()),
        ("position", pa.int32()),
        ("raw_record", pa.string()),
        ("read_error", pa.string()),
    ]
)


class MissingEntityError(FileNotFoundError):
    """A required entity folder of the day does not exist."""

    def __init__(self, folder: str, entity: str, day: str):
        super().__init__(f"required input folder {folder} is missing (entity {entity}, day {day})")
        self.folder, self.entity, self.day = folder, entity, day


class UnaccountedFilesError(RuntimeError):
    """Files were listed but not read (or read but not listed): the step fails naming them."""


@dataclass(frozen=True)
class InputFile:
    name: str  # file name inside the entity folder
    size: int
    error: str | None = None  # known before reading (a link leaving the folder)


@dataclass(frozen=True)
class EntityInput:
    """One entity's split rows (lazy) and the files the listing found (``source_file`` values)."""

    parsed: DataFrame
    listed: list[str]
    partitions: int = 1  # of ``parsed``: one per task that cut files, or a large file's spread


def entity_dir(input_root: str, day: str, entity: str) -> str:
    return f"{str(input_root).rstrip('/')}/sync-{day}/{entity}"


def source_prefix(day: str, entity: str) -> str:
    """source_file values are relative to the input root: ``sync-<day>/<entity>/<file>``, so they are
    the same wherever the feed is mounted."""
    return f"sync-{day}/{entity}/"


def _local_path(folder: str) -> Path | None:
    """The local path of ``folder`` if it is on the local file system (no scheme, or file:)."""
    parsed = urlparse(folder)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path) if parsed.scheme == "file" else folder)
    if len(parsed.scheme) == 1:  # a Windows drive letter, not a scheme
        return Path(folder)
    return None


def day_input_bytes(input_root: str, day: str) -> int | None:
    """Bytes of the files the day's entities would read (listed as ``list_entity_files`` lists them:
    a link leaving its folder counts nothing), to size a session before it starts; None when the
    root is not local (it can only be listed with a session) or the day's folder is missing."""
    day_folder = _local_path(f"{str(input_root).rstrip('/')}/sync-{day}")
    if day_folder is None or not day_folder.is_dir():
        return None
    folders = [day_folder / entity for entity in ENTITIES]
    return sum(f.size for folder in folders if folder.is_dir() for f in _list_local(folder))


def _local_entry(entry: os.DirEntry, folder: Path) -> InputFile | None:
    if entry.is_symlink():
        target = Path(os.path.realpath(entry.path))
        if target.parent != folder.resolve():
            return InputFile(entry.name, 0, ERR_LINK_OUTSIDE)
    if not entry.is_file():
        return None
    return InputFile(entry.name, entry.stat().st_size)


def _list_local(folder: Path) -> list[InputFile]:
    with os.scandir(folder) as entries:
        listed = [_local_entry(e, folder) for e in entries if fnmatch.fnmatchcase(e.name, FILE_PATTERN)]
    return sorted((f for f in listed if f is not None), key=lambda f: f.name)


def list_entity_files(spark: SparkSession, folder: str) -> list[InputFile] | None:
    """The ``*.json`` files directly in ``folder`` (None if the folder does not exist), every name
    included (Spark's own file index would skip ``_*`` and ``.*``).

    A local folder is listed with the OS (one call for 20,000 files); any other file system
    (s3a://, hdfs://) through Hadoop's FileSystem of the session."""
    local = _local_path(folder)
    if local is not None:
        return _list_local(local) if local.is_dir() else None
    jvm = spark.sparkContext._jvm
    assert jvm is not None, "the JVM gateway exists on the driver"
    path = jvm.org.apache.hadoop.fs.Path(folder)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(path) or not fs.getFileStatus(path).isDirectory():
        return None
    files = [
        InputFile(status.getPath().getName(), int(status.getLen()))
        for status in fs.listStatus(path)
        if status.isFile() and fnmatch.fnmatchcase(status.getPath().getName(), FILE_PATTERN)
    ]
    return sorted(files, key=lambda f: f.name)


# -- cutting files into rows (runs on the executors) ----------------------------------------------


_Row = tuple[str, str | None, int | None, int | None, str | None, str | None]  # one row of _ARROW
_TEXT: Final = 4  # raw_record's place in _ARROW and in a _Row


def _batches(rows: Iterable[_Row]) -> Iterator[pa.RecordBatch]:
    """Rows gathered into Arrow batches, each ending at BATCH_ROWS rows or at the row that brings its
    texts to BATCH_TEXT characters (a bad file's row carries up to SAMPLE_BYTES of text). The rows of
    many small files share a batch: a batch per file cost more than cutting the file."""
    columns: list[list] = [[] for _ in _ARROW.names]
    text = 0
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
        text += len(row[_TEXT] or "")
        if len(columns[0]) >= BATCH_ROWS or text >= BATCH_TEXT:
            yield _batch(columns)
            columns, text = [[] for _ in _ARROW.names], 0
    if columns[0]:
        yield _batch(columns)


def _batch(columns: list[list]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pa.array(c, type=f.type) for c, f in zip(columns, _ARROW, strict=True)], schema=_ARROW
    )


def _file_rows(source_file: str, stream: BinaryIO, layout: str) -> Iterator[_Row]:
    """The record rows of one file, then its file row."""
    split = FileSplit(stream, layout)
    for position, text, is_object in split.records():
        yield (source_file, None, None, position, text, None if is_object else ERR_NOT_OBJECT)
    if split.error is None:
        yield (source_file, split.sha256, split.count, None, None, None)
    else:
        yield (source_file, split.sha256, None, None, split.sample, split.error)


def split_rows(source_file: str, stream: BinaryIO, layout: str) -> Iterator[pa.RecordBatch]:
    """The record rows of one file, then its file row, as Arrow batches of at most BATCH_ROWS."""
    return _batches(_file_rows(source_file, stream, layout))


def _error_row(source_file: str, error: str, sha256: str = EMPTY_SHA256) -> _Row:
    return (source_file, sha256, None, None, "", error)


_Listed = tuple[str, str, str | None]  # source_file, uri, error known before reading


def _split_bins(
    bins: list[list[_Listed]], layout: str, s3: S3Settings | None = None
) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Over ``spark.range`` with one id per partition: the task of id N cuts the files of bin N. The
    listing travels in the function itself, so no other Python step (and worker) feeds the task."""

    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        arrow_without_pandas()
        for batch in batches:
            for number in batch.column(0).to_pylist():
                yield from _split_files(bins[number], layout, s3)

    return run


def _split_files(files: Iterable[_Listed], layout: str, s3: S3Settings | None) -> Iterator[pa.RecordBatch]:
    return _batches(_files_rows(files, layout, s3))


def _files_rows(files: Iterable[_Listed], layout: str, s3: S3Settings | None) -> Iterator[_Row]:
    for source_file, uri, error in files:
        if error is not None:
            yield _error_row(source_file, error)
            continue
        try:
            stream = open_input(uri, s3)
        except OSError as exc:
            yield _error_row(source_file, f"{ERR_UNREADABLE}: {exc.strerror or exc}")
            continue
        with stream:
            yield from _file_rows(source_file, stream, layout)


def _split_texts(layout: str) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        arrow_without_pandas()
        for batch in batches:
            files = zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)
            yield from _batches(
                row for name, text in files for row in _file_rows(name, io.BytesIO(text.encode()), layout)
            )

    return run


def open_input(uri: str, s3: S3Settings | None = None) -> BinaryIO:
    """A binary stream of one input file: a local path, or any URL pyarrow's file systems open."""
    # Once per input file: a plain absolute path (what _local_path would give) opens as it is. Parsing
    # it and building a Path added 0.5 s to the 1.7 s of cutting an M day's 19,608 agent_details files.
    local = uri if uri.startswith("/") else _local_path(uri)
    if local is not None:
        return open(local, "rb")  # noqa: SIM115 - the caller closes it
    if s3 is not None and uri.startswith("s3a://"):
        # Arrow knows no s3a:// scheme; the driver's S3A settings say where and as whom.
        return open_s3a(uri, s3)
    from pyarrow import fs

    filesystem, path = fs.FileSystem.from_uri(uri)
    return filesystem.open_input_stream(path)


# One task cuts a file into records, streaming; what comes after (parsing, the cache, the bronze
# write's sort, classification) holds a partition at a time. A file larger than LARGE_FILE_BYTES
# would make one such partition of its whole size (a 1 GB file of transactions ran a 2 GiB heap out
# of memory in the bronze write's sort), so its records are spread by a hash of (file, position)
# over partitions of about PARTITION_BYTES of input each: one shuffle, and no task holds a big file.
LARGE_FILE_BYTES = 128 << 20
PARTITION_BYTES = 64 << 20
# A task cuts at least this much (a file counting FILE_COST_BYTES beyond its size): a few small files
# share one task. Each task costs a Python worker's turn, and each partition a bronze file of its own:
# the reference feed's six agent_details files took 0.22 s in six tasks and wrote six bronze files.
TASK_MIN_BYTES = 4 << 20
FILE_COST_BYTES = 4096


def _bins(files: list[InputFile], slots: int) -> list[list[InputFile]]:
    """Files spread over at most ``slots`` tasks of at least ``TASK_MIN_BYTES`` each, largest first
    onto the lightest task, so one big file does not share its task with the rest of the day."""
    weights = [f.size + FILE_COST_BYTES for f in files]
    tasks = min(slots, len(files), -(-sum(weights) // TASK_MIN_BYTES))
    bins: list[list[InputFile]] = [[] for _ in range(max(1, tasks))]
    loads = [0] * len(bins)
    for f, weight in sorted(zip(files, weights, strict=True), key=lambda fw: -fw[1]):
        lightest = loads.index(min(loads))
        bins[lightest].append(f)
        loads[lightest] += weight
    return [b for b in bins if b]


def read_entity(spark: SparkSession, entity: str, *, day: str, input_root: str) -> EntityInput | None:
    """The split rows of one entity and day (see the module doc) and the listed files, or None when
    its folder does not exist. Columns: source_file, sha256, file_records, position, raw_record,
    read_error, record."""
    spec = ENTITIES[entity]
    folder = entity_dir(input_root, day, entity)
    files = list_entity_files(spark, folder)
    if files is None:
        return None
    prefix = source_prefix(day, entity)
    listed = [prefix + f.name for f in files]
    if not files:
        return EntityInput(with_record(spark.createDataFrame([], SPLIT_SCHEMA), spec), listed)
    partitions = -(-sum(f.size for f in files) // PARTITION_BYTES)  # of about PARTITION_BYTES each
    slots = max(2 * spark.sparkContext.defaultParallelism, partitions)
    bins = [[(prefix + f.name, f"{folder}/{f.name}", f.error) for f in b] for b in _bins(files, slots)]
    s3 = S3Settings.from_session(spark) if folder.startswith("s3a://") else None
    split = spark.range(len(bins), numPartitions=len(bins)).mapInArrow(_split_bins(bins, spec.layout, s3), SPLIT_SCHEMA)
    spread = max(f.size for f in files) > LARGE_FILE_BYTES
    if spread:
        split = split.repartition(partitions, "source_file", "position")
    return EntityInput(with_record(split, spec), listed, partitions if spread else len(bins))


def parse_files(files: DataFrame, spec: EntitySpec) -> DataFrame:
    """(source_file, value = whole file text) -> the split rows with ``record``, by the same cutter
    ``read_entity`` runs on files. For callers that hold file texts already (small inputs, tests)."""
    return with_record(files.mapInArrow(_split_texts(spec.layout), SPLIT_SCHEMA), spec)


def with_record(rows: DataFrame, spec: EntitySpec) -> DataFrame:
    """The split rows plus ``record``: a record row's text parsed with the entity's schema. Pure."""
    parse = F.col("position").isNotNull() & F.col("read_error").isNull()
    return rows.withColumn("record", F.when(parse, F.from_json("raw_record", spec.record)))


def records(parsed: DataFrame, unreadable: Collection[str] | None = None) -> DataFrame:
    """One row per record of a readable file, and one per unreadable file: source_file, position,
    raw_record, read_error, record. One filter of ``parsed``.

    A file found unreadable part-way keeps none of the records cut before the error. ``unreadable``
    names those files; a caller that has collected ``input_files`` has them (``unreadable_files``),
    otherwise they are found here, in one small query of the file rows."""
    file_error = F.col("position").isNull() & F.col("read_error").isNotNull()
    if unreadable is None:
        unreadable = [row.source_file for row in parsed.where(file_error).select("source_file").collect()]
    of_readable = F.col("position").isNotNull()
    if unreadable:
        of_readable = of_readable & ~F.col("source_file").isin(sorted(unreadable))
    return parsed.where(of_readable | file_error).select(
        "source_file", "position", "raw_record", "read_error", "record"
    )


def unreadable_files(input_files: pa.Table) -> list[str]:
    """The files of a collected ``input_files`` that are unreadable (they count no records)."""
    return [f for f, n in zip(input_files["source_file"].to_pylist(), input_files["records"].to_pylist()) if n is None]


def input_files(parsed: DataFrame, entity: str) -> DataFrame:
    """One row per input file: entity, source_file, sha256, records (null for an unreadable file). Pure."""
    return parsed.where(F.col("position").isNull()).select(
        F.lit(entity).alias("entity"), "source_file", "sha256", F.col("file_records").alias("records")
    )


def first_pass(parsed: DataFrame, entity: str, survey: DataFrame | None = None) -> tuple[pa.Table, pa.Table | None]:
    """The ``input_files`` of the split rows and, in the same Spark query (the one that reads and cuts
    the files, filling the cache), the rows of a small ``survey`` frame of them, if given."""
    files = input_files(parsed, entity)
    if survey is None:
        return files.toArrow(), None
    if set(survey.columns) & set(files.columns):
        raise ValueError(f"a survey's columns {survey.columns} must differ from the input files' {files.columns}")
    both = files.unionByName(survey, allowMissingColumns=True).toArrow()
    of_files = pc.is_valid(both["source_file"])  # every file row names its file
    return both.filter(of_files).select(files.columns), both.filter(pc.invert(of_files)).select(survey.columns)


def check_accounted(listed: Iterable[str], read_files: Iterable[str], entity: str) -> None:
    """Every listed file has exactly one file row and nothing else was read; else the step fails."""
    listed_set, read_list = set(listed), list(read_files)
    missing = sorted(listed_set - set(read_list))
    extra = sorted(set(read_list) - listed_set)
    twice = sorted({f for f in read_list if read_list.count(f) > 1}) if len(read_list) != len(set(read_list)) else []
    if missing or extra or twice:
        raise UnaccountedFilesError(
            f"{entity}: listed and read files differ: not read {missing[:20]}, not listed {extra[:20]}, "
            f"read twice {twice[:20]}"
        )


__all__ = [
    "ERR_EMPTY",
    "ERR_LINK_OUTSIDE",
    "ERR_NOT_JSON",
    "ERR_NOT_OBJECT",
    "ERR_NOT_UTF8",
    "INPUT_FILES",
    "EntityInput",
    "InputFile",
    "MissingEntityError",
    "UnaccountedFilesError",
    "check_accounted",
    "entity_dir",
    "first_pass",
    "input_files",
    "list_entity_files",
    "open_input",
    "parse_files",
    "read_entity",
    "records",
    "source_prefix",
    "split_rows",
    "unreadable_files",
]
