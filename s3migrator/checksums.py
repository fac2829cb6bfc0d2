"""An object's checksum of its whole bytes, as S3 answers it (HEAD with ``ChecksumMode``).

A copy made in other parts than its source has another ETag, so a checksum of the whole object
is what tells two objects apart without reading them: CRC64NVME, CRC32C or CRC32 of type
``FULL_OBJECT``. A composite checksum (SHA-1, SHA-256, or a CRC of parts, its value ending
``-N``) holds only for one layout of parts. The copier completes its copies against the
source's (``copier.completion_check``); the verifier compares both sides' (``coordinator.verify``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The checksums S3 can keep of a whole object made in parts (SHA-1 and SHA-256 only per part, so
# a copy made of other parts than its source's cannot match those).
_WHOLE_OBJECT_ALGORITHMS = ("CRC64NVME", "CRC32C", "CRC32")


@dataclass(frozen=True)
class WholeChecksum:
    """A checksum of a whole object: ``CRC32`` and its base64 value, as S3 answers it."""

    algorithm: str
    value: str

    @property
    def field(self) -> str:
        return f"Checksum{self.algorithm}"


def whole_checksum(head: Mapping[str, Any]) -> WholeChecksum | None:
    """The source's checksum of its whole object, from a HEAD with ``ChecksumMode=ENABLED``:
    one a copy made in parts can be completed and checked against. None for a checksum of
    parts (``COMPOSITE``, its value ending ``-N``) or none at all. Without a ``ChecksumType``
    (objects stored before S3 named it), only an object not made in parts has one."""
    kind = head.get("ChecksumType") or ("FULL_OBJECT" if "-" not in head["ETag"] else "COMPOSITE")
    if kind != "FULL_OBJECT":
        return None
    for algorithm in _WHOLE_OBJECT_ALGORITHMS:
        value = head.get(f"Checksum{algorithm}")
        if value and "-" not in value:
            return WholeChecksum(algorithm, value)
    return None
