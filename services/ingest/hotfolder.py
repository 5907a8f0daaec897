"""The scanner drop directory (hot-folder), polled so that it works on network shares too.

A file is taken when it is complete: a `<name>.done` marker exists, or its size and modification time
did not change between two polls. It is first renamed into `processing/<item id>__<name>` (with its
sidecar `<stem>.json`), then registered in the intake queue; after intake it moves to `processed/`
beside a `<name>.receipt.json` (its document id) or to `failed/` beside a `<name>.reason.json`.
Every step can be interrupted: on start, files found in `processing/` without a queue row are
registered, so nothing is taken twice and nothing is forgotten.

Several ingest replicas may poll one shared folder: the rename out of the drop directory is atomic, so exactly
one replica wins a file (the others find it gone and leave it). Each replica renames into a processing folder
of its own (`processing/replica-<n>/`), so its recovery after a crash never touches another replica's files.
"""

import asyncio
import contextlib
import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.ingest.domain import clean_filename, overlong_identifier
from services.ingest.intake import IntakeItem, IntakeQueue, IntakeState
from services.ingest.uploads import Upload

log = logging.getLogger(__name__)

SIDECAR_FIELDS = {
    "title": "title",
    "document_type": "document_type",
    "sender": "sender",
    "aktenzeichen": "aktenzeichen",
    "vorgang_id": "vorgang_id",
    "file_plan_class": "new_akte_class",
    "akte_title": "new_akte_title",
    "workflow": "workflow",
}
IGNORED_SUFFIXES = (".done", ".json", ".part", ".tmp", ".crdownload")
# processing/ holds the files being taken in; processed/ and failed/ hold them afterwards, with a note.
SEPARATOR = "__"


@dataclass(frozen=True)
class Seen:
    size: int
    mtime_ns: int


class HotFolder:
    def __init__(self, root: Path, queue: IntakeQueue, user: str, poll_s: float) -> None:
        self.root = root
        self.queue = queue
        self.user = user
        self.poll_s = poll_s
        self.processing = root / "processing" / queue.owner if queue.owner else root / "processing"
        self.processed = root / "processed"
        self.failed = root / "failed"
        for folder in (self.processing, self.processed, self.failed):
            folder.mkdir(parents=True, exist_ok=True)
        self._seen: dict[str, Seen] = {}
        queue.on_finished("hotfolder", self.finish)

    async def run(self) -> None:
        await asyncio.to_thread(self.recover)
        while True:
            try:
                claimed = await asyncio.to_thread(self.scan)
                if claimed:
                    log.info("hot-folder: %d new file(s) taken", claimed)
            except Exception:
                log.exception("hot-folder scan failed; retrying")
            await asyncio.sleep(self.poll_s)

    def scan(self) -> int:
        """Take every complete file; return how many were taken."""
        current: dict[str, Seen] = {}
        claimed = 0
        with os.scandir(self.root) as entries:
            for entry in entries:
                if not entry.is_file(follow_symlinks=False) or entry.name.startswith("."):
                    continue
                if entry.name.endswith(IGNORED_SUFFIXES):
                    continue
                try:
                    stat = entry.stat(follow_symlinks=False)
                except FileNotFoundError:  # another replica took it a moment ago
                    continue
                seen = Seen(stat.st_size, stat.st_mtime_ns)
                current[entry.name] = seen
                marker = self.root / f"{entry.name}.done"
                if marker.exists() or self._seen.get(entry.name) == seen:
                    taken = self._claim(entry.name)
                    marker.unlink(missing_ok=True)
                    current.pop(entry.name)
                    claimed += taken
        self._seen = current
        return claimed

    def _claim(self, name: str) -> bool:
        """Take the file; False when another replica renamed it away first."""
        item_id = str(uuid.uuid4())
        target = self.processing / f"{item_id}{SEPARATOR}{name}"
        try:
            os.replace(self.root / name, target)  # atomic: one replica wins; recover() finds it after a crash
        except FileNotFoundError:
            return False
        self._take_sidecar(name, item_id)
        self._register(item_id, target)
        return True

    def _take_sidecar(self, name: str, item_id: str) -> None:
        """The sidecar follows the file that was won (it is never taken without its file)."""
        sidecar = self._sidecar_of(self.root / name)
        with contextlib.suppress(FileNotFoundError):
            os.replace(sidecar, self.processing / f"{item_id}{SEPARATOR}{sidecar.name}")

    def _register(self, item_id: str, path: Path) -> None:
        name = path.name.split(SEPARATOR, 1)[1]
        upload, problem = self._upload_for(path, name)
        self.queue.add(item_id, "hotfolder", path, upload, refused=problem)

    def _upload_for(self, path: Path, name: str) -> tuple[Upload, str]:
        fields: dict[str, Any] = {}
        sidecar = self._sidecar_of(path)
        if sidecar.exists():
            try:
                document = json.loads(sidecar.read_text(encoding="utf-8"))
                if not isinstance(document, dict):
                    raise ValueError("expected a JSON object")
            except (ValueError, UnicodeDecodeError) as exc:
                upload = Upload(filename=clean_filename(name), submitted_by=self.user, source="hotfolder")
                return upload, f"invalid_sidecar: {sidecar.name} is not a readable JSON object: {exc}"
            fields = {SIDECAR_FIELDS[k]: str(v) for k, v in document.items() if k in SIDECAR_FIELDS}
        # Texts are bounded by `Upload` (descriptive ones cut); an over-long identifier refuses the file.
        problem = overlong_identifier(fields)
        upload = Upload(filename=clean_filename(name), submitted_by=self.user, source="hotfolder", **fields)
        return upload, f"field_too_long: {problem}" if problem else ""

    @staticmethod
    def _sidecar_of(path: Path) -> Path:
        return path.with_name(f"{path.stem}.json")

    def recover(self) -> None:
        """Register files left in processing/ by a crash between the rename and the queue row."""
        files = [p for p in self.processing.iterdir() if p.is_file() and not p.name.endswith(".json")]
        ids = {p.name.split(SEPARATOR, 1)[0]: p for p in files if SEPARATOR in p.name}
        known = self.queue.known(list(ids))
        for item_id, path in ids.items():
            if item_id not in known:
                log.warning("hot-folder: registering intake item %s left over from an interrupted run", item_id)
                self._take_sidecar(path.name.split(SEPARATOR, 1)[1], item_id)  # if the crash came before it
                self._register(item_id, path)

    def finish(self, item: IntakeItem) -> None:
        """Move a taken file to processed/ or failed/."""
        name = item.path.name.split(SEPARATOR, 1)[1]
        ok = item.state in (IntakeState.DONE, IntakeState.DUPLICATE)
        folder = self.processed if ok else self.failed
        target = folder / name
        if target.exists():
            target = folder / f"{Path(name).stem}{SEPARATOR}{item.item_id}{Path(name).suffix}"
        sidecar = self._sidecar_of(item.path)
        if sidecar.exists():
            os.replace(sidecar, target.with_name(f"{target.stem}.json"))
        # Beside the file: a receipt (which document it became) or the reason it failed.
        note: dict[str, object] = {"file": name, "item_id": item.item_id, "document_id": item.document_id}
        if not ok:
            note |= {"reason": item.reason, "quarantine_id": item.quarantine_id}
        elif item.state is IntakeState.DUPLICATE:
            note |= {"duplicate": True}
        suffix = ".receipt.json" if ok else ".reason.json"
        _write_atomically(target.with_name(f"{target.name}{suffix}"), json.dumps(note, ensure_ascii=False, indent=2))
        os.replace(item.path, target)


def _write_atomically(path: Path, text: str) -> None:
    """Scanner software and people read receipts while they appear: never let them see a half-written one."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)
