"""RestoreObject as S3 does it, for the local cloud's moto_server: the restore takes time, and says when it is done.

moto 5.2 restores a Glacier-class object at once, ignores RestoreObject's versionId and tier, and sends its restore
events (its own shape, to every bus) only when something happens to read the object's status. S3 instead:

- answers 202 and reports `x-amz-restore: ongoing-request="true"` until the tier's retrieval time has passed, then
  `ongoing-request="false", expiry-date="..."` (the restored copy's expiry: completion time plus Days, rounded up to
  the next midnight UTC); GetObject and copies of the object fail with InvalidObjectState until then;
- answers a second RestoreObject while one is under way with 409 RestoreAlreadyInProgress, and one after it finished
  with 200 (the expiry moves);
- for buckets with EventBridge notifications on, puts "Object Restore Initiated" and, when the copy is ready,
  "Object Restore Completed" (source aws.s3) on the account's default event bus, where rules route them.

Here each tier takes a configurable few seconds (LOCAL_CLOUD_S3_RESTORE_DELAYS_MS, a JSON object of milliseconds by
tier; the local cloud sets it from its options), so tests stay fast. Restores are per object version.
"""
from __future__ import annotations

import datetime
import json
import os
import random
import string
import threading
import time
from dataclasses import dataclass
from typing import Any

import xmltodict
from moto.s3.exceptions import InvalidObjectState, MalformedXML, MissingKey, MissingVersion
from moto.s3.models import FakeBucket, FakeKey
from moto.s3.responses import S3Response
from moto.s3.utils import ARCHIVE_STORAGE_CLASSES

DEFAULT_DELAYS_MS = {"Expedited": 1000, "Standard": 2000, "Bulk": 3000}
TIERS = tuple(DEFAULT_DELAYS_MS)


def _delays_ms() -> dict[str, float]:
    delays: dict[str, float] = dict(DEFAULT_DELAYS_MS)
    configured = os.environ.get("LOCAL_CLOUD_S3_RESTORE_DELAYS_MS")
    if configured:
        for tier, value in json.loads(configured).items():
            if tier in delays and value is not None:
                delays[tier] = max(0.0, float(value))
    return delays


@dataclass
class _Restore:
    """A key's restore (plain data only: moto may copy or pickle keys)."""

    tier: str
    days: int
    requested_at: float
    ready_at: float


_timers: set[threading.Timer] = set()


def _utc(epoch: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).replace(tzinfo=None)


def _expiry(completed_at: float, days: int) -> datetime.datetime:
    day = (_utc(completed_at) + datetime.timedelta(days=days)).date() + datetime.timedelta(days=1)
    return datetime.datetime(day.year, day.month, day.day)


def _request_id() -> str:
    return "".join(random.choices(string.ascii_uppercase + string.digits, k=16))


def _eventbridge_on(bucket: FakeBucket) -> bool:
    config = bucket.notification_configuration
    return config is not None and config.event_bridge is not None


def _put_event(bucket: FakeBucket, key: FakeKey, detail_type: str, detail: dict[str, Any]) -> None:
    """One S3 event on the account's default bus (moto's PutEvents routes it by the bus's rules)."""
    from moto.events.models import events_backends

    obj: dict[str, Any] = {"key": key.name, "size": key.size, "etag": key.etag.strip('"')}
    if bucket.is_versioned and key.version_id != "null":
        obj["version-id"] = key.version_id
    body = {"version": "0", "bucket": {"name": bucket.name}, "object": obj, "request-id": _request_id(), **detail}
    backend = events_backends[bucket.account_id][bucket.region_name]
    backend.put_events(
        [
            {
                "Source": "aws.s3",
                "DetailType": detail_type,
                "Detail": json.dumps(body),
                "Resources": [bucket.arn],
                # No "Time": moto's envelope template takes the epoch seconds it puts there itself.
                "EventBusName": "default",
            }
        ]
    )


def _completed(bucket: FakeBucket, key: FakeKey, restore: _Restore) -> None:
    if key.__dict__.get("_local_restore") is not restore or not _eventbridge_on(bucket):
        return
    expiry = key._expiry
    _put_event(
        bucket,
        key,
        "Object Restore Completed",
        {
            "requester": "s3.amazonaws.com",
            "restore-expiry-time": expiry.strftime("%Y-%m-%dT%H:%M:%SZ") if expiry else None,
            "source-storage-class": key.storage_class,
        },
    )


def _schedule(delay_s: float, action: Any) -> None:
    def run() -> None:
        _timers.discard(timer)
        try:
            action()
        except Exception as error:  # noqa: BLE001 - a lost event must not take the server down; say so in its log
            print(f"moto_s3_restore: could not send a restore event: {error!r}", flush=True)

    timer = threading.Timer(delay_s, run)
    timer.daemon = True
    _timers.add(timer)
    timer.start()


def _xml_error(status: int, code: str, message: str) -> tuple[int, dict[str, str], str]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{_request_id()}</RequestId></Error>"
    )
    return status, {"Content-Type": "application/xml", "x-amzn-errortype": code}, body


def _restore_object(self: S3Response, body: bytes, bucket_name: str, query: dict[str, Any], key_name: str) -> Any:
    self._set_action("KEY", "POST", query)
    self._authenticate_and_authorize_s3_action(bucket_name=bucket_name, key_name=key_name)
    version_id = query.get("versionId", [None])[0]
    try:
        request = (xmltodict.parse(body) or {}).get("RestoreRequest") or {}
    except Exception:  # noqa: BLE001
        raise MalformedXML()
    bucket = self.backend.get_bucket(bucket_name)
    key = self.backend.get_object(bucket_name, key_name, version_id=version_id)
    if key is None:
        raise MissingVersion() if version_id else MissingKey(key=key_name)
    if key.storage_class not in ARCHIVE_STORAGE_CLASSES:
        raise InvalidObjectState(storage_class=key.storage_class)
    tier = request.get("Tier") or (request.get("GlacierJobParameters") or {}).get("Tier") or "Standard"
    try:
        days = int(request.get("Days"))
    except (TypeError, ValueError):
        raise MalformedXML()
    if tier not in TIERS or days < 1:
        raise MalformedXML()

    now = time.time()
    current: _Restore | None = key.__dict__.get("_local_restore")
    if current is not None and now < current.ready_at:
        return _xml_error(409, "RestoreAlreadyInProgress", "Object restore is already in progress")
    if current is not None:
        key._expiry = _expiry(now, days)  # a finished restore: S3 moves the copy's expiry
        return 200, {}, ""

    delay_s = _delays_ms()[tier] / 1000
    restore = _Restore(tier=tier, days=days, requested_at=now, ready_at=now + delay_s)
    key._local_restore = restore  # type: ignore[attr-defined]
    key._expiry = _expiry(restore.ready_at, days)
    if _eventbridge_on(bucket):
        # S3 sends its events after answering, not within the request.
        initiated = {"requester": bucket.account_id, "source-ip-address": "127.0.0.1", "source-storage-class": key.storage_class}
        _schedule(0, lambda: _put_event(bucket, key, "Object Restore Initiated", initiated))
    _schedule(delay_s, lambda: _completed(bucket, key, restore))
    return 202, {}, ""


def install() -> None:
    original_status = FakeKey.status

    def status(self: FakeKey) -> str | None:
        restore: _Restore | None = self.__dict__.get("_local_restore")
        if restore is not None:
            return "RESTORED" if time.time() >= restore.ready_at else "IN_PROGRESS"
        return original_status.fget(self)  # type: ignore[misc]

    FakeKey.status = property(status, original_status.fset)  # type: ignore[assignment,method-assign]

    orig_key_response_post = S3Response._key_response_post

    def key_response_post(self: S3Response, request: Any, body: bytes, bucket_name: str, query: dict[str, Any], key_name: str) -> Any:
        if "restore" in query:
            document = {}
            try:
                document = (xmltodict.parse(body) or {}).get("RestoreRequest") or {}
            except Exception:  # noqa: BLE001
                pass
            if str(document.get("Type", "")).upper() != "SELECT":
                return _restore_object(self, body, bucket_name, query, key_name)
        return orig_key_response_post(self, request, body, bucket_name, query, key_name)

    S3Response._key_response_post = key_response_post  # type: ignore[method-assign]
