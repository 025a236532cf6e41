"""The status page: a FastAPI app the API server mounts at ``STATUS_URL_PREFIX`` (see auth0_webhooks_plugin).

It reads what the DAG already keeps in the metadata DB, and nothing else: the watermark Variable,
the stream asset's state store (attempt, last reading, troubles, dead letters), the XComs of the
last 24 hours' commits (``records.CommitRecord``), Auth0 reads (``records.Auth0Usage``) and failed
delivery tries (``records.Failure``), and the DAG's latest run.

Every route depends on Airflow's own authentication and authorization: reading needs permission to
read the DAG, Redeliver permission to trigger it; the list of streams shows those the user may read.
FastAPI's own docs routes are off. Imported by the API server only, on the first request
(``LazyApp``): the security module it needs costs seconds to import, which the scheduler and the task
processes must not pay.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from airflow.models import DagModel, DagRun, TaskInstance, Variable
from airflow.models.asset import AssetModel
from airflow.models.xcom import XComModel
from airflow.state import get_state_backend
from airflow.utils.state import TaskInstanceState
from airflow.utils.types import DagRunTriggeredByType, DagRunType
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from auth0_provider.dead_letters import read_index, to_redeliver
from auth0_provider.health import RunSeen, Signals, is_live, uncommitted_since
from auth0_provider.names import (
    ATTEMPT_KEY,
    COMMIT_TASK,
    DAG_ID,
    DEAD_LETTER_PREFIX,
    DELIVER_TASK,
    FAILURE_XCOM_KEY,
    LEGACY,
    READERS,
    READING_KEY,
    REDELIVER_PARAM,
    STREAM_DAG_PREFIX,
    TROUBLE_PREFIX,
    USAGE_XCOM_KEY,
    StreamNames,
    is_read_pool,
)
from auth0_provider.records import (
    AUTH0_REFUSED,
    RETENTION_GAP,
    Attempt,
    Auth0Usage,
    CommitRecord,
    DeadLetter,
    Failure,
    Reading,
    Trouble,
)
from auth0_provider.status_view import (
    HOURS,
    SHOWN_DEAD_LETTERS,
    SHOWN_FAILURES,
    StreamLine,
    StreamView,
    render,
    render_index,
)
from auth0_provider.watermark import Watermark

STILL_FAILING = (TaskInstanceState.FAILED, TaskInstanceState.UP_FOR_RETRY)
RUNS_READ = 50  # the newest runs read to tell since when none has committed: past BLOCKED_AFTER at one a minute


class StreamReader:
    """One stream's records, straight from the metadata DB (the API server's session)."""

    def __init__(self, session: Session, now: datetime, names: StreamNames = LEGACY) -> None:
        self.session = session
        self.now = now
        self.names = names
        self.since = now - timedelta(hours=HOURS)
        self._asset_id = session.scalar(select(AssetModel.id).where(AssetModel.name == names.stream.name))

    def state(self, key: str) -> Any:
        if self._asset_id is None:
            return None
        from airflow._shared.state import AssetScope

        raw = get_state_backend().get(AssetScope(asset_id=self._asset_id), key, session=self.session)
        return None if raw is None else json.loads(raw)

    def watermark(self) -> Watermark | None:
        row = self.session.scalar(select(Variable).where(Variable.key == self.names.watermark_variable))
        try:
            return Watermark.from_json(json.loads(row.val)) if row is not None and row.val else None
        except ValueError:
            return None

    def xcoms(self, key: str, *task_ids: str) -> list[Any]:
        """The values these tasks pushed under ``key`` in the last ``HOURS`` hours, newest first."""
        query = (
            select(XComModel.value)
            .where(
                XComModel.dag_id == self.names.dag_id,
                XComModel.task_id.in_(task_ids),
                XComModel.key == key,
                XComModel.timestamp >= self.since,
            )
            .order_by(XComModel.timestamp.desc())
        )
        return [_value(value) for value in self.session.scalars(query)]

    def failures(self) -> list[Failure]:
        """Failed delivery tries of the last ``HOURS`` hours whose task has not succeeded since, newest first."""
        query = (
            select(XComModel.value)
            .join(
                TaskInstance,
                (TaskInstance.dag_id == XComModel.dag_id)
                & (TaskInstance.run_id == XComModel.run_id)
                & (TaskInstance.task_id == XComModel.task_id)
                & (TaskInstance.map_index == XComModel.map_index),
            )
            .where(
                XComModel.dag_id == self.names.dag_id,
                XComModel.task_id == DELIVER_TASK,
                XComModel.key == FAILURE_XCOM_KEY,
                XComModel.timestamp >= self.since,
                TaskInstance.state.in_(STILL_FAILING),
            )
            .order_by(XComModel.timestamp.desc())
            .limit(SHOWN_FAILURES)
        )
        found = (Failure.from_json(_value(value)) for value in self.session.scalars(query))
        return [failure for failure in found if failure is not None]

    def failed_run(self) -> str | None:
        run = self.session.scalars(
            select(DagRun).where(DagRun.dag_id == self.names.dag_id).order_by(DagRun.run_after.desc()).limit(1)
        ).first()
        if run is None or run.state != "failed":
            return None
        failed = self.session.scalars(
            select(TaskInstance.task_id).where(
                TaskInstance.dag_id == self.names.dag_id,
                TaskInstance.run_id == run.run_id,
                TaskInstance.state == TaskInstanceState.FAILED,
            )
        ).all()
        return f"The latest run, {run.run_id}, failed at {', '.join(sorted(set(failed))) or 'no task'}."

    def uncommitted_since(self) -> datetime | None:
        """Since when live runs have been queued without one succeeding (``health.uncommitted_since``)."""
        rows = self.session.execute(
            select(DagRun.queued_at, DagRun.run_after, DagRun.state, DagRun.run_type, DagRun.conf)
            .where(DagRun.dag_id == self.names.dag_id)
            .order_by(DagRun.run_after.desc())
            .limit(RUNS_READ)
        ).all()
        runs = [
            RunSeen(queued or after, str(state), is_live(conf, backfill=run_type == DagRunType.BACKFILL_JOB))
            for queued, after, state, run_type, conf in rows
        ]
        return uncommitted_since(runs)

    def view(self) -> StreamView:
        now = self.now
        dag = self.session.get(DagModel, self.names.dag_id)
        troubles = (Trouble.from_json(self.state(TROUBLE_PREFIX + kind)) for kind in (AUTH0_REFUSED, RETENTION_GAP))
        index = read_index(self.state)
        found = (CommitRecord.from_json(value) for value in self.xcoms("return_value", COMMIT_TASK))
        commits = [commit for commit in found if commit is not None]
        signals = Signals(
            now,
            self.watermark(),
            Attempt.from_json(self.state(ATTEMPT_KEY)),
            Reading.from_json(self.state(READING_KEY)),
            tuple(trouble for trouble in troubles if trouble is not None and trouble.open_at(now)),
            tuple(index),
            tuple(self.failures()),
            paused=bool(dag and dag.is_paused),
            failed_run=self.failed_run(),
            committed_at=max((commit.at for commit in commits), default=None),
            uncommitted_since=self.uncommitted_since(),
        )
        usage = (Auth0Usage.from_json(value) for value in self.xcoms(USAGE_XCOM_KEY, *READERS))
        shown = index[:SHOWN_DEAD_LETTERS]
        letters = (DeadLetter.from_json(self.state(DEAD_LETTER_PREFIX + log_id)) for log_id in shown)
        return StreamView.of(
            signals,
            commits,
            [one for one in usage if one is not None],
            [letter for letter in letters if letter is not None],
        )


def _value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class RedeliverBody(BaseModel):
    log_ids: list[str] | str  # "all" or log ids in the dead-letter store


def registered_streams(session: Session) -> list[tuple[StreamNames, str]]:
    """Every stream DAG the dag-processor has registered and not since lost, with its description."""
    rows = session.execute(
        select(DagModel.dag_id, DagModel.description)
        .where((DagModel.dag_id == DAG_ID) | DagModel.dag_id.startswith(STREAM_DAG_PREFIX, autoescape=True))
        .where(~DagModel.is_stale)
        .order_by(DagModel.dag_id)
    ).all()
    found = ((StreamNames.of_dag(dag_id), description or "") for dag_id, description in rows)
    return [(names, description) for names, description in found if names is not None]


def missing_read_pools(session: Session, dag_ids: list[str]) -> dict[str, str]:
    """The read pool each of these DAGs' tasks asks for that does not exist, by DAG: those tasks never start."""
    from airflow.models.pool import Pool
    from airflow.models.serialized_dag import SerializedDagModel

    pools = set(session.scalars(select(Pool.pool)))
    missing = {}
    for dag_id in dag_ids:
        dag = SerializedDagModel.get_dag(dag_id, session=session)
        asked = {task.pool for task in (dag.tasks if dag is not None else ()) if is_read_pool(task.pool)}
        for pool in asked - pools:
            missing[dag_id] = pool
    return missing


def _stream_names(dag_id: str, session: Session) -> StreamNames:
    names = StreamNames.of_dag(dag_id)
    if names is None or session.get(DagModel, dag_id) is None:
        raise HTTPException(404, f"No Auth0 webhook stream has the DAG {dag_id!r}.")
    return names


def create_app() -> FastAPI:
    # no docs routes: /docs, /redoc and /openapi.json would be open to anyone
    app = FastAPI(title="Auth0 webhook stream", docs_url=None, redoc_url=None, openapi_url=None)
    may_read = [Depends(requires_access_dag("GET", param_dag_id=DAG_ID))]
    may_trigger = [Depends(requires_access_dag("POST", DagAccessEntity.RUN, param_dag_id=DAG_ID))]
    # a stream's own pages: the DAG id in the path is what the permission is checked against
    may_read_stream = [Depends(requires_access_dag("GET"))]
    may_trigger_stream = [Depends(requires_access_dag("POST", DagAccessEntity.RUN))]

    def lines(session: Session, user: Any) -> list[StreamLine]:
        from airflow.api_fastapi.app import get_auth_manager

        found = registered_streams(session)
        # as the auth manager grants each DAG (FAB's DAG:<dag_id>, a team's bundles), as the UI's list of DAGs does
        allowed = get_auth_manager().get_authorized_dag_ids(user=user, method="GET", session=session)
        shown = [(names, description) for names, description in found if names.dag_id in allowed]
        missing = missing_read_pools(session, [names.dag_id for names, _ in shown])
        now = datetime.now(UTC)
        return [
            StreamLine(
                names.label,
                names.dag_id,
                f"{names.dag_id}/",  # relative to the list, /streams/: the single DAG's page is there too
                description,
                StreamReader(session, now, names).view(),
                _pool_problem(missing[names.dag_id]) if names.dag_id in missing else None,
            )
            for names, description in shown
        ]

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request, session: SessionDep, user: GetUserDep) -> HTMLResponse:
        """The single DAG's stream; with streams from a streams file, the list of the streams the user may read.

        The UI's menu entry leads here: with streams there is no DAG ``auth0_webhooks`` to ask about, and a
        user who may read only some streams is sent to the list, which checks each stream's DAG."""
        if any(names != LEGACY for names, _ in registered_streams(session)):
            return RedirectResponse("streams/", status_code=303)
        requires_access_dag("GET", param_dag_id=DAG_ID)(request, user)
        view = StreamReader(session, datetime.now(UTC)).view()
        return HTMLResponse(render(view), headers={"Cache-Control": "no-store"})

    @app.get("/api/status", dependencies=may_read)
    def stream_status(session: SessionDep) -> dict[str, Any]:
        return StreamReader(session, datetime.now(UTC)).view().to_json()

    @app.post("/api/redeliver", dependencies=may_trigger)
    def redeliver(body: RedeliverBody, user: GetUserDep, session: SessionDep) -> dict[str, Any]:
        return _redeliver(LEGACY, body, user, session)

    @app.get("/streams/", response_class=HTMLResponse)
    def index(session: SessionDep, user: GetUserDep) -> HTMLResponse:
        """Every stream the user may read: its state, lag and receiver, and a link to its page."""
        return HTMLResponse(
            render_index(lines(session, user), datetime.now(UTC)), headers={"Cache-Control": "no-store"}
        )

    @app.get("/streams/api/streams")
    def index_status(session: SessionDep, user: GetUserDep) -> list[dict[str, Any]]:
        return [
            {"stream": line.label, "dag_id": line.dag_id, "problem": line.problem, **line.view.to_json()}
            for line in lines(session, user)
        ]

    @app.get("/streams/{dag_id}/", dependencies=may_read_stream, response_class=HTMLResponse)
    def stream_page(dag_id: str, session: SessionDep) -> HTMLResponse:
        names = _stream_names(dag_id, session)
        view = StreamReader(session, datetime.now(UTC), names).view()
        title = "Auth0 webhook stream" if names == LEGACY else f"Auth0 webhook stream {names.name}"
        return HTMLResponse(render(view, title), headers={"Cache-Control": "no-store"})

    @app.get("/streams/{dag_id}/api/status", dependencies=may_read_stream)
    def one_stream_status(dag_id: str, session: SessionDep) -> dict[str, Any]:
        return StreamReader(session, datetime.now(UTC), _stream_names(dag_id, session)).view().to_json()

    @app.post("/streams/{dag_id}/api/redeliver", dependencies=may_trigger_stream)
    def redeliver_stream(dag_id: str, body: RedeliverBody, user: GetUserDep, session: SessionDep) -> dict[str, Any]:
        return _redeliver(_stream_names(dag_id, session), body, user, session)

    return app


def _pool_problem(pool: str) -> str:
    return (
        f"The read pool {pool!r} does not exist, so this stream's reads never start. Create it with one slot: "
        f"airflow pools set {pool} 1 'Auth0 reads, one at a time'"
    )


def _redeliver(names: StreamNames, body: RedeliverBody, user: Any, session: Session) -> dict[str, Any]:
    """Trigger a redelivery run, as the DAG's Trigger form with conf {"redeliver": ...} does."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.sdk.exceptions import AirflowException

    index = read_index(StreamReader(session, datetime.now(UTC), names).state)
    try:
        to_redeliver(body.log_ids, index, names.stream.name)
    except AirflowException as exc:
        raise HTTPException(400, str(exc)) from None
    run = trigger_dag(
        names.dag_id,
        triggered_by=DagRunTriggeredByType.UI,
        triggering_user_name=user.get_name(),
        run_after=datetime.now(UTC),
        conf={REDELIVER_PARAM: body.log_ids},
        session=session,
    )
    return {"dag_run_id": run.run_id if run else None}
