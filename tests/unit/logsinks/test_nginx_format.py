"""Kong's own log lines: nginx's combined access format (with kong_request_id) and error lines."""

from __future__ import annotations

import re
import time

from kongtx.logsinks.nginx_format import access_line, error_line, escape, time_local


def test_time_local_and_error_line() -> None:
    """$time_local is dd/Mon/yyyy:HH:MM:SS +zzzz; error lines are yyyy/mm/dd HH:MM:SS [level] pid#0:."""
    when = time.mktime((2024, 3, 5, 7, 8, 9, 0, 0, -1))
    assert re.fullmatch(r"05/Mar/2024:07:08:09 [+-]\d{4}", time_local(when))
    assert error_line(when, "error", 42, "boom") == "2024/03/05 07:08:09 [error] 42#0: boom"


def test_access_line_combined_with_request_id() -> None:
    """Empty referer/agent are '-', quotes and control bytes are escaped as nginx does."""
    when = time.mktime((2024, 3, 5, 7, 8, 9, 0, 0, -1))
    line = access_line("10.0.0.1", when, "GET /a?b=1 HTTP/1.1", 200, 512, None, 'ag"ent', "abc")
    stamp = time_local(when)
    assert line == (
        f'10.0.0.1 - - [{stamp}] "GET /a?b=1 HTTP/1.1" 200 512 "-" "ag\\x22ent" '
        'kong_request_id: "abc"'
    )
    assert escape("a\nb\u00e9") == "a\\x0Ab\\xE9"
    assert access_line("::1", when, "GET / HTTP/1.0", 404, 0, "r", "u").endswith('"r" "u"')
