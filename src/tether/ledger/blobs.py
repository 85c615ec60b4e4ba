"""A content-addressed blob store: ``blobs/ab/abcdef…`` named by sha256.

Files are written to a temporary name and renamed into place, so a reader
never sees half a blob and two writers of the same content do not clash.
"""

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tether.errors import BlobError, InvalidId

_HASH = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class BlobRef:
    sha256: str
    size: int


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if not _HASH.match(sha256):
            raise InvalidId(f"{sha256!r} is not a blob hash (64 lowercase hex digits)")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> BlobRef:
        return self.put_chunks([data])

    def put_chunks(self, chunks: Iterable[bytes]) -> BlobRef:
        """Stream chunks to disk while hashing, so a 50 MB payload never sits in one buffer."""
        digest = hashlib.sha256()
        size = 0
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as out:
                    for chunk in chunks:
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                ref = BlobRef(digest.hexdigest(), size)
                target = self.path(ref.sha256)
                target.parent.mkdir(exist_ok=True)
                os.replace(tmp, target)
                return ref
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as exc:
            raise BlobError(f"cannot write to blob store {self.root}: {exc.strerror}") from exc

    def get(self, sha256: str) -> bytes:
        try:
            data = self.path(sha256).read_bytes()
        except FileNotFoundError as exc:
            raise BlobError(f"blob {sha256} is missing from {self.root}") from exc
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobError(f"blob {sha256} is corrupt (its content no longer matches its hash)")
        return data

    def read_range(self, sha256: str, offset: int, size: int) -> bytes:
        """A slice of a big blob (one file of a stored diff) without reading the rest."""
        try:
            with self.path(sha256).open("rb") as handle:
                handle.seek(offset)
                return handle.read(size)
        except FileNotFoundError as exc:
            raise BlobError(f"blob {sha256} is missing from {self.root}") from exc

    def check_writable(self) -> None:
        self.put_chunks([b"tether doctor probe\n"])
