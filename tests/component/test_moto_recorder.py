"""moto's recorder, as the embedded stack serves it (``patch_moto``): each request's entry is
written whole, whichever threads record at once, so a recording reads back line by line."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from moto.moto_api._internal.recorder import models
from moto.moto_api._internal.recorder.models import Recorder

from s3migrator.cli.local.motoserver import patch_moto


@dataclass
class FakeRequest:
    """What the recorder reads of a request."""

    raw_url: str
    raw_path: str = "/bucket/key"
    method: str = "PUT"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class HeldFile:
    """A file whose first write is held until another thread has written (or 0.5 s passed):
    the moment an entry longer than the file's buffer is half out."""

    path: Path
    first_written: threading.Event
    other_wrote: threading.Event

    def __enter__(self) -> HeldFile:
        self._file = self.path.open("a+")
        return self

    def __exit__(self, *_: Any) -> None:
        self._file.close()

    def write(self, text: str) -> int:
        if not self.first_written.is_set():
            self.first_written.set()
            self._file.write(text)
            self._file.flush()
            self.other_wrote.wait(0.5)
            return len(text)
        written = self._file.write(text)
        self._file.flush()
        self.other_wrote.set()
        return written


def test_two_threads_recording_at_once_each_write_a_whole_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN moto's recorder as the embedded stack serves it, recording to a file whose first
    # write is held until another thread writes
    patch_moto()
    path = tmp_path / "recording"
    first_written, other_wrote = threading.Event(), threading.Event()
    monkeypatch.setattr(
        models, "open", lambda *_: HeldFile(path, first_written, other_wrote), raising=False
    )
    recorder = Recorder()
    recorder._location, recorder._user_enabled = str(path), True

    # WHEN two threads record a request each, the second once the first is half written
    first = threading.Thread(
        target=recorder._record_request, args=(FakeRequest("/first"), b"1" * 20_000)
    )
    first.start()
    assert first_written.wait(5)
    second = threading.Thread(
        target=recorder._record_request, args=(FakeRequest("/second"), b"2" * 20_000)
    )
    second.start()
    first.join(5)
    second.join(5)

    # THEN the recording reads back as two whole entries, one per line
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(entry["url"] for entry in entries) == ["/first", "/second"]
