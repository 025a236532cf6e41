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
key and what the key accepts. A bad entry includes its name: one that breaks the rule of names, one that
YAML reads as something else than text (``on:`` is the boolean true), one declared twice (both lines
named; the file is read keeping each key's line, never letting a second entry replace the first
silently). A file that cannot be read at all fails every stream's DAG, and so does a file named in
``AUTH0_WEBHOOKS_STREAMS_FILE`` that does not exist: it fails the single DAG's files too (``uses_streams``),
so that no DAG runs on a guess. Nothing here imports Airflow: the tests run it as it is.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
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


def uses_streams(dags_folder: Path, environ: Mapping[str, str] | None = None) -> bool:
    """Whether streams replace the single DAG: the streams file exists. A file named in
    ``AUTH0_WEBHOOKS_STREAMS_FILE`` that does not exist raises: the single DAG's files then fail to import as
    the streams' do, rather than build the single DAG from the environment and run it from its old watermark."""
    env = os.environ if environ is None else environ
    path = streams_file(dags_folder, env)
    if path.exists():
        return True
    configured = env.get(STREAMS_FILE_SETTING, "").strip()
    if configured:
        raise StreamsFileError(
            f"{STREAMS_FILE_SETTING} is {configured!r}, but the streams file {str(path)!r} does not exist. No DAG "
            "is built until it does, neither the streams nor the single DAG: write the streams file there, "
            f"correct {STREAMS_FILE_SETTING}, or unset it to go back to the single DAG configured from the "
            f"environment (or to {DEFAULT_FILE_NAME} in the dags folder, when there is one)."
        )
    return False


@dataclass(frozen=True)
class Declared:
    """The streams file as read: each stream's entry by its name as written, and what is wrong with a name.

    A name's problem (not allowed, read by YAML as something else than text, declared twice) fails that
    stream alone, as a bad setting does; ``entries`` keeps the first entry of a name declared twice."""

    file_name: str
    entries: dict[str, Any]
    problems: dict[str, str] = field(default_factory=dict)

    def stream(self, name: str) -> Stream:
        """The stream ``name``, checked: an error names the file, the stream and the key."""
        if name in self.problems:
            raise StreamsFileError(self.problems[name])
        if name not in self.entries:
            declared = ", ".join(sorted(self.entries))
            raise StreamsFileError(
                f"{self.file_name}: no stream {name!r} is declared (declared: {declared}). Add it under 'streams', "
                f"or delete the DAG file {STREAM_DAG_PREFIX}{name}.py."
            )
        return parse_stream(self.file_name, name, self.entries[name])


@dataclass(frozen=True)
class _Key:
    """One key of the ``streams`` mapping as written: its text, line, value, and the entry's own keys."""

    name: str
    line: int
    value: Any
    read_as: str | None = None  # what YAML reads an unquoted name as, when not text: "the boolean true"
    keys: tuple[tuple[str, int], ...] = ()  # the entry's keys as written, with their lines


def read_streams(path: Path) -> Declared:
    """The streams declared in the file; a ``StreamsFileError`` when the file as a whole cannot be used."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StreamsFileError(
            f"{STREAMS_FILE_SETTING}: {str(path)!r} does not exist. Write the streams there (see README, "
            f"'Several streams'), or unset {STREAMS_FILE_SETTING} to use {DEFAULT_FILE_NAME} in the dags folder."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StreamsFileError(f"{path.name}: cannot be read ({exc}).") from None
    keys = _json_keys(path.name, text) if path.suffix == ".json" else _yaml_keys(path.name, text)
    if not keys:
        raise StreamsFileError(
            f"{path.name}: expected a top-level 'streams' mapping of stream names to their settings, for "
            "example 'streams: {siem: {webhook_conn_id: siem_webhook}}'."
        )
    entries: dict[str, Any] = {}
    lines: dict[str, list[int]] = {}
    problems: dict[str, str] = {}
    for key in keys:
        entries.setdefault(key.name, key.value)
        lines.setdefault(key.name, []).append(key.line)
        problem = _name_problem(f"{path.name}: streams.{key.name} (line {key.line})", key) or _twice(
            f"{path.name}: streams.{key.name}.", "set", key.keys
        )
        if problem:
            problems.setdefault(key.name, problem)
    for name, at in lines.items():
        if len(at) > 1:
            problems[name] = _twice(f"{path.name}: streams.", "declared", [(name, line) for line in at]) or ""
    return Declared(path.name, entries, problems)


def read_entries(path: Path) -> dict[str, Any]:
    """Each stream's raw entry by its name as written; a ``StreamsFileError`` when the file as a whole cannot be
    used. A name's own problem is not raised here: see ``read_streams``."""
    return read_streams(path).entries


def _name_problem(where: str, key: _Key) -> str | None:
    if key.read_as is not None:
        return (
            f"{where}: YAML reads the unquoted name {key.name} as {key.read_as}, not as the name {key.name!r}. "
            f"Quote it ('{key.name}':) or rename the stream."
        )
    if not STREAM_NAME.match(key.name):
        suggestion = re.sub(r"[^a-z0-9_]+", "_", key.name.lower()).strip("_")[:50]
        example = f" For example {suggestion!r}." if STREAM_NAME.match(suggestion) else ""
        return (
            f"{where}: the stream name {key.name!r} is not allowed. A stream's name is 1 to 50 lower-case "
            "letters, digits and '_', starting with a letter or digit: it becomes part of the DAG id "
            f"{STREAM_DAG_PREFIX}<name>.{example}"
        )
    return None


def _twice(prefix: str, verb: str, keys: Any) -> str | None:
    """The first key written more than once, with every line it is on: YAML and JSON keep the last silently."""
    lines: dict[str, list[int]] = {}
    for name, line in keys:
        lines.setdefault(name, []).append(line)
    for name, at in lines.items():
        if len(at) > 1:
            times = "twice" if len(at) == 2 else f"{len(at)} times"
            on = ", ".join(map(str, at[:-1])) + f" and {at[-1]}"
            return (
                f"{prefix}{name} is {verb} {times}, on lines {on}: the last would silently replace the others. "
                "Keep one."
            )
    return None


_YAML_BOOLEANS_1_1 = ("y", "Y", "n", "N")  # booleans in YAML 1.1 that PyYAML alone reads as text


def _yaml_keys(file_name: str, text: str) -> list[_Key] | None:
    """The ``streams`` mapping's keys as written, from the YAML's node tree (which keeps lines and duplicates)."""
    import yaml  # PyYAML, an Airflow dependency; imported only when a streams file exists

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        document = loader.get_single_node()
        if not isinstance(document, yaml.MappingNode):
            return None
        found = [(key, value) for key, value in document.value if _is_text(key, "streams")]
        problem = _twice(f"{file_name}: ", "declared", [("streams", k.start_mark.line + 1) for k, _ in found])
        if problem:
            raise StreamsFileError(problem)
        if not found or not isinstance(found[0][1], yaml.MappingNode):
            return None
        keys = []
        for key, value in found[0][1].value:
            line = key.start_mark.line + 1
            if not isinstance(key, yaml.ScalarNode):
                raise StreamsFileError(f"{file_name}: line {line}: a stream's name must be a name, not a {key.id}.")
            kind = key.tag.rsplit(":", 1)[-1]
            read_as = None
            if kind != "str":
                read_as = _read_as(kind, loader.construct_object(key))
            elif not key.style and key.value in _YAML_BOOLEANS_1_1:
                read_as = "a boolean in YAML 1.1 (PyYAML reads it as text, other YAML readers as true or false)"
            own = value.value if isinstance(value, yaml.MappingNode) else []
            own_keys = tuple((k.value, k.start_mark.line + 1) for k, _ in own if isinstance(k, yaml.ScalarNode))
            keys.append(_Key(key.value, line, loader.construct_object(value, deep=True), read_as, own_keys))
        return keys
    except yaml.YAMLError as exc:
        raise StreamsFileError(f"{file_name}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def _read_as(kind: str, value: Any) -> str:
    """What YAML made of a plain scalar that is not text: ``the boolean true``."""
    if kind == "bool":
        return f"the boolean {str(value).lower()}"
    if kind in ("int", "float"):
        return f"the number {value}"
    if kind == "null":
        return "null, no name at all"
    return f"a {'date' if kind == 'timestamp' else kind}"


def _is_text(node: Any, text: str) -> bool:
    return getattr(node, "tag", None) == "tag:yaml.org,2002:str" and node.value == text


def _json_keys(file_name: str, text: str) -> list[_Key] | None:
    """The ``streams`` object's keys as written, with their lines (``json.loads`` keeps only the last of two)."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise StreamsFileError(f"{file_name}: not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        return None
    found = [member for member in _json_members(text, _space(text, 0)) if member[0] == "streams"]
    problem = _twice(f"{file_name}: ", "declared", [(name, line) for name, line, _, _ in found])
    if problem:
        raise StreamsFileError(problem)
    if not found or not isinstance(found[0][2], dict):
        return None
    keys = []
    for name, line, value, at in _json_members(text, found[0][3]):
        own = tuple((key, n) for key, n, _, _ in _json_members(text, at)) if isinstance(value, dict) else ()
        keys.append(_Key(name, line, value, keys=own))
    return keys


def _json_members(text: str, at: int) -> list[tuple[str, int, Any, int]]:
    """Each member of the (valid) JSON object at ``at``: its key, the key's line, its value and where that starts."""
    decoder, members = json.JSONDecoder(), []
    at = _space(text, at + 1)
    while text[at] != "}":
        key, after = json.decoder.scanstring(text, at + 1)
        start = _space(text, _space(text, after) + 1)  # past the colon
        value, end = decoder.raw_decode(text, start)
        members.append((key, text.count("\n", 0, at) + 1, value, start))
        at = _space(text, end)
        if text[at] == ",":
            at = _space(text, at + 1)
    return members


def _space(text: str, at: int) -> int:
    return json.decoder.WHITESPACE.match(text, at).end()


def load_stream(path: Path, name: str) -> Stream:
    """The stream ``name`` from the file, checked: an error names the file, the stream and the key."""
    return read_streams(path).stream(name)


def parse_stream(file_name: str, name: str, entry: Any) -> Stream:
    where = f"{file_name}: streams.{name}"
    if not isinstance(entry, dict):
        raise StreamsFileError(f"{where}: expected a mapping of settings, at least {{webhook_conn_id: <id>}}.")
    for key in entry:
        if key not in KEYS:
            why = MISPLACED.get(str(key).lower(), f"the keys are {', '.join(KEYS)}")
            raise StreamsFileError(f"{where}.{key}: unknown key: {why}.")
    if "log_types" in entry and (entry["log_types"] in (None, []) or str(entry["log_types"]).strip() == ""):
        raise StreamsFileError(
            f"{where}.log_types: an empty value is not allowed: it does not mean every log type, it would quietly "
            "mean the default, sapi and fapi. Write the codes this stream wants, for example [sapi, fapi] or "
            "[f, fp, fu, limit_wc] (the README lists them), or leave the key out for the default."
        )
    webhook_conn_id = _conn_id(f"{where}.webhook_conn_id", entry.get("webhook_conn_id"), required=True)
    auth0_conn_id = _conn_id(f"{where}.auth0_conn_id", entry.get("auth0_conn_id"), required=False) or AUTH0_CONN_ID
    values = {key.upper(): _text(f"{where}.{key}", entry[key]) for key in SETTING_KEYS if entry.get(key) is not None}
    settings = Settings.from_values(values, lambda setting: f"{where}.{setting.lower()}")
    return Stream(StreamNames.for_stream(name, auth0_conn_id, webhook_conn_id), settings)


def check_all(path: Path) -> dict[str, str | None]:
    """Every declared stream and its problem (None: fine), for ``make streams``."""
    declared = read_streams(path)
    problems: dict[str, str | None] = {}
    for name in declared.entries:
        try:
            declared.stream(name)
        except SettingsError as exc:
            problems[name] = str(exc)
        else:
            problems[name] = None
    return problems


def stream_name_of(dag_file: str | Path) -> str:
    """``auth0_webhooks__siem.py`` -> ``siem``: a stream's DAG file names the stream it builds (a name that is
    not allowed too: loading the stream then says why, in that DAG file's import error alone)."""
    stem = Path(dag_file).stem
    if not stem.startswith(STREAM_DAG_PREFIX) or stem == STREAM_DAG_PREFIX:
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
    streams no longer declared (left in place: deleting one is for a person, who may want its watermark).
    A name that cannot be part of a DAG id gets no file (``check_all`` says why)."""
    entries = read_entries(path)
    written = []
    for name in sorted(filter(STREAM_NAME.match, entries)):
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
    if not isinstance(value, str):
        raise StreamsFileError(
            f"{where}: {value!r} is not an Airflow connection id: it must be text, the id of a connection you made "
            "(letters, digits, '_', '-' and '.'), for example 'auth0_default'. Quote it if YAML reads it as a "
            "number or a boolean."
        )
    if not _CONN_ID.match(value):
        raise StreamsFileError(
            f"{where}: {value!r} is not an Airflow connection id. Use the id of a connection you made "
            "(letters, digits, '_', '-' and '.')."
        )
    return value


def _filter_text(settings: Settings) -> str:
    types = ", ".join(sorted(settings.log_types))
    endpoints = f" on {', '.join(settings.api_endpoints)}" if settings.api_endpoints else ""
    return f"log types {types}{endpoints}"


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
    """The read pool of each tenant the file's streams read (``StreamNames.read_pool``); an ``auth0_conn_id``
    that is no connection id names no pool (``check_all`` names it)."""
    pools = set()
    for entry in read_entries(path).values():
        conn_id = entry.get("auth0_conn_id") if isinstance(entry, dict) else None
        if conn_id is None or conn_id == "":
            pools.add(read_pool(AUTH0_CONN_ID))
        elif isinstance(conn_id, str) and _CONN_ID.match(conn_id):
            pools.add(read_pool(conn_id))
    return sorted(pools)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
