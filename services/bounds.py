"""What both databases can store: the bounds every input is checked against before it reaches one.

SQLite takes any 64-bit integer and any text; PostgreSQL's `integer` columns (ids, limits in seconds) hold 32 bits,
its text and JSONB refuse the NUL character, and neither encodes a lone surrogate as UTF-8. Our JSON encoder refuses
integers beyond 64 bits and nesting beyond 255 levels. An input past one of these bounds is refused (422, naming the
field) before any query: otherwise it ends as a database error, a 500, which the SDK retries forever.

Each `*_problem` function answers what is wrong in words that follow the field's name ('must be at most ...'), or
None: services raise Invalid with it, and the API's pydantic validators a ValueError.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

INT_MAX = 2**31 - 1  # IntField: ids, max_duration_s, stall_timeout_s
BIGINT_MAX = 2**63 - 1  # BigIntField: steps, total_steps, log line ids
USD_MAX = 10**10 - 1  # DecimalField(max_digits=14, decimal_places=4): budget_usd, max_cost_usd
CONFIG_MAX_DEPTH = 20
CONFIG_MAX_BYTES = 64 * 1024


def header_safe(secret: str) -> bool:
    """Whether an API key can be sent at all: it goes into an HTTP header, which carries printable ASCII only."""
    return all('!' <= c <= '~' for c in secret)


def text_problem(text: str) -> str | None:
    """What keeps a text out of the database: a NUL character, or a lone surrogate (not encodable as UTF-8)."""
    if '\x00' in text:
        return 'must not contain the NUL character (\\u0000)'
    try:
        text.encode()
    except UnicodeEncodeError:
        return 'must be valid Unicode (it has a lone surrogate)'
    return None


def nested_text_problem(value: Any) -> str | None:
    """text_problem for every text in a JSON-like value, keys too, however deep (what pydantic checked the depth of)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if problem := text_problem(item):
                return problem
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return None


def strip_nul(text: str) -> str:
    """Job output as the database can keep it: a job that prints a NUL still keeps its log."""
    return text.replace('\x00', '') if '\x00' in text else text


def json_problem(value: Any) -> str | None:
    """What keeps a JSON value (a run's config, a spec's envs) out of both databases: nesting deeper than
    CONFIG_MAX_DEPTH, integers beyond 64 bits, numbers that are not finite, texts with NUL or lone surrogates;
    or, once those pass, a size over CONFIG_MAX_BYTES as JSON."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth > CONFIG_MAX_DEPTH:
                return f'must not nest deeper than {CONFIG_MAX_DEPTH} levels'
            if isinstance(item, dict):
                for key in item:
                    if not isinstance(key, str):
                        return 'must have text keys'
                    if problem := text_problem(key):
                        return f'keys {problem}'
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            if problem := text_problem(item):
                return problem
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not -BIGINT_MAX - 1 <= item <= BIGINT_MAX:
                return 'must hold whole numbers within ±2^63 (send larger ones as text or as decimals)'
        elif isinstance(item, float):
            if not math.isfinite(item):
                return 'must hold finite numbers (send NaN or Infinity as text)'
        else:
            return f'must hold only JSON values, not {type(item).__name__}'
    if len(orjson.dumps(value)) > CONFIG_MAX_BYTES:
        return f'must be at most {CONFIG_MAX_BYTES // 1024} KB as JSON'
    return None
