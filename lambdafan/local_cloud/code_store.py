"""The functions' code: zips captured from CreateFunction / UpdateFunctionCode, by CodeSha256.

moto keeps a zip upload's bytes but serves no code location for it, so the proxy hands every
uploaded zip to this store; an invocation finds its code by the CodeSha256 moto reports, which
is base64(sha256(zip)), and runs it from a folder the zip is extracted to once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import threading
import zipfile
from pathlib import Path
from typing import Any


def code_sha256(data: bytes) -> str:
    """What Lambda reports as a zip's CodeSha256: base64 of its sha256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def uploaded_zip(body: bytes, *, create: bool) -> bytes | None:
    """The zip in a CreateFunction (`Code.ZipFile`) or UpdateFunctionCode (`ZipFile`) body.

    None when the body holds no zip (an S3 or image upload) or is not the JSON Lambda takes.
    """
    try:
        document: Any = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    holder = document.get("Code") if create else document
    encoded = holder.get("ZipFile") if isinstance(holder, dict) else None
    if not isinstance(encoded, str):
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None


class CodeNotFound(Exception):
    """No zip with this CodeSha256 passed through the proxy."""


class CodeStore:
    """Zips by CodeSha256 under `root`, each extracted once to its own folder."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._lock = threading.Lock()

    def _folder(self, sha256: str) -> Path:
        # base64 may hold '/' and '+': the folder is named by the hex form of the same digest.
        return self._root / base64.b64decode(sha256).hex()

    def add(self, data: bytes) -> str:
        """Keep `data` (a zip); return its CodeSha256."""
        sha256 = code_sha256(data)
        folder = self._folder(sha256)
        with self._lock:
            if not folder.exists():
                partial = folder.with_name(folder.name + ".partial")
                partial.mkdir(parents=True, exist_ok=True)
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    archive.extractall(partial)
                partial.rename(folder)
        return sha256

    def task_root(self, sha256: str) -> Path:
        """The folder holding the extracted zip whose CodeSha256 is `sha256`."""
        folder = self._folder(sha256)
        if not folder.is_dir():
            raise CodeNotFound(f"no zip with CodeSha256 {sha256} was uploaded through the proxy")
        return folder
