# The API tests' desk (a mailbox on the real SMTP test server) and the reports' desk, for the CSAT tests.
from tests.api.desk import api_app, desk
from tests.fixtures.smtp import smtp_server
from tests.reports.desk import report_desk

__all__ = ["api_app", "desk", "report_desk", "smtp_server"]
