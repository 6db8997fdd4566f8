"""Compiled programs kept on disk, bounded in bytes, so the service's memory does not grow
with the number of distinct programs it has compiled.

One file per distinct (language, compile command, source), named by its hash, in a
directory of the pool's own (``REWARD_SANDBOX_ARTIFACT_DIR``, default a fresh directory
under the system's temporary directory, removed when the pool closes); the least recently
used go first once the total passes ``REWARD_SANDBOX_ARTIFACT_CACHE_MB`` (512). In memory
each entry holds its size and the compile step's result without the program's bytes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from typing import Any

DEFAULT_CACHE_MB = 512


class ArtifactCache:
    def __init__(self, directory: str | None = None, max_bytes: int | None = None) -> None:
        configured = directory or os.environ.get("REWARD_SANDBOX_ARTIFACT_DIR", "").strip()
        self._owned = not configured
        if configured:
            os.makedirs(configured, mode=0o700, exist_ok=True)
            self.directory = configured
        else:
            self.directory = tempfile.mkdtemp(prefix="reward-sandbox-artifacts-")
        megabytes = os.environ.get("REWARD_SANDBOX_ARTIFACT_CACHE_MB", "").strip()
        self.max_bytes = max_bytes if max_bytes is not None else int(megabytes or DEFAULT_CACHE_MB) << 20
        self._entries: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self.bytes = 0
        self._lock = threading.Lock()

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, key)

    def get(self, key: str) -> tuple[bytes, Any] | None:
        """The program's bytes and what was stored with it, or None (never compiled, or gone)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
        try:
            with open(self._path(key), "rb") as fh:
                return fh.read(), entry[1]
        except OSError:
            self._forget(key)
            return None

    def meta(self, key: str) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return None if entry is None else entry[1]

    def put(self, key: str, data: bytes, meta: Any) -> None:
        """Keep ``data`` on disk (written to a temporary name, then renamed) and ``meta`` in memory."""
        if len(data) > self.max_bytes:
            return  # bigger than the whole cache: compiled again when it is needed again
        fd, temporary = tempfile.mkstemp(dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(temporary, self._path(key))
        except OSError:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            return
        evicted = []
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old[0]
            self._entries[key] = (len(data), meta)
            self.bytes += len(data)
            while self.bytes > self.max_bytes and len(self._entries) > 1:
                gone, (size, _) = self._entries.popitem(last=False)
                self.bytes -= size
                evicted.append(gone)
        for gone in evicted:
            try:
                os.unlink(self._path(gone))
            except OSError:
                pass

    def _forget(self, key: str) -> None:
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is not None:
                self.bytes -= entry[0]

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0
        if self._owned:
            shutil.rmtree(self.directory, ignore_errors=True)
