"""Airflow provider that turns an Auth0 tenant's logs into webhooks."""

__version__ = "0.1.0"
