"""Reading one entity of one day: ``<input_root>/sync-<day>/<entity>/*.json``, every file of the
folder in ONE pass with an explicit schema, never inferring one.

Each file is read whole (``wholetext``) and parsed once as a JSON array of raw JSON texts, then each
record text is parsed with the entity's record schema. The text is wrapped in ``[...]`` before the
first parse, so Spark's parser must consume the whole file: trailing garbage, a second document or a
truncated file fails the parse (Spark otherwise stops at the end of the first value and ignores the
rest). An unreadable file or a record that is not a JSON object never fails the day: it becomes a
row with ``read_error`` set, which the first validation rule quarantines.

Spark's file scan skips zero-byte files entirely, so the folder is also listed through Hadoop's
FileSystem (which works for local paths and s3a:// alike) and empty files are added as unreadable.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from zluri_staging.schemas import ENTITIES, INPUT_FILES, EntitySpec, read_schema

log = logging.getLogger(__name__)

FILE_PATTERN = "*.json"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

ERR_EMPTY = "file is empty"
ERR_NOT_JSON = "file is not valid JSON"
ERR_NOT_OBJECT = "record is not a JSON object"
_ERR_SHAPE = {
    "array": "file is not a JSON array",
    "results": 'file has no "results" array',
    "object": "file is not a JSON object",
}


class MissingEntityError(FileNotFoundError):
    """A required entity folder of the day does not exist."""

    def __init__(self, folder: str, entity: str, day: str):
        super().__init__(f"required input folder {folder} is missing (entity {entity}, day {day})")
        self.folder, self.entity, self.day = folder, entity, day


@dataclass(frozen=True)
class InputFile:
    name: str  # file name inside the entity folder
    size: int


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


def list_entity_files(spark: SparkSession, folder: str) -> list[InputFile] | None:
    """The ``*.json`` files directly in ``folder`` (None if the folder does not exist).

    A local folder is listed with the OS (one call for 20,000 files); any other file system
    (s3a://, hdfs://) through Hadoop's FileSystem of the session, which is what Spark reads with."""
    local = _local_path(folder)
    if local is not None:
        if not local.is_dir():
            return None
        with os.scandir(local) as entries:
            files = [
                InputFile(entry.name, entry.stat().st_size)
                for entry in entries
                if entry.is_file() and fnmatch.fnmatchcase(entry.name, FILE_PATTERN)
            ]
        return sorted(files, key=lambda f: f.name)
    jvm = spark.sparkContext._jvm
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


def _read_partitions(spark: SparkSession, files: list[InputFile]) -> int:
    # Spark packs small files into ~4 MB "open cost" slots: 20,000 one-object files would become
    # hundreds of tasks that each do almost nothing. A few tasks per core, or one per 128 MB.
    total = sum(f.size for f in files)
    return max(2 * spark.sparkContext.defaultParallelism, -(-total // (128 << 20)))


def read_entity(spark: SparkSession, entity: str, *, day: str, input_root: str) -> DataFrame | None:
    """The parsed frame of one entity and day, or None when its folder does not exist.

    Columns: source_file, sha256 (of the file text), file_records (records in the file, null when
    the file is unreadable), position (record index in the file), raw_record, read_error, record
    (the entity's record struct). A readable file with no records keeps one row with a null
    position so it still appears in ``input_files``; ``records`` drops that row.
    """
    spec = ENTITIES[entity]
    folder = entity_dir(input_root, day, entity)
    files = list_entity_files(spark, folder)
    if files is None:
        return None
    prefix = source_prefix(day, entity)
    empty = [f for f in files if f.size == 0]
    parts: list[DataFrame] = []
    if len(empty) < len(files):
        text = (
            spark.read.option("pathGlobFilter", FILE_PATTERN)
            .text(folder, wholetext=True)
            .coalesce(_read_partitions(spark, files))
        )
        parts.append(
            text.select(
                F.concat(F.lit(prefix), _file_name(F.col("_metadata.file_path"))).alias("source_file"),
                F.col("value"),
            ).transform(lambda df: parse_files(df, spec))
        )
    if empty:
        parts.append(_empty_files(spark, spec, [prefix + f.name for f in empty]))
    if not parts:  # the folder exists but holds no *.json file
        return spark.createDataFrame([], _parsed_schema(spec))
    parsed = parts[0]
    for extra in parts[1:]:
        parsed = parsed.unionByName(extra)
    return parsed


def _layout_type(layout: str, element: T.DataType) -> T.DataType:
    # The type of one JSON document of a file, given the type of one of its records.
    return {
        "array": T.ArrayType(element),
        "results": T.StructType([T.StructField("results", T.ArrayType(element))]),
        "object": element,
    }[layout]


def _records_of(document: Column, layout: str) -> Column:
    return {"array": document, "results": document.getField("results"), "object": F.array(document)}[layout]


def parse_files(files: DataFrame, spec: EntitySpec) -> DataFrame:
    """(source_file, value = whole file text) -> the parsed frame (see ``read_entity``). Pure.

    Each file is parsed twice, both times as a whole: once into the raw JSON text of every record
    and once straight into the record schema. Parsing each record's text again with ``from_json``
    would be the obvious way, but costs about three times as much per record; the two arrays are
    zipped by position instead. A file whose typed parse fails as a whole (a record that is not an
    object nulls the array) falls back to parsing its records one by one."""
    text = F.col("value")
    # A UTF-8 byte order mark is legal at the start of a file but not in JSON.
    body = F.when(text.startswith("\ufeff"), F.expr("substring(value, 2)")).otherwise(text)
    wrapped = F.concat(F.lit("["), F.col("_body"), F.lit("]"))
    raw_documents = F.from_json(wrapped, T.ArrayType(_layout_type(spec.layout, T.StringType())))
    typed_documents = F.from_json(wrapped, T.ArrayType(_layout_type(spec.layout, spec.record)))
    raw_items = _records_of(F.element_at(F.col("_documents"), 1), spec.layout)
    typed_items = _records_of(F.element_at(F.col("_typed"), 1), spec.layout)
    # Only for a file the layout parse rejected: is it JSON at all (then it has the wrong shape)?
    any_json = F.when(F.col("_documents").isNull(), F.from_json(wrapped, T.ArrayType(T.StringType())))
    count = F.when(F.col("_documents").isNotNull(), F.size("_documents")).otherwise(F.size("_any_json"))
    file_error = (
        F.when(F.col("_documents").isNull() & F.col("_any_json").isNull(), F.lit(ERR_NOT_JSON))
        .when(count == 0, F.lit(ERR_EMPTY))
        .when(count > 1, F.concat(F.lit("file holds "), count.cast("string"), F.lit(" JSON documents")))
        .when(F.col("_items").isNull(), F.lit(_ERR_SHAPE[spec.layout]))
    )
    no_records = F.array_repeat(F.lit(None).cast(spec.record), F.size("_items"))
    per_file = (
        files.select("source_file", "value", body.alias("_body"))
        .select("source_file", "value", "_body", raw_documents.alias("_documents"), typed_documents.alias("_typed"))
        .select("source_file", "value", "_body", "_documents", raw_items.alias("_items"), typed_items.alias("_records"))
        .select("source_file", "value", "_documents", "_items", "_records", any_json.alias("_any_json"))
        .select(
            "source_file",
            F.sha2(text, 256).alias("sha256"),
            file_error.alias("_file_error"),
            "_items",
            "_records",
            "value",
        )
        .select(
            "source_file",
            "sha256",
            F.when(F.col("_file_error").isNull(), F.size("_items").cast("long")).alias("file_records"),
            "_file_error",
            # The text of an unreadable file is kept (it is all there is of its records); a good
            # file's text is dropped here so it is not copied onto every exploded row.
            F.when(F.col("_file_error").isNotNull(), F.col("value")).alias("_file_text"),
            F.when(
                F.col("_file_error").isNull(),
                F.arrays_zip(F.col("_items").alias("raw"), F.coalesce(F.col("_records"), no_records).alias("typed")),
            ).alias("_pairs"),
        )
    )
    exploded = per_file.select(
        "source_file",
        "sha256",
        "file_records",
        "_file_error",
        "_file_text",
        F.posexplode_outer("_pairs").alias("position", "_pair"),
    )
    element = F.col("_pair.raw")
    read_error = F.coalesce(
        F.col("_file_error"),
        F.when(F.col("position").isNotNull() & (element.isNull() | ~element.startswith("{")), F.lit(ERR_NOT_OBJECT)),
    )
    return exploded.select(
        "source_file",
        "sha256",
        "file_records",
        F.col("position").cast("int").alias("position"),
        F.coalesce(element, F.col("_file_text")).alias("raw_record"),
        read_error.alias("read_error"),
        F.when(
            read_error.isNull() & F.col("position").isNotNull(),
            F.coalesce(F.col("_pair.typed"), F.from_json(element, spec.record)),
        ).alias("record"),
    )


def records(parsed: DataFrame) -> DataFrame:
    """One row per record (and per unreadable file): source_file, position, raw_record, read_error,
    record. Drops the placeholder row of a readable file without records."""
    return parsed.where(F.col("position").isNotNull() | F.col("read_error").isNotNull()).select(
        "source_file", "position", "raw_record", "read_error", "record"
    )


def input_files(parsed: DataFrame, entity: str) -> DataFrame:
    """One row per input file: entity, source_file, sha256, records (null for an unreadable file)."""
    return (
        parsed.select("source_file", "sha256", "file_records")
        .dropDuplicates(["source_file"])
        .select(
            F.lit(entity).alias("entity"),
            "source_file",
            "sha256",
            F.col("file_records").alias("records"),
        )
    )


def _file_name(uri: Column) -> Column:
    # _metadata.file_path is a URI: the name is percent-encoded, while '+' stays literal (a plain
    # URL decoder would turn it into a space).
    return F.url_decode(F.replace(F.regexp_extract(uri, r"[^/]*$", 0), F.lit("+"), F.lit("%2B")))


def _parsed_schema(spec: EntitySpec) -> T.StructType:
    base = read_schema(spec.record)
    return T.StructType(
        [
            base["source_file"],
            T.StructField("sha256", T.StringType()),
            T.StructField("file_records", T.LongType()),
            *[base[name] for name in ("position", "raw_record", "read_error", "record")],
        ]
    )


def _empty_files(spark: SparkSession, spec: EntitySpec, names: list[str]) -> DataFrame:
    rows = [(name, EMPTY_SHA256, None, None, "", ERR_EMPTY, None) for name in names]
    return spark.createDataFrame(rows, _parsed_schema(spec))


__all__ = [
    "ERR_EMPTY",
    "ERR_NOT_JSON",
    "ERR_NOT_OBJECT",
    "INPUT_FILES",
    "InputFile",
    "MissingEntityError",
    "entity_dir",
    "input_files",
    "list_entity_files",
    "parse_files",
    "read_entity",
    "records",
    "source_prefix",
]
