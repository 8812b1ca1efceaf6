"""MLflow's search language for runs: `filter` strings such as
`params.lr = '0.1' and metrics.loss < 0.5 and tags.team = 'x' and attributes.status = 'FINISHED'`, and `order_by`
items such as `metrics.loss ASC`. Parsed here, applied to runs already read (a project's runs fit in memory)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.errors import Invalid

ENTITIES = {'metric': 'metrics', 'metrics': 'metrics', 'param': 'params', 'params': 'params', 'parameter': 'params',
            'parameters': 'params', 'tag': 'tags', 'tags': 'tags', 'attribute': 'attributes',
            'attributes': 'attributes', 'attr': 'attributes', 'run': 'attributes'}
ATTRIBUTES = {'run_id', 'run_name', 'status', 'start_time', 'end_time', 'user_id', 'artifact_uri', 'lifecycle_stage',
              'created', 'run_uuid', 'name', 'experiment_id', 'creation_time', 'last_update_time'}
OPERATORS = ('!=', '<=', '>=', '=', '<', '>', 'NOT IN', 'IN', 'NOT LIKE', 'NOT ILIKE', 'LIKE', 'ILIKE')
MAX_FILTER_CHARS = 4000
_TOKEN = re.compile(r"""\s*(?:
    (?P<quoted>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<list>\((?:[^()'"]|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")*\))
  | (?P<op>!=|<=|>=|=|<|>)
  | (?P<word>(?:[\w\-+/:@]+\.)?(?:`[^`]+`|[\w.\-+/:@]+))  # entity.key, the key maybe in backticks
)""", re.VERBOSE)


@dataclass(frozen=True, slots=True)
class Clause:
    entity: str  # metrics | params | tags | attributes
    key: str
    op: str
    value: Any  # str, float, or a tuple of str for IN


@dataclass(frozen=True, slots=True)
class Order:
    entity: str
    key: str
    descending: bool


def parse_filter(text: str | None) -> list[Clause]:
    """The clauses of a filter, joined by AND (MLflow's language has no OR); Invalid naming what is wrong."""
    text = (text or '').strip()
    if not text:
        return []
    if len(text) > MAX_FILTER_CHARS:
        raise Invalid(f'The filter is longer than {MAX_FILTER_CHARS:,} characters.')
    tokens = _tokens(text)
    clauses, index = [], 0
    while index < len(tokens):
        if clauses:
            if tokens[index].upper() != 'AND':
                raise Invalid(f"Invalid filter '{text}': clauses are joined with AND, found '{tokens[index]}'.")
            index += 1
            if index >= len(tokens):
                raise Invalid(f"Invalid filter '{text}': AND needs a clause after it.")
        entity, key = _identifier(tokens[index], text)
        op, index = _operator(tokens, index + 1, text)
        if index >= len(tokens):
            raise Invalid(f"Invalid filter '{text}': '{op}' needs a value.")
        clauses.append(Clause(entity, key, op, _value(entity, key, op, tokens[index], text)))
        index += 1
    return clauses


def parse_order(items: list[str] | None) -> list[Order]:
    orders = []
    for item in items or []:
        parts = str(item).strip().rsplit(None, 1)
        descending = len(parts) == 2 and parts[1].upper() == 'DESC'
        name = parts[0] if len(parts) == 2 and parts[1].upper() in {'ASC', 'DESC'} else str(item).strip()
        entity, key = _identifier(name, str(item))
        orders.append(Order(entity, key, descending))
    return orders


def matches(run: dict[str, dict[str, Any]], clauses: list[Clause]) -> bool:
    """Whether a run, as `{'metrics': {...}, 'params': {...}, 'tags': {...}, 'attributes': {...}}`, passes."""
    return all(_holds(run[clause.entity].get(clause.key), clause) for clause in clauses)


def sort_key(orders: list[Order]) -> Callable[[dict[str, dict[str, Any]]], tuple]:
    """A key for `sorted`: the orders given, then the newest first, as MLflow answers; missing values last."""
    def key(run: dict[str, dict[str, Any]]) -> tuple:
        parts: list[Any] = []
        for order in orders:
            value = run[order.entity].get(order.key)
            parts.append((value is None, _Reversed(value) if order.descending and value is not None else value
                          if value is not None else 0))
        parts.append(-(run['attributes'].get('start_time') or 0))
        parts.append(run['attributes']['run_id'])
        return tuple(parts)
    return key


# --- parsing ------------------------------------------------------------------------------------------------------

def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == '':
            break
        found = _TOKEN.match(text, position)
        if not found:
            raise Invalid(f"Invalid filter '{text}': cannot read it from '{text[position:position + 20]}'.")
        tokens.append(found.group(found.lastgroup))
        position = found.end()
    return tokens


def _identifier(token: str, text: str) -> tuple[str, str]:
    entity, dot, key = token.partition('.')
    if not dot or entity.lower() not in ENTITIES or not key:
        if token.strip('`') in ATTRIBUTES:  # a bare attribute name, as MLflow accepts for some
            return 'attributes', token.strip('`')
        raise Invalid(f"Invalid filter '{text}': '{token}' is not <metrics|params|tags|attributes>.<key>.")
    entity = ENTITIES[entity.lower()]
    key = key.strip('`').strip('"')
    if entity == 'attributes' and key not in ATTRIBUTES:
        raise Invalid(f"Invalid attribute key '{key}'; valid: {', '.join(sorted(ATTRIBUTES))}.")
    return entity, key


def _operator(tokens: list[str], index: int, text: str) -> tuple[str, int]:
    if index >= len(tokens):
        raise Invalid(f"Invalid filter '{text}': expected an operator.")
    word = tokens[index].upper()
    if word == 'NOT' and index + 1 < len(tokens) and tokens[index + 1].upper() in {'IN', 'LIKE', 'ILIKE'}:
        return f'NOT {tokens[index + 1].upper()}', index + 2
    if word in OPERATORS:
        return word, index + 1
    raise Invalid(f"Invalid filter '{text}': '{tokens[index]}' is not an operator "
                  f"({', '.join(OPERATORS)}).")


def _value(entity: str, key: str, op: str, token: str, text: str) -> Any:
    if op.endswith('IN'):
        if not token.startswith('('):
            raise Invalid(f"Invalid filter '{text}': {op} takes a list in parentheses.")
        return tuple(_unquoted(part.group(0)) for part in re.finditer(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"",
                                                                       token))
    if entity == 'metrics' or (entity == 'attributes' and key in {'start_time', 'end_time', 'created'}):
        try:
            return float(token)
        except ValueError:
            raise Invalid(f"Invalid filter '{text}': {entity}.{key} compares with a number, not {token}.") from None
    if token[:1] not in {"'", '"'}:
        raise Invalid(f"Invalid filter '{text}': the value {token} of {entity}.{key} must be quoted.")
    return _unquoted(token)


def _unquoted(token: str) -> str:
    return re.sub(r'\\(.)', r'\1', token[1:-1])


def _holds(actual: Any, clause: Clause) -> bool:
    op, wanted = clause.op, clause.value
    if actual is None:
        return op in {'!=', 'NOT IN', 'NOT LIKE', 'NOT ILIKE'} and clause.entity == 'attributes'
    if op in {'LIKE', 'ILIKE', 'NOT LIKE', 'NOT ILIKE'}:
        pattern = str(wanted).replace('%', '*').replace('_', '?')
        found = fnmatch.fnmatchcase(str(actual).lower() if 'ILIKE' in op else str(actual),
                                    pattern.lower() if 'ILIKE' in op else pattern)
        return found != op.startswith('NOT')
    if op in {'IN', 'NOT IN'}:
        return (str(actual) in wanted) != (op == 'NOT IN')
    if isinstance(wanted, float):
        try:
            actual = float(actual)
        except (TypeError, ValueError):
            return False
    else:
        actual = str(actual)
    return {'=': actual == wanted, '!=': actual != wanted, '<': actual < wanted, '<=': actual <= wanted,
            '>': actual > wanted, '>=': actual >= wanted}[op]


class _Reversed:
    """Sorts in the opposite order of the value it holds (for DESC within one tuple key)."""

    __slots__ = ('value',)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return other.value < self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)
