"""The figures of ``benchmarks.stream``, derived from its cells, and its tables."""

from __future__ import annotations

import math
from collections import Counter
from typing import Final

from .http_load import quantile_ms
from .stream_cell import Cell
from .stream_clients import BUCKET_US

P99_TARGET_MS: Final = 100.0
RATE_SLACK: Final = 0.99  # a paced appender that keeps up lands within rounding of its target
LATENCY_METHOD: Final = """\
latency = the client's wall clock (time.time_ns) when it reads the chunk that completes a
message, minus the event's recorded_at: the store's clock when its committing transaction began
(before its inserts and COMMIT), as the message carries it, truncated to the millisecond. Same
machine, same CLOCK_REALTIME. So each figure overstates commit-to-receipt by the commit's own
duration (the appender's round trip, append p99, bounds it) plus up to 1 ms of truncation, and
includes any time the client's own event loop took to get to the chunk (see client CPU).
Quantiles are over every (subscriber, event) pair recorded in the measured window, in 0.1 ms
buckets; a pair not delivered by the drain deadline counts as slower than the drain time.
late = events not received by the deadline (slow, not lost); gaps and repeats are bugs.
server us/msg = server CPU from the first append to the end of the drain, less what the same
appends cost with no subscriber, per message delivered."""


class Summary:
    """One cell's figures, with the baseline (same rate, no subscriber) for ratios."""

    def __init__(self, cell: Cell, cells: list[Cell], drain: float) -> None:
        self.cell, self.drain = cell, drain
        self.baseline = next((c for c in cells if c.subscribers == 0 and c.rate == cell.rate), None)
        self.histogram: Counter[int] = Counter()
        for received in cell.received:
            self.histogram.update(received.histogram)
        follows = [f for received in cell.received for f in received.followers]
        self.gaps = sum(missing for _, _, _, missing in follows)
        self.repeats = sum(duplicates for _, _, duplicates, _ in follows)
        self.late = sum(max(0, cell.head - last) for last, _, _, _ in follows)
        self.complete = sum(
            last == cell.head and got == cell.expected and not dup and not gap
            for last, got, dup, gap in follows
        )
        self.messages = sum(r.messages for r in cell.received)

    @property
    def appended(self) -> float:
        a = self.cell.appended
        return a.window_events / a.window_seconds

    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline is self.cell:
            return None
        return self.appended / Summary(self.baseline, [], 0).appended

    def latency_ms(self, q: float) -> float | None:
        """None: the quantile falls among pairs not delivered by the deadline."""
        pairs = self.cell.connected * self.cell.window_events
        if pairs == 0:
            return None
        rank, seen = max(1, math.ceil(q * pairs)), 0
        for bucket in sorted(self.histogram):
            seen += self.histogram[bucket]
            if seen >= rank:
                return (bucket + 1) * BUCKET_US / 1000
        return None

    def worst_ms(self) -> float | None:
        if self.late:
            return None
        return max((r.worst_us for r in self.cell.received), default=0) / 1000

    def server_us_per_message(self) -> float | None:
        if not self.messages or self.baseline is None:
            return None
        base = self.baseline
        per_event = base.total_cpu[0] / max(1, base.appended.events)
        spent = self.cell.total_cpu[0] - per_event * self.cell.appended.events
        return max(0.0, spent) / self.messages * 1e6

    def ms(self, value: float | None) -> str:
        return f">{self.drain * 1000:,.0f}" if value is None else f"{value:,.1f}"

    def passed(self) -> bool:
        p99 = self.latency_ms(0.99)
        return (
            p99 is not None
            and p99 < P99_TARGET_MS
            and self.appended >= RATE_SLACK * self.cell.rate
            and self.cell.connected == self.cell.subscribers
            and not (self.gaps or self.repeats or self.late)
        )

    def progress(self) -> str:
        c = self.cell
        text = f"{c.subscribers:>5,} x {c.rate:>6,.0f}/s: appended {self.appended:,.0f}/s"
        if c.subscribers:
            text += (
                f", {self.complete:,}/{c.subscribers:,} complete, p99"
                f" {self.ms(self.latency_ms(0.99))} ms, {c.total_wall:.1f} s"
            )
        return text

    def problems(self) -> list[str]:
        c, found = self.cell, []
        if c.head - c.start != c.appended.events:
            found.append(f"log grew by {c.head - c.start}, {c.appended.events} acknowledged")
        if c.expected != c.head - c.start:
            found.append(f"read back {c.expected} events, head moved {c.head - c.start}")
        found += c.appended.failures[:2] + list(c.errors[:2])
        found += [e for r in c.received for e in r.errors][:2]
        return found


def target_rows(s: Summary) -> list[tuple[str, str, str, str, str]]:
    c = s.cell
    where = f"{c.subscribers:,} subscribers, {c.rate:,.0f} events/s"
    p50, p99 = s.latency_ms(0.5), s.latency_ms(0.99)
    p99_ratio = "-" if p99 is None else f"{p99 / P99_TARGET_MS:.2f}"
    ratio = s.ratio()
    bugs = s.gaps + s.repeats
    return [
        (
            f"delivery p99 ms ({where})",
            s.ms(p99),
            f"< {P99_TARGET_MS:g}",
            _result(p99 is not None and p99 < P99_TARGET_MS),
            p99_ratio,
        ),
        ("delivery p50 ms", s.ms(p50), "none set", "-", "-"),
        (
            "appended events/s, with the subscribers",
            f"{s.appended:,.0f}",
            f">= {c.rate:,.0f}",
            _result(s.appended >= RATE_SLACK * c.rate),
            f"{s.appended / c.rate:.2f}",
        ),
        (
            "appended events/s, with / without subscribers",
            "-" if ratio is None else f"{ratio:.3f}",
            "none set",
            "-",
            "-",
        ),
        (
            "subscribers connected",
            f"{c.connected:,}",
            f"{c.subscribers:,}",
            _result(c.connected == c.subscribers),
            f"{c.connected / c.subscribers:.2f}",
        ),
        (
            "subscribers that got every event, once, in order",
            f"{s.complete:,}",
            f"{c.subscribers:,}",
            _result(s.complete == c.subscribers),
            f"{s.complete / c.subscribers:.2f}",
        ),
        ("positions skipped or repeated (bugs)", f"{bugs:,}", "0", _result(not bugs), "-"),
    ]


def _result(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def print_cells(summaries: list[Summary]) -> None:
    print("every cell (appended events/s over the measured window; ratio = with / without):")
    header = (
        "subs",
        "rate/s",
        "appended/s",
        "ratio",
        "append p99",
        "complete",
        "gaps",
        "repeats",
        "late",
        "p50 ms",
        "p99 ms",
        "max ms",
        "p99<100",
    )
    rows: list[tuple[str, ...]] = [header]
    for s in summaries:
        c, ratio = s.cell, s.ratio()
        loaded = c.subscribers > 0
        rows.append(
            (
                f"{c.subscribers:,}",
                f"{c.rate:,.0f}",
                f"{s.appended:,.0f}",
                "-" if ratio is None else f"{ratio:.3f}",
                f"{quantile_ms(c.appended.requests_ns, 0.99):,.1f}"
                if c.appended.requests_ns
                else "-",
                f"{s.complete:,}/{c.connected:,}" if loaded else "-",
                f"{s.gaps:,}" if loaded else "-",
                f"{s.repeats:,}" if loaded else "-",
                f"{s.late:,}" if loaded else "-",
                s.ms(s.latency_ms(0.5)) if loaded else "-",
                s.ms(s.latency_ms(0.99)) if loaded else "-",
                s.ms(s.worst_ms()) if loaded else "-",
                _result(s.passed()) if loaded else "-",
            )
        )
    _print_rows(rows)
    print()
    print_resources(summaries)
    notes = [
        f"  {s.cell.subscribers} x {s.cell.rate:g}: {p}" for s in summaries for p in s.problems()
    ]
    if notes:
        print("problems:")
        print("\n".join(notes))


def print_resources(summaries: list[Summary]) -> None:
    print(
        "where the CPU goes (cores = CPU seconds per wall second; server loop = its main thread):"
    )
    header = (
        "subs",
        "rate/s",
        "server cores",
        "loop",
        "msgs/s",
        "B/msg",
        "msgs/read",
        "server us/msg",
        "client cores",
        "client us/msg",
        "RSS MB before/peak/after",
    )
    rows: list[tuple[str, ...]] = [header]
    for s in summaries:
        c, wall = s.cell, max(s.cell.total_wall, 1e-9)
        client_wall = max((r.seconds for r in c.received), default=0.0)
        client_cpu = sum(r.cpu_seconds for r in c.received)
        reads, octets = sum(r.chunks for r in c.received), sum(r.bytes_in for r in c.received)
        per_message = s.server_us_per_message()
        loaded = bool(s.messages)
        rows.append(
            (
                f"{c.subscribers:,}",
                f"{c.rate:,.0f}",
                f"{c.total_cpu[0] / wall:.2f}",
                f"{c.total_cpu[1] / wall:.2f}",
                f"{s.messages / wall:,.0f}",
                f"{octets / s.messages:,.0f}" if loaded else "-",
                f"{s.messages / reads:.1f}" if loaded and reads else "-",
                "-" if per_message is None else f"{per_message:.1f}",
                f"{client_cpu / client_wall:.2f}" if client_wall else "-",
                f"{client_cpu / s.messages * 1e6:.1f}" if loaded else "-",
                "/".join(f"{kb / 1024:,.0f}" for kb in c.rss_kb),
            )
        )
    _print_rows(rows)


def _print_rows(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  " + "  ".join(f"{v:>{w}}" for v, w in zip(row, widths, strict=True)))
