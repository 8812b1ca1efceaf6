"""A run's config as people type it in the New run form: a JSON object, or `key=value` lines.

In lines, values read as what they look like (`lr=3e-4` a number, `amp=true` a bool, `layers=[64, 64]` a list,
`note="a b"` a string), so the runs table can sort and compare them; anything else stays the text it is.
"""

from __future__ import annotations

import json
import math
from typing import Any

from services.errors import Invalid

WORDS = {'true': True, 'false': False, 'null': None, 'none': None}


def parse(text: str) -> dict[str, Any]:
    """The config `text` says; {} when it is empty. Refused with the line or position that is wrong."""
    text = (text or '').strip()
    if not text:
        return {}
    if text.startswith('{'):
        try:
            found = json.loads(text)
        except json.JSONDecodeError as error:
            raise Invalid(f'The config is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}.') \
                from None
        if not isinstance(found, dict):
            raise Invalid('The config must be one JSON object ({"lr": 0.001}) or key=value lines.')
        return found
    config: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        key, sep, value = line.partition('=')
        key = key.strip()
        if not sep or not key:
            raise Invalid(f'Config line {number} is not key=value (like lr=0.001), nor is the config a JSON object: '
                          f'"{line.strip()[:40]}".')
        if key in config:
            raise Invalid(f'Config line {number} sets "{key[:40]}" a second time.')
        config[key] = value_of(value.strip())
    return config


def value_of(text: str) -> Any:
    """'3e-4' -> 0.0003, 'true' -> True, '[1, 2]' -> [1, 2], '"x"' -> 'x', 'adam' -> 'adam'."""
    if text.lower() in WORDS:
        return WORDS[text.lower()]
    if text[:1] in '[{"' and text:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text  # JSON holds no nan or inf: 'inf' stays a word
