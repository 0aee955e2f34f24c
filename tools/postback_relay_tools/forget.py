"""`postback-relay forget`: erase one person's postbacks from every store the relay keeps them in,
and record the erasure so that `replay` and `dlq replay` skip what is left anywhere else.

The stores, and what is erased in each:
- the raw archive (`raw/partner=X/date=D/`): every object any version of which is about the person
  (their id as the whole of any value, or as the id the partner's adapter reads): all its versions
  and delete markers, so nothing stays recoverable for ArchiveNoncurrentVersionDays;
- dead-letter exports (`dead-letters/`): the person's letters, by rewriting each export without
  them and deleting every older version;
- the dead-letter queue and the retry queue: the person's messages (received, deleted; every
  other message released at once);
- the idempotency table: the records of the erased postbacks and retries (their keys are hashes of
  the postback; the stored answers hold postback and insert ids only, but they are the person's);
- the tracker's tables: the clicks and the install of the person's device (for a user: of each
  device their erased postbacks name), read and deleted by key, every app's (the apps table, a
  handful of rows, is scanned to know them); a click's copy under its fingerprint (IP-derived) too.

Before it searches anything, forget marks the person in the erasure fence (fence.py), which the
retry consumer checks before each send: a retry in flight or delayed while forget runs, out of its
reach, is dropped unsent when it comes due. Each erased postback, and each device the person's
postbacks name, is marked as soon as it is found, and every mark again when forget finishes.

Cost: the archive is partitioned by partner and day, not by person, so finding someone reads every
object in the window: one GET per object version (`--partner`, `--since` and `--until` bound it).
The idempotency table is scanned once (it holds about a day of postbacks: its TTL). docs/privacy.md
has the figures.

Nothing here prints or logs the id: summaries name the person by their keyed hash.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property, partial
from itertools import islice
from typing import TYPE_CHECKING, Any

from postback_relay.archive import (
    SHARED_PARTITION,
    Archive,
    ArchivedPostback,
    ObjectVersion,
    delete_versions,
    object_versions,
    read_version,
)
from postback_relay.aws import boto_config, client
from postback_relay.fence import DEVICE_FIELDS, ErasureFence
from postback_relay.partners import PartnerAdapter
from postback_relay.partners.registry import is_custom_network
from postback_relay.privacy import Kind, Person, normalised, person_hash, postback_hash, postback_id_of, postback_ids
from postback_relay.queues import Queue, QueuedMessage

from .dlq_export import DEFAULT_PREFIX, SUFFIX
from .erasures import ensure_key_check, write_record

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

# Messages stay hidden from the retry consumer this long while a pass holds them; released at once after.
HOLD_VISIBILITY_S = 300
# A pass ends with one long poll: short polls sample only some of SQS's servers and may miss a message.
CONFIRM_WAIT_S = 1
PROGRESS_EVERY = 1000
_CHUNK = 256
_DAY = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/")

Progress = Callable[[str], None]


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Stores:
    bucket: str
    retry_queue_url: str
    dlq_url: str
    table: str
    apps_table: str = ""
    clicks_table: str = ""
    installs_table: str = ""
    archive_prefix: str = "raw"
    exports_prefix: str = DEFAULT_PREFIX

    @property
    def tracker(self) -> bool:
        return bool(self.apps_table and self.clicks_table and self.installs_table)


@dataclass(frozen=True)
class Window:
    """Which part of the archive to search: partners (none: all) and days (UTC, inclusive)."""

    partners: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None

    @property
    def first_folder(self) -> date | None:
        """The first day folder to search: the day before `since`, as Firehose names a batch's
        folder after its oldest record (a postback just after midnight sits in the day before)."""
        return self.since - timedelta(days=1) if self.since is not None else None

    def holds(self, key: str) -> bool:
        found = _DAY.search(key)
        if found is None:
            return self.since is None and self.until is None
        day = date.fromisoformat(found.group(1))
        first = self.first_folder
        return (first is None or day >= first) and (self.until is None or day <= self.until)

    def describe(self) -> dict[str, Any]:
        return {
            "partners": list(self.partners) or "all",
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


@dataclass
class Report:
    person_hash: str
    kind: Kind
    dry_run: bool
    window: dict[str, Any]
    archive: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("partners", "objects", "versions_read", "matched", "deleted_versions"), 0
        )
    )
    exports: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("objects", "matched_letters", "rewritten", "deleted_versions"), 0)
    )
    dlq: dict[str, int] = field(default_factory=dict)
    retry_queue: dict[str, int] = field(default_factory=dict)
    idempotency: dict[str, int] = field(default_factory=dict)
    tracker: dict[str, int] | None = None  # None: the stores named have no tracker tables
    fence: dict[str, int] = field(default_factory=lambda: {"marks": 0})
    erasure_record: str | None = None

    @property
    def not_inspected(self) -> int:
        """Dead letters out of reach during the pass (held by another command): nothing fences those.
        The retry queue's (delayed, or held by the retry consumer) are dropped by the fence instead."""
        return self.dlq.get("not_inspected", 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "person_hash": self.person_hash,
            "kind": self.kind,
            "dry_run": self.dry_run,
            "window": self.window,
            "archive": self.archive,
            "dead_letter_exports": self.exports,
            "dlq": self.dlq,
            "retry_queue": self.retry_queue,
            "idempotency": self.idempotency,
            "tracker": self.tracker,
            "fence": self.fence,
            "erasure_record": self.erasure_record,
            # False: dead letters were in flight during the pass (another command held them); run
            # forget again later. Retries out of reach are fenced, not counted here.
            "complete": not self.not_inspected,
        }

    def text(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        a, e, i = self.archive, self.exports, self.idempotency
        lines = [
            f"{'dry run, nothing changed: ' if self.dry_run else ''}forget {self.kind} {self.person_hash} "
            "(its keyed hash; the id itself is never printed)",
            f"archive: {a['objects']} object(s) read in {a['partners']} partner(s), {a['matched']} about this "
            f"person: {verb} {a['deleted_versions']} version(s)",
            f"dead-letter exports: {e['objects']} read, {e['matched_letters']} letter(s) about this person: "
            f"{e['rewritten']} export(s) rewritten, {verb} {e['deleted_versions']} version(s)",
        ]
        for name, counts in (("dead-letter queue", self.dlq), ("retry queue", self.retry_queue)):
            line = f"{name}: {counts['inspected']} message(s) inspected, {counts['matched']} about this person"
            line += f": {verb} {counts['deleted']}"
            if counts.get("not_inspected"):
                line += f"; about {counts['not_inspected']} delayed or in flight, not inspected: " + (
                    "run forget again later"
                    if name == "dead-letter queue"
                    else "the retry function drops those about this person unsent when they come due"
                )
            lines.append(line)
        lines.append(
            f"idempotency table: {i['scanned']} record(s) scanned for {i['keys']} key(s), {i['matched']} "
            f"found: {verb} {i['deleted']}"
        )
        if self.tracker is not None:
            t = self.tracker
            lines.append(
                f"tracker: {t['devices']} device(s) looked up in {t['apps']} app(s), by key: {verb} "
                f"{t['clicks']} click(s) ({t['click_rows']} row(s), with their fingerprint copies) "
                f"and {t['installs']} install(s)"
            )
        if not self.dry_run:
            lines.append(
                f"erasure fence: {self.fence['marks']} mark(s) in the idempotency table (the retry function "
                "skips this person's retries received before the erasure)"
            )
        if self.erasure_record:
            lines.append(
                f"erasure recorded: {self.erasure_record} (replay and dlq replay skip this person's "
                "postbacks received before it)"
            )
        return "\n".join(lines)


def _adapters() -> dict[str, PartnerAdapter]:
    """Every adapter by the name its postbacks are archived under (custom networks: their own name)."""
    from postback_relay.partners.registry import coded_partners, custom_networks

    return {**custom_networks(), **coded_partners()}


def identities(adapter: PartnerAdapter | None, raw: dict[str, Any]) -> list[tuple[Kind, str]]:
    """The ids the partner's adapter reads out of a raw postback (it may find them where a plain
    value match would not: inside JSON text, under partner-specific keys). None if it cannot parse."""
    if adapter is None:
        return []
    try:
        return postback_ids(adapter.parse(raw))
    except Exception:  # an archived postback the adapter now refuses is matched by its values alone
        return []


def message_matches(person: Person, body: str) -> bool:
    """A queue message (or an exported letter) about `person`: their id in any value of the message,
    of the Amplitude call it carries, or of the unreadable body a letter keeps."""
    try:
        document: Any = json.loads(body)
    except ValueError:
        return _text_holds(person, body)
    if person.matches(document):
        return True
    raw_body = document.get("raw_body") if isinstance(document, dict) else None
    if isinstance(raw_body, str):
        try:
            return person.matches(json.loads(raw_body))
        except ValueError:
            return _text_holds(person, raw_body)
    return False


def _text_holds(person: Person, text: str) -> bool:
    # Text that is not JSON (an unreadable message): the id anywhere in it, the safe side for an erasure.
    return person.value in normalised(person.kind, text)


def idempotency_keys(body: str) -> set[str]:
    """The idempotency keys a queue message's postback and delivery were processed under (core.py:
    `<partner>:<postback id>`; retry.py: `retry:<delivery id>`)."""
    try:
        document = json.loads(body)
    except ValueError:
        return set()
    if not isinstance(document, dict):
        return set()
    keys: set[str] = set()
    partner, call = document.get("partner"), document.get("call")
    insert_id = call.get("insert_id") if isinstance(call, dict) else None
    if isinstance(partner, str) and isinstance(insert_id, str):
        postback_id = postback_id_of(insert_id)
        if postback_id is not None:
            keys.add(f"{partner}:{postback_id}")
    delivery_id = document.get("delivery_id")
    if isinstance(delivery_id, str):
        keys.add(f"retry:{delivery_id}")
    return keys


def call_devices(key: str, body: str) -> set[str]:
    """The device hashes (privacy.person_hash) of the ids a queue message's Amplitude call names."""
    try:
        document = json.loads(body)
    except ValueError:
        return set()
    call = document.get("call") if isinstance(document, dict) else None
    payload = call.get("payload") if isinstance(call, dict) else None
    if not isinstance(payload, dict):
        return set()
    events = payload.get("events")
    documents = [payload, *(e for e in events if isinstance(e, dict))] if isinstance(events, list) else [payload]
    return {
        person_hash(key, "device", value)
        for document in documents
        for name in DEVICE_FIELDS
        if isinstance(value := document.get(name), str) and value.strip()
    }


def idempotency_record_hash(key: str) -> str:
    """The part after '#' of the record Powertools stores for `key` (idempotency.py: the request
    {"key": key}, event_key_jmespath "key"): md5 of the key as sorted JSON, its default hash
    function. The part before it names the Lambda function, which differs per deployment."""
    return hashlib.md5(json.dumps(key, sort_keys=True).encode()).hexdigest()  # noqa: S324 - Powertools' key, not a secret


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class Forget:
    def __init__(
        self,
        person: Person,
        stores: Stores,
        window: Window = Window(),
        *,
        dry_run: bool = False,
        workers: int = 8,
        progress: Progress = to_stderr,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.person, self.stores, self.window = person, stores, window
        self.dry_run, self.workers, self.progress, self.clock = dry_run, max(1, workers), progress, clock
        self.report = Report(person.hash, person.kind, dry_run, window.describe())
        if stores.tracker:
            self.report.tracker = dict.fromkeys(("apps", "devices", "clicks", "click_rows", "installs"), 0)
        self._keys: set[str] = set()  # idempotency keys of what was erased
        # Device hashes the person's erased postbacks name (a user's devices: the tracker keys by them).
        self._devices: set[str] = {person.hash} if person.kind == "device" else set()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    @cached_property
    def s3(self) -> S3Client:
        """The archive's client: the operators' patient timeouts, and a connection for every worker
        (botocore keeps 10 by default; more workers would wait for one)."""
        import boto3
        from botocore.config import Config

        config = boto_config("tooling").merge(Config(max_pool_connections=max(10, self.workers)))
        s3: S3Client = boto3.client("s3", config=config)
        return s3

    @cached_property
    def fence(self) -> ErasureFence:
        return ErasureFence(self.stores.table, self.person.key, client("dynamodb", "tooling"))

    def _postback_hashes(self) -> set[str]:
        postbacks = {key.partition(":")[2] for key in self._keys if not key.startswith("retry:")}
        return {postback_hash(self.person.key, postback_id) for postback_id in postbacks}

    def _mark(self, hashes: set[str], at_ms: int) -> None:
        if not self.dry_run and hashes:
            self.report.fence["marks"] += self.fence.mark(hashes, at_ms, self.clock())

    def run(self) -> Report:
        bucket = self.stores.bucket
        self.s3  # noqa: B018 - created here, once, before any worker thread asks for it
        # Refuses before anything is deleted if RELAY_HASH_SALT differs from the records' own.
        ensure_key_check(bucket, self.person.key, write=not self.dry_run)
        if not self.dry_run:
            started_ms = self.now_ms()
            # A record before the work too: if this run dies half-way, replay already skips the person.
            write_record(bucket, self.person.hash, started_ms, {"kind": self.person.kind, "state": "started"})
            # ... and the fence, before any search: from now on the retry consumer drops this person's
            # retries, including those it holds while the queue pass below cannot see them.
            self._mark({self.person.hash}, started_ms)
        # Found first, erased after: a postback is the person's if any of its traces names them (the
        # archived raw, or one of its calls), and then every trace of it goes.
        self._archive()
        self._find_in_exports()
        # Their postbacks' other traces (an attribution call holds device ids only) and the devices
        # those postbacks name are fenced before the queue pass too: the consumer may hold one of them.
        self._mark(self._postback_hashes() | self._devices, self.now_ms())
        queues = {
            "dead-letter queue": Queue(self.stores.dlq_url, "dead-letter queue"),
            "retry queue": Queue(self.stores.retry_queue_url, "retry queue"),
        }
        held: dict[str, dict[str, QueuedMessage]] = {}
        try:
            for name, queue in queues.items():
                held[name] = self._hold(name, queue)
        except BaseException:
            for name, messages in held.items():  # never leave messages hidden for the whole hold
                queues[name].release([message.receipt_handle for message in messages.values()])
            raise
        self.report.dlq = self._erase_held("dead-letter queue", queues["dead-letter queue"], held["dead-letter queue"])
        self.report.retry_queue = self._erase_held("retry queue", queues["retry queue"], held["retry queue"])
        self._erase_exports()
        self._idempotency()
        self._tracker()
        if not self.dry_run:
            erased_at_ms = self.now_ms()
            # Each erased postback too, so a trace of it that escaped (a retry in flight, dead-lettered
            # later) is skipped though it names the person only by another id.
            postbacks = sorted(self._postback_hashes())
            for postback in postbacks:
                write_record(bucket, postback, erased_at_ms, {"of": self.person.hash})
            # The fence again, at the erasure's time: a retry received while this run searched is the
            # person's as much as one received before it.
            self.report.fence["marks"] = 0
            self._mark({self.person.hash, *postbacks, *self._devices}, erased_at_ms)
            erased = {
                "postbacks": len(postbacks),
                "archive_versions": self.report.archive["deleted_versions"],
                "export_letters": self.report.exports["matched_letters"],
                "dlq_messages": self.report.dlq["deleted"],
                "retry_messages": self.report.retry_queue["deleted"],
                "idempotency_records": self.report.idempotency["deleted"],
                **(
                    {
                        "tracker_clicks": self.report.tracker["clicks"],
                        "tracker_installs": self.report.tracker["installs"],
                    }
                    if self.report.tracker is not None
                    else {}
                ),
            }
            summary = {"kind": self.person.kind, "state": "finished", "window": self.report.window, "erased": erased}
            key = write_record(bucket, self.person.hash, erased_at_ms, summary)
            self.report.erasure_record = f"s3://{bucket}/{key}"
        return self.report

    # -- the archive ---------------------------------------------------------------------------
    def _prefixes(self, archive: Archive, partner: str) -> list[str]:
        first = self.window.first_folder
        if first is None:
            return [archive.partner_prefix(partner)]  # the whole partner; `until` filters by key
        until = self.window.until or datetime.now(UTC).date()
        days = (until - first).days + 1
        return [archive.partner_prefix(partner, first + timedelta(days=n)) for n in range(max(0, days))]

    def _archive(self) -> None:
        archive = Archive(self.stores.bucket, self.stores.archive_prefix)
        adapters = _adapters()
        partners = list(self.window.partners) or archive.partners()
        if any(name in adapters and is_custom_network(adapters[name]) for name in partners):
            # Written through the mapping-file networks' one stream: their shared partition too.
            partners = sorted({*partners, SHARED_PARTITION})
        counts = self.report.archive
        counts["partners"] = len(partners)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="forget") as pool:
            for partner in partners:
                keys = (
                    (key, versions)
                    for prefix in self._prefixes(archive, partner)
                    for key, versions in object_versions(self.stores.bucket, prefix, self.s3)
                    if self.window.holds(key)
                )
                inspect = partial(self._inspect, adapters)
                for chunk in _chunks(keys, _CHUNK):
                    for matched, read, postback_keys, devices in pool.map(inspect, chunk):
                        counts["objects"] += 1
                        counts["versions_read"] += read
                        if matched:
                            counts["matched"] += 1
                            counts["deleted_versions"] += matched
                            self._keys |= postback_keys
                            self._devices |= devices
                        if counts["objects"] % PROGRESS_EVERY == 0:
                            rate = counts["objects"] / max(time.monotonic() - started, 1e-3)
                            self.progress(
                                f"archive: {counts['objects']} object(s) read ({rate:.0f}/s), "
                                f"{counts['matched']} matched"
                            )
                self.progress(
                    f"archive: partner {partner} done ({counts['objects']} object(s) read, {counts['matched']} matched)"
                )

    def _inspect(
        self, adapters: dict[str, PartnerAdapter], listed: tuple[str, list[ObjectVersion]]
    ) -> tuple[int, int, set[str], set[str]]:
        """(versions deleted or to delete, 0 if not the person's; versions read; idempotency keys;
        hashes of the devices the person's versions name).

        An object written by Firehose holds many postbacks, of many people: the person's lines are
        taken out of it and the rest written back as the object's only version, so an erasure
        never costs anybody else's postbacks. An object of the person's alone is deleted."""
        key, versions = listed
        read, keys, devices = 0, set(), set()
        kept: list[ArchivedPostback] | None = None  # the latest version's lines that are not the person's
        for version in versions:
            if version.is_delete_marker:
                continue
            read += 1
            try:
                items = ArchivedPostback.from_object(read_version(self.stores.bucket, version, self.s3))
            except (OSError, EOFError, ValueError, KeyError, TypeError):
                continue  # not an archived postback: nothing this command wrote or can judge
            others = []
            for item in items:
                ids = identities(adapters.get(item.partner), item.raw)
                if self.person.matches(item.raw, ids):
                    keys.add(f"{item.partner}:{item.postback_id}")
                    devices |= {person_hash(self.person.key, kind, value) for kind, value in ids if kind == "device"}
                else:
                    others.append(item)
            if version.is_latest:
                kept = others
        if not keys:
            return 0, read, set(), set()
        if not self.dry_run:
            overwritten = False
            if kept:
                # Written first, then every old version deleted: the others' lines are never absent.
                body = gzip.compress(b"".join(item.line() for item in kept))
                answer = self.s3.put_object(Bucket=self.stores.bucket, Key=key, Body=body, ContentEncoding="gzip")
                written = answer.get("VersionId")
                # Unversioned, the write replaced the object: deleting its "null" version would delete the
                # rest; versioned (or suspended, where the write is the "null" version), never the new one.
                overwritten = not written
                versions = [version for version in versions if version.version_id != written]
            if not overwritten:
                delete_versions(self.stores.bucket, versions, self.s3)
        return len(versions), read, keys, devices

    # -- dead-letter exports -------------------------------------------------------------------
    def _export_versions(self) -> Iterator[tuple[str, list[ObjectVersion], dict[str, list[bytes]]]]:
        """Each export's versions and the letters (lines) of each readable version."""
        prefix = self.stores.exports_prefix.strip("/") + "/"
        for key, versions in object_versions(self.stores.bucket, prefix, self.s3):
            if not key.endswith(SUFFIX):
                continue
            lines: dict[str, list[bytes]] = {}
            for version in versions:
                if not version.is_delete_marker:
                    try:
                        body = gzip.decompress(read_version(self.stores.bucket, version, self.s3))
                    except (OSError, EOFError):
                        continue
                    lines[version.version_id] = [line for line in body.splitlines() if line.strip()]
            yield key, versions, lines

    def _find_in_exports(self) -> None:
        """First pass: the postbacks whose letters name the person (their other letters go too)."""
        for _, _, lines in self._export_versions():
            for line in (line for version_lines in lines.values() for line in version_lines):
                text = line.decode("utf-8", "replace")
                if message_matches(self.person, text):
                    self._keys |= idempotency_keys(text)

    def _erase_exports(self) -> None:
        counts = self.report.exports
        s3 = self.s3
        for key, versions, lines in self._export_versions():
            counts["objects"] += 1
            found: dict[str, int] = {}
            kept_latest: list[bytes] | None = None
            for version in versions:
                if version.version_id not in lines:
                    continue
                kept = [line for line in lines[version.version_id] if not self._about(line.decode("utf-8", "replace"))]
                found[version.version_id] = len(lines[version.version_id]) - len(kept)
                if version.is_latest:
                    kept_latest = kept
            if not any(found.values()):
                continue
            latest = next((version for version in versions if version.is_latest), None)
            latest_found = found.get(latest.version_id, 0) if latest is not None else 0
            counts["matched_letters"] += latest_found if latest_found else max(found.values())
            # The current version stays if it is clean; an older version about the person goes anyway.
            doomed = versions if latest_found or kept_latest is None else [v for v in versions if not v.is_latest]
            counts["deleted_versions"] += len(doomed)
            if self.dry_run:
                continue
            if latest_found and kept_latest:
                # The other letters stay exported: a new version without this person's, then every older one goes.
                body = gzip.compress(b"".join(line + b"\n" for line in kept_latest))
                s3.put_object(
                    Bucket=self.stores.bucket,
                    Key=key,
                    Body=body,
                    ContentType="application/x-ndjson",
                    ContentEncoding="gzip",
                )
                counts["rewritten"] += 1
            delete_versions(self.stores.bucket, doomed, s3)
        self.progress(f"dead-letter exports: {counts['objects']} read, {counts['matched_letters']} letter(s) matched")

    # -- the queues ----------------------------------------------------------------------------
    def _about(self, body: str) -> bool:
        """A message or letter about the person: it names them, or it carries one of their postbacks
        (an attribution call holds only device ids, its postback's identify call the user id)."""
        return message_matches(self.person, body) or bool(idempotency_keys(body) & self._keys)

    def _hold(self, name: str, queue: Queue) -> dict[str, QueuedMessage]:
        """Every message on `queue` that can be received now, hidden from others until released."""
        held: dict[str, QueuedMessage] = {}
        confirming = False
        while True:
            wait = CONFIRM_WAIT_S if confirming else 0
            batch = queue.receive(max_messages=10, wait_s=wait, visibility_s=HOLD_VISIBILITY_S)
            fresh = [message for message in batch if message.message_id not in held]
            for message in batch:
                held[message.message_id] = message  # the latest receipt handle is the one that works
            if not fresh:
                if confirming:
                    return held
                confirming = True
                continue
            confirming = False
            if len(held) // PROGRESS_EVERY != (len(held) - len(fresh)) // PROGRESS_EVERY:
                self.progress(f"{name}: {len(held)} message(s) received")
            for message in fresh:
                if message_matches(self.person, message.body):
                    self._keys |= idempotency_keys(message.body)
                    self._devices |= call_devices(self.person.key, message.body)

    def _erase_held(self, name: str, queue: Queue, held: dict[str, QueuedMessage]) -> dict[str, int]:
        counts = dict.fromkeys(("inspected", "matched", "deleted", "not_inspected"), 0)
        deleted: set[str] = set()
        try:
            for message in held.values():
                counts["inspected"] += 1
                if not self._about(message.body):
                    continue
                counts["matched"] += 1
                self._keys |= idempotency_keys(message.body)
                if message_matches(self.person, message.body):
                    self._devices |= call_devices(self.person.key, message.body)
                counts["deleted"] += 1
                if not self.dry_run:
                    queue.delete(message.receipt_handle)
                    deleted.add(message.message_id)
        finally:
            # Every other message goes back at once, not after the hold (even if a delete failed).
            queue.release([m.receipt_handle for m in held.values() if m.message_id not in deleted])
        depth = queue.depth()
        counts["not_inspected"] = depth["delayed"] + depth["in_flight"]
        self.progress(f"{name}: {counts['inspected']} message(s) inspected, {counts['matched']} matched")
        return counts

    # -- the idempotency table -----------------------------------------------------------------
    def _idempotency(self) -> None:
        hashes = {idempotency_record_hash(key) for key in self._keys}
        counts = self.report.idempotency = {"keys": len(hashes), "scanned": 0, "matched": 0, "deleted": 0}
        if not hashes:
            return
        dynamodb: DynamoDBClient = client("dynamodb", "tooling")
        # Scanned, not read by key: the key's first part names the deployment's Lambda function.
        pages = dynamodb.get_paginator("scan").paginate(
            TableName=self.stores.table, ProjectionExpression="#id", ExpressionAttributeNames={"#id": "id"}
        )
        for page in pages:
            for item in page.get("Items", []):
                counts["scanned"] += 1
                record_id = item["id"].get("S", "")
                if record_id.rpartition("#")[2] not in hashes:
                    continue
                counts["matched"] += 1
                if not self.dry_run:
                    dynamodb.delete_item(TableName=self.stores.table, Key={"id": {"S": record_id}})
                counts["deleted"] += 1
        self.progress(f"idempotency table: {counts['scanned']} record(s) scanned, {counts['matched']} matched")

    # -- the tracker's tables ------------------------------------------------------------------
    def _tracker(self) -> None:
        """The clicks and installs of the person's devices, by key in every app (no scan of either)."""
        counts = self.report.tracker
        if counts is None:
            return
        from postback_relay.tracker.store import TrackerStore

        store = TrackerStore(self.stores.apps_table, self.stores.clicks_table, self.stores.installs_table)
        apps = [app.app_id for app in store.list_apps()]  # a handful of rows: the one scan, of the smallest table
        counts["apps"], counts["devices"] = len(apps), len(self._devices)
        for app_id in apps:
            for device in sorted(self._devices):
                clicks, rows, installs = store.erase_device(app_id, device, dry_run=self.dry_run)
                counts["clicks"] += clicks
                counts["click_rows"] += rows
                counts["installs"] += installs
        self.progress(f"tracker: {counts['clicks']} click(s) and {counts['installs']} install(s) matched")
