# Fixtures shared by the outbox tests (the same as the API tests). They are imported rather than named
# in `pytest_plugins`: pytest accepts that only in the top-level conftest.
from tests.api.desk import api_app, desk
from tests.fixtures.smtp import smtp_server

__all__ = ["api_app", "desk", "smtp_server"]
