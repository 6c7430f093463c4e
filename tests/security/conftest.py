"""The API personas and the sample job of tests/api, for the attacks here."""

from tests.api.conftest import (  # noqa: F401
    admin_client,
    anon_client,
    job,
    operator_client,
    outsider_client,
    viewer_client,
)
