"""Run a parser over bytes and record what it reports, the same way for both parsers."""

from __future__ import annotations

from typing import Any

from kongtx.http.parser import HttpParserError, HttpParserUpgrade

OK, REJECTED, UPGRADED = "ok", "rejected", "upgraded"


class Recorder:
    """Parser callbacks that record events; adjacent URL, status and body pieces are joined."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.parser: Any = None

    def _join(self, kind: str, data: bytes) -> None:
        if self.events and self.events[-1][0] == kind:
            self.events[-1] = (kind, self.events[-1][1] + data)
        else:
            self.events.append((kind, data))

    def on_message_begin(self) -> None:
        self.events.append(("begin",))

    def on_url(self, url: bytes) -> None:
        self._join("url", url)

    def on_status(self, reason: bytes) -> None:
        self._join("status", reason)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.events.append(("header", name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        method = parser.get_method() if hasattr(parser, "get_method") else None
        status = parser.get_status_code() if hasattr(parser, "get_status_code") else None
        self.events.append(
            (
                "headers_complete",
                parser.get_http_version(),
                method,
                status,
                parser.should_keep_alive(),
                parser.should_upgrade(),
            )
        )

    def on_body(self, data: bytes) -> None:
        self._join("body", data)

    def on_message_complete(self) -> None:
        self.events.append(("complete",))


def parse(
    parser_class: Any, data: bytes, pieces: list[int] | None = None
) -> tuple[str, list[tuple[Any, ...]], int | None]:
    """Feed ``data`` (whole, or cut at the offsets in ``pieces``) to a new parser.

    :returns: ``(outcome, events, upgrade_offset)``; the offset counts from the start of ``data``.
    """
    recorder = Recorder()
    parser = recorder.parser = parser_class(recorder)
    cuts = [0, *(pieces or []), len(data)]
    for start, end in zip(cuts, cuts[1:]):
        try:
            parser.feed_data(data[start:end])
        except HttpParserUpgrade as exc:
            return UPGRADED, recorder.events, start + exc.args[0]
        except HttpParserError:
            return REJECTED, recorder.events, None
    return OK, recorder.events, None
