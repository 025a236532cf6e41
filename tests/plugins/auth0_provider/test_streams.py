"""The streams file: each entry's names and settings, and errors that name the stream, the key and the fix."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from auth0_provider.names import READ_POOL_PREFIX, STREAM_DAG_PREFIX, STREAMS_FILE_SETTING, StreamNames
from auth0_provider.settings import Settings, SettingsError
from auth0_provider.streams import (
    DEFAULT_FILE_NAME,
    StreamsFileError,
    check_all,
    dag_files,
    load_stream,
    main,
    read_pools,
    stream_name_of,
    streams_file,
    uses_streams,
)

TWO_STREAMS = """\
streams:
  siem:
    webhook_conn_id: siem_webhook
    log_types: [f, limit_wc, pwd_leak]
    batch_size: 100
    dead_letter_after: never
  crm:
    webhook_conn_id: crm_webhook
    auth0_conn_id: other_tenant
    log_types: sapi
    api_endpoints: [users]
    payload: log_stream
"""


def write(tmp_path: Path, text: str, name: str = DEFAULT_FILE_NAME) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_each_stream_gets_its_own_names_and_the_same_settings_as_the_environment_would_give(tmp_path):
    path = write(tmp_path, TWO_STREAMS)
    siem, crm = load_stream(path, "siem"), load_stream(path, "crm")
    assert siem.names == StreamNames.for_stream("siem", "auth0_default", "siem_webhook")
    assert siem.names.dag_id == STREAM_DAG_PREFIX + "siem"
    assert siem.names.watermark_variable == "auth0_webhooks__siem_watermark"
    assert siem.names.read_pool == READ_POOL_PREFIX + "auth0_default"
    expected = Settings.from_env(
        {"AUTH0_WEBHOOKS_LOG_TYPES": "f,limit_wc,pwd_leak", "AUTH0_WEBHOOKS_BATCH_SIZE": "100"}
        | {"AUTH0_WEBHOOKS_DEAD_LETTER_AFTER": "never"}
    )
    assert siem.settings == expected
    assert crm.names.auth0_conn_id == "other_tenant" and crm.names.read_pool == READ_POOL_PREFIX + "other_tenant"
    assert crm.settings.api_endpoints == ("users",) and crm.settings.payload == "log_stream"
    assert crm.settings.dead_letter_after == timedelta(hours=1)  # the default, not the other stream's


def test_the_environment_settings_do_not_leak_into_a_stream(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTH0_WEBHOOKS_BATCH_SIZE", "7")
    assert load_stream(write(tmp_path, TWO_STREAMS), "crm").settings.batch_size == 1


def test_the_description_names_the_receiver_and_the_filter(tmp_path):
    crm = load_stream(write(tmp_path, TWO_STREAMS), "crm")
    assert "'crm_webhook'" in crm.description and "sapi on users" in crm.description


@pytest.mark.parametrize(
    ("entry", "names"),
    [
        ("batch_size: 5000", ["streams.crm.batch_size", "'5000'", "from 1 to 1000"]),
        ("log_types: [sapi, nope]", ["streams.crm.log_types", "'nope'", "Known codes"]),
        ("dead_letter_after: soon", ["streams.crm.dead_letter_after", "'never'"]),
        ("payload: xml", ["streams.crm.payload", "'log_stream'"]),
        ("batch_size: true", ["streams.crm.batch_size", "True"]),
        ("start_from: {a: 1}", ["streams.crm.start_from", "a list of them"]),
        ("signing_secret: whsec_abc", ["streams.crm.signing_secret", "password of the stream's webhook connection"]),
        ("bacth_size: 10", ["streams.crm.bacth_size", "unknown key", "batch_size"]),
        ("auth0_conn_id: 'a b'", ["streams.crm.auth0_conn_id", "not an Airflow connection id"]),
    ],
)
def test_a_bad_key_names_the_file_the_stream_the_key_and_what_it_accepts(tmp_path, entry, names):
    path = write(tmp_path, f"streams:\n  ok:\n    webhook_conn_id: a\n  crm:\n    webhook_conn_id: b\n    {entry}\n")
    with pytest.raises(SettingsError) as raised:  # StreamsFileError is one
        load_stream(path, "crm")
    message = str(raised.value)
    assert message.startswith(f"{DEFAULT_FILE_NAME}: streams.crm")
    for text in names:
        assert text in message
    assert load_stream(path, "ok").names.webhook_conn_id == "a"  # the other stream still loads


def test_a_stream_without_a_receiver_is_refused_by_name(tmp_path):
    path = write(tmp_path, "streams:\n  crm:\n    log_types: sapi\n")
    with pytest.raises(StreamsFileError, match=r"streams\.crm\.webhook_conn_id: missing"):
        load_stream(path, "crm")


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("streams: [a, b]\n", "top-level 'streams' mapping"),
        ("stream:\n  a: {webhook_conn_id: x}\n", "top-level 'streams' mapping"),
        ("streams:\n  a: {webhook_conn_id: x\n", "not valid YAML"),
        ("streams:\n  a: 3\n", "streams.a: expected a mapping"),
    ],
)
def test_a_file_that_cannot_be_used_says_why(tmp_path, text, names):
    path = write(tmp_path, text)
    with pytest.raises(StreamsFileError, match=names.replace(".", r"\.").replace("[", r"\[")):
        load_stream(path, "a")


RULE = "A stream's name is 1 to 50 lower-case letters, digits and '_', starting with a letter or digit"


@pytest.mark.parametrize(
    ("name", "suggestion"), [("crm-eu", "crm_eu"), ("CRM", "crm"), ("'Crm EU'", "crm_eu"), ("_crm", "crm")]
)
def test_a_bad_stream_name_fails_that_stream_alone_naming_the_name_its_line_and_the_rule(tmp_path, name, suggestion):
    path = write(tmp_path, f"streams:\n  crm:\n    webhook_conn_id: a\n  {name}:\n    webhook_conn_id: b\n")
    written = name.strip("'")
    with pytest.raises(StreamsFileError) as raised:
        load_stream(path, written)
    assert str(raised.value) == (
        f"{DEFAULT_FILE_NAME}: streams.{written} (line 4): the stream name {written!r} is not allowed. {RULE}: it "
        f"becomes part of the DAG id auth0_webhooks__<name>. For example {suggestion!r}."
    )
    assert load_stream(path, "crm").names.webhook_conn_id == "a"  # the other stream loads, and its DAG with it
    assert check_all(path) == {"crm": None, written: str(raised.value)}


@pytest.mark.parametrize("word", ["on", "off", "yes", "no", "true", "false", "On", "NO", "y", "n", "Y"])
def test_a_stream_name_yaml_reads_as_a_boolean_is_refused_by_name_saying_how_to_fix_it(tmp_path, word):
    path = write(tmp_path, f"streams:\n  crm:\n    webhook_conn_id: a\n  {word}:\n    webhook_conn_id: b\n")
    with pytest.raises(StreamsFileError) as raised:
        load_stream(path, word)
    message = str(raised.value)
    assert message.startswith(f"{DEFAULT_FILE_NAME}: streams.{word} (line 4): YAML reads the unquoted name {word} as ")
    assert "boolean" in message and f"Quote it ('{word}':) or rename the stream." in message
    assert load_stream(path, "crm").names.webhook_conn_id == "a"
    quoted = write(tmp_path, f"streams:\n  '{word.lower()}':\n    webhook_conn_id: b\n")
    assert load_stream(quoted, word.lower()).names.dag_id == f"{STREAM_DAG_PREFIX}{word.lower()}"  # quoted: a name


def test_a_stream_name_yaml_reads_as_a_number_or_null_is_refused_the_same_way(tmp_path):
    path = write(tmp_path, "streams:\n  12: {webhook_conn_id: a}\n  ~: {webhook_conn_id: b}\n")
    with pytest.raises(
        StreamsFileError, match=r"streams\.12 \(line 2\): YAML reads the unquoted name 12 as the number"
    ):
        load_stream(path, "12")
    with pytest.raises(StreamsFileError, match=r"streams\.~ \(line 3\): YAML reads the unquoted name ~ as null"):
        load_stream(path, "~")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            DEFAULT_FILE_NAME,
            "streams:\n  crm:\n    webhook_conn_id: a\n  siem:\n    webhook_conn_id: s\n"
            "  crm:\n    webhook_conn_id: b\n",
        ),
        (
            "streams.json",
            '{"streams": {\n "crm": {"webhook_conn_id": "a"},\n "siem": {"webhook_conn_id": "s"},\n'
            ' "crm": {"webhook_conn_id": "b"}}}\n',
        ),
    ],
)
def test_a_stream_declared_twice_is_refused_naming_both_lines_and_the_others_still_load(tmp_path, name, text):
    path = write(tmp_path, text, name)
    lines = "2 and 6" if name == DEFAULT_FILE_NAME else "2 and 4"
    with pytest.raises(StreamsFileError) as raised:
        load_stream(path, "crm")
    assert str(raised.value) == (
        f"{name}: streams.crm is declared twice, on lines {lines}: the last would silently replace the others. "
        "Keep one."
    )
    assert load_stream(path, "siem").names.webhook_conn_id == "s"


def test_a_setting_written_twice_in_one_stream_is_refused_naming_both_lines(tmp_path):
    path = write(tmp_path, "streams:\n  crm:\n    webhook_conn_id: a\n    batch_size: 5\n    batch_size: 50\n")
    with pytest.raises(StreamsFileError, match=r"streams\.crm\.batch_size is set twice, on lines 4 and 5"):
        load_stream(path, "crm")
    twice = write(tmp_path, "streams:\n  a: {webhook_conn_id: a}\nstreams:\n  b: {webhook_conn_id: b}\n")
    with pytest.raises(StreamsFileError, match=r"streams is declared twice, on lines 1 and 3"):
        load_stream(twice, "b")  # the whole file: which 'streams' was meant is anybody's guess


@pytest.mark.parametrize("empty", ["[]", "''", "", "' '"])
def test_an_empty_log_types_is_refused_saying_what_to_write_instead(tmp_path, empty):
    path = write(tmp_path, f"streams:\n  crm:\n    webhook_conn_id: a\n    log_types: {empty}\n")
    with pytest.raises(StreamsFileError) as raised:
        load_stream(path, "crm")
    message = str(raised.value)
    assert message.startswith(f"{DEFAULT_FILE_NAME}: streams.crm.log_types: an empty value is not allowed")
    assert "does not mean every log type" in message and "for example [sapi, fapi]" in message
    assert "leave the key out for the default" in message


@pytest.mark.parametrize(
    ("value", "shown"), [("5", "5"), ("[a, b]", "['a', 'b']"), ("true", "True"), ("{a: 1}", "{'a': 1}")]
)
def test_make_streams_names_an_auth0_conn_id_that_is_not_text_instead_of_crashing(
    tmp_path, capsys, monkeypatch, value, shown
):
    monkeypatch.delenv(STREAMS_FILE_SETTING, raising=False)
    write(
        tmp_path,
        f"streams:\n  crm:\n    webhook_conn_id: a\n    auth0_conn_id: {value}\n  ok:\n    webhook_conn_id: b\n",
    )
    assert main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert (
        f"crm: {DEFAULT_FILE_NAME}: streams.crm.auth0_conn_id: {shown} is not an Airflow connection id: it must be "
        "text, the id of a connection you made" in out
    )
    assert "ok: ok" in out and "airflow pools set auth0_reads__auth0_default 1" in out
    assert read_pools(tmp_path / DEFAULT_FILE_NAME) == ["auth0_reads__auth0_default"]


def test_make_streams_writes_no_dag_file_for_a_name_that_cannot_be_a_dag_id(tmp_path):
    path = write(
        tmp_path, "streams:\n  crm-eu: {webhook_conn_id: a}\n  on: {webhook_conn_id: b}\n  ok: {webhook_conn_id: c}\n"
    )
    written, _ = dag_files(path, tmp_path)
    # 'on' can be a DAG id once quoted: its file is written, and its import error says how to fix the entry
    assert [file.name for file in written] == ["auth0_webhooks__ok.py", "auth0_webhooks__on.py"]


def test_a_dag_file_named_after_a_bad_name_loads_that_name_and_fails_on_its_rule(tmp_path):
    assert stream_name_of("/x/auth0_webhooks__crm-eu.py") == "crm-eu"
    path = write(tmp_path, "streams:\n  crm-eu: {webhook_conn_id: a}\n")
    with pytest.raises(StreamsFileError, match=r"the stream name 'crm-eu' is not allowed"):
        load_stream(path, stream_name_of("/x/auth0_webhooks__crm-eu.py"))
    with pytest.raises(StreamsFileError, match=r"auth0_webhooks__<stream name>\.py"):
        stream_name_of("/x/auth0_webhooks__.py")


def test_a_streams_file_named_in_the_setting_that_does_not_exist_is_an_error_naming_the_setting_and_the_path(
    tmp_path,
):
    dags = tmp_path / "dags"
    dags.mkdir()
    assert uses_streams(dags, {}) is False  # no setting, no file: the single DAG, as before streams
    assert uses_streams(dags, {STREAMS_FILE_SETTING: " "}) is False
    for configured, path in (("conf/streams.yaml", dags / "conf" / "streams.yaml"), ("/nowhere/s.json", None)):
        with pytest.raises(StreamsFileError) as raised:
            uses_streams(dags, {STREAMS_FILE_SETTING: configured})
        message = str(raised.value)
        named = str(path or configured)
        assert message.startswith(f"{STREAMS_FILE_SETTING} is {configured!r}, but the streams file {named!r} does not")
        assert "No DAG is built until it does, neither the streams nor the single DAG" in message
    write(dags, TWO_STREAMS)
    assert uses_streams(dags, {}) is True
    (dags / "conf").mkdir()
    write(dags / "conf", TWO_STREAMS, "streams.yaml")
    assert uses_streams(dags, {STREAMS_FILE_SETTING: "conf/streams.yaml"}) is True


def test_json_works_as_well_as_yaml(tmp_path):
    path = write(tmp_path, '{"streams": {"siem": {"webhook_conn_id": "s", "log_types": ["f"]}}}', "streams.json")
    assert load_stream(path, "siem").settings.log_types == frozenset({"f"})
    bad = write(tmp_path, '{"streams": ', "bad.json")
    with pytest.raises(StreamsFileError, match=r"bad\.json: not valid JSON"):
        load_stream(bad, "siem")


def test_a_dag_file_for_a_stream_that_is_not_declared_says_which_are(tmp_path):
    with pytest.raises(StreamsFileError, match=r"no stream 'gone' is declared \(declared: crm, siem\)"):
        load_stream(write(tmp_path, TWO_STREAMS), "gone")


def test_the_path_setting_is_read_relative_to_the_dags_folder_and_a_missing_file_names_it(tmp_path):
    dags = tmp_path / "dags"
    assert streams_file(dags, {}) == dags / DEFAULT_FILE_NAME
    assert streams_file(dags, {STREAMS_FILE_SETTING: "conf/s.yaml"}) == dags / "conf" / "s.yaml"
    assert streams_file(dags, {STREAMS_FILE_SETTING: "/etc/s.json"}) == Path("/etc/s.json")
    with pytest.raises(StreamsFileError, match=f"{STREAMS_FILE_SETTING}: .*does not exist"):
        load_stream(dags / "missing.yaml", "a")


def test_a_dag_file_name_names_its_stream(tmp_path):
    assert stream_name_of("/x/auth0_webhooks__siem.py") == "siem"
    with pytest.raises(StreamsFileError, match=r"auth0_webhooks__<stream name>\.py"):
        stream_name_of("/x/auth0_webhooks.py")


def test_make_streams_writes_the_missing_dag_files_and_reports_each_stream(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(STREAMS_FILE_SETTING, raising=False)
    path = write(tmp_path, TWO_STREAMS.replace("batch_size: 100", "batch_size: 0"))
    (tmp_path / f"{STREAM_DAG_PREFIX}old.py").write_text("# a stream no longer declared\n")
    written, stale = dag_files(path, tmp_path)
    assert [file.name for file in written] == ["auth0_webhooks__crm.py", "auth0_webhooks__siem.py"]
    assert [file.name for file in stale] == ["auth0_webhooks__old.py"]
    text = (tmp_path / "auth0_webhooks__crm.py").read_text()
    assert "stream_dag(__file__)" in text and "import airflow.providers.http.operators.http" in text
    assert dag_files(path, tmp_path)[0] == []  # an existing file is left as it is
    assert check_all(path)["crm"] is None and "streams.siem.batch_size" in check_all(path)["siem"]
    assert main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "crm: ok" in out and "siem: auth0_streams.yaml: streams.siem.batch_size" in out
    assert "auth0_webhooks__old.py: its stream is no longer declared" in out
    assert (
        "airflow pools set auth0_reads__auth0_default 1" in out
        and "airflow pools set auth0_reads__other_tenant 1" in out
    )


def test_messages_name_a_streams_setting_by_its_key_in_the_file_and_the_single_dags_by_its_variable():
    from auth0_provider.names import LEGACY, WATERMARK_VARIABLE, stream_of

    crm = StreamNames.for_stream("crm")
    assert crm.setting("DEAD_LETTER_MAX") == "streams.crm.dead_letter_max (streams file)"
    assert LEGACY.setting("DEAD_LETTER_MAX") == "AUTH0_WEBHOOKS_DEAD_LETTER_MAX"
    assert StreamNames.of_watermark(crm.watermark_variable) == crm
    assert StreamNames.of_watermark(WATERMARK_VARIABLE) == LEGACY == stream_of("auth0_webhooks")
    assert stream_of(crm.dag_id) == crm and stream_of("someone_elses_dag") == LEGACY


def test_a_full_dead_letter_store_names_the_streams_own_bound():
    from datetime import UTC, datetime, timedelta

    from auth0_provider.dead_letters import park_decision
    from auth0_provider.records import Receipt, Rejection

    now = datetime(2026, 12, 5, tzinfo=UTC)
    refused = Rejection("k", now - timedelta(hours=2), now, 3, 422, "")
    others = [Receipt("other", ("900099",), 200, now - timedelta(hours=1))]
    setting = StreamNames.for_stream("crm").setting
    park, why = park_decision(refused, timedelta(hours=1), now, lambda: others, setting, lambda: 1, 1)
    assert not park
    assert "streams.crm.dead_letter_max (streams file) is 1" in why
