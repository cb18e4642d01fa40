"""The HTTP/1.1 grammar the pure-Python parser accepts: what llhttp (strict) accepts.

Each pattern matches one line without its CRLF (``fullmatch``); the ``*_PREFIX``
patterns match what may still become a valid line, so that a broken line is
refused before its end arrives, as llhttp does byte by byte. The tables were
taken from llhttp's behaviour (httptools 0.9), byte by byte, and are held to it
by the differential test (tests/unit/http/test_parser_differential.py).
"""

from __future__ import annotations

import re

#: RFC 9110 token characters (header names, chunk extension names and values).
_TCHAR = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"
#: A header value: anything but controls (HTAB allowed); obs-text (0x80-0xff) allowed.
_VALUE = rb"[^\x00-\x08\x0a-\x1f\x7f]*"
#: Characters of an authority (absolute-form server part, CONNECT's target).
_SERVER = rb"[A-Za-z0-9!$%&'()*+,\-.:;=@\[\]_~]"
#: Any visible character (path, query and fragment).
_VISIBLE = rb"[\x21-\x7e]"

#: ``name: value`` (leading OWS dropped, trailing OWS kept, as llhttp reports it).
HEADER = re.compile(rb"([%s]+):[ \t]*(%s)" % (_TCHAR, _VALUE))
HEADER_PREFIX = re.compile(rb"[%s]*|\r|[%s]+:%s\r?" % (_TCHAR, _TCHAR, _VALUE))

#: ``METHOD SP+ target SP+ HTTP/d.d`` (the target's form is checked by :data:`URL`).
REQUEST_LINE = re.compile(rb"([A-Z][A-Z_-]*) +(%s+) +HTTP/([0-9])\.([0-9])" % _VISIBLE)
REQUEST_LINE_PREFIX = re.compile(
    rb"([A-Z_-]*)(?:( +)(?:(%s+)( +(?:H(?:T(?:T(?:P(?:/(?:[0-9](?:\.(?:[0-9]\r?)?)?)?)?)?)?)?)?)?)?)?"
    % _VISIBLE
)

#: origin-form, asterisk-form and absolute-form targets (llhttp's URL states).
URL = re.compile(rb"[/*]%s*|[A-Za-z]+://%s*(?:[/?]%s*)?" % (_VISIBLE, _SERVER, _VISIBLE))
URL_PREFIX = re.compile(
    rb"[/*]%s*|[A-Za-z]+(?::(?:/(?:/%s*(?:[/?]%s*)?)?)?)?" % (_VISIBLE, _SERVER, _VISIBLE)
)
#: A run of target characters (an unfinished long target's new bytes).
VISIBLE_RUN = re.compile(rb"%s*" % _VISIBLE)
#: CONNECT's authority-form target (llhttp starts it in the server state).
CONNECT_URL = re.compile(rb"%s*(?:[/?]%s*)?" % (_SERVER, _VISIBLE))

#: ``HTTP/d.d SP status [SP reason]`` (the reason may hold controls, as llhttp lets it).
STATUS_LINE = re.compile(rb"HTTP/([0-9])\.([0-9]) ([0-9]{3})(?: ([^\r\n]*))?")
STATUS_LINE_PREFIX = re.compile(
    rb"H(?:T(?:T(?:P(?:/(?:[0-9](?:\.(?:[0-9](?: (?:[0-9]{0,2}|[0-9]{3}(?: [^\r\n]*)?\r?)?)?)?)?)?)?)?)?)?"
)

_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*"'
_EXT_VALUE = rb"(?:[%s]*|%s)" % (_TCHAR, _QUOTED)
_QUOTED_PREFIX = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*\\?'
_EXTS = rb"(?:;+(?:[%s]+(?:=%s)?|=%s))*" % (_TCHAR, _EXT_VALUE, _EXT_VALUE)
#: ``size-in-hex *( 1*";" ( name [ "=" value ] / "=" value ) )``, no whitespace anywhere.
CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]+)%s" % _EXTS)
CHUNK_SIZE_PREFIX = re.compile(
    rb"[0-9A-Fa-f]*|[0-9A-Fa-f]+%s(?:\r|;+(?:[%s]*(?:=(?:[%s]*|%s))?)?)?"
    % (_EXTS, _TCHAR, _TCHAR, _QUOTED_PREFIX)
)

#: Methods llhttp accepts on an HTTP/1.x request line (its RTSP and ICE ones are not HTTP).
METHODS = frozenset(
    b"DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND "
    b"PROPPATCH SEARCH UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE "
    b"M-SEARCH NOTIFY SUBSCRIBE UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE "
    b"QUERY".split()
)
#: llhttp's RTSP methods: refused on an HTTP line, but their beginnings are waited on.
_RTSP_METHODS = (
    b"DESCRIBE ANNOUNCE SETUP PLAY PAUSE TEARDOWN GET_PARAMETER SET_PARAMETER REDIRECT RECORD FLUSH"
)
#: Every beginning of a method name, for refusing a request line before it ends.
METHOD_PREFIXES = frozenset(
    m[:i] for m in METHODS.union(_RTSP_METHODS.split()) for i in range(len(m) + 1)
)
#: HTTP versions llhttp accepts (kongtx answers those it does not serve: 400 or 505).
VERSIONS = {(0, 9): "0.9", (1, 0): "1.0", (1, 1): "1.1", (2, 0): "2.0"}

#: Content-Length: digits, then optional trailing OWS.
CONTENT_LENGTH = re.compile(rb"([0-9]+)[ \t]*")
CONTENT_LENGTH_PREFIX = re.compile(rb"(?:[0-9]+[ \t]*)?\r?")
#: The largest Content-Length or chunk size llhttp takes (an unsigned 64-bit number).
MAX_LENGTH = (1 << 64) - 1
