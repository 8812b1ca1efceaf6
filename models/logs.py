"""A run's output, a line a row."""

import re

from tortoise import fields, models

_WORDS = {'TRACE': 10, 'DEBUG': 10, 'INFO': 20, 'WARN': 30, 'WARNING': 30, 'ERROR': 40, 'CRITICAL': 50, 'FATAL': 50}
_UPPER = re.compile(r'\b(TRACE|DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b')  # logging's own format
_PREFIX = re.compile(r'^\s*\[?(trace|debug|info|warning|warn|error|critical|fatal)\b\]?:?', re.IGNORECASE)
_TRACEBACK = re.compile(r'^(Traceback \(most recent call last\)|[A-Za-z_][\w.]*(Error|Exception): )')
LOOKS_AT = 200  # a level word is near the start; one deep in a message ("... no ERROR found") is not its level


class LogLine(models.Model):
    # A line of a run's output, in the order it arrived; the run page tails the newest ones.
    id = fields.BigIntField(primary_key=True)
    run = fields.ForeignKeyField('models.Run', related_name='log_lines', on_delete=fields.CASCADE)
    timestamp = fields.FloatField()
    line = fields.TextField()
    # the level the line says it has (logging's numbers: 10 debug .. 50 critical), read from it when stored
    # (level_of below); null when it says none. The run page filters on it, by (run_id, level, id)
    level = fields.SmallIntField(null=True)

    class Meta:
        table = 'log_lines'
        indexes = (('run_id', 'id'), ('run_id', 'level', 'id'))


def level_of(line: str) -> int | None:
    """The level a line says it has: logging's name in capitals ('2026-11-26 INFO trainer: ...', '[ERROR] ...'), a
    prefix in any case ('error: ...', 'Warning: ...'), or a traceback; None when it says none."""
    head = line[:LOOKS_AT]
    if found := _UPPER.search(head):
        return _WORDS[found.group(1)]
    if found := _PREFIX.match(head):
        return _WORDS[found.group(1).upper()]
    return 40 if _TRACEBACK.match(head) else None
