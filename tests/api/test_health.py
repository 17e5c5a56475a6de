"""Health and readiness endpoints, and error responses without stack traces."""

from fastapi.testclient import TestClient

from service.app import create_app
from tests.api.test_messages import message
from tests.conftest import KeywordClassifier, make_settings


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_database_and_model(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "database": "ok", "model": "test-keywords"}


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    url = "postgresql+psycopg://nobody@127.0.0.1:1/nothing"
    app = create_app(make_settings(url, db_pool_timeout_seconds=1), classifier=KeywordClassifier())
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_api_calls_get_503_with_retry_after_when_the_database_is_down():
    app = create_app(make_settings("postgresql+psycopg://nobody@127.0.0.1:1/nothing"), classifier=KeywordClassifier())
    with TestClient(app) as client:
        response = client.get("/api/v1/tickets", headers={"Authorization": "Bearer wcr_x"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "Traceback" not in response.text


def test_unknown_ticket_is_a_json_404(client, users):
    response = client.get("/api/v1/tickets/999999", headers=users["admin"])
    assert response.status_code == 404
    assert response.json() == {"detail": "ticket 999999 does not exist"}


def test_every_response_carries_a_request_id(client):
    response = client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert response.headers["X-Request-ID"] == "abc123"


def test_metrics_count_tickets_backlog_and_requests(client, users):
    client.post("/api/v1/messages", json=message(), headers=users["feed"])
    client.post("/api/v1/messages", json=message(), headers=users["feed"])  # a repeat: no new ticket

    text = client.get("/metrics").text

    assert 'webcare_tickets_created_total{category="public_space_report",channel="x",department="kcc"} 1.0' in text
    assert 'webcare_backlog_tickets{department="kcc",sla_state="running"} 1.0' in text
    assert 'webcare_classifier_confidence_count{category="public_space_report"} 1.0' in text
    assert 'webcare_request_seconds_count{method="POST",route="/api/v1/messages",status="201"} 1.0' in text
    assert 'webcare_request_seconds_count{method="POST",route="/api/v1/messages",status="200"} 1.0' in text
    # On PostgreSQL the new ticket's count waits in a change row until the worker folds it in.
    pending = 1.0 if client.app.state.engine.dialect.name == "postgresql" else 0.0
    assert f"webcare_report_changes_pending {pending}" in text
