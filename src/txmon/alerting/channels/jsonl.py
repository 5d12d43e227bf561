"""The JSON Lines channel: one JSON object per notification, appended to a file and on disk
before it counts as delivered."""

from __future__ import annotations

import os
from pathlib import Path

from txmon.alerting.channels.base import BaseChannel
from txmon.alerting.notification import DeliveryError, Notification, describe_failure
from txmon.alerting.render import canonical_json, notification_payload


class JsonlChannel(BaseChannel):
    def __init__(self, name: str, min_severity: str, *, path: Path) -> None:
        super().__init__(name, min_severity)
        self.path = path

    def settings_text(self) -> str:
        return f"path={str(self.path)!r}"

    def send(self, notification: Notification) -> None:
        line = canonical_json(notification_payload(notification)) + b"\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            with open(self.path, "ab") as handle:
                handle.write(line)
                handle.flush()
                # Delivered means on disk: the outbox marks the row sent right after.
                os.fsync(handle.fileno())
            if created:
                _fsync_directory(self.path.parent)
        except OSError as error:
            # A full or failing disk may recover; a path we may not write to will not.
            retryable = not isinstance(
                error, PermissionError | IsADirectoryError | NotADirectoryError
            )
            raise DeliveryError(
                f"cannot append to JSON Lines file: {describe_failure(error)}", retryable=retryable
            ) from None
        self.delivered(notification)


def _fsync_directory(folder: Path) -> None:
    # Makes a newly created file's directory entry durable too; not possible everywhere.
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
