"""The public datasets behind each source format, fetched into a local cache on demand.

``make train`` with no ``SOURCES`` uses these: each format's public dataset is downloaded
once (Hugging Face Hub cache; ``HF_HOME`` / ``HF_HUB_OFFLINE`` apply) and converted like a
local file. Without a network the error names the dataset and the ``SOURCES=`` form that
replaces the download. Nothing here runs in the tests: they use local files.

| format | dataset | where |
|---|---|---|
| deepscaler | DeepScaleR-Preview (40k math problems) | Hub ``agentica-org/DeepScaleR-Preview-Dataset`` |
| countdown | Countdown-Tasks-3to4 (TinyZero) | Hub ``Jiayi-Pan/Countdown-Tasks-3to4`` |
| coder1 | CodeR1-12k (LeetCode + TACO-verified) | Hub ``ganler/code-r1-12k`` |
| kk | Knights-and-Knaves, 3 to 7 people (Logic-RL's training range) | Hub ``K-and-K/knights-and-knaves`` |
| lpb | the study's Logic Puzzle Baron grids (arXiv 2507.17512) | its release repository on GitHub (not on the Hub) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class DatasetUnavailable(RuntimeError):
    """A public dataset that cannot be fetched here (offline, or the source refused)."""


@dataclass(frozen=True)
class PublicDataset:
    format: str
    name: str
    repo_id: str
    """Hub dataset id, or for a file outside the Hub its release repository."""
    patterns: tuple[str, ...] = ()
    """Hub files to fetch (glob patterns), all converted with the format's converter."""
    url: str | None = None
    """A file outside the Hub (pinned to a commit)."""

    @property
    def where(self) -> str:
        return self.url or f"https://huggingface.co/datasets/{self.repo_id}"


STUDY_COMMIT = "4d6713e70a1498e42548364dec7bec5c1c3c445d"

PUBLIC_DATASETS: dict[str, PublicDataset] = {
    d.format: d
    for d in (
        PublicDataset("deepscaler", "DeepScaleR-Preview", "agentica-org/DeepScaleR-Preview-Dataset", ("deepscaler.json",)),
        PublicDataset("countdown", "Countdown-Tasks-3to4", "Jiayi-Pan/Countdown-Tasks-3to4", ("data/train-*.parquet",)),
        PublicDataset("coder1", "CodeR1-12k", "ganler/code-r1-12k", ("data/train-*.parquet",)),
        PublicDataset(
            "kk",
            "Knights-and-Knaves (3 to 7 people)",
            "K-and-K/knights-and-knaves",
            tuple(f"train/people{n}_num*.jsonl" for n in range(3, 8)),
        ),
        PublicDataset(
            "lpb",
            "the study's Logic Puzzle Baron grids",
            "Goodman-liyu/A-Data-Centric-Study",
            url=f"https://raw.githubusercontent.com/Goodman-liyu/A-Data-Centric-Study/{STUDY_COMMIT}/data/zebra/train.parquet",
        ),
    )
}  # fmt: skip


def cache_root() -> Path:
    """Where files from outside the Hub are kept (the Hub's own files stay in its cache)."""
    base = os.environ.get("REWARD_DATA_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "reward-service", "datasets"
    )
    return Path(base)


def unavailable(dataset: PublicDataset, why: str) -> DatasetUnavailable:
    return DatasetUnavailable(
        f"cannot fetch {dataset.name} ({dataset.where}): {why}\n"
        f"  download it where there is a network and pass the file: "
        f'SOURCES="{dataset.format}=/path/to/file" (make train) or --source {dataset.format}=FILE'
    )


def cached_files(dataset: PublicDataset) -> list[Path] | None:
    """The dataset's local files when already fetched, else None (no network used)."""
    if dataset.url:
        path = cache_root() / dataset.repo_id.replace("/", "--") / Path(dataset.url).name
        return [path] if path.is_file() else None
    try:
        from huggingface_hub import snapshot_download

        root = Path(
            snapshot_download(
                dataset.repo_id,
                repo_type="dataset",
                allow_patterns=list(dataset.patterns),
                local_files_only=True,
            )
        )
    except Exception:  # not in the cache (the hub raises several kinds for that)
        return None
    files = sorted(p for pattern in dataset.patterns for p in root.glob(pattern))
    return files or None


def fetch(dataset: PublicDataset) -> list[Path]:
    """The dataset's local files, downloading them first when they are not cached."""
    cached = cached_files(dataset)
    if cached:
        return cached
    if dataset.url:
        if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
            raise unavailable(dataset, "offline (HF_HUB_OFFLINE is set)")
        return [_download_url(dataset)]
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise unavailable(dataset, f"huggingface_hub is not installed ({exc})") from None
    try:
        root = Path(
            snapshot_download(dataset.repo_id, repo_type="dataset", allow_patterns=list(dataset.patterns))
        )
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
        raise unavailable(dataset, f"offline ({type(exc).__name__})") from None
    except HfHubHTTPError as exc:
        raise unavailable(dataset, f"the Hub answered: {exc}") from None
    except OSError as exc:
        raise unavailable(dataset, f"{type(exc).__name__}: {exc}") from None
    files = sorted(p for pattern in dataset.patterns for p in root.glob(pattern))
    if not files:
        raise unavailable(dataset, f"the download has no file matching {', '.join(dataset.patterns)}")
    return files


def _download_url(dataset: PublicDataset) -> Path:
    import httpx

    assert dataset.url is not None
    target = cache_root() / dataset.repo_id.replace("/", "--") / Path(dataset.url).name
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with httpx.stream("GET", dataset.url, follow_redirects=True, timeout=60) as response:
            response.raise_for_status()
            with open(partial, "wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
    except httpx.HTTPError as exc:
        partial.unlink(missing_ok=True)
        raise unavailable(dataset, f"{type(exc).__name__}: {exc}") from None
    with open(partial, "rb") as f:
        magic = f.read(4)
    if target.suffix == ".parquet" and magic != b"PAR1":
        partial.unlink(missing_ok=True)
        raise unavailable(dataset, "the download is not a parquet file")
    partial.replace(target)
    return target
