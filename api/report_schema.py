"""The report body as JSON Schema, for /docs and for the fuzz test. services/ingest.parse is what checks a report
(faster than pydantic on 10,000 points, and with messages that name the point), so this only describes it."""

from __future__ import annotations

from typing import Any

from models import StepStatus
from services import bounds, ingest

_POINT = {
    'type': 'object',
    'required': ['name', 'step', 'value'],
    'properties': {
        'name': {'type': 'string', 'minLength': 1, 'maxLength': 200},
        'step': {'type': 'integer', 'minimum': 0, 'maximum': bounds.BIGINT_MAX},
        'value': {'anyOf': [{'type': 'number'}, {'enum': ['NaN', 'Infinity', '-Infinity']}]},
        'time': {'type': 'number', 'description': "Unix seconds; the server's clock when left out"},
    },
}
_PROGRESS = {'anyOf': [
    {'type': 'object', 'required': ['step', 'total_steps'], 'properties': {
        'step': {'type': 'integer', 'minimum': 0, 'maximum': bounds.BIGINT_MAX},
        'total_steps': {'type': 'integer', 'minimum': 1, 'maximum': bounds.BIGINT_MAX}}},
    {'type': 'object', 'required': ['fraction'], 'properties': {
        'fraction': {'type': 'number', 'minimum': 0, 'maximum': 1}}},
]}
_STEP = {
    'type': 'object',
    'required': ['name'],
    'properties': {
        'name': {'type': 'string', 'minLength': 1, 'maxLength': 100},
        'status': {'enum': [status.value for status in StepStatus], 'default': StepStatus.RUNNING.value},
        'description': {'type': 'string'},
    },
}
_STATUS = {
    'type': 'object',
    'required': ['state'],
    'properties': {
        'state': {'enum': sorted(state.value for state in ingest.REPORTABLE_STATES)},
        'message': {'type': 'string', 'maxLength': 2000},
    },
}
REPORT: dict[str, Any] = {
    'type': 'object',
    'additionalProperties': False,
    'properties': {
        'metrics': {'type': 'array', 'items': _POINT, 'maxItems': ingest.MAX_POINTS},
        'progress': _PROGRESS,
        'steps': {'type': 'array', 'items': _STEP},
        'logs': {'type': 'array', 'items': {'type': 'string'}, 'maxItems': ingest.MAX_LOG_LINES},
        'status': _STATUS,
    },
}
OPENAPI = {'requestBody': {'required': False, 'content': {'application/json': {'schema': REPORT}}}}
