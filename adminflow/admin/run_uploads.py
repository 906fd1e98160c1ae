"""Files uploaded for one run: saved where the run's worker can read them, or removed.

A step that reads a file declares its key ``ExistingFile``; on "Run with
options" staff may upload that file (this week's roster export) instead of
naming one on the server. Each upload is saved under
``ADMINFLOW["RUN_UPLOADS_DIR"]``, in a folder of its own named after the
flow and the time, keeping the file's own name (so the run's log names
``week2.csv``), and the run's config points the key at it. A run that is
refused leaves no file behind.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone
from django.utils.text import get_valid_filename

from ..conf import adminflow_settings

DEFAULT_FOLDER = "adminflow-run-uploads"


def uploads_dir() -> Path:
    """Return the absolute folder that run uploads are saved under."""
    configured = adminflow_settings.RUN_UPLOADS_DIR
    if configured:
        return Path(configured).resolve()
    return (Path(settings.MEDIA_ROOT or Path.cwd()) / DEFAULT_FOLDER).resolve()


def save_uploads(flow_name: str, uploads: Mapping[str, UploadedFile]) -> dict[str, str]:
    """Save each upload in a new folder of this run's; return each one's path by its key."""
    if not uploads:
        return {}
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    folder = uploads_dir() / get_valid_filename(flow_name) / f"{stamp}-{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    saved = {}
    for key, upload in uploads.items():
        # One subfolder per key: two keys may upload files of the same name.
        target = folder / get_valid_filename(key) / get_valid_filename(upload.name or "upload")
        target.parent.mkdir()
        with target.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        saved[key] = str(target)
    return saved


def remove_uploads(saved: Mapping[str, str]) -> None:
    """Remove files saved for a run that was refused, and their folders."""
    for path in map(Path, saved.values()):
        path.unlink(missing_ok=True)
        for folder in (path.parent, path.parent.parent):
            try:
                folder.rmdir()
            except OSError:  # another key's file is still in it
                break
