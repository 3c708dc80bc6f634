"""Schemathesis against the live app (a real server on a loopback port): no 5xx and every response as documented.

Bounded to a few dozen examples per operation so that it stays under a minute on two cores. Every check runs
but one: "a schema-valid request must be accepted" cannot hold here, because samples are refused for what a
JSON schema cannot say (a blank answer, a lone surrogate, no contexts for a metric that needs them, a file
that is not CSV/JSONL/JSON/Parquet), and those refusals are 4xx with a message, as documented.
(Driven through Hypothesis directly: schemathesis's pytest plugin does not run under pytest 9.2.)
"""
from __future__ import annotations

import pytest
import schemathesis
from schemathesis.core.result import Err, Ok
from schemathesis.schemas import APIOperation
from hypothesis import HealthCheck, given, settings
from ragmeter.service.server.app import create_app
from ragmeter.service.settings import Settings
from schemathesis.checks import positive_data_acceptance

from .conftest import serving

SCHEMA = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


def _operation(result: Ok[APIOperation] | Err) -> APIOperation:
    if isinstance(result, Err):  # an operation schemathesis cannot read fails the module, loudly
        raise result.err()
    return result.ok()


OPERATIONS = [_operation(result) for result in SCHEMA.get_all_operations()]
EXAMPLES = 60
OPEN_PATHS = ("/healthz", "/readyz")
KEY = "key-conformance-0123456789"


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_every_operation_answers_as_documented(server, operation):
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def answers_as_documented(case):
        case.call_and_validate(base_url=server, excluded_checks=[positive_data_acceptance])

    answers_as_documented()


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_with_keys_every_operation_answers_as_documented_with_and_without_one(operation):
    """Keyed mode: the tenant paths with a key, and the 401 (or the open /healthz, /readyz) without one."""
    with serving(Settings(api_keys={"conformance": KEY})) as url:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def answers_as_documented(case):
            keyed = case.call_and_validate(base_url=url, headers={"X-API-Key": KEY},
                                           excluded_checks=[positive_data_acceptance])
            assert keyed.status_code != 401
            anonymous = case.call_and_validate(base_url=url, excluded_checks=[positive_data_acceptance])
            assert anonymous.status_code == (200 if operation.path in OPEN_PATHS else 401)

        answers_as_documented()
