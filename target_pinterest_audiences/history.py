"""Pure: the store's matching history as a terminal table and as one self-contained HTML page.

The page draws each list's members held and audience size over time as inline SVG: no
script, no stylesheet or font from elsewhere, so it opens offline and adds no dependency to
the target's install (a charting library would bring JavaScript to inline or a CDN to reach).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from target_pinterest_audiences.matching import audience_text, share_text

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from target_pinterest_audiences.matching import Observation

HEADERS = ("time (UTC)", "run", "members held", "audience size", "share matched", "audience status", "list status")
WIDTH, HEIGHT, MARGIN = 640, 220, 48
MEMBERS_COLOUR, SIZE_COLOUR = "#1f77b4", "#d62728"


def by_list(history: Sequence[Observation]) -> dict[str, list[Observation]]:
    """The observations of each list, lists by name, each oldest first."""
    found: dict[str, list[Observation]] = {}
    for seen in history:
        found.setdefault(seen.name, []).append(seen)
    return dict(sorted(found.items()))


def _cells(seen: Observation) -> tuple[str, ...]:
    return (
        seen.recorded_at.strftime("%Y-%m-%d %H:%M"),
        str(seen.run_id),
        str(seen.members_held),
        audience_text(seen),
        share_text(seen),
        seen.audience_status or "-",
        seen.list_status or "-",
    )


def text_tables(history: Sequence[Observation]) -> str:
    """Each list's history as a fixed-width table, for the terminal."""
    parts = []
    for name, rows in by_list(history).items():
        body = [_cells(seen) for seen in rows]
        widths = [max(len(line[i]) for line in (HEADERS, *body)) for i in range(len(HEADERS))]
        lines = [f"{name} ({rows[-1].list_type}, id {rows[-1].list_id})"]
        lines.extend(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in (HEADERS, tuple("-" * width for width in widths), *body)
        )
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _points(values: Sequence[int | None], top: int) -> str:
    count = len(values)
    step = (WIDTH - 2 * MARGIN) / max(count - 1, 1)
    points = []
    for index, value in enumerate(values):
        if value is None:
            continue
        x = MARGIN + index * step if count > 1 else WIDTH / 2
        y = HEIGHT - MARGIN - (HEIGHT - 2 * MARGIN) * value / top
        points.append(f"{x:.1f},{y:.1f}")
    return " ".join(points)


def chart(rows: Sequence[Observation]) -> str:
    """One list's members held and audience size over its runs, as an inline SVG element."""
    held = [seen.members_held for seen in rows]
    sizes = [seen.audience_size if seen.audience_id is not None else None for seen in rows]
    top = max([1, *held, *(size for size in sizes if size is not None)])
    first, last = rows[0].recorded_at.strftime("%Y-%m-%d %H:%M"), rows[-1].recorded_at.strftime("%Y-%m-%d %H:%M")
    lines = []
    for values, colour, label in ((held, MEMBERS_COLOUR, "members held"), (sizes, SIZE_COLOUR, "audience size")):
        points = _points(values, top)
        if points:
            lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
            lines.extend(
                f'<circle cx="{point.split(",")[0]}" cy="{point.split(",")[1]}" r="3" fill="{colour}">'
                f"<title>{label}</title></circle>"
                for point in points.split()
            )
    bottom = HEIGHT - MARGIN
    return "\n".join(
        [
            (
                f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}"'
                f' viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="members held and audience size over time">'
            ),
            f'<line x1="{MARGIN}" y1="{bottom}" x2="{WIDTH - MARGIN}" y2="{bottom}" stroke="#888"/>',
            f'<line x1="{MARGIN}" y1="{MARGIN}" x2="{MARGIN}" y2="{bottom}" stroke="#888"/>',
            f'<text x="{MARGIN - 6}" y="{MARGIN + 4}" text-anchor="end" font-size="11">{top}</text>',
            f'<text x="{MARGIN - 6}" y="{bottom + 4}" text-anchor="end" font-size="11">0</text>',
            f'<text x="{MARGIN}" y="{bottom + 18}" font-size="11">{first}</text>',
            f'<text x="{WIDTH - MARGIN}" y="{bottom + 18}" text-anchor="end" font-size="11">{last}</text>',
            f'<text x="{MARGIN}" y="{MARGIN - 16}" font-size="12" fill="{MEMBERS_COLOUR}">&#9632; members held</text>',
            (
                f'<text x="{MARGIN + 130}" y="{MARGIN - 16}" font-size="12" fill="{SIZE_COLOUR}">&#9632; audience size'
                " (Pinterest; lags 24 to 48 h)</text>"
            ),
            *lines,
            "</svg>",
        ]
    )


def _table(headers: Sequence[str], body: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in headers)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if cell is None else str(cell))}</td>" for cell in line) + "</tr>"
        for line in body
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
th { background: #f3f3f3; }
.warnings li { color: #a40000; }
section.list { margin-bottom: 2em; }
"""


def _last_run(last: Mapping[str, Any] | None) -> str:
    if not last:
        return "<p>No finished run in the store yet.</p>"
    headers = ("list", "type", "id", "added", "removed", "unchanged", "requests", "status")
    body = [
        [row.get(key) for key in ("name", "list_type", "id", "added", "removed", "unchanged", "requests", "status")]
        for row in last.get("lists", [])
    ]
    summary = (
        f"<p>Status <b>{html.escape(str(last.get('status')))}</b> in {last.get('duration_seconds')} s:"
        f" {last.get('records_read')} records read, {last.get('requests')} requests.</p>"
    )
    matching_headers = ("list", "members held", "audience", "share matched", "change", "list status")
    matching = [
        [
            item.get("name"),
            item.get("members_held"),
            item.get("audience"),
            "pending" if item.get("share_matched") is None else f"{item['share_matched']:.1%}",
            "-" if item.get("share_change") is None else f"{item['share_change'] * 100:+.1f} pt",
            item.get("list_status"),
        ]
        for item in last.get("matching", [])
    ]
    return summary + _table(headers, body) + (_table(matching_headers, matching) if matching else "")


def page(history: Sequence[Observation], warnings: Sequence[str], last: Mapping[str, Any] | None, where: str) -> str:
    """The whole HTML page: a chart and a table per list, the warnings, the last run's report."""
    sections = []
    for name, rows in by_list(history).items():
        sections.append(
            f'<section class="list"><h2>{html.escape(name)}</h2>'
            f"<p>{html.escape(rows[-1].list_type)} list, id {html.escape(rows[-1].list_id)}</p>"
            f"{chart(rows)}{_table(HEADERS, [_cells(seen) for seen in rows])}</section>"
        )
    warning_items = "".join(f"<li>{html.escape(warning)}</li>" for warning in warnings) or "<li>none</li>"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            "<title>Pinterest audiences: matching history</title>",
            f"<style>{_STYLE}</style></head><body>",
            "<h1>Is my audience reaching people?</h1>",
            (
                f"<p>From the store {html.escape(where)}. Audience sizes are Pinterest's and lag 24 to 48 h behind a"
                " change; a size not known yet is pending.</p>"
            ),
            f'<h2>Warnings of the last run</h2><ul class="warnings">{warning_items}</ul>',
            *(sections or ["<p>No matching history yet: a real run records it.</p>"]),
            f"<h2>The last run's report</h2>{_last_run(last)}",
            "</body></html>",
        ]
    )
