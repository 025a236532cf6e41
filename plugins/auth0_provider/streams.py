"""Several streams from one deployment, declared in one file: each its own DAG, receiver, filter and watermark.

The file (``auth0_streams.yaml`` beside the DAG files, or the path in ``AUTH0_WEBHOOKS_STREAMS_FILE``;
YAML, or JSON when the name ends in ``.json``) looks like this::

    streams:
      siem:                               # the stream's name: DAG auth0_webhooks__siem
        webhook_conn_id: siem_webhook     # required: the receiver's connection (URL, headers, signing secrets)
        log_types: [f, limit_wc, pwd_leak]
        batch_size: 100
      crm:
        webhook_conn_id: crm_webhook
        log_types: sapi
        api_endpoints: users
        auth0_conn_id: auth0_default      # optional: the tenant, shared by every stream that names it

A stream takes every ``AUTH0_WEBHOOKS_<NAME>`` setting as the key ``<name>`` in lower case, with the same
checks; a list stands for a comma-separated value. The environment's settings do not apply to a stream.
Signing secrets are not kept here: they are the password of each stream's webhook connection, as for
the single DAG.

Each stream's DAG lives in a small file of its own, ``auth0_webhooks__<name>.py`` (``dag_files``
writes them), so that a bad entry fails the import of that stream's DAG alone and names the stream, the
key and what the key accepts. A file that cannot be read at all fails every stream's DAG. Nothing here
imports Airflow: the tests run it as it is.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auth0_provider.names import AUTH0_CONN_ID, STREAM_DAG_PREFIX, STREAMS_FILE_SETTING, StreamNames, read_pool
from auth0_provider.settings import NAMES, Settings, SettingsError

DEFAULT_FILE_NAME = "auth0_streams.yaml"
STREAM_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,49}$")
_CONN_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,250}$")
CONNECTION_KEYS = ("webhook_conn_id", "auth0_conn_id")
SETTING_KEYS = tuple(name.lower() for name in NAMES)
KEYS = (*CONNECTION_KEYS, *SETTING_KEYS)
# Keys people reach for that belong elsewhere, and where
MISPLACED = {
    "signing_secret": "a signing secret belongs in the password of the stream's webhook connection, never in a file",
    "signing_secrets": "signing secrets belong in the password of the stream's webhook connection, never in a file",
    "url": "the receiver's URL belongs in the host of the stream's webhook connection (webhook_conn_id)",
    "schedule": "every stream runs every 5 minutes, as the single DAG does",
}


class StreamsFileError(SettingsError):
    """The streams file, or one stream in it, cannot be used; the message names the file, stream and key."""


@dataclass(frozen=True)
class Stream:
    """One stream from the file: its names in Airflow and its settings."""

    names: StreamNames
    settings: Settings

    @property
    def name(self) -> str:
        assert self.names.name is not None
        return self.names.name

    @property
    def description(self) -> str:
        """The DAG's description: the stream and its receiver, as the DAG list shows them."""
        return (
            f"Auth0 stream {self.name!r}: deliver {_filter_text(self.settings)} to the webhook connection "
            f"{self.names.webhook_conn_id!r}"
        )


def streams_file(dags_folder: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Where the streams are declared: ``AUTH0_WEBHOOKS_STREAMS_FILE``, else auth0_streams.yaml in the dags folder."""
    env = os.environ if environ is None else environ
    configured = env.get(STREAMS_FILE_SETTING, "").strip()
    if not configured:
        return dags_folder / DEFAULT_FILE_NAME
    path = Path(configured).expanduser()
    return path if path.is_absolute() else dags_folder / path


def read_entries(path: Path) -> dict[str, Any]:
    """Each stream's raw entry by name; a ``StreamsFileError`` when the file as a whole cannot be used."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StreamsFileError(
            f"{STREAMS_FILE_SETTING}: {str(path)!r} does not exist. Write the streams there (see README, "
            f"'Several streams'), or unset {STREAMS_FILE_SETTING} to use {DEFAULT_FILE_NAME} in the dags folder."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StreamsFileError(f"{path.name}: cannot be read ({exc}).") from None
    try:
        document = json.loads(text) if path.suffix == ".json" else _yaml_load(text)
    except ValueError as exc:  # json.JSONDecodeError and yaml.YAMLError (made a ValueError below)
        language = "JSON" if path.suffix == ".json" else "YAML"
        raise StreamsFileError(f"{path.name}: not valid {language}: {exc}") from None
    entries = document.get("streams") if isinstance(document, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise StreamsFileError(
            f"{path.name}: expected a top-level 'streams' mapping of stream names to their settings, for "
            "example 'streams: {siem: {webhook_conn_id: siem_webhook}}'."
        )
    for name in entries:
        if not isinstance(name, str) or not STREAM_NAME.match(name):
            raise StreamsFileError(
                f"{path.name}: stream name {name!r} is not allowed. Use 1 to 50 lower-case letters, digits and "
                "'_', starting with a letter or digit (it becomes part of the DAG id auth0_webhooks__<name>)."
            )
    return entries


def load_stream(path: Path, name: str) -> Stream:
    """The stream ``name`` from the file, checked: an error names the file, the stream and the key."""
    entries = read_entries(path)
    if name not in entries:
        declared = ", ".join(sorted(entries))
        raise StreamsFileError(
            f"{path.name}: no stream {name!r} is declared (declared: {declared}). Add it under 'streams', or "
            f"delete the DAG file {STREAM_DAG_PREFIX}{name}.py."
        )
    return parse_stream(path.name, name, entries[name])


def parse_stream(file_name: str, name: str, entry: Any) -> Stream:
    where = f"{file_name}: streams.{name}"
    if not isinstance(entry, dict):
        raise StreamsFileError(f"{where}: expected a mapping of settings, at least {{webhook_conn_id: <id>}}.")
    for key in entry:
        if key not in KEYS:
            why = MISPLACED.get(str(key).lower(), f"the keys are {', '.join(KEYS)}")
            raise StreamsFileError(f"{where}.{key}: unknown key: {why}.")
    webhook_conn_id = _conn_id(f"{where}.webhook_conn_id", entry.get("webhook_conn_id"), required=True)
    auth0_conn_id = _conn_id(f"{where}.auth0_conn_id", entry.get("auth0_conn_id"), required=False) or AUTH0_CONN_ID
    values = {key.upper(): _text(f"{where}.{key}", entry[key]) for key in SETTING_KEYS if entry.get(key) is not None}
    settings = Settings.from_values(values, lambda setting: f"{where}.{setting.lower()}")
    return Stream(StreamNames.for_stream(name, auth0_conn_id, webhook_conn_id), settings)


def check_all(path: Path) -> dict[str, str | None]:
    """Every declared stream and its problem (None: fine), for the status page and ``dag_files``."""
    entries = read_entries(path)
    problems: dict[str, str | None] = {}
    for name, entry in entries.items():
        try:
            parse_stream(path.name, name, entry)
        except SettingsError as exc:
            problems[name] = str(exc)
        else:
            problems[name] = None
    return problems


def stream_name_of(dag_file: str | Path) -> str:
    """``auth0_webhooks__siem.py`` -> ``siem``: a stream's DAG file names the stream it builds."""
    stem = Path(dag_file).stem
    if not stem.startswith(STREAM_DAG_PREFIX) or not STREAM_NAME.match(stem[len(STREAM_DAG_PREFIX) :]):
        raise StreamsFileError(
            f"{Path(dag_file).name}: a stream's DAG file is named {STREAM_DAG_PREFIX}<stream name>.py, after a "
            "stream declared in the streams file."
        )
    return stem[len(STREAM_DAG_PREFIX) :]


DAG_FILE = '''"""The Auth0 stream {name!r} declared in the streams file (auth0_provider.streams): its DAG, {dag_id}.

Written by `make streams`. The file's name names the stream; everything else is in the streams file.
"""

# Named so that the dag-processor imports the HTTP provider once, before every parse (see auth0_webhooks.py).
import airflow.providers.http.operators.http  # noqa: F401

from auth0_provider.dag_factory import stream_dag

stream_dag(__file__)
'''


def dag_files(path: Path, dags_folder: Path) -> tuple[list[Path], list[Path]]:
    """Write a DAG file for each declared stream that has none; return those written, and the DAG files of
    streams no longer declared (left in place: deleting one is for a person, who may want its watermark)."""
    entries = read_entries(path)
    written = []
    for name in sorted(entries):
        target = dags_folder / f"{STREAM_DAG_PREFIX}{name}.py"
        if not target.exists():
            target.write_text(DAG_FILE.format(name=name, dag_id=STREAM_DAG_PREFIX + name), encoding="utf-8")
            written.append(target)
    stale = [
        file
        for file in sorted(dags_folder.glob(f"{STREAM_DAG_PREFIX}*.py"))
        if file.stem[len(STREAM_DAG_PREFIX) :] not in entries
    ]
    return written, stale


def _text(where: str, value: Any) -> str:
    """A setting's value as the environment would hold it: a list joined with commas, a number as digits."""
    if isinstance(value, bool):
        raise StreamsFileError(f"{where}: {value!r} is not allowed here; write the value the setting accepts.")
    if isinstance(value, list) and all(isinstance(part, str | int) and not isinstance(part, bool) for part in value):
        return ",".join(str(part) for part in value)
    if isinstance(value, str | int):
        return str(value)
    raise StreamsFileError(f"{where}: {value!r} is not allowed; write text, a whole number or a list of them.")


def _conn_id(where: str, value: Any, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise StreamsFileError(
                f"{where}: missing. Every stream names the Airflow connection of its receiver, for example "
                "'webhook_conn_id: siem_webhook' (an HTTP connection: the URL as host, signing secrets as password)."
            )
        return None
    if not isinstance(value, str) or not _CONN_ID.match(value):
        raise StreamsFileError(
            f"{where}: {value!r} is not an Airflow connection id. Use the id of a connection you made "
            "(letters, digits, '_', '-' and '.')."
        )
    return value


def _filter_text(settings: Settings) -> str:
    types = ", ".join(sorted(settings.log_types))
    endpoints = f" on {', '.join(settings.api_endpoints)}" if settings.api_endpoints else ""
    return f"log types {types}{endpoints}"


def _yaml_load(text: str) -> Any:
    import yaml  # PyYAML, an Airflow dependency; imported only when a streams file exists

    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from None


def main(argv: list[str]) -> int:
    """``make streams``: check the streams file and write the missing DAG files."""
    dags_folder = Path(argv[0]) if argv else Path("dags")
    path = streams_file(dags_folder)
    try:
        problems = check_all(path)
        written, stale = dag_files(path, dags_folder)
    except StreamsFileError as exc:
        print(exc, file=sys.stderr)
        return 1
    for file in written:
        print(f"wrote {file}")
    for file in stale:
        print(f"{file}: its stream is no longer declared; delete the file when its watermark is no longer needed")
    for name, problem in problems.items():
        print(f"{name}: {problem or 'ok'}")
    for pool in read_pools(path):
        print(f"each read of the tenant waits for a slot of the pool {pool}; create it once, with one slot:")
        print(f"  airflow pools set {pool} 1 'Auth0 log reads, one at a time'")
    return 1 if any(problems.values()) else 0


def read_pools(path: Path) -> list[str]:
    """The read pool of each tenant the file's streams read (``StreamNames.read_pool``)."""
    pools = {
        read_pool(entry.get("auth0_conn_id") or AUTH0_CONN_ID) if isinstance(entry, dict) else read_pool(AUTH0_CONN_ID)
        for entry in read_entries(path).values()
    }
    return sorted(pools)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
