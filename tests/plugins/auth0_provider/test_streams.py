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
    stream_name_of,
    streams_file,
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
        ("streams:\n  Bad-Name: {webhook_conn_id: x}\n", "stream name 'Bad-Name' is not allowed"),
        ("streams:\n  a: 3\n", "streams.a: expected a mapping"),
    ],
)
def test_a_file_that_cannot_be_used_says_why(tmp_path, text, names):
    path = write(tmp_path, text)
    with pytest.raises(StreamsFileError, match=names.replace(".", r"\.").replace("[", r"\[")):
        load_stream(path, "a")


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
