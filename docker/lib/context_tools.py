"""Small helpers for docker/prepare-context.sh (standard library + packaging only).

    requirements WHEEL...            print the third-party requirements our wheels declare
    constraints SRC DEST             copy pins, dropping our own packages and local paths
    link-closure REPORT DEST_DIR     hard-link (or copy) every wheel a `pip install --report`
                                     resolved from a --find-links folder into DEST_DIR
    dedupe-ivy IVY_DIR               hard-link Ivy's retrieved jars (jars/) to the same files
                                     in its cache (cache/): one copy in the image, not two
    patch-level-extras REPORT        print requirements of the resolved wheels that only apply
                                     to an older 3.11 patch release than the host's

Why the last one: the host venv resolves the closure with its own interpreter (e.g. 3.11.7)
but the image may run another 3.11 (Debian 12 ships 3.11.2), and a few packages declare
markers such as `python_full_version < "3.11.3"` (redis -> async-timeout). The wheelhouse
must hold those wheels too, or the offline install in the image fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import zipfile
from email.parser import Parser
from pathlib import Path
from urllib.parse import unquote, urlparse

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pip always vendors it
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[no-redef]

OUR_PREFIX = "zluri-"


def _is_ours(name: str) -> bool:
    return canonicalize_name(name).startswith(OUR_PREFIX)


def requirements(wheels: list[str]) -> int:
    seen: dict[str, str] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            metadata_name = next(
                n for n in archive.namelist() if n.endswith(".dist-info/METADATA")
            )
            metadata = Parser().parsestr(archive.read(metadata_name).decode("utf-8"))
        for line in metadata.get_all("Requires-Dist") or []:
            requirement = Requirement(line)
            # Extras of our own packages (dev, test) never go into the image.
            if requirement.marker is not None and not requirement.marker.evaluate(
                {"extra": ""}
            ):
                continue
            if _is_ours(requirement.name):
                continue
            requirement.marker = None
            seen.setdefault(str(requirement), wheel)
    for line in sorted(seen, key=str.lower):
        print(line)
    return 0


def constraints(src: str, dest: str) -> int:
    kept: list[str] = []
    for raw in Path(src).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue  # options, -e and -r lines are for the dev setup, not for pins
        if "@" in line or line.startswith((".", "/")):
            continue  # direct references / local paths
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        if match and _is_ours(match.group(0)):
            continue
        kept.append(line)
    Path(dest).write_text("".join(f"{line}\n" for line in kept))
    return 0


def link_closure(report_path: str, dest_dir: str) -> int:
    report = json.loads(Path(report_path).read_text())
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    missing = []
    for item in report.get("install", []):
        name = item["metadata"]["name"]
        if _is_ours(name):
            continue
        url = item["download_info"]["url"]
        parsed = urlparse(url)
        if parsed.scheme != "file" or not url.endswith(".whl"):
            missing.append(f"{name}: {url}")
            continue
        source = Path(unquote(parsed.path))
        target = dest / source.name
        if target.exists():
            continue
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)
    if missing:
        print(
            "not a local wheel (the wheelhouse is incomplete):",
            *missing,
            sep="\n  ",
            file=sys.stderr,
        )
        return 1
    return 0


def patch_level_extras(report_path: str, oldest: str = "3.11.0") -> int:
    report = json.loads(Path(report_path).read_text())
    resolved = {
        canonicalize_name(item["metadata"]["name"])
        for item in report.get("install", [])
    }
    older = {
        "python_full_version": oldest,
        "implementation_version": oldest,
        "extra": "",
    }
    extras: set[str] = set()
    for item in report.get("install", []):
        for line in item["metadata"].get("requires_dist") or []:
            requirement = Requirement(line)
            if (
                requirement.marker is None
                or canonicalize_name(requirement.name) in resolved
            ):
                continue
            if requirement.marker.evaluate(older) and not requirement.marker.evaluate(
                {"extra": ""}
            ):
                requirement.marker = None
                extras.add(str(requirement))
    for line in sorted(extras, key=str.lower):
        print(line)
    return 0


def dedupe_ivy(ivy_dir: str) -> int:
    import filecmp

    root = Path(ivy_dir)
    by_size: dict[int, list[Path]] = {}
    for path in (root / "cache").rglob("*.jar"):
        if path.is_file():
            by_size.setdefault(path.stat().st_size, []).append(path)
    linked = 0
    for retrieved in sorted((root / "jars").glob("*.jar")):
        for candidate in by_size.get(retrieved.stat().st_size, []):
            if candidate.stat().st_ino == retrieved.stat().st_ino:
                break
            if filecmp.cmp(candidate, retrieved, shallow=False):
                # Same inode, same mtime: Ivy's retrieve then sees the jar as up to date.
                tmp = retrieved.with_suffix(".jar.tmp")
                os.link(candidate, tmp)
                os.replace(tmp, retrieved)
                linked += 1
                break
    print(f"hard-linked {linked} retrieved jars to the Ivy cache", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    command, *args = argv
    if command == "requirements":
        return requirements(args)
    if command == "constraints" and len(args) == 2:
        return constraints(*args)
    if command == "link-closure" and len(args) == 2:
        return link_closure(*args)
    if command == "dedupe-ivy" and len(args) == 1:
        return dedupe_ivy(*args)
    if command == "patch-level-extras" and len(args) == 1:
        return patch_level_extras(*args)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
