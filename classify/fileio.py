"""Small file helpers shared by every stage: JSONL, atomic writes, hashes, the git commit."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from classify.errors import ClassifyError, DataError, OutputError

OUTPUT_SUFFIXES = (".jsonl", ".csv")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def iter_jsonl(path: str | Path, error: type[ClassifyError] = DataError) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; a bad line raises ``error`` naming file:line.

    A UTF-8 byte-order mark (written by some Windows editors) is accepted.
    """
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise error(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
                if not isinstance(obj, dict):
                    raise error(f"{path}:{lineno}: expected a JSON object")
                yield lineno, obj
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a JSONL file") from None
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_writer(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """A file handle on a temporary file beside ``path``, renamed over it only if the block succeeds.

    Readers never see half a file, and a failed or interrupted write leaves an existing file as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    try:
        kwargs = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, content: str) -> None:
    with atomic_writer(path) as fh:
        fh.write(content)


def check_output_path(path: str | Path, inputs: Iterable[str | Path] = (), *,
                      suffixes: tuple[str, ...] = OUTPUT_SUFFIXES, folder_ok: bool = False) -> Path:
    """Refuse an output path that cannot be written, before any work is done: a wrong suffix, a folder
    that does not exist or cannot be written, a path that is also an input. ``folder_ok``: the output
    is itself a folder (Parquet), which may exist already."""
    path = Path(path)
    if path.is_dir() and not folder_ok:
        raise OutputError(f"{path}: is a folder; give a file name")
    if path.suffix.lower() not in suffixes:
        raise OutputError(f"{path}: output must end in {' or '.join(suffixes)}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{path}: folder {parent} is not writable")
    resolved = path.resolve()
    for item in inputs:
        if Path(item).resolve() == resolved:
            raise OutputError(f"{path}: is also an input file; choose another output")
    return path


def check_output_paths(outputs: Iterable[tuple[str, str | Path | None]], inputs: Iterable[str | Path] = (),
                       **kwargs) -> None:
    """Check several outputs of one command ((option, path) pairs; None: not given): each as
    :func:`check_output_path`, and no two the same file."""
    inputs = list(inputs)
    seen: dict[Path, str] = {}
    for option, path in outputs:
        if not path:
            continue
        check_output_path(path, inputs, **kwargs)
        resolved = Path(path).resolve()
        if resolved in seen:
            raise OutputError(f"{path}: given for both {seen[resolved]} and {option}; choose two files")
        seen[resolved] = option


def _csv_cell(value: object) -> object:
    if isinstance(value, list | tuple):
        from classify.notices.segmenting import heading_string

        return heading_string(value)  # a heading path
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else value  # an explanation


class RecordWriter:
    """Writes dicts as JSONL or CSV rows into an :func:`atomic_writer`, one at a time.

    CSV columns are fixed by ``fields`` or by the first row.
    """

    def __init__(self, fh: IO[str], suffix: str, fields: list[str] | None = None) -> None:
        self.fh, self.suffix, self.fields = fh, suffix, fields
        self.count = 0
        self._csv: csv.DictWriter | None = None

    def write(self, row: dict) -> None:
        if self.suffix == ".csv":
            if self._csv is None:
                self._csv = csv.DictWriter(self.fh, fieldnames=self.fields or list(row), extrasaction="ignore")
                self._csv.writeheader()
            self._csv.writerow({k: _csv_cell(v) for k, v in row.items()})
        else:
            self.fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.count += 1


@contextlib.contextmanager
def record_writer(path: str | Path, fields: list[str] | None = None) -> Iterator[RecordWriter]:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise OutputError(f"{path}: output must end in .jsonl or .csv")
    with atomic_writer(path) as fh:
        writer = RecordWriter(fh, suffix, fields)
        yield writer
        if suffix == ".csv" and writer._csv is None and fields:
            csv.DictWriter(fh, fieldnames=fields).writeheader()


class NothingToWrite(Exception):
    """Raised inside :func:`record_writers` to discard every file it is writing; existing files stay as they were."""


@contextlib.contextmanager
def record_writers(*targets: tuple[str | Path | None, list[str] | None]) -> Iterator[list[RecordWriter | None]]:
    """A :func:`record_writer` per (path, fields) target, None for a path not given. Raising
    :class:`NothingToWrite` inside the block discards them all (it is not re-raised)."""
    with contextlib.suppress(NothingToWrite), contextlib.ExitStack() as stack:
        yield [stack.enter_context(record_writer(path, fields)) if path else None for path, fields in targets]


def write_records(records: Iterable[dict], path: str | Path) -> int:
    """Write dicts as JSONL or CSV (by suffix), atomically; returns the row count."""
    rows = list(records)
    fields: list[str] = []
    for r in rows:
        fields.extend(k for k in r if k not in fields)
    with record_writer(path, fields or None) as writer:
        for r in rows:
            writer.write(r)
    return writer.count


def dumps_jsonl(rows: Iterable[dict]) -> str:
    buf = io.StringIO()
    for r in rows:
        buf.write(json.dumps(r, ensure_ascii=False) + "\n")
    return buf.getvalue()


def git_commit(cwd: str | Path | None = None, short: bool = False) -> str:
    """HEAD's commit (``+dirty`` when tracked files changed), or "unknown" outside a repository."""
    try:
        args = ["git", "rev-parse", *(["--short"] if short else []), "HEAD"]
        out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
