# The API tests' desk (a mailbox on the real SMTP test server) and the reports' desk, for the CSAT tests.
import pytest

from app.config import Settings
from tests.api.desk import api_app, desk
from tests.fixtures.smtp import smtp_server
from tests.reports.desk import report_desk

__all__ = ["api_app", "desk", "report_desk", "smtp_server"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Surveys carry links only where the app's public address is set (ROUTEDESK_PUBLIC_URL)."""
    return settings.model_copy(update={"public_url": "http://localhost:8000"})
