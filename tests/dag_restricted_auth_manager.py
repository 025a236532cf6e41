"""A test-only auth manager: Airflow's SimpleAuthManager, with users who may act on some DAGs only.

The simple auth manager's roles (viewer, user, op, admin) grant every DAG alike; a deployment limits a
person to some DAGs with an auth manager that grants each DAG on its own (FAB's ``DAG:<dag_id>``
permissions, Keycloak's). This one does that, and nothing else, for the tests of the status page on a
real API server: ``DAG_RESTRICTED_USERS`` maps users to the only DAGs they may act on
(``crm_reader:auth0_webhooks__crm,ops:dag_a|dag_b``); any other user is as the simple auth manager has
them. Every check that names a DAG (the per-DAG routes, the UI's filtered lists, the batch checks and
``get_authorized_dag_ids``, which Airflow's base class builds on ``is_authorized_dag``) goes through it;
a question about DAGs in general (the UI's list of DAGs, before it filters) is the role's, as FAB
answers it for a user with some DAGs' permissions.

Set as ``[core] auth_manager = dag_restricted_auth_manager.DagRestrictedAuthManager`` with this file in
``$AIRFLOW_HOME/config``, a folder every Airflow process puts on its ``sys.path``.
"""

from __future__ import annotations

import os

from airflow.api_fastapi.auth.managers.base_auth_manager import ResourceMethod
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

USERS_VARIABLE = "DAG_RESTRICTED_USERS"


def restrictions(text: str) -> dict[str, set[str]]:
    """``user:dag|dag,user:dag`` as the DAGs each user may act on."""
    found: dict[str, set[str]] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        user, _, dags = entry.partition(":")
        found[user.strip()] = {dag.strip() for dag in dags.split("|") if dag.strip()}
    return found


class DagRestrictedAuthManager(SimpleAuthManager):
    def is_authorized_dag(
        self,
        *,
        method: ResourceMethod,
        user: SimpleAuthManagerUser,
        access_entity: DagAccessEntity | None = None,
        details: DagDetails | None = None,
    ) -> bool:
        allowed = restrictions(os.environ.get(USERS_VARIABLE, "")).get(user.get_name())
        if allowed is not None and details is not None and details.id is not None and details.id not in allowed:
            return False
        return super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)
