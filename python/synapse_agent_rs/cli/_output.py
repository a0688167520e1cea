"""Terminal output of the command-line tool: rich tables on a terminal, plain text otherwise."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table

MAX_COLUMNS = 8
"""Columns shown by a table of REST results; ``--json`` gives every field."""
FIRST_COLUMNS = ('submission_id', 'job_id', 'node_id', 'task_id', 'name', 'status', 'state')
"""Identifying columns come first; the others follow in the answer's order."""


def console(stream: TextIO) -> Console:
    """A console on `stream`: colours and boxes on a terminal, plain text when piped."""
    return Console(file=stream, highlight=False, soft_wrap=False, width=None if stream.isatty() else 200)


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]], stream: TextIO) -> None:
    """Prints rows under `columns`: a boxed table on a terminal, aligned columns otherwise."""
    tty = stream.isatty()
    out = Table(title=title if tty else None, box=box.SIMPLE_HEAD if tty else None, show_edge=tty, pad_edge=False)
    for name in columns:
        out.add_column(name, overflow='fold' if tty else 'ignore', no_wrap=not tty)
    for row in rows:
        out.add_row(*(cell_text(cell) for cell in row))
    console(stream).print(out)


def cell_text(value: Any) -> str:
    """A table cell: scalars as they are, containers as compact JSON."""
    if value is None:
        return ''
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(',', ':'), default=str)
    return str(value)


def records_table(records: Any, stream: TextIO) -> None:
    """Prints a REST answer (a list of dicts, a dict, or anything) as a table."""
    if isinstance(records, Mapping):
        records = [records]
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        stream.write(json.dumps(records, indent=2, default=str) + '\n')
        return
    scalar: list[str] = []
    for record in records:
        for key, value in record.items():
            if key not in scalar and not isinstance(value, (dict, list)):
                scalar.append(str(key))
    columns = [c for c in FIRST_COLUMNS if c in scalar] + [c for c in scalar if c not in FIRST_COLUMNS]
    columns = columns[:MAX_COLUMNS]
    table(None, columns, [[r.get(c) for c in columns] for r in records], stream)


def print_json(value: Any, stream: TextIO = sys.stdout) -> None:
    stream.write(json.dumps(value, indent=2, default=str) + '\n')
