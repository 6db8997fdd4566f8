"""Reading source files (parquet, JSONL, JSON; JSONL and JSON also gzipped) row by row and
writing JSONL, with progress bars."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from generators.progress import progress_bar as shared_progress_bar

PROGRESS_MIN_ROWS = 2000
"""With ``progress=None`` a bar is shown for files with at least this many rows."""

SUPPORTED_SUFFIXES = (".parquet", ".jsonl", ".json", ".jsonl.gz", ".json.gz")


class SourceFileError(ValueError):
    """A source file that cannot be read: missing, unknown suffix, or malformed."""


def _plain(value: Any) -> Any:
    """pyarrow and numpy values as plain Python (lists, dicts, str, int, float, bool, None)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    return value


def _suffix(path: Path) -> str:
    """The format's suffix: ``.jsonl`` for ``x.jsonl`` and ``x.jsonl.gz`` (as HumanEval's and
    HumanEval-X's authors ship them) alike."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] == [".gz"] and len(suffixes) > 1:
        return suffixes[-2] if suffixes[-2] in (".jsonl", ".json") else "".join(suffixes[-2:])
    return path.suffix.lower()


def _open_text(path: Path):
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def count_rows(path: Path) -> int:
    """Number of rows in a source file (parquet metadata, or lines of a JSONL file)."""
    if not Path(path).is_file():
        raise SourceFileError(f"{path}: no such file")
    suffix = _suffix(path)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if suffix == ".jsonl":
        with _open_text(path) as f:
            return sum(1 for line in f if line.strip())
    if suffix == ".json":
        return len(_load_json_rows(path))
    raise SourceFileError(
        f"{path}: unsupported file type {suffix!r} (use one of {', '.join(SUPPORTED_SUFFIXES)})"
    )


def _load_json_rows(path: Path) -> list[dict[str, Any]]:
    try:
        with _open_text(path) as f:
            data = json.loads(f.read())
    except json.JSONDecodeError as exc:
        raise SourceFileError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from None
    if isinstance(data, dict):
        # {"data": [...]} / {"train": [...]}: the one list of rows inside.
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise SourceFileError(f"{path}: a JSON object must hold exactly one list of rows")
        data = lists[0]
    if not isinstance(data, list):
        raise SourceFileError(f"{path}: expected a JSON list of rows")
    return data


def read_rows(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the rows of a parquet, JSONL or JSON file as plain dicts."""
    path = Path(path)
    if not path.is_file():
        raise SourceFileError(f"{path}: no such file")
    suffix = _suffix(path)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                yield _plain(row)
    elif suffix == ".jsonl":
        with _open_text(path) as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SourceFileError(f"{path}:{number}: not JSON: {exc.msg}") from None
                if not isinstance(row, dict):
                    raise SourceFileError(f"{path}:{number}: a row must be a JSON object")
                yield row
    elif suffix == ".json":
        for number, row in enumerate(_load_json_rows(path), start=1):
            if not isinstance(row, dict):
                raise SourceFileError(f"{path}: row {number} is not a JSON object")
            yield row
    else:
        raise SourceFileError(
            f"{path}: unsupported file type {suffix!r} (use one of {', '.join(SUPPORTED_SUFFIXES)})"
        )


def progress_bar(description: str, total: int | None, show: bool | None = None):
    """A rich progress bar on stderr for conversions (shown from PROGRESS_MIN_ROWS rows)."""
    return shared_progress_bar(description, total, show, min_rows=PROGRESS_MIN_ROWS)


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as JSON lines (via a temporary file, then renamed); return the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False))
            f.write("\n")
            count += 1
    tmp.replace(path)
    return count
