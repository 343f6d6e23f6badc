"""Numbers read back from a figure that R's pdf() device drew (ggplot2: facetted panels of
points with error bars), straight from the page's drawing commands.

A vector PDF stores every point as coordinates printed to 0.01 pt: R draws a filled circle as
the ZapfDingbats glyph "l" placed so that its centre falls on the point, a filled triangle as a
three-vertex path, an error bar as three stroked segments, and each panel's grid lines at its
axis ticks. The axis is linear between the major grid lines and their tick labels, so each
drawn value is recovered to within one printing step (0.01 pt) in data units: `resolution`.

Only what such figures need is parsed: the page's content stream (zlib), its operators for
paths, colours, clipping and text. Pure: PDF bytes in, tables out.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

PRINT_STEP = 0.01  # R's pdf device prints coordinates with two decimals
DINGBAT_CENTRE = (0.396, 0.347)  # R's PDF_Circle: the disc glyph's centre, in units of its size
LEGEND_ROW = 6.0  # pt: a label's pieces (subscripts included) sit this close to their key's height
SYMBOL_FONT = {"s": "σ", "·": "•"}  # the Symbol font's codes R uses in these labels


def page_content(pdf: bytes) -> bytes:
    """The first page's content stream, inflated."""
    objects = {int(m.group(1)): m.end() for m in re.finditer(rb"(\d+) 0 obj", pdf)}
    page = re.search(rb"/Type /Page\b.*?/Contents (\d+) 0 R", pdf, re.S)
    if page is None:
        raise ValueError("no page with a content stream")
    start = objects[int(page.group(1))]
    head = re.compile(rb"\s*<<(.*?)>>\s*stream\r?\n", re.S).match(pdf, start)
    length = int(re.search(rb"/Length (\d+)", head.group(1)).group(1))
    raw = pdf[head.end() : head.end() + length]
    return zlib.decompress(raw) if b"/FlateDecode" in head.group(1) else raw


_TOKEN = re.compile(
    rb"\s*(?:(\((?:\\.|[^\\)])*\))|(\[)|(\])|(/[^\s/\[\]()<>]+)|([-+]?(?:\d+\.?\d*|\.\d+))|([A-Za-z'\"*]+))"
)


def _tokens(content: bytes):
    """(kind, value) pairs: numbers, names, strings, arrays and operators (what R writes)."""
    pos, stack = 0, [[]]
    while pos < len(content):
        m = _TOKEN.match(content, pos)
        if m is None:
            if content[pos:].strip():
                raise ValueError(f"unparsed content at byte {pos}: {content[pos : pos + 20]!r}")
            return
        pos = m.end()
        string, opening, closing, name, number, operator = m.groups()
        if opening:
            stack.append([])
        elif closing:
            items = stack.pop()
            stack[-1].append(items)
        elif string is not None:
            text = re.sub(rb"\\(.)", rb"\1", string[1:-1]).decode("latin-1")
            stack[-1].append(text)
        elif name:
            stack[-1].append(name.decode())
        elif number:
            stack[-1].append(float(number))
        else:
            yield operator.decode(), stack[-1]
            stack[-1] = []


@dataclass
class Mark:
    """A drawn point (a disc glyph or a filled triangle) or error bar (a stroked segment)."""

    kind: str  # "point" | "segment" | "text" | "line"
    colour: tuple[float, ...]
    clip: tuple[float, ...]
    xy: tuple[float, ...]  # point: (x, y); segment/line: (x0, y0, x1, y1); text: (x, y)
    text: str = ""
    width: float = 0.0  # stroke width of a line
    rotated: bool = False


@dataclass
class _State:
    fill: tuple[float, ...] = (0.0, 0.0, 0.0)
    stroke: tuple[float, ...] = (0.0, 0.0, 0.0)
    width: float = 1.0
    clip: tuple[float, ...] = ()
    font: str = ""
    matrix: tuple[float, ...] = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    path: list[tuple[float, float]] = field(default_factory=list)
    pending_clip: tuple[float, ...] = ()


def marks(content: bytes) -> list[Mark]:
    """Every point, segment and text the page draws, with its colour and clipping panel."""
    out, st, saved, rect = [], _State(), [], ()
    for op, args in _tokens(content):
        if op == "q":
            saved.append(_State(st.fill, st.stroke, st.width, st.clip, st.font))
        elif op == "Q":
            st = saved.pop() if saved else _State()
        elif op == "scn":
            st.fill = tuple(args)
        elif op == "SCN":
            st.stroke = tuple(args)
        elif op == "w":
            st.width = args[0]
        elif op == "re":
            rect = tuple(args)
        elif op == "W":
            st.pending_clip = rect
        elif op == "n":
            st.clip, st.pending_clip, st.path = st.pending_clip or st.clip, (), []
        elif op == "m":
            st.path = [tuple(args)]
        elif op == "l":
            st.path.append(tuple(args))
        elif op == "f" and len(st.path) == 3:  # R's filled triangle (pch 17): apex at y + r, base at y − r/2
            (_, apex), (x1, base), (x2, _) = st.path
            out.append(Mark("point", st.fill, st.clip, ((x1 + x2) / 2, (apex + 2 * base) / 3)))
            st.path = []
        elif op == "S" and len(st.path) == 2:
            (x0, y0), (x1, y1) = st.path
            out.append(Mark("line", st.stroke, st.clip, (x0, y0, x1, y1), width=st.width))
            st.path = []
        elif op in ("f", "S", "B"):
            st.path = []
        elif op == "Tf":
            st.font = args[0]
        elif op == "Tm":
            st.matrix = tuple(args)
        elif op in ("Tj", "TJ"):
            text = args[0] if op == "Tj" else "".join(a for a in args[0] if isinstance(a, str))
            a, b, _, d, x, y = st.matrix
            if st.font == "/F1" and text == "l":  # R's disc: the glyph is placed by its lower left
                centre = (x + DINGBAT_CENTRE[0] * a, y + DINGBAT_CENTRE[1] * d)
                out.append(Mark("point", st.fill, st.clip, centre))
            else:
                if st.font == "/F6":
                    text = "".join(SYMBOL_FONT.get(c, c) for c in text)
                out.append(Mark("text", st.fill, st.clip, (x, y), text=text, rotated=b != 0))
    return out


@dataclass(frozen=True)
class Panel:
    title: str
    box: tuple[float, float, float, float]  # x, y, width, height
    offset: float  # data value at y = 0
    slope: float  # data units per point

    def value(self, y: float) -> float:
        return self.offset + self.slope * y

    @property
    def resolution(self) -> float:
        """One printing step in data units: how finely the figure can be read."""
        return PRINT_STEP * abs(self.slope)


def read_figure(pdf: bytes) -> pd.DataFrame:
    """One row per drawn point: panel (its strip title), category (its x tick label), series
    (its legend label), value, low and high (its error bar; NaN where none is drawn) and the
    panel's resolution, in the data units of the panel's axis."""
    drawn = marks(page_content(pdf))
    points = [m for m in drawn if m.kind == "point"]
    gridded = {m.clip for m in drawn if m.kind == "line" and m.colour == (1.0, 1.0, 1.0)}
    boxes = sorted({m.clip for m in points} & gridded, key=lambda b: b[0])  # the panels
    texts = [m for m in drawn if m.kind == "text"]
    legend = _legend(drawn, min(b[1] for b in boxes))
    x_labels = sorted((t for t in texts if t.rotated), key=lambda t: t.xy[0])
    rows = []
    for index, box in enumerate(boxes):
        x0, y0, w, h = box
        lines = [m for m in drawn if m.kind == "line" and m.clip == box]
        grid = [m for m in lines if m.colour == (1.0, 1.0, 1.0)]
        verticals = sorted({m.xy[0] for m in grid if m.xy[0] == m.xy[2]})
        majors = sorted({m.xy[1] for m in grid if m.xy[1] == m.xy[3] and m.width > 1})
        previous_right = boxes[index - 1][0] + boxes[index - 1][2] if index else 0.0
        ticks = sorted(
            (t for t in texts if not t.rotated and previous_right <= t.xy[0] < x0 and y0 <= t.xy[1] <= y0 + h),
            key=lambda t: t.xy[1],
        )
        if len(ticks) != len(majors) or len(majors) < 2:
            raise ValueError(f"panel {index + 1}: {len(ticks)} tick labels for {len(majors)} major grid lines")
        slope, offset = np.polyfit(majors, [float(t.text) for t in ticks], 1)
        title = next(t.text for t in texts if not t.rotated and t.xy[1] > y0 + h and x0 <= t.xy[0] <= x0 + w)
        panel = Panel(title, box, float(offset), float(slope))
        categories = [t.text for t in x_labels[index * len(verticals) : (index + 1) * len(verticals)]]
        bars = [m for m in lines if m.colour != (1.0, 1.0, 1.0) and m.xy[0] == m.xy[2]]
        for p in (m for m in points if m.clip == box):
            x, y = p.xy
            category = categories[int(np.argmin([abs(x - v) for v in verticals]))]
            bar = min(
                (b for b in bars if b.colour == p.colour and abs(b.xy[0] - x) < 2 * PRINT_STEP),
                key=lambda b: abs(b.xy[0] - x),
                default=None,
            )
            low, high = sorted((bar.xy[1], bar.xy[3])) if bar else (np.nan, np.nan)
            rows.append(
                {
                    "panel": title,
                    "category": category,
                    "series": legend.get(p.colour, str(p.colour)),
                    "value": panel.value(y),
                    "low": panel.value(low) if bar else np.nan,
                    "high": panel.value(high) if bar else np.nan,
                    "resolution": panel.resolution,
                }
            )
    return pd.DataFrame(rows)


def _legend(drawn: list[Mark], below: float) -> dict[tuple[float, ...], str]:
    """Colour → legend label: each key (a disc under the panels) names the text after it."""
    keys = sorted((m for m in drawn if m.kind == "point" and m.xy[1] < below), key=lambda m: m.xy[0])
    texts = [m for m in drawn if m.kind == "text" and not m.rotated and m.xy[1] < below]
    labels = {}
    for i, key in enumerate(keys):
        end = keys[i + 1].xy[0] if i + 1 < len(keys) else float("inf")
        beside = (t for t in texts if key.xy[0] < t.xy[0] < end and abs(t.xy[1] - key.xy[1]) < LEGEND_ROW)
        pieces = sorted(beside, key=lambda t: t.xy[0])
        labels[key.colour] = "".join(t.text for t in pieces)
    return labels
