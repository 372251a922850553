# The console's tests run on the API tests' help desk (tests/api/desk.py).
from tests.api.desk import api_app, desk
from tests.fixtures.smtp import smtp_server

__all__ = ["api_app", "desk", "smtp_server"]
