"""Terminal output of the command-line tool: rich tables on a terminal, plain text otherwise.

Everything that came from the agent (log lines, error details, table cells) is data, never
instructions to the terminal: on a terminal its control characters are shown as visible
escapes (``\\x1b``), and table cells are ``rich.text.Text``, so ``[/bold]`` is shown as
written and never read as markup. Piped output and ``--json`` stay byte-exact.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

MAX_COLUMNS = 8
"""Columns shown by a table of REST results; ``--json`` gives every field."""
FIRST_COLUMNS = ('submission_id', 'job_id', 'node_id', 'task_id', 'name', 'status', 'state')
"""Identifying columns come first; the others follow in the answer's order."""

# C0 controls but tab, DEL and the C1 controls: what a terminal may act on (OSC 0/52, CSI, BEL).
_CONTROLS = {code: f'\\x{code:02x}' for code in (*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F, *range(0x80, 0xA0))}


def visible(text: str) -> str:
    """`text` with every C0/C1 control character except tab shown as a ``\\xNN`` escape."""
    return text.translate(_CONTROLS)


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (ValueError, OSError):  # closed
        return False


def colour_wanted(stream: TextIO) -> bool:
    """Colour on a terminal, unless ``NO_COLOR`` is set (https://no-color.org) or ``TERM=dumb``."""
    return is_terminal(stream) and not os.environ.get('NO_COLOR') and os.environ.get('TERM') != 'dumb'


def console(stream: TextIO) -> Console:
    """A console on `stream`: colours and boxes on a terminal, plain text when piped."""
    tty = is_terminal(stream)
    return Console(
        file=stream,
        highlight=False,
        soft_wrap=False,
        width=None if tty else 200,
        no_color=not colour_wanted(stream),
        markup=False,
        emoji=False,
    )


def plural(count: int, noun: str) -> str:
    """``1 job``, ``2 jobs``, ``1,000 lines``."""
    return f'{count:,} {noun}' + ('' if count == 1 else 's')


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]], stream: TextIO) -> None:
    """Prints rows under `columns`: a boxed table on a terminal, aligned columns otherwise."""
    tty = is_terminal(stream)
    out = Table(
        title=Text(title) if tty and title else None,
        box=box.SIMPLE_HEAD if tty else None,
        show_edge=tty,
        pad_edge=False,
    )
    for name in columns:
        out.add_column(Text(name), overflow='fold' if tty else 'ignore', no_wrap=not tty)
    for row in rows:
        out.add_row(*(Text(visible(cell_text(cell)) if tty else cell_text(cell)) for cell in row))
    console(stream).print(out)


def cell_text(value: Any) -> str:
    """A table cell: scalars as they are, containers as compact JSON."""
    if value is None:
        return ''
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(',', ':'), default=str, ensure_ascii=False)
    return str(value)


def records_table(records: Any, stream: TextIO) -> None:
    """Prints a REST answer (a list of dicts, a dict, or anything) as a table."""
    if isinstance(records, Mapping):
        records = [records]
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        text = json.dumps(records, indent=2, default=str, ensure_ascii=False)
        stream.write((visible(text) if is_terminal(stream) else text) + '\n')
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
