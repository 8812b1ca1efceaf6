"""Seconds per test file and database from the JUnit XML files of a `make test` run, as tests/durations.json, which
tests/conftest.py spreads files over shards by.

    python tests/durations.py <dir with sqlite-1.xml, postgres-2.xml, ...> > tests/durations.json
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(directory: Path) -> None:
    seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for report in sorted(directory.glob('*.xml')):
        database = report.stem.rpartition('-')[0]  # sqlite-1.xml: the first shard of the SQLite run
        for case in ElementTree.parse(report).iter('testcase'):
            seconds[database][_file_of(case.get('classname', ''))] += float(case.get('time', 0))
    print(json.dumps({database: {path: round(total, 1) for path, total in sorted(files.items())}
                      for database, files in sorted(seconds.items())}, indent=1))


def _file_of(classname: str) -> str:
    """tests.test_x.TestGroup -> tests/test_x.py: the longest leading part that names a file."""
    parts = classname.split('.')
    for end in range(len(parts), 0, -1):
        path = '/'.join(parts[:end]) + '.py'
        if (ROOT / path).exists():
            return path
    return classname


if __name__ == '__main__':
    main(Path(sys.argv[1]))
