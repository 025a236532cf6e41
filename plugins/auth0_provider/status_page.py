"""The status page: a FastAPI app the API server mounts at ``STATUS_URL_PREFIX`` (see auth0_webhooks_plugin).

It reads what the DAG already keeps in the metadata DB, and nothing else: the watermark Variable,
the stream asset's state store (attempt, last reading, troubles, dead letters), the XComs of the
last 24 hours' commits (``records.CommitRecord``), Auth0 reads (``records.Auth0Usage``) and failed
delivery tries (``records.Failure``), and the DAG's latest run.

Every route depends on Airflow's own authentication and authorization: reading needs permission to
read the DAG, Redeliver permission to trigger it. FastAPI's own docs routes are off. Imported by the
API server only, on the first request (``LazyApp``): the security module it needs costs seconds to
import, which the scheduler and the task processes must not pay.
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
from airflow.utils.types import DagRunTriggeredByType
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from auth0_provider.dead_letters import index_from, to_redeliver
from auth0_provider.health import Signals
from auth0_provider.names import (
    ATTEMPT_KEY,
    COMMIT_TASK,
    DAG_ID,
    DEAD_LETTER_INDEX,
    DEAD_LETTER_PREFIX,
    DELIVER_TASK,
    FAILURE_XCOM_KEY,
    FETCH_TASK,
    PREFETCH_TASK,
    READING_KEY,
    REDELIVER_PARAM,
    STREAM,
    TROUBLE_PREFIX,
    USAGE_XCOM_KEY,
    WATERMARK_VARIABLE,
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
from auth0_provider.status_view import HOURS, SHOWN_DEAD_LETTERS, SHOWN_FAILURES, StreamView, render
from auth0_provider.watermark import Watermark

STILL_FAILING = (TaskInstanceState.FAILED, TaskInstanceState.UP_FOR_RETRY)


class StreamReader:
    """The stream's records, straight from the metadata DB (the API server's session)."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now
        self.since = now - timedelta(hours=HOURS)
        self._asset_id = session.scalar(select(AssetModel.id).where(AssetModel.name == STREAM.name))

    def state(self, key: str) -> Any:
        if self._asset_id is None:
            return None
        from airflow._shared.state import AssetScope

        raw = get_state_backend().get(AssetScope(asset_id=self._asset_id), key, session=self.session)
        return None if raw is None else json.loads(raw)

    def watermark(self) -> Watermark | None:
        row = self.session.scalar(select(Variable).where(Variable.key == WATERMARK_VARIABLE))
        try:
            return Watermark.from_json(json.loads(row.val)) if row is not None and row.val else None
        except ValueError:
            return None

    def xcoms(self, key: str, *task_ids: str) -> list[Any]:
        """The values these tasks pushed under ``key`` in the last ``HOURS`` hours, newest first."""
        query = (
            select(XComModel.value)
            .where(
                XComModel.dag_id == DAG_ID,
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
                XComModel.dag_id == DAG_ID,
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
            select(DagRun).where(DagRun.dag_id == DAG_ID).order_by(DagRun.run_after.desc()).limit(1)
        ).first()
        if run is None or run.state != "failed":
            return None
        failed = self.session.scalars(
            select(TaskInstance.task_id).where(
                TaskInstance.dag_id == DAG_ID,
                TaskInstance.run_id == run.run_id,
                TaskInstance.state == TaskInstanceState.FAILED,
            )
        ).all()
        return f"The latest run, {run.run_id}, failed at {', '.join(sorted(set(failed))) or 'no task'}."

    def view(self) -> StreamView:
        now = self.now
        dag = self.session.get(DagModel, DAG_ID)
        troubles = (Trouble.from_json(self.state(TROUBLE_PREFIX + kind)) for kind in (AUTH0_REFUSED, RETENTION_GAP))
        index = index_from(self.state(DEAD_LETTER_INDEX))
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
        )
        usage = (Auth0Usage.from_json(value) for value in self.xcoms(USAGE_XCOM_KEY, FETCH_TASK, PREFETCH_TASK))
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


def create_app() -> FastAPI:
    # no docs routes: /docs, /redoc and /openapi.json would be open to anyone
    app = FastAPI(title="Auth0 webhook stream", docs_url=None, redoc_url=None, openapi_url=None)
    may_read = [Depends(requires_access_dag("GET", param_dag_id=DAG_ID))]
    may_trigger = [Depends(requires_access_dag("POST", DagAccessEntity.RUN, param_dag_id=DAG_ID))]

    @app.get("/", dependencies=may_read, response_class=HTMLResponse)
    def page(session: SessionDep) -> HTMLResponse:
        view = StreamReader(session, datetime.now(UTC)).view()
        return HTMLResponse(render(view), headers={"Cache-Control": "no-store"})

    @app.get("/api/status", dependencies=may_read)
    def stream_status(session: SessionDep) -> dict[str, Any]:
        return StreamReader(session, datetime.now(UTC)).view().to_json()

    @app.post("/api/redeliver", dependencies=may_trigger)
    def redeliver(body: RedeliverBody, user: GetUserDep, session: SessionDep) -> dict[str, Any]:
        """Trigger a redelivery run, as the DAG's Trigger form with conf {"redeliver": ...} does."""
        from airflow.api.common.trigger_dag import trigger_dag
        from airflow.sdk.exceptions import AirflowException

        index = index_from(StreamReader(session, datetime.now(UTC)).state(DEAD_LETTER_INDEX))
        try:
            to_redeliver(body.log_ids, index)
        except AirflowException as exc:
            raise HTTPException(400, str(exc)) from None
        run = trigger_dag(
            DAG_ID,
            triggered_by=DagRunTriggeredByType.UI,
            triggering_user_name=user.get_name(),
            run_after=datetime.now(UTC),
            conf={REDELIVER_PARAM: body.log_ids},
            session=session,
        )
        return {"dag_run_id": run.run_id if run else None}

    return app
