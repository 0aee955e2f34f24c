"""The emulator's project data in SQLite: users, their identifiers, events, held attribution, insert_id memory.

One connection guarded by a lock (the HTTP server is threaded); `":memory:"` by default, a file with `--db`.
All times are ms since epoch from the injected clock, so hold-and-match and dedup windows are testable
without sleeping.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .properties import apply_user_properties
from .settings import EmulatorSettings

__all__ = ["AD_ID_KINDS", "EventRow", "HeldRow", "Store", "UserRow"]

# Identifiers an attribution event can be matched on (https://amplitude.com/docs/apis/analytics/attribution).
AD_ID_KINDS = ("idfa", "idfv", "adid", "android_app_set_id")
# Fields Identify resets together unless sent together (https://amplitude.com/docs/apis/analytics/identify).
_DEVICE_FIELDS = ("platform", "os_name", "os_version", "device_brand", "device_manufacturer", "device_model", "carrier")
_LOCATION_FIELDS = ("country", "region", "city", "dma")
_OTHER_FIELDS = ("app_version", "language", "start_version", "paying", "location_lat", "location_lng")
_FIRST_AMPLITUDE_ID = 100_000_000_001
_DAY_MS = 86_400_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    amplitude_id INTEGER PRIMARY KEY,
    user_id TEXT,
    properties TEXT NOT NULL DEFAULT '{}',
    device TEXT NOT NULL DEFAULT '{}',
    merged TEXT NOT NULL DEFAULT '[]',
    first_seen INTEGER,
    last_seen INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS users_user_id ON users(user_id);
CREATE TABLE IF NOT EXISTS identifiers (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    amplitude_id INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    amplitude_id INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    time INTEGER NOT NULL,
    server_time INTEGER NOT NULL,
    source TEXT NOT NULL,
    insert_id TEXT,
    device_id TEXT,
    user_id TEXT,
    revenue REAL,
    event TEXT NOT NULL,
    user_properties TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_time ON events(time);
CREATE INDEX IF NOT EXISTS events_user ON events(amplitude_id, time);
CREATE TABLE IF NOT EXISTS held (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    event TEXT NOT NULL,
    idfa TEXT, idfv TEXT, adid TEXT, android_app_set_id TEXT,
    status TEXT NOT NULL DEFAULT 'held',
    amplitude_id INTEGER,
    resolved_at INTEGER
);
CREATE TABLE IF NOT EXISTS dedup (
    scope TEXT NOT NULL,
    insert_id TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (scope, insert_id)
);
"""


@dataclass(frozen=True)
class UserRow:
    amplitude_id: int
    user_id: str | None
    properties: dict[str, Any]
    device: dict[str, Any]
    merged: list[int]
    first_seen: int | None
    last_seen: int | None
    device_ids: list[str]
    identifiers: dict[str, list[str]]


@dataclass(frozen=True)
class EventRow:
    id: int
    amplitude_id: int
    event_type: str
    time: int
    server_time: int
    source: str
    insert_id: str | None
    device_id: str | None
    user_id: str | None
    revenue: float | None
    event: dict[str, Any]
    user_properties: dict[str, Any]


@dataclass(frozen=True)
class HeldRow:
    id: int
    received_at: int
    event: dict[str, Any]
    status: str  # held | matched | expired
    amplitude_id: int | None
    resolved_at: int | None


def _revenue(event: dict[str, Any]) -> float | None:
    """price x quantity wins over revenue when price is sent (HTTP V2 API)."""
    price = event.get("price")
    if isinstance(price, (int, float)) and not isinstance(price, bool):
        quantity = event.get("quantity", 1)
        return float(price) * (quantity if isinstance(quantity, (int, float)) else 1)
    revenue = event.get("revenue")
    if isinstance(revenue, (int, float)) and not isinstance(revenue, bool):
        return float(revenue)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class Store:
    """All reads and writes of the emulator's project; every public method is atomic."""

    def __init__(self, path: str = ":memory:", *, settings: EmulatorSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.executescript(_SCHEMA)

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def reset(self) -> None:
        """A fresh project: every table emptied."""
        with self._lock:
            for table in ("users", "identifiers", "events", "held", "dedup"):
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names

    # ---------------------------------------------------------------------------------- ingestion

    def ingest_httpapi(self, events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store validated HTTP V2 events; returns those that were not insert_id duplicates."""
        with self._lock, self._transaction():
            now = self.now_ms()
            self._expire_held(now)
            self._db.execute(
                "DELETE FROM dedup WHERE seen_at <= ?", (now - int(self.settings.insert_id_dedup_days * _DAY_MS),)
            )
            stored: list[dict[str, Any]] = []
            for event in events:
                if self._is_duplicate(event, now):
                    continue  # accepted (counted in the 200) but not stored again
                amplitude_id = self._resolve_user(event, now, create=True)
                assert amplitude_id is not None
                self._release_held(amplitude_id, event, now)
                props = event.get("user_properties")
                if isinstance(props, dict) and props:
                    self._update_properties(amplitude_id, props)
                self._update_device(amplitude_id, event, coupled=False)
                self._insert_event(amplitude_id, event, "httpapi", now)
                stored.append(event)
            return stored

    def ingest_identify(self, identification: dict[str, Any]) -> int:
        """Apply one identification; returns the user's Amplitude ID (created when never seen)."""
        with self._lock, self._transaction():
            now = self.now_ms()
            amplitude_id = self._resolve_user(identification, now, create=True)
            assert amplitude_id is not None
            props = identification.get("user_properties")
            if isinstance(props, dict):
                self._update_properties(amplitude_id, props)
            self._update_device(amplitude_id, identification, coupled=True)
            return amplitude_id

    def ingest_attribution(self, event: dict[str, Any]) -> int | None:
        """Apply the event to the user it matches now, else hold it; returns the Amplitude ID or None if held."""
        with self._lock, self._transaction():
            now = self.now_ms()
            self._expire_held(now)
            event = self._normalise_attribution(event)
            ids = {kind: _str(event.get(kind)) for kind in AD_ID_KINDS}
            amplitude_id = self._find_by_ad_ids([v for v in ids.values() if v])
            if amplitude_id is not None:
                self._apply_attribution(amplitude_id, event, now)
                self._db.execute(
                    "INSERT INTO held (received_at, event, idfa, idfv, adid, android_app_set_id, status, amplitude_id,"
                    " resolved_at) VALUES (?, ?, ?, ?, ?, ?, 'matched', ?, ?)",
                    (now, json.dumps(event), *ids.values(), amplitude_id, now),
                )
                return amplitude_id
            self._db.execute(
                "INSERT INTO held (received_at, event, idfa, idfv, adid, android_app_set_id) VALUES (?, ?, ?, ?, ?, ?)",
                (now, json.dumps(event), *ids.values()),
            )
            return None

    # ------------------------------------------------------------------------------------ queries

    def users(self) -> list[UserRow]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM users ORDER BY amplitude_id").fetchall()
            return [self._user(row) for row in rows]

    def user(self, amplitude_id: int) -> UserRow | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM users WHERE amplitude_id = ?", (amplitude_id,)).fetchone()
            if row is None:
                merged = self._db.execute(
                    "SELECT * FROM users WHERE EXISTS (SELECT 1 FROM json_each(users.merged) WHERE value = ?)",
                    (amplitude_id,),
                ).fetchone()
                return self._user(merged) if merged is not None else None
            return self._user(row)

    def find_users(self, kind: str, value: str) -> list[int]:
        """Amplitude IDs by `user_id`, `user_prefix`, or an identifier kind (device_id, idfa, …)."""
        args: tuple[str, ...]
        with self._lock:
            if kind == "user_id":
                sql, args = "SELECT amplitude_id FROM users WHERE user_id = ?", (value,)
            elif kind == "user_prefix":
                escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                sql, args = "SELECT amplitude_id FROM users WHERE user_id LIKE ? ESCAPE '\\'", (escaped + "%",)
            else:
                sql, args = "SELECT amplitude_id FROM identifiers WHERE kind = ? AND value = ?", (kind, value)
            return sorted({int(r[0]) for r in self._db.execute(sql + " ORDER BY amplitude_id", args)})

    def events(
        self, *, since_ms: int | None = None, until_ms: int | None = None, amplitude_id: int | None = None
    ) -> list[EventRow]:
        """Events ordered by time (then arrival)."""
        clauses: list[str] = []
        args: list[Any] = []
        if since_ms is not None:
            clauses.append("time >= ?")
            args.append(since_ms)
        if until_ms is not None:
            clauses.append("time < ?")
            args.append(until_ms)
        if amplitude_id is not None:
            clauses.append("amplitude_id = ?")
            args.append(amplitude_id)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM events{where} ORDER BY time, id", args).fetchall()  # noqa: S608
        return [
            EventRow(
                id=r["id"],
                amplitude_id=r["amplitude_id"],
                event_type=r["event_type"],
                time=r["time"],
                server_time=r["server_time"],
                source=r["source"],
                insert_id=r["insert_id"],
                device_id=r["device_id"],
                user_id=r["user_id"],
                revenue=r["revenue"],
                event=json.loads(r["event"]),
                user_properties=json.loads(r["user_properties"]),
            )
            for r in rows
        ]

    def held(self, status: str | None = None) -> list[HeldRow]:
        """Attribution events with their fate: `held` (waiting), `matched` or `expired`."""
        with self._lock, self._transaction():
            self._expire_held(self.now_ms())
            if status is None:
                rows = self._db.execute("SELECT * FROM held ORDER BY id").fetchall()
            else:
                rows = self._db.execute("SELECT * FROM held WHERE status = ? ORDER BY id", (status,)).fetchall()
        return [
            HeldRow(r["id"], r["received_at"], json.loads(r["event"]), r["status"], r["amplitude_id"], r["resolved_at"])
            for r in rows
        ]

    # ---------------------------------------------------------------------------------- internals

    def _transaction(self) -> _Tx:
        return _Tx(self._db)

    def _user(self, row: sqlite3.Row) -> UserRow:
        identifiers: dict[str, list[str]] = {}
        for kind, value in self._db.execute(
            "SELECT kind, value FROM identifiers WHERE amplitude_id = ? ORDER BY rowid", (row["amplitude_id"],)
        ):
            identifiers.setdefault(kind, []).append(value)
        return UserRow(
            amplitude_id=row["amplitude_id"],
            user_id=row["user_id"],
            properties=json.loads(row["properties"]),
            device=json.loads(row["device"]),
            merged=json.loads(row["merged"]),
            first_seen=row["first_seen"],
            last_seen=row["last_seen"],
            device_ids=identifiers.get("device_id", []),
            identifiers=identifiers,
        )

    def _is_duplicate(self, event: dict[str, Any], now: int) -> bool:
        insert_id = _str(event.get("insert_id"))
        if insert_id is None:
            return False
        scope = ""
        if self.settings.dedup_scope == "device":
            scope = _str(event.get("device_id")) or "u:" + str(event.get("user_id"))
        hit = self._db.execute("SELECT 1 FROM dedup WHERE scope = ? AND insert_id = ?", (scope, insert_id)).fetchone()
        if hit:
            return True
        self._db.execute("INSERT INTO dedup (scope, insert_id, seen_at) VALUES (?, ?, ?)", (scope, insert_id, now))
        return False

    def _new_user(self, user_id: str | None, now: int) -> int:
        row = self._db.execute("SELECT MAX(amplitude_id) FROM users").fetchone()
        amplitude_id = max(_FIRST_AMPLITUDE_ID, (row[0] or 0) + 1)
        self._db.execute(
            "INSERT INTO users (amplitude_id, user_id, created_at) VALUES (?, ?, ?)", (amplitude_id, user_id, now)
        )
        return amplitude_id

    def _link(self, kind: str, value: str | None, amplitude_id: int) -> None:
        if value:
            self._db.execute(
                "INSERT INTO identifiers (kind, value, amplitude_id) VALUES (?, ?, ?)"
                " ON CONFLICT(kind, value) DO UPDATE SET amplitude_id = excluded.amplitude_id",
                (kind, value, amplitude_id),
            )

    def _resolve_user(self, obj: dict[str, Any], now: int, *, create: bool) -> int | None:
        """The user an event/identification belongs to, creating or merging users the way Amplitude does:
        a device's anonymous user takes the first user_id it sees; a device seen under another user_id starts a
        new user; an anonymous device user is merged into the known user of that user_id."""
        user_id, device_id = _str(obj.get("user_id")), _str(obj.get("device_id"))
        by_user = self._scalar("SELECT amplitude_id FROM users WHERE user_id = ?", user_id) if user_id else None
        by_device = (
            self._scalar("SELECT amplitude_id FROM identifiers WHERE kind='device_id' AND value = ?", device_id)
            if device_id
            else None
        )
        target: int | None
        if by_user is not None:
            target = by_user
            if by_device is not None and by_device != target:
                other_user = self._scalar("SELECT user_id FROM users WHERE amplitude_id = ?", by_device)
                if other_user is None:
                    self._merge(by_device, target)
        elif by_device is not None:
            current = self._scalar("SELECT user_id FROM users WHERE amplitude_id = ?", by_device)
            if user_id and current is None:
                self._db.execute("UPDATE users SET user_id = ? WHERE amplitude_id = ?", (user_id, by_device))
                target = by_device
            elif user_id and current != user_id:
                target = self._new_user(user_id, now)  # a changed non-null user_id is a new Amplitude user
            else:
                target = by_device
        elif create:
            target = self._new_user(user_id, now)
        else:
            return None
        self._link("device_id", device_id, target)
        for kind in AD_ID_KINDS:
            self._link(kind, _str(obj.get(kind)), target)
        return target

    def _scalar(self, sql: str, *args: Any) -> Any:
        row = self._db.execute(sql, args).fetchone()
        return None if row is None else row[0]

    def _merge(self, source: int, target: int) -> None:
        src = self._db.execute("SELECT * FROM users WHERE amplitude_id = ?", (source,)).fetchone()
        dst = self._db.execute("SELECT * FROM users WHERE amplitude_id = ?", (target,)).fetchone()
        props = {**json.loads(src["properties"]), **json.loads(dst["properties"])}  # the known user's values win
        device = {**json.loads(src["device"]), **json.loads(dst["device"])}
        merged = [*json.loads(dst["merged"]), source, *json.loads(src["merged"])]
        firsts = [t for t in (src["first_seen"], dst["first_seen"]) if t is not None]
        lasts = [t for t in (src["last_seen"], dst["last_seen"]) if t is not None]
        self._db.execute(
            "UPDATE users SET properties = ?, device = ?, merged = ?, first_seen = ?, last_seen = ?"
            " WHERE amplitude_id = ?",
            (
                json.dumps(props),
                json.dumps(device),
                json.dumps(merged),
                min(firsts) if firsts else None,
                max(lasts) if lasts else None,
                target,
            ),
        )
        for table in ("identifiers", "events", "held"):
            self._db.execute(f"UPDATE {table} SET amplitude_id = ? WHERE amplitude_id = ?", (target, source))  # noqa: S608
        self._db.execute("DELETE FROM users WHERE amplitude_id = ?", (source,))

    def _properties(self, amplitude_id: int) -> dict[str, Any]:
        props: dict[str, Any] = json.loads(
            self._scalar("SELECT properties FROM users WHERE amplitude_id = ?", amplitude_id) or "{}"
        )
        return props

    def _update_properties(self, amplitude_id: int, ops: dict[str, Any]) -> None:
        props = apply_user_properties(self._properties(amplitude_id), ops, self.settings)
        self._db.execute("UPDATE users SET properties = ? WHERE amplitude_id = ?", (json.dumps(props), amplitude_id))

    def _update_device(self, amplitude_id: int, obj: dict[str, Any], *, coupled: bool) -> None:
        device: dict[str, Any] = json.loads(
            self._scalar("SELECT device FROM users WHERE amplitude_id = ?", amplitude_id) or "{}"
        )
        for group in (_DEVICE_FIELDS, _LOCATION_FIELDS):
            sent = [f for f in group if f in obj]
            if sent and coupled:
                for field in group:  # Identify: a coupled field not sent with its group is nulled
                    device[field] = obj.get(field)
            else:
                device.update({f: obj[f] for f in sent})
        device.update({f: obj[f] for f in _OTHER_FIELDS if f in obj})
        self._db.execute("UPDATE users SET device = ? WHERE amplitude_id = ?", (json.dumps(device), amplitude_id))

    def _insert_event(self, amplitude_id: int, event: dict[str, Any], source: str, now: int) -> None:
        time_ms = event.get("time")
        when = time_ms if isinstance(time_ms, int) and not isinstance(time_ms, bool) else now
        self._db.execute(
            "INSERT INTO events (amplitude_id, event_type, time, server_time, source, insert_id, device_id, user_id,"
            " revenue, event, user_properties) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                amplitude_id,
                str(event.get("event_type")),
                when,
                now,
                source,
                _str(event.get("insert_id")),
                _str(event.get("device_id")),
                _str(event.get("user_id")),
                _revenue(event),
                json.dumps(event),
                json.dumps(self._properties(amplitude_id)),  # the user's properties as of this event
            ),
        )
        self._db.execute(
            "UPDATE users SET first_seen = MIN(COALESCE(first_seen, ?), ?), last_seen = MAX(COALESCE(last_seen, ?), ?)"
            " WHERE amplitude_id = ?",
            (when, when, when, when, amplitude_id),
        )

    def _normalise_attribution(self, event: dict[str, Any]) -> dict[str, Any]:
        event = dict(event)
        if isinstance(event.get("platform"), str):
            event["platform"] = event["platform"].lower()
        return event

    def _apply_attribution(self, amplitude_id: int, event: dict[str, Any], now: int) -> None:
        props = event.get("user_properties")
        if isinstance(props, dict) and props:
            self._update_properties(amplitude_id, props)
        stored = dict(event)
        if self.settings.strip_adid_from_attribution_events:
            stored.pop("adid", None)
        self._insert_event(amplitude_id, stored, "attribution", now)

    def _find_by_ad_ids(self, values: list[str]) -> int | None:
        kinds = list(AD_ID_KINDS) + (["device_id"] if self.settings.match_device_id_as_advertising_id else [])
        for value in values:
            for kind in kinds:
                found = self._scalar("SELECT amplitude_id FROM identifiers WHERE kind = ? AND value = ?", kind, value)
                if found is not None:
                    return int(found)
        return None

    def _hold_ms(self) -> int:
        return int(self.settings.attribution_hold_hours * 3_600_000)

    def _expire_held(self, now: int) -> None:
        self._db.execute(
            "UPDATE held SET status = 'expired', resolved_at = received_at + ?"
            " WHERE status = 'held' AND received_at <= ?",
            (self._hold_ms(), now - self._hold_ms()),
        )

    def _release_held(self, amplitude_id: int, event: dict[str, Any], now: int) -> None:
        """Apply every parked attribution event whose ids this regular event carries."""
        values = [v for v in (_str(event.get(k)) for k in AD_ID_KINDS) if v]
        if self.settings.match_device_id_as_advertising_id and _str(event.get("device_id")):
            values.append(str(event["device_id"]))
        if not values:
            return
        marks = ",".join("?" * len(values))
        rows = self._db.execute(
            f"SELECT id, event FROM held WHERE status = 'held' AND (idfa IN ({marks}) OR idfv IN ({marks})"  # noqa: S608
            f" OR adid IN ({marks}) OR android_app_set_id IN ({marks})) ORDER BY id",
            values * 4,
        ).fetchall()
        for row in rows:
            held_event = json.loads(row["event"])
            self._apply_attribution(amplitude_id, held_event, now)
            for kind in AD_ID_KINDS:
                self._link(kind, _str(held_event.get(kind)), amplitude_id)
            self._db.execute(
                "UPDATE held SET status = 'matched', amplitude_id = ?, resolved_at = ? WHERE id = ?",
                (amplitude_id, now, row["id"]),
            )


class _Tx:
    """BEGIN/COMMIT around a group of statements (autocommit connection), ROLLBACK on error; re-entrant."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._owner = False

    def __enter__(self) -> None:
        if not self._db.in_transaction:
            self._db.execute("BEGIN")
            self._owner = True

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._owner:
            self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
