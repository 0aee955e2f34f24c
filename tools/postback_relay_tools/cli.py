"""`postback-relay`: the local stack and the operator's tools.

postback-relay serve [--host 127.0.0.1] [--port 3000] [--virtual-clock]
postback-relay dlq list [--json] [--from s3://BUCKET/PREFIX] [--partner P] [--reason R] [--id ID]
postback-relay dlq replay [--dry-run] [--from s3://BUCKET/PREFIX] [--partner P] [--reason R] [--id ID]
postback-relay dlq export [--to s3://BUCKET[/PREFIX]] [--delete] [--json]
postback-relay dlq purge [--partner P] [--reason R] [--id ID] [--to s3://BUCKET[/PREFIX] | --no-export] [--yes]
postback-relay forget (--user ID | --device ID) [--partner P] [--since D] [--until D] [--dry-run] [--json]
postback-relay compare --from s3://BUCKET[/PREFIX] --partner P --since D [--until D] [--max-users N] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from postback_relay.config import ConfigurationError, reset_settings
from postback_relay.partners import PartnerAdapter

if TYPE_CHECKING:
    from postback_relay.messages import DeadLetter
    from postback_relay.privacy import Kind

    from .dlq_export import S3Location
    from .dlq_select import LetterFilter
    from .erasures import Erasures
    from .forget import Stores
    from .local.stack import StackState

SAMPLE_POSTBACK = {
    "event_type": "install",
    "event_name": "install",
    "platform": "ios",
    "idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC",
    "idfv": "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
    "customer_user_id": "user-42",
    "media_source": "facebook_int",
    "campaign": "black-friday",
    "af_adset": "lookalike-us",
    "af_ad": "video-15s",
    "af_channel": "instagram",
    "event_time": "2026-11-23 12:00:00.000",
    "install_time": "2026-11-23 12:00:00.000",
}


def _serve(args: argparse.Namespace) -> int:
    from .local.stack import LocalStack

    template = Path(args.template)
    if not template.exists():
        print(f"error: {template} not found: run serve from the repository root or pass --template", file=sys.stderr)
        return 2
    # The built-in Amplitude stand-in listens one port above the relay (3001 by default).
    amplitude_port = args.port + 1 if args.port else 0
    overrides: dict[str, str] = {}
    for pair in args.parameter_overrides:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            print(f"error: --parameter-overrides takes NAME=VALUE pairs, not {pair!r}", file=sys.stderr)
            return 2
        overrides[name] = value
    try:
        stack = LocalStack(
            template,
            host=args.host,
            port=args.port,
            amplitude_port=amplitude_port,
            virtual_clock=args.virtual_clock,
            parameter_overrides=overrides,
        ).start()
    except OSError as error:
        print(f"error: {_listen_error(error, args.host, args.port, amplitude_port)}", file=sys.stderr)
        return 1
    except (ValueError, ConfigurationError) as error:
        # An unknown parameter, or a function whose settings its cold start refuses.
        print(f"error: {error}", file=sys.stderr)
        return 2
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    payload = json.dumps(SAMPLE_POSTBACK)
    print(f"postback-relay local stack on {stack.url}")
    for route in stack.template.routes:
        print(f"  {route.method:5} {stack.url}{route.path}  ->  {route.function.logical_id}")
    print(f"  GET   {stack.url}/health")
    amplitude = stack.state.amplitude_url
    print(f"Amplitude: {amplitude}" + ("  (built-in stand-in; see /_sink/received)" if stack.sink else ""))
    # Each route accepts its own partner's token only, as in AWS.
    print(f"Relay token: {stack.relay_token}  (AppsFlyer's; each route has its own:)")
    for route_name, url in stack.postback_urls().items():
        print(f"  {route_name:18} {url}")
    print("Try a postback:")
    print(
        f"  curl -sS -X POST '{stack.url}/v1/postbacks/appsflyer?token={stack.relay_token}' "
        f"-H 'Content-Type: application/json' -d '{payload}'"
    )
    if stack.sink:
        print(f"Then see what Amplitude received:  curl -sS {amplitude}/_sink/received")
    print("Dead letters (another shell, same directory):  postback-relay dlq list --json")
    if stack.clock is not None:
        print("Virtual clock: time stands still until you move it (retries fall due as it passes):")
        print(f"  curl -sS {stack.url}/_clock")
        print(f"""  curl -sS -X POST {stack.url}/_clock/advance -d '{{"seconds": 3600}}'""")
        if stack.sink:
            print(
                f"  an Amplitude outage of 6 h: curl -sS -X POST {amplitude}/_sink/outage -d '{{\"seconds\": 21600}}'"
            )
    sys.stdout.flush()
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


def _listen_error(error: OSError, host: str, port: int, amplitude_port: int) -> str:
    """Why serve could not listen, naming the port and what to do (start() has released the others)."""
    import errno
    import socket

    if error.errno == errno.EADDRINUSE:
        busy = port
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
            try:
                probe.bind((host, port))
                busy = amplitude_port  # the relay's port is free: the local Amplitude's is taken
            except OSError:
                pass
        what = "the local Amplitude's port" if busy == amplitude_port and busy != port else "port"
        return (
            f"{what} {busy} on {host} is in use (another `postback-relay serve`?): stop it, "
            f"or pass --port N (the local Amplitude takes N+1)"
        )
    if error.errno == errno.EACCES:
        return f"no permission to listen on port {port}: pass --port 1024 or above"
    if error.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(error, socket.gaierror):
        return f"cannot listen on host {host!r} ({error.strerror}): pass --host 127.0.0.1 or an address of this machine"
    return f"cannot start the local stack ({type(error).__name__}: {error.strerror or 'see the system log'})"


def _use_local_stack_if_needed(args: argparse.Namespace, required: bool = True) -> StackState | None:
    """Point at `serve`'s queues unless the user named queues (flags or environment).
    Returns serve's state when its stack is the one in use."""
    from .local.stack import STATE_FILE, StackState

    if args.dlq_url or args.retry_queue_url or os.environ.get("RELAY_DLQ_URL"):
        if args.dlq_url:
            os.environ["RELAY_DLQ_URL"] = args.dlq_url
        if args.retry_queue_url:
            os.environ["RELAY_RETRY_QUEUE_URL"] = args.retry_queue_url
        reset_settings()
        return None
    state = StackState.read(Path(args.state_file) if args.state_file else STATE_FILE)
    if state is None:
        if not required:
            return None
        raise SystemExit(
            "error: no queues configured: start `postback-relay serve` in this directory, "
            "or pass --dlq-url/--retry-queue-url (or set RELAY_DLQ_URL/RELAY_RETRY_QUEUE_URL)"
        )
    os.environ.update(
        {
            **({"RELAY_APPS_TABLE": state.resources["AppsTable"]} if "AppsTable" in state.resources else {}),
            "AWS_ENDPOINT_URL": state.endpoint_url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "RELAY_DLQ_URL": state.dlq_url,
            "RELAY_RETRY_QUEUE_URL": state.retry_queue_url,
        }
    )
    reset_settings()
    return state


# AWS error codes an operator meets, and what to do about each (the code itself is printed too).
_AWS_FIXES: dict[str, str] = {
    "NoSuchBucket": "check the bucket name (stack output ArchiveBucketName) and the AWS account/region",
    "AccessDenied": "use credentials allowed to do this (an operator role of the stack's account)",
    "AccessDeniedException": "use credentials allowed to do this (an operator role of the stack's account)",
    "ExpiredToken": "refresh your AWS credentials (e.g. aws sso login)",
    "ExpiredTokenException": "refresh your AWS credentials (e.g. aws sso login)",
    "InvalidAccessKeyId": "check your AWS credentials (aws configure, AWS_PROFILE)",
    "InvalidClientTokenId": "check your AWS credentials (aws configure, AWS_PROFILE)",
    "UnrecognizedClientException": "check your AWS credentials (aws configure, AWS_PROFILE)",
    "SignatureDoesNotMatch": "check your AWS secret key (aws configure, AWS_PROFILE)",
    "AWS.SimpleQueueService.NonExistentQueue": "check the queue URL (stack outputs DeadLetterQueueUrl, RetryQueueUrl)",
    "QueueDoesNotExist": "check the queue URL (stack outputs DeadLetterQueueUrl, RetryQueueUrl)",
    "ResourceNotFoundException": "check the table name (stack outputs ...TableName) and the AWS region",
}


def _aws_error_line(error: Exception) -> str | None:
    """One line for a botocore error: what AWS said, and the fix; None if `error` is not one."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
    )

    if isinstance(error, ClientError):
        details: dict[str, Any] = dict(error.response.get("Error", {}))
        code = str(details.get("Code", "?"))
        message = " ".join(str(details.get("Message", "")).split())
        if code == "NoSuchBucket" and details.get("BucketName"):
            message = f"bucket {details['BucketName']!r} does not exist"
        fix = _AWS_FIXES.get(code)
        line = f"AWS refused {error.operation_name} ({code}): {message or 'no message'}"
        return f"{line}; {fix}" if fix else line
    if isinstance(error, NoCredentialsError):
        return (
            "no AWS credentials found: configure them (aws configure, AWS_PROFILE), "
            "or start `postback-relay serve` in this directory to use the local stack"
        )
    if isinstance(error, NoRegionError):
        return "no AWS region configured: set AWS_DEFAULT_REGION (the stack's region)"
    if isinstance(error, EndpointConnectionError):
        return (
            f"cannot reach {error.kwargs.get('endpoint_url', 'AWS')}: check the network and the region; "
            "against the local stack, is `postback-relay serve` still running?"
        )
    if isinstance(error, BotoCoreError):
        return " ".join(str(error).split())
    return None


def _known_error_line(error: Exception) -> str | None:
    """The one line a user gets for an error the CLI knows (its text is ours, or AWS's/Amplitude's,
    with no postback values); None for anything else."""
    import requests

    from postback_relay.config import ConfigurationError

    from .dashboard import DashboardError
    from .dlq_export import ExportError
    from .erasures import ErasureError

    if isinstance(error, (ConfigurationError, ExportError, ErasureError, DashboardError)):
        return " ".join(str(error).split())
    if isinstance(error, requests.RequestException):
        where = error.request.url.split("?")[0] if error.request is not None and error.request.url else "Amplitude"
        return (
            f"cannot reach {where} ({type(error).__name__}): check the network and the URL; "
            "against the local emulator, is `postback-relay serve` still running?"
        )
    if isinstance(error, OSError) and not _aws_error_line(error):
        import errno

        if error.errno == errno.EADDRINUSE:
            return "the port is in use (another server on it?): stop it, or pass --port N"
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror or type(error).__name__}{where}: check the path and its permissions"
    return _aws_error_line(error)


def _plain_errors(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """AWS, configuration and URI errors as one line naming the fix, exit 2: an operator's typo is
    not a traceback."""

    def guarded(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except Exception as error:
            line = _known_error_line(error)
            if line is None:
                raise  # main()'s last resort
            print(f"error: {line}", file=sys.stderr)
            return 2

    return guarded


def _letter_filter(args: argparse.Namespace) -> LetterFilter:
    from .dlq_select import LetterFilter

    return LetterFilter.of(args.partner, args.reason, args.ids)


def _matching(select: LetterFilter) -> str:
    return f" {select.describe()}" if not select.everything else ""


def _print_letters(listed: list[tuple[str | None, DeadLetter]]) -> None:
    for message_id, letter in listed:
        endpoint = letter.call.endpoint if letter.call else "-"
        insert_id = letter.call.insert_id if letter.call else "-"
        print(
            f"{message_id or '-'}  {letter.reason:<18} status={letter.status} attempts={letter.attempts} "
            f"partner={letter.partner} endpoint={endpoint} insert_id={insert_id}  {letter.error or ''}"
        )


def _dlq_list(args: argparse.Namespace) -> int:
    from .dlq_export import S3Location, dead_letters, letter_record, read_export_records

    select = _letter_filter(args)
    source = S3Location.parse(args.source) if args.source else None  # a bad URI fails before any AWS call
    _use_local_stack_if_needed(args, required=source is None)
    listed: list[tuple[str | None, DeadLetter]]
    if source is not None:
        records = list(read_export_records(source))
        listed = [(m, letter) for m, letter in records if letter is not None and select.matches(m, letter)]
        total, unreadable = len(records), sum(letter is None for _, letter in records)
    else:
        queue, letters = dead_letters()
        # Listing must not consume: make every message visible again at once.
        queue.release([message.receipt_handle for message, _ in letters])
        listed = [(m.message_id, letter) for m, letter in letters if select.matches(m.message_id, letter)]
        total, unreadable = len(letters), 0
    if args.json:
        print(json.dumps([letter_record(m, letter) if m else letter.model_dump(mode="json") for m, letter in listed]))
        return 0
    where = f" in {source.uri()}" if source is not None else ""
    if not total:
        print(f"No dead letters{where}." if source is not None else "The dead-letter queue is empty.")
        return 0
    _print_letters(listed)
    if select.everything:
        print(f"{len(listed)} dead letter(s){where}" + (f"; {unreadable} unreadable line(s)." if unreadable else "."))
    else:
        print(f"{len(listed)} of {total} dead letter(s){where}{_matching(select)}.")
    return 0


def _erasures(bucket: str) -> Erasures:
    """The erasure records `replay` and `dlq replay` skip by (ErasureError if they cannot be trusted)."""
    from postback_relay.config import get_settings

    from .erasures import Erasures

    return Erasures.load(bucket, get_settings().hash_salt)


def _erasures_bucket(args: argparse.Namespace, state: StackState | None, fallback: str | None = None) -> str:
    """Where the erasure records are: --bucket, RELAY_ARCHIVE_BUCKET, serve's archive bucket, or `fallback`."""
    from .erasures import ErasureError

    bucket = args.bucket or os.environ.get("RELAY_ARCHIVE_BUCKET", "")
    if not bucket and state is not None:
        bucket = state.resources.get("ArchiveBucket", "")
    bucket = bucket or fallback or ""
    if not bucket:
        # Never replay unchecked: that would send again a person who asked to be forgotten.
        raise ErasureError(
            "replay skips forgotten persons, whose erasures are recorded in the archive bucket: "
            "pass --bucket (stack output ArchiveBucketName) or set RELAY_ARCHIVE_BUCKET"
        )
    return bucket


def _erased_letter(erasures: Erasures, letter: DeadLetter) -> bool:
    if not len(erasures):
        return False
    from postback_relay.privacy import carried_hashes, postback_hash, postback_id_of

    document: dict[str, Any] = letter.model_dump(mode="json")
    hashes = carried_hashes(erasures.key, document)
    postback_id = postback_id_of(letter.call.insert_id) if letter.call else None
    if postback_id is not None:
        hashes.add(postback_hash(erasures.key, postback_id))
    if letter.raw_body:
        with contextlib.suppress(ValueError):  # an unreadable body that is not JSON either
            hashes |= carried_hashes(erasures.key, json.loads(letter.raw_body))
    return erasures.covers(hashes, letter.received_at_ms or letter.dead_lettered_at_ms)


def _erased_note(erased: int) -> str:
    return f"; {erased} about forgotten persons skipped" if erased else ""


def _dlq_replay(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from postback_relay.queues import RetryQueue

    from .dlq_export import ExportError, S3Location, dead_letters, read_export_records, replay_message
    from .progress import progress

    select = _letter_filter(args)
    source = S3Location.parse(args.source) if args.source else None  # a bad URI fails before any AWS call
    state = _use_local_stack_if_needed(args)
    erasures = _erasures(_erasures_bucket(args, state, source.bucket if source else None))
    retry_queue = RetryQueue()
    now_ms = int(time.time() * 1000)
    verb = "would replay" if args.dry_run else "replayed"
    matching = _matching(select)
    if source is not None:
        replayed = unreadable = erased = unmatched = 0
        try:
            records = read_export_records(source)
            for message_id, exported in progress(records, what="dlq replay", unit="letter", quiet=args.json):
                if exported is not None and not select.matches(message_id, exported):
                    unmatched += 1
                    continue
                if exported is None and not select.everything:
                    continue  # an unreadable line matches no filter
                if exported is not None and _erased_letter(erasures, exported):
                    erased += 1
                    continue
                retry = replay_message(exported, now_ms) if exported is not None else None
                if retry is None:
                    unreadable += 1
                elif not args.dry_run:
                    retry_queue.put(retry, delay_s=0)
                replayed += retry is not None
        except (BotoCoreError, ClientError) as error:
            # S3 keeps every letter: say how far this run got before running it again.
            sent = 0 if args.dry_run else replayed
            raise ExportError(f"{source.uri()}: {error} ({sent} dead letter(s) already sent)") from error
        others = f"; {unmatched} not matching skipped" if matching else ""
        if args.json:
            summary = {"replayed": replayed, "unreadable": unreadable, "unmatched": unmatched, "erased": erased}
            print(json.dumps({"dry_run": args.dry_run, "from": source.uri(), **summary}))
        else:
            print(
                f"{verb} {replayed} dead letter(s){matching} from {source.uri()} through the retry queue; "
                f"{unreadable} unreadable skipped{others}{_erased_note(erased)}."
            )
        return 0
    queue, letters = dead_letters()
    replayed, erased, kept, unmatched = 0, 0, [], 0
    for message, letter in progress(letters, what="dlq replay", unit="letter", quiet=args.json):
        if not select.matches(message.message_id, letter):
            unmatched += 1
            kept.append(message.receipt_handle)
            continue
        if _erased_letter(erasures, letter):
            # Its person was forgotten after it got here: erase it now rather than keep it 14 days.
            erased += 1
            if args.dry_run:
                kept.append(message.receipt_handle)
            else:
                queue.delete(message.receipt_handle)
            continue
        retry = replay_message(letter, now_ms)
        if retry is not None and not args.dry_run:
            retry_queue.put(retry, delay_s=0)
            queue.delete(message.receipt_handle)  # only after the retry queue holds it
        else:
            kept.append(message.receipt_handle)
        replayed += retry is not None
    queue.release(kept)
    unreadable = len(letters) - replayed - erased - unmatched
    if args.json:
        summary = {"replayed": replayed, "unreadable": unreadable, "unmatched": unmatched, "erased": erased}
        print(json.dumps({"dry_run": args.dry_run, **summary}))
        return 0
    note = f"; {erased} about forgotten persons {'would be ' if args.dry_run else ''}deleted" if erased else ""
    others = f"; {unmatched} not matching left in place" if matching else ""
    print(
        f"{verb} {replayed} dead letter(s){matching} through the retry queue; "
        f"{unreadable} unreadable left in place{others}{note}."
    )
    return 0


def _dlq_export(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from .dlq_export import DEFAULT_PREFIX, ExportError, S3Location, dead_letters, letter_record, write_export

    target = S3Location.parse(args.to) if args.to else None  # a bad URI fails before any AWS call
    state = _use_local_stack_if_needed(args)
    if target is None:
        bucket = state.resources.get("ArchiveBucket") if state is not None else None
        if not bucket:
            print(
                "error: --to s3://BUCKET[/PREFIX] is required (serve's bucket is the default only with its queues)",
                file=sys.stderr,
            )
            return 2
        target = S3Location(bucket, DEFAULT_PREFIX)
    erasures = _erasures(_erasures_bucket(args, state, target.bucket))
    queue, letters = dead_letters()
    handles = [message.receipt_handle for message, _ in letters]
    # A forgotten person's letter is not copied into a 400-day export (with --delete it goes too).
    exported = [(message, letter) for message, letter in letters if not _erased_letter(erasures, letter)]
    erased = len(letters) - len(exported)
    uri: str | None = None
    try:
        if exported:
            uri = write_export(
                target, [letter_record(m.message_id, letter) for m, letter in exported], int(time.time() * 1000)
            )
    finally:
        # Letters leave the queue only once S3 holds them; otherwise the queue stays as it was.
        delete = args.delete and (uri is not None or not exported)
        if not delete:
            queue.release(handles)
    if delete:
        deleted = 0
        try:
            for handle in handles:
                queue.delete(handle)
                deleted += 1
        except (BotoCoreError, ClientError) as error:
            # The rest stay in the queue as well as in S3: a later replay --from skips the doubles.
            raise ExportError(
                f"exported to {uri}, but only {deleted} of {len(letters)} left the queue: {error}"
            ) from error
    after = "deleted from the queue" if args.delete else "the queue is unchanged"
    if args.json:
        summary: dict[str, Any] = {"exported": len(exported), "uri": uri}
        if args.delete:
            summary["deleted"] = len(letters)
        if erased:
            summary["erased"] = erased
        print(json.dumps(summary))
    elif not letters:
        print("The dead-letter queue is empty: nothing exported.")
    elif uri is None:
        print(f"nothing exported: all {erased} dead letter(s) are about forgotten persons; {after}.")
    else:
        note = f"; {erased} about forgotten persons not exported" if erased else ""
        print(f"exported {len(exported)} dead letter(s) to {uri}; {after}{note}.")
    return 0


def _confirm_purge(count: int, matching: str, target: S3Location | None) -> bool:
    """The operator types the count (a bare Enter, a wrong number or no terminal is a no)."""
    kept = f"after exporting them to {target.uri()}" if target is not None else "WITHOUT keeping a copy (--no-export)"
    print(
        f"Delete {count} dead letter(s){matching} from the queue, {kept}? Their postbacks will not reach "
        f"Amplitude. Type {count} to confirm: ",
        end="",
        file=sys.stderr,
        flush=True,
    )
    return sys.stdin.readline().strip() == str(count)


def _dlq_purge(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from .dlq_export import DEFAULT_PREFIX, ExportError, S3Location, dead_letters, letter_record, write_export

    if args.no_export and args.to:
        print("error: --to and --no-export contradict each other: pass one", file=sys.stderr)
        return 2
    select = _letter_filter(args)
    matching = _matching(select)
    target = S3Location.parse(args.to) if args.to else None  # a bad URI fails before any AWS call
    state = _use_local_stack_if_needed(args)
    if target is None and not args.no_export:
        bucket = state.resources.get("ArchiveBucket") if state is not None else None
        if not bucket:
            # Deleting a dead letter ends the relay's promise for its call: keep a copy unless told not to.
            print(
                "error: purge first exports what it deletes: pass --to s3://<ArchiveBucketName>/dead-letters, "
                "or --no-export to delete without a copy",
                file=sys.stderr,
            )
            return 2
        target = S3Location(bucket, DEFAULT_PREFIX)
    erasures = _erasures(_erasures_bucket(args, state, target.bucket)) if target is not None else None
    # First look without taking: the operator confirms a count, and exactly those letters go.
    queue, letters = dead_letters()
    queue.release([message.receipt_handle for message, _ in letters])
    confirmed = {message.message_id for message, letter in letters if select.matches(message.message_id, letter)}
    if not confirmed:
        print(f"no dead letter{matching or ' in the queue'}: nothing deleted.")
        return 0
    if not args.yes and not _confirm_purge(len(confirmed), matching, target):
        print("aborted: nothing deleted.", file=sys.stderr)
        return 1
    queue, letters = dead_letters()
    chosen = [(message, letter) for message, letter in letters if message.message_id in confirmed]
    queue.release([message.receipt_handle for message, _ in letters if message.message_id not in confirmed])
    exported = [(m, letter) for m, letter in chosen if erasures is None or not _erased_letter(erasures, letter)]
    uri: str | None = None
    try:
        if target is not None and exported:
            records = [letter_record(m.message_id, letter) for m, letter in exported]
            uri = write_export(target, records, int(time.time() * 1000))
    except BaseException:
        queue.release([message.receipt_handle for message, _ in chosen])  # no copy, no deletion
        raise
    deleted = 0
    try:
        for message, _ in chosen:
            queue.delete(message.receipt_handle)
            deleted += 1
    except (BotoCoreError, ClientError) as error:
        queue.release([message.receipt_handle for message, _ in chosen[deleted:]])
        copy = f"exported to {uri}, but " if uri else ""
        raise ExportError(f"{copy}only {deleted} of {len(chosen)} dead letter(s) were deleted: {error}") from error
    erased = len(chosen) - len(exported) if target is not None else 0
    gone = len(confirmed) - len(chosen)  # replayed, purged or expired between the count and now
    if args.json:
        summary: dict[str, Any] = {"deleted": deleted, "exported": len(exported) if uri else 0, "uri": uri}
        if erased:
            summary["erased"] = erased
        if gone:
            summary["already_gone"] = gone
        print(json.dumps(summary))
        return 0
    kept = f"; exported first to {uri}" if uri else ("; no copy kept (--no-export)" if target is None else "")
    notes = (f"; {erased} about forgotten persons not exported" if erased else "") + (
        f"; {gone} had already left the queue" if gone else ""
    )
    print(f"deleted {deleted} dead letter(s){matching}{kept}{notes}.")
    return 0


# Literal query keys a partner needs beside its macros, by variant: values the person configuring
# the dashboard types, because the partner has no macro for them. The first variant is the default.
POSTBACK_URL_VARIANTS: dict[str, dict[str, dict[str, str]]] = {
    # One Tenjin callback per event, and no macro naming its type (tenjin.EVENT_TYPES reads it).
    "tenjin": {
        "install": {"event_type": "install"},
        "event": {"event_type": "event"},
        "purchase": {"event_type": "purchase"},
    },
    # Kochava apps are per platform and its platform macro is unconfirmed: a literal is safer.
    "kochava": {"macro": {}, "ios": {"platform": "ios"}, "android": {"platform": "android"}},
}

# What to do in each dashboard, printed under the URL (docs/partners.md has the whole checklist).
_SETUP_NOTES: dict[str, str] = {
    "appsflyer": (
        "Push API (premium): Integration > API access > Push API, method POST, this endpoint; "
        "SKAN messages are answered not_forwarded (archived, never sent): leave them unselected. "
        "Send Test carries no header token: keep ?token= while testing."
    ),
    "adjust": (
        "Data management > Server callbacks: paste it on install, reinstall, reattribution, "
        "reattribution reinstall, each event and ad revenue, never on a global callback as well "
        "(Adjust then sends each activity twice); SKAdNetwork activities are answered not_forwarded."
    ),
    "branch": (
        "Data Feeds > Webhooks (Advanced Data Feeds add-on), POST, one webhook per event; "
        "Branch sends live-mode events only."
    ),
    "kochava": (
        "Partner Configuration > Custom Postback, one per event (install, each event, SessionBegin); "
        "Supply Network Data to Analytics Partner: True; Retry Attempts: 10."
    ),
    "singular": "Partner Configuration > Internal BI postback, POST JSON; no session or uninstall postbacks.",
    "tenjin": "CONFIGURE > Apps > Callbacks: one callback per event, each with its own --variant.",
}


def postback_url(adapter: PartnerAdapter, base: str, token: str | None, literals: dict[str, str] | None = None) -> str:
    """The URL to paste into the partner's dashboard: our route, the token (None when the partner
    sends it in a header), the literals the user types per callback, then the partner's macros."""
    base = base.rstrip("/").removesuffix("/v1/postbacks")
    literals = literals or {}
    pairs = [("token", token)] if token is not None else []
    template = adapter.query_template or {}
    pairs += [(key, value) for key, value in literals.items() if key not in template]
    # Macros stay literal ({idfa}, {{time_in_ms}}): the partner substitutes them.
    pairs += [(key, literals.get(key, macro)) for key, macro in template.items()]
    query = "&".join(f"{key}={value}" for key, value in pairs)
    return f"{base}{adapter.route}" + (f"?{query}" if query else "")


def _appsflyer_header_call(token: str) -> str:
    """AppsFlyer's own API that makes the Push API send a header (docs/partners.md#appsflyer-checklist)."""
    body = json.dumps({"token_name": "X-Relay-Token", "token": token})
    return (
        "curl -X PUT https://hq1.appsflyer.com/api/pushapi/v1.0/tokens/app/<app id> "
        f"-H 'Authorization: Bearer <AppsFlyer API V2 token>' -H 'Content-Type: application/json' -d '{body}'"
    )


def _postback_url(args: argparse.Namespace) -> int:
    from postback_relay.partners.registry import find_partner

    try:
        adapter = find_partner(args.partner)
    except KeyError as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    variants = POSTBACK_URL_VARIANTS.get(adapter.name, {})
    variant = args.variant or next(iter(variants), "")
    if args.variant and args.variant not in variants:
        choices = f"one of {', '.join(variants)}" if variants else "none: it has one URL"
        print(f"error: {adapter.display_name} has no variant {args.variant!r} ({choices})", file=sys.stderr)
        return 2
    if args.header and adapter.name != "appsflyer":
        print(
            f"error: {adapter.display_name} sends no header token: drop --header (the token goes in the URL)",
            file=sys.stderr,
        )
        return 2
    print(postback_url(adapter, args.base, None if args.header else args.token, variants.get(variant)))
    notes = [f"# {adapter.display_name}: method {adapter.method}"]
    if adapter.query_template is None:
        notes[0] += ", its own JSON body"
    else:
        notes[0] += f"; each query key is the {adapter.display_name} macro's own name"
    if variants:
        others = ", ".join(f"--variant {name}" for name in variants if name != variant)
        notes.append(f"# this is the {variant!r} variant; the others: {others}")
    if args.header:
        notes.append("# then make AppsFlyer send the token as the X-Relay-Token header:")
        notes.append(_appsflyer_header_call(args.token))
    if adapter.name in _SETUP_NOTES:
        notes.append(f"# {_SETUP_NOTES[adapter.name]}")
    print("\n".join(notes), file=sys.stderr)
    return 0


class _TryInputError(Exception):
    """`try` cannot read its source: the message names the problem and the fix; `status` the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def _is_url(source: str) -> bool:
    return "://" in source or (source.startswith("/") and "?" in source)


def _try_request(source: str) -> dict[str, Any]:
    """The API Gateway event a partner's request for `source` would be: a callback URL as its GET,
    a JSON file as a POST of its bytes. `try` then reads it as the route does, so it refuses what
    the route refuses, with the same answer; a file that is empty or not JSON at all is the user's
    slip, not a partner's, and is said so naming the file."""
    from urllib.parse import urlsplit

    from .local.events import http_api_event

    if _is_url(source):
        url = urlsplit(source)
        return http_api_event("GET", url.path or "/", query=url.query)
    fix = "put the postback's JSON in it, or pass the filled-in callback URL instead"
    try:
        body = Path(source).read_bytes()
    except OSError as error:
        raise _TryInputError(
            f"cannot read {source}: {error.strerror or type(error).__name__}: pass a JSON file holding the "
            "postback, or the filled-in callback URL",
            2,
        ) from None
    if not body.strip():
        raise _TryInputError(f"{source} is empty: {fix}")
    try:
        json.loads(body)
    except json.JSONDecodeError as error:
        raise _TryInputError(
            f"{source} is not JSON ({error.msg} at line {error.lineno} column {error.colno}): {fix}"
        ) from None
    except ValueError:
        pass  # bytes that are not UTF-8: the route's own 400 says which field
    return http_api_event("POST", "/", body=body, headers={"content-type": "application/json"})


def _try(args: argparse.Namespace) -> int:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

    from postback_relay.amplitude.client import PATHS, encode
    from postback_relay.config import get_settings
    from postback_relay.core import plan
    from postback_relay.errors import InternalError, NotForwarded, RelayError
    from postback_relay.inbound import read_postback
    from postback_relay.partners.registry import WrongPartner, a_partner, canonical_name, find_partner

    try:
        adapter = find_partner(args.partner)
    except KeyError as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    try:
        event = APIGatewayProxyEventV2(_try_request(args.source))
    except _TryInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.status
    settings = get_settings()
    try:
        raw = read_postback(event, settings.max_body_bytes)
        requests_out = []
        for call in plan(adapter, raw).calls:  # as the route plans it, format check included
            form, body = encode(call, "<AMPLITUDE_API_KEY>")
            request: dict[str, Any] = {
                "method": "POST",
                "url": settings.amplitude_base_url + PATHS[call.endpoint],
                "insert_id": call.insert_id,
            }
            if form is not None:
                # Show the JSON field decoded: it is what Amplitude parses.
                request["form"] = {k: (v if k == "api_key" else json.loads(v)) for k, v in form.items()}
            else:
                request["json"] = json.loads(body or b"{}")
            requests_out.append(request)
    except WrongPartner as error:
        # A URL is not echoed: it carries the relay token.
        source = "'<the callback URL>'" if _is_url(args.source) else args.source
        keys = ", ".join(error.keys[:4]) + (", ..." if len(error.keys) > 4 else "")
        print(
            f"error: this looks like {a_partner(error.looks_like)} postback ({keys}), not "
            f"{adapter.display_name}: postback-relay try {canonical_name(error.looks_like)} {source}",
            file=sys.stderr,
        )
        return 1
    except NotForwarded as nature:
        # Not a refusal: the route answers 200 and archives it; nothing would be sent.
        print(json.dumps({"status": nature.status, "code": nature.code, "reason": nature.message}, indent=2))
        return 0
    except RelayError as error:
        # The partner's answer: status and JSON body, as the route gives them.
        print(json.dumps({"status": error.status, **error.body()}, indent=2))
        return 1
    except Exception:  # the route's catch-all answer; no traceback: it could quote a raw value
        failure = InternalError()
        print(json.dumps({"status": failure.status, **failure.body()}, indent=2))
        return 1
    print(json.dumps(requests_out, indent=2, ensure_ascii=False))
    return 0


def _archive_days(args: argparse.Namespace) -> tuple[S3Location, date, date]:
    """replay's and compare's --from s3://BUCKET[/PREFIX] (prefix `raw` by default), --since and
    --until (ValueError: the usage slip)."""
    from .dlq_export import S3Location

    location = urlsplit(args.source)
    if location.scheme != "s3" or not location.netloc:
        raise ValueError("--from must be s3://BUCKET[/PREFIX]")
    archive = S3Location(location.netloc, location.path.strip("/") or "raw")
    return archive, date.fromisoformat(args.since), date.fromisoformat(args.until or args.since)


def _replay(args: argparse.Namespace) -> int:
    """Re-run archived postbacks through the same mapping; dry-run unless --send."""

    from postback_relay.archive import Archive
    from postback_relay.core import replan
    from postback_relay.errors import NotForwarded
    from postback_relay.partners.pass_through import PassThrough
    from postback_relay.partners.registry import find_partner, is_custom_network

    from .progress import progress

    try:
        location, since, until = _archive_days(args)
        adapter = find_partner(args.partner)
        if args.pass_through:
            # The route's rules live in its function's environment: a replay is told them.
            adapter = replace(adapter, pass_through=PassThrough.parse(args.pass_through))
    except (KeyError, ValueError) as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    _use_local_stack_if_needed(args, required=args.send)
    archive = Archive(location.bucket, location.prefix)
    erasures = _erasures(location.bucket)  # recorded in the archive's own bucket
    delivery = None
    if args.send:
        from postback_relay.runtime import get_delivery

        delivery = get_delivery()
    totals = {
        "archived": 0,
        "erased": 0,
        "undeliverable": 0,
        "not_forwarded": 0,
        "calls": 0,
        "delivered": 0,
        "queued": 0,
        "dead_lettered": 0,
    }
    if args.shadowed:
        totals["live_skipped"] = 0
    archived = archive.read(adapter.name, since, until, shared=is_custom_network(adapter))
    for item in progress(archived, what=f"replay {adapter.name}", unit="postback", quiet=args.json):
        totals["archived"] += 1
        if args.shadowed and not item.shadowed:
            # A backfill after a shadow week: what live mode received was sent then (Amplitude's
            # Attribution API does not de-duplicate, so sending it again would count it twice).
            totals["live_skipped"] += 1
            continue
        # The archived postback_id, not one hashed anew: the same insert_ids as the first time. No
        # format check: these were accepted once, and a replay must not start refusing them.
        replanned = replan(adapter, item.raw, item.postback_id)
        postback, calls, refusal = replanned.postback, replanned.calls, replanned.refusal
        # Before anything is printed or sent: the person may have been forgotten since.
        if erasures.covers_archived(item, postback):
            totals["erased"] += 1
            continue
        if refusal is not None:
            # Not forwarded (a SKAdNetwork postback): answered 200 and archived, never to be sent.
            totals["not_forwarded" if isinstance(refusal, NotForwarded) else "undeliverable"] += 1
            if not args.json:
                print(f"{item.postback_id}: {refusal.status} {refusal.message}")
            continue
        totals["calls"] += len(calls)
        if delivery is None:
            if not args.json:
                print(f"{item.postback_id}: " + ", ".join(f"{c.endpoint} {c.insert_id}" for c in calls))
            continue
        # The same insert_ids as the first time: Amplitude's de-duplication backs the replay up.
        for settled in delivery.deliver_postback(adapter.name, calls, budget_s=10.0):
            totals[settled.status.value] += 1
    mode = "sent" if args.send else "dry run (nothing sent; add --send)"
    print(json.dumps({"partner": adapter.name, "since": str(since), "until": str(until), "mode": mode, **totals}))
    return 0


def _compare(args: argparse.Namespace) -> int:
    """Shadow mode's check (compare.py): per partner, users matched, differing, missing on either side."""

    from postback_relay.archive import Archive
    from postback_relay.partners.registry import find_partner

    from .compare import CompareError, compare_partner
    from .dashboard import DashboardError

    try:
        location, since, until = _archive_days(args)
        adapters = [find_partner(name) for name in args.partner]
    except (KeyError, ValueError) as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    if until < since or args.max_users < 1:
        print("error: --until must not be before --since, and --max-users must be at least 1", file=sys.stderr)
        return 2
    _use_local_stack_if_needed(args, required=False)  # serve's archive, when it runs here
    archive = Archive(location.bucket, location.prefix)
    erasures = _erasures(location.bucket)  # forgotten persons are not looked up either
    client = dashboard_client(args)
    try:
        for adapter in adapters:
            result = compare_partner(
                client, archive, adapter, since, until, erasures=erasures, max_users=args.max_users
            )
            print(json.dumps(result.summary()) if args.json else result.text())
            sys.stdout.flush()
    except (DashboardError, CompareError) as error:
        print("error: " + " ".join(str(error).split()), file=sys.stderr)
        return 2
    return 0


_FORGET_STORES = (
    ("bucket", "--bucket", "RELAY_ARCHIVE_BUCKET", "ArchiveBucketName"),
    ("table", "--table", "RELAY_IDEMPOTENCY_TABLE", "IdempotencyTableName"),
    ("dlq_url", "--dlq-url", "RELAY_DLQ_URL", "DeadLetterQueueUrl"),
    ("retry_queue_url", "--retry-queue-url", "RELAY_RETRY_QUEUE_URL", "RetryQueueUrl"),
    ("apps_table", "--apps-table", "RELAY_APPS_TABLE", "AppsTableName"),
    ("clicks_table", "--clicks-table", "RELAY_CLICKS_TABLE", "ClicksTableName"),
    ("installs_table", "--installs-table", "RELAY_INSTALLS_TABLE", "InstallsTableName"),
)


def _forget_stores(args: argparse.Namespace) -> tuple[Stores, str]:
    """Every store forget must reach, and the key of its hashes: all seven named (flags or their
    variables), or all of `serve` running here. Never some of each: half an erasure would look
    like a whole one."""
    from postback_relay.config import ConfigurationError, get_settings

    from .forget import Stores

    named = {attr: getattr(args, attr) or os.environ.get(variable, "") for attr, _, variable, _ in _FORGET_STORES}
    if any(named.values()):
        missing = [
            f"{flag} ({output}; or {variable})" for attr, flag, variable, output in _FORGET_STORES if not named[attr]
        ]
        if missing:
            raise ConfigurationError("forget must reach every store; also pass " + ", ".join(missing))
        key = os.environ.get("RELAY_HASH_SALT", "")
        if not key:
            # The local default is public: erasure records under it would give the ids away to a guess.
            raise ConfigurationError(
                "set RELAY_HASH_SALT to the stack's key (its TrackerHashSalt parameter, or the stack id "
                "when that is empty): erasures are recorded under it"
            )
        if args.dlq_url or args.retry_queue_url:
            os.environ.update({"RELAY_DLQ_URL": named["dlq_url"], "RELAY_RETRY_QUEUE_URL": named["retry_queue_url"]})
        reset_settings()
        return Stores(**named), key
    state = _use_local_stack_if_needed(args, required=False)
    if state is None or not {"ArchiveBucket", "IdempotencyTable"} <= state.resources.keys():
        raise ConfigurationError(
            "no stores configured: start `postback-relay serve` in this directory, or pass "
            + ", ".join(flag for _, flag, _, _ in _FORGET_STORES)
        )
    resources = state.resources
    stores = Stores(
        resources["ArchiveBucket"],
        state.retry_queue_url,
        state.dlq_url,
        resources["IdempotencyTable"],
        resources.get("AppsTable", ""),
        resources.get("ClicksTable", ""),
        resources.get("InstallsTable", ""),
    )
    return stores, get_settings().hash_salt


def _forget_id(args: argparse.Namespace) -> tuple[Kind, str]:
    kind: Kind = "user" if args.user is not None else "device"
    value: str = args.user if args.user is not None else args.device
    if value == "-":
        value = sys.stdin.readline().rstrip("\r\n")  # out of the shell's history and the process list
    if not value.strip():
        from postback_relay.config import ConfigurationError

        raise ConfigurationError(f"--{kind} needs a non-empty id")
    return kind, value


def _forget(args: argparse.Namespace) -> int:
    from datetime import date

    from postback_relay.privacy import Person

    from .forget import Forget, Window

    kind, value = _forget_id(args)
    try:
        since = date.fromisoformat(args.since) if args.since else None
        until = date.fromisoformat(args.until) if args.until else None
    except ValueError as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    if since and until and since > until:
        print("error: --since is after --until", file=sys.stderr)
        return 2
    from postback_relay.partners.registry import CUSTOM_PREFIX

    partners = tuple(dict.fromkeys(name.removeprefix(CUSTOM_PREFIX) for name in args.partner))
    stores, key = _forget_stores(args)
    person = Person(kind, value, key)
    report = Forget(person, stores, Window(partners, since, until), dry_run=args.dry_run, workers=args.workers).run()
    print(json.dumps(report.as_dict()) if args.json else report.text())
    # 1: done, but dead letters were out of reach (another command held them): run it again later.
    # Retries out of reach are not: the retry function drops them unsent (the erasure fence).
    return 1 if report.not_inspected else 0


def _openapi(args: argparse.Namespace) -> int:
    from .openapi import spec_json

    sys.stdout.write(spec_json())
    return 0


def _apps_store(args: argparse.Namespace) -> Any:
    """The apps table: --table, RELAY_APPS_TABLE, or the one of `serve` running in this directory."""
    from postback_relay.tracker.store import TrackerStore

    if args.table:
        os.environ["RELAY_APPS_TABLE"] = args.table
    elif not os.environ.get("RELAY_APPS_TABLE"):
        _use_local_stack_if_needed(args)
    table = os.environ.get("RELAY_APPS_TABLE", "")
    if not table:
        raise SystemExit("error: no apps table: start `postback-relay serve`, or pass --table (output AppsTableName)")
    # Registering and listing apps touch only the apps table.
    return TrackerStore(table, clicks_table=table, installs_table=table)


def _apps_create(args: argparse.Namespace) -> int:
    from postback_relay.tracker.apps import AppError, register_app

    try:
        app, api_key = register_app(
            _apps_store(args),
            args.name,
            args.ios_store_url,
            args.android_store_url,
            args.redirect_domain,
            args.amplitude_key_ref,
            allow_duplicate=args.allow_duplicate,
        )
    except AppError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"app_id": app.app_id, "api_key": api_key}))
    else:
        print(f"app_id:  {app.app_id}")
        print(f"api_key: {api_key}   (shown once: only its hash is stored)")
    return 0


def _apps_list(args: argparse.Namespace) -> int:
    apps = _apps_store(args).list_apps()
    if args.json:
        print(json.dumps([app.model_dump(mode="json", exclude={"api_key_hash"}) for app in apps]))
        return 0
    for app in apps:
        print(f"{app.app_id}  {app.name}  ios={app.ios_store_url or '-'}  android={app.android_store_url or '-'}")
    print(f"{len(apps)} app(s).")
    return 0


def dashboard_client(args: argparse.Namespace) -> Any:
    """Real Amplitude (US/EU by AMPLITUDE_REGION, keys from flags or AMPLITUDE_API_KEY/AMPLITUDE_SECRET_KEY),
    or, with no keys given and `serve` running here, the local emulator."""
    from .dashboard import DASHBOARD_URLS, DashboardClient
    from .local.stack import STATE_FILE, StackState

    api_key = args.api_key or os.environ.get("AMPLITUDE_API_KEY", "")
    secret_key = args.secret_key or os.environ.get("AMPLITUDE_SECRET_KEY", "")
    url = args.dashboard_url or os.environ.get("AMPLITUDE_DASHBOARD_URL", "")
    if not (url or secret_key):
        state = StackState.read(Path(args.state_file) if args.state_file else STATE_FILE)
        if state is not None and state.amplitude_url:
            from .emulator import LOCAL_SECRET_KEY
            from .local.stack import LOCAL_AMPLITUDE_KEY

            return DashboardClient(state.amplitude_url + "/api/2", api_key or LOCAL_AMPLITUDE_KEY, LOCAL_SECRET_KEY)
    if not (api_key and secret_key):
        raise SystemExit(
            "error: set AMPLITUDE_API_KEY and AMPLITUDE_SECRET_KEY (project settings in Amplitude), "
            "or run `postback-relay serve` here to ask the local emulator"
        )
    region = os.environ.get("AMPLITUDE_REGION", "us")
    return DashboardClient(url or DASHBOARD_URLS.get(region, DASHBOARD_URLS["us"]), api_key, secret_key)


def _verify(args: argparse.Namespace) -> int:
    from .dashboard import DashboardError
    from .verify import verify

    if args.idfa:
        # Amplitude's user search (Dashboard REST API) finds user ids, device ids and Amplitude ids only.
        print(
            "error: verify cannot look up an advertising id: Amplitude's user search finds user ids and device "
            "ids only: pass --device <the SDK's device id> (iOS: the IDFV by default) or --user <the app's user id>",
            file=sys.stderr,
        )
        return 2
    kind, value = ("user", args.user) if args.user else ("device", args.device)
    client = dashboard_client(args)
    try:
        # The 72 h hold runs on Amplitude's clock (its answers' Date header), not on this machine's.
        verdict = verify(client, value, kind, now_ms=lambda: client.server_time_ms or int(time.time() * 1000))
    except DashboardError as error:
        fix = (
            "wait a few minutes and run it again (Amplitude allows 360 user lookups an hour)"
            if "(429)" in str(error)
            else "check AMPLITUDE_API_KEY / AMPLITUDE_SECRET_KEY (the project's settings) and AMPLITUDE_REGION "
            "(eu for the EU data centre)"
        )
        print(f"error: {' '.join(str(error).split())}: {fix}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(verdict.as_dict(), default=str))
    else:
        print(verdict.text())
    return 0 if verdict.attributed else 1


def _report(args: argparse.Namespace) -> int:
    from datetime import datetime

    from .dashboard import DashboardError, QueryBudget
    from .report import build_report, partner_queries, plan, select_partners, to_csv, to_html, to_table

    try:
        start = datetime.strptime(args.start, "%Y%m%d").date()
        end = datetime.strptime(args.end, "%Y%m%d").date()
    except ValueError:
        print("error: --start and --end are YYYYMMDD", file=sys.stderr)
        return 2
    if end < start:
        print("error: --end is before --start", file=sys.stderr)
        return 2
    queries = partner_queries()
    if args.partner:
        try:
            queries = select_partners(queries, args.partner)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    count, cost = plan(queries, start, end)
    print(
        f"asking Amplitude: at most {count} queries, cost up to {cost:,} (its budget: 1,000 per 5 minutes, "
        "108,000 an hour; the report waits for it when needed)",
        file=sys.stderr,
    )

    def waiting(seconds: float, why: str) -> None:
        print(f"waiting {seconds / 60:.1f} minutes: {why}", file=sys.stderr)

    try:
        report = build_report(dashboard_client(args), start, end, partners=queries, budget=QueryBudget(on_wait=waiting))
    except DashboardError as error:
        print(
            f"error: {error}: check AMPLITUDE_API_KEY / AMPLITUDE_SECRET_KEY, or ask for fewer days or --partner",
            file=sys.stderr,
        )
        return 2
    print(to_table(report))
    if args.csv:
        Path(args.csv).write_text(to_csv(report))
    if args.html:
        Path(args.html).write_text(to_html(report))
    return 0


def _dashboard_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-key", default="", help="project API key (default: $AMPLITUDE_API_KEY)")
    parser.add_argument("--secret-key", default="", help="project secret key (default: $AMPLITUDE_SECRET_KEY)")
    parser.add_argument("--dashboard-url", default="", help="default: by AMPLITUDE_REGION (us/eu), or serve's emulator")
    parser.add_argument("--state-file", default="", help=argparse.SUPPRESS)


def _partner_name(value: str) -> str:
    """A partner as the CLI takes it, in any case (`AppsFlyer`, `custom/Liftoff`), as its canonical
    name (`appsflyer`, `custom/liftoff`): an unknown one is a usage error naming the known ones."""
    from postback_relay.partners.registry import canonical_name, find_partner

    try:
        return canonical_name(find_partner(value))
    except KeyError as error:
        raise argparse.ArgumentTypeError(str(error.args[0])) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="postback-relay", description=__doc__.split("\n\n")[0] if __doc__ else "")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the local stack (no Docker)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--template", default="template.yaml")
    serve.add_argument(
        "--virtual-clock",
        action="store_true",
        help='run the whole stack on a clock that moves only by POST /_clock/advance {"seconds": N}',
    )
    serve.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="template parameters as `sam deploy` takes them, e.g. AdjustAllowedCidrs=203.0.113.0/24"
        " AppsFlyerTokenHeader=Authentication (each function gets its own environment from them)",
    )
    serve.set_defaults(run=_serve)

    url = commands.add_parser("postback-url", help="print the postback URL to paste into a partner's dashboard")
    url.add_argument("partner", help="appsflyer, adjust, branch, kochava, singular, tenjin or custom/<network>")
    url.add_argument(
        "--base",
        required=True,
        help="the stack's CustomDomainUrl if it has one, else HttpApiUrl, e.g. https://postbacks.example.com",
    )
    url.add_argument("--token", default="YOUR_RELAY_TOKEN", help="the relay token to embed (default: a placeholder)")
    url.add_argument(
        "--variant",
        default="",
        help="tenjin: install (default), event or purchase, one callback each; kochava: ios or android "
        "(platform typed in, not its macro)",
    )
    url.add_argument(
        "--header",
        action="store_true",
        help="appsflyer: the endpoint without ?token=, and the AppsFlyer API call that sends it as a header",
    )
    url.set_defaults(run=_postback_url)

    try_parser = commands.add_parser(
        "try", help="print the Amplitude requests a postback would produce (sends nothing)"
    )
    try_parser.add_argument("partner")
    try_parser.add_argument("source", help="a JSON file with the postback, or the filled-in callback URL")
    try_parser.set_defaults(run=_try)

    openapi = commands.add_parser("openapi", help="print the relay's OpenAPI document (docs/openapi.json)")
    openapi.set_defaults(run=_openapi)

    replay = commands.add_parser("replay", help="re-run archived postbacks through the same mapping")
    replay.add_argument("--from", dest="source", required=True, help="s3://BUCKET[/PREFIX] of the raw archive")
    replay.add_argument("--partner", required=True, help="appsflyer, adjust, ... or custom/<network>")
    replay.add_argument("--since", required=True, help="first day, YYYY-MM-DD (UTC)")
    replay.add_argument("--until", default="", help="last day, YYYY-MM-DD (default: --since)")
    replay.add_argument("--send", action="store_true", help="deliver (default: dry run)")
    replay.add_argument("--json", action="store_true", help="print the JSON summary only: no lines, no progress bar")
    replay.add_argument(
        "--pass-through",
        default="",
        help="the partner's pass-through rules (its <Partner>PassThrough), to send what its route would",
    )
    replay.add_argument(
        "--shadowed",
        action="store_true",
        help="only postbacks received in shadow mode (RELAY_MODE=shadow): the backfill when switching to live",
    )
    replay.add_argument("--dlq-url", default="", help=argparse.SUPPRESS)
    replay.add_argument("--retry-queue-url", default="", help="retry queue for what fails (default: env/serve)")
    replay.add_argument("--state-file", default="", help=argparse.SUPPRESS)
    replay.set_defaults(run=_plain_errors(_replay))

    compare = commands.add_parser(
        "compare",
        help="shadow mode's check: archived postbacks, re-mapped dry, against the native integration's in Amplitude",
    )
    compare.add_argument("--from", dest="source", required=True, help="s3://BUCKET[/PREFIX] of the raw archive")
    compare.add_argument(
        "--partner", required=True, action="append", help="appsflyer, adjust, ... or custom/<network> (repeatable)"
    )
    compare.add_argument("--since", required=True, help="first day, YYYY-MM-DD (UTC)")
    compare.add_argument("--until", default="", help="last day, YYYY-MM-DD (default: --since)")
    compare.add_argument(
        "--max-users", type=int, default=100, help="users looked up per partner (Amplitude allows 360 lookups an hour)"
    )
    compare.add_argument("--json", action="store_true", help="one JSON object per partner, with the details")
    compare.add_argument("--dlq-url", default="", help=argparse.SUPPRESS)
    compare.add_argument("--retry-queue-url", default="", help=argparse.SUPPRESS)
    _dashboard_options(compare)
    compare.set_defaults(run=_plain_errors(_compare))

    forget = commands.add_parser(
        "forget",
        help="erase one person's postbacks from the archive, the queues, the idempotency and tracker tables",
        description=(
            "Erase one person's postbacks: archive objects (every version), dead-letter exports, dead-letter "
            "and retry queue messages, idempotency records, the tracker's clicks and installs of their devices; "
            "record the erasure (keyed hash only) so replay and dlq replay skip them, and fence it so the retry "
            "function drops their retries still in flight. Amplitude's own copy is not erased: use its User "
            "Privacy API."
        ),
    )
    person = forget.add_mutually_exclusive_group(required=True)
    person.add_argument("--user", metavar="ID", help="the app's user id ('-': read it from standard input)")
    person.add_argument(
        "--device", metavar="ID", help="an IDFA, IDFV, advertising id, App Set ID or Android ID ('-': from stdin)"
    )
    forget.add_argument(
        "--partner",
        action="append",
        default=[],
        type=_partner_name,
        help="search only this partner's archive (repeat; default: all)",
    )
    forget.add_argument("--since", default="", help="first archive day to search, YYYY-MM-DD UTC (default: oldest)")
    forget.add_argument("--until", default="", help="last archive day to search, YYYY-MM-DD UTC (default: newest)")
    forget.add_argument("--bucket", default="", help="archive bucket (ArchiveBucketName; default: serve's)")
    forget.add_argument(
        "--table", default="", help="idempotency table (IdempotencyTableName; default: RELAY_IDEMPOTENCY_TABLE/serve's)"
    )
    forget.add_argument("--dlq-url", default="", help="dead-letter queue URL (default: RELAY_DLQ_URL or serve's)")
    forget.add_argument("--retry-queue-url", default="", help="retry queue URL (default: RELAY_RETRY_QUEUE_URL)")
    for flag, output, variable in (
        ("--apps-table", "AppsTableName", "RELAY_APPS_TABLE"),
        ("--clicks-table", "ClicksTableName", "RELAY_CLICKS_TABLE"),
        ("--installs-table", "InstallsTableName", "RELAY_INSTALLS_TABLE"),
    ):
        forget.add_argument(flag, default="", help=f"tracker table ({output}; default: {variable} or serve's)")
    forget.add_argument("--workers", type=int, default=8, help="archive objects read in parallel (default: 8)")
    forget.add_argument("--dry-run", action="store_true", help="say what would be erased, change nothing")
    forget.add_argument("--json", action="store_true", help="print a JSON summary")
    forget.add_argument("--state-file", default="", help=argparse.SUPPRESS)
    forget.set_defaults(run=_plain_errors(_forget))

    apps = commands.add_parser("apps", help="register apps for the first-party tracker")
    apps_commands = apps.add_subparsers(dest="apps_command", required=True)
    create = apps_commands.add_parser("create", help="register an app; prints its app_id and API key once")
    create.add_argument("--name", required=True)
    create.add_argument("--ios-store-url", default=None, help="the app's App Store page, https://apps.apple.com/...")
    create.add_argument(
        "--android-store-url", default=None, help="the app's Play Store page, https://play.google.com/store/apps/..."
    )
    create.add_argument("--redirect-domain", action="append", default=[], help="allowed redirect_url host (repeat)")
    create.add_argument("--amplitude-key-ref", default=None, help="SSM parameter/secret of this app's Amplitude key")
    create.add_argument(
        "--allow-duplicate", action="store_true", help="register it even if an app has the same name or store URL"
    )
    create.add_argument("--json", action="store_true")
    create.set_defaults(run=_plain_errors(_apps_create))
    listing = apps_commands.add_parser("list", help="list registered apps")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_apps_list)
    for sub in (create, listing):
        sub.add_argument("--table", default="", help="apps table (stack output AppsTableName; default: serve's)")
        sub.add_argument("--state-file", default="", help=argparse.SUPPRESS)
        sub.add_argument("--dlq-url", default="", help=argparse.SUPPRESS)
        sub.add_argument("--retry-queue-url", default="", help=argparse.SUPPRESS)

    verify_parser = commands.add_parser("verify", help="did the campaign land on the user? (Dashboard REST API)")
    who = verify_parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="the app's user id")
    who.add_argument("--device", help="the Amplitude device id (iOS: usually the IDFV)")
    # Kept only to say why not: the Dashboard's user search cannot find advertising ids.
    who.add_argument("--idfa", help=argparse.SUPPRESS)
    verify_parser.add_argument("--json", action="store_true")
    _dashboard_options(verify_parser)
    verify_parser.set_defaults(run=_verify)

    report = commands.add_parser("report", help="installs, day-1/7 retention and revenue per partner and campaign")
    report.add_argument("--start", required=True, help="YYYYMMDD")
    report.add_argument("--end", required=True, help="YYYYMMDD")
    report.add_argument("--csv", default="", help="also write CSV to this file")
    report.add_argument("--html", default="", help="also write a self-contained HTML page with charts to this file")
    report.add_argument(
        "--partner", action="append", default=[], help="only this partner (display name, any case); repeatable"
    )
    _dashboard_options(report)
    report.set_defaults(run=_report)

    from .cli_amplitude import register as register_amplitude_commands

    register_amplitude_commands(commands)

    from postback_relay.messages import DeadLetterReason

    dlq = commands.add_parser("dlq", help="inspect, replay, export and purge the dead-letter queue")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    for name, run, help_text in (
        ("list", _dlq_list, "print the dead letters with their reasons (or an export's, with --from)"),
        ("replay", _dlq_replay, "send the dead letters (or exported ones) back through the retry queue"),
        ("export", _dlq_export, "write the dead letters to S3, beyond SQS's 14-day retention"),
        ("purge", _dlq_purge, "delete dead letters for good, after exporting them to S3 (asks first)"),
    ):
        sub = dlq_commands.add_parser(name, help=help_text)
        sub.add_argument("--dlq-url", default="", help="dead-letter queue URL (default: RELAY_DLQ_URL or serve's)")
        sub.add_argument("--retry-queue-url", default="", help="retry queue URL (default: RELAY_RETRY_QUEUE_URL)")
        sub.add_argument("--state-file", default="", help=argparse.SUPPRESS)
        sub.set_defaults(run=_plain_errors(run))
        if name != "export":
            sub.add_argument(
                "--partner", action="append", default=[], help="only this partner's letters (repeat; custom/<network>)"
            )
            sub.add_argument(
                "--reason",
                action="append",
                default=[],
                choices=[reason.value for reason in DeadLetterReason],
                help="only letters dead-lettered for this reason (repeat)",
            )
            sub.add_argument(
                "--id",
                dest="ids",
                action="append",
                default=[],
                metavar="ID",
                help="only this letter: its message id (dlq list's first column) or its call's insert_id (repeat)",
            )
        if name != "list":
            sub.add_argument(
                "--bucket",
                default="",
                help="archive bucket holding the erasure records of forgotten persons, whose letters are skipped "
                f"(default: RELAY_ARCHIVE_BUCKET, serve's, or the --{'from' if name == 'replay' else 'to'} bucket)",
            )
        if name == "replay":
            sub.add_argument("--dry-run", action="store_true", help="say what would be replayed, change nothing")
        if name in ("list", "replay"):
            sub.add_argument(
                "--from",
                dest="source",
                default="",
                metavar="s3://BUCKET/PREFIX",
                help=f"{name} exported letters instead: one export, or every one under the prefix",
            )
        sub.add_argument(
            "--json",
            action="store_true",
            help=f"print a JSON {'list' if name == 'list' else 'summary'}"
            + (" (and no progress bar)" if name == "replay" else ""),
        )
        if name in ("export", "purge"):
            sub.add_argument(
                "--to",
                default="",
                metavar="s3://BUCKET[/PREFIX]",
                help="where to write (prefix: dead-letters; bucket: serve's archive bucket while serve runs here)",
            )
        if name == "export":
            sub.add_argument("--delete", action="store_true", help="then remove the exported letters from the queue")
        if name == "purge":
            sub.add_argument("--yes", action="store_true", help="do not ask (scripts); default: type the count")
            sub.add_argument(
                "--no-export", action="store_true", help="delete without keeping a copy in S3 (the calls are lost)"
            )
    return parser


def _quiet_broken_pipe() -> int:
    """The reader went away (`try ... | head`): stop quietly as Unix tools do, and keep Python from
    complaining when it flushes stdout at exit."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 128 + signal.SIGPIPE


def main(argv: list[str] | None = None) -> int:
    """Every failure is one line on stderr naming the problem and the fix: exit 1, or 2 for a usage
    or configuration error (argparse's own errors included). No traceback reaches the user."""
    args = build_parser().parse_args(argv)
    try:
        result = int(args.run(args))
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return result
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except Exception as error:
        line = _known_error_line(error)
        if line is None:
            if os.environ.get("POSTBACK_RELAY_TRACEBACK"):
                raise
            # The type only: an exception's text can quote a user id, an advertising id or a token.
            line = (
                f"unexpected {type(error).__name__} in `postback-relay {args.command}` (a bug): please report it "
                "with the command you ran, ids left out; POSTBACK_RELAY_TRACEBACK=1 shows where it happened"
            )
        print(f"error: {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
