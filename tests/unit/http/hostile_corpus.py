"""The shared hostile-input corpus for HTTP/1.1 parsing: what both parsers must refuse or accept.

Run against httptools (llhttp, strict) and the pure-Python parser with the same
expectations, at two levels: the parser alone (tests/unit/http/test_parser_corpus.py)
and the native server with either parser (tests/unit/http/test_server_hostile.py).
The cases come from the server's tests (unit and integration) and from llhttp's
strict mode, which the pure-Python parser must match.
"""

from __future__ import annotations

H = b"Host: a\r\n"

#: Requests the native server answers with 400 and a close, the handler never called,
#: whichever parser reads them (tests/unit/http/test_server_hostile.py).
BAD_REQUESTS = {
    "cl_and_te": b"POST / HTTP/1.1\r\n"
    + H
    + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_and_cl": b"POST / HTTP/1.1\r\n"
    + H
    + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    "duplicate_cl": b"POST / HTTP/1.1\r\n"
    + H
    + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    "cl_list": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5, 5\r\n\r\nhello",
    "invalid_cl": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5x\r\n\r\nhello",
    "negative_cl": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n",
    "invalid_chunk_size": b"POST / HTTP/1.1\r\n"
    + H
    + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "chunk_missing_crlf": b"POST / HTTP/1.1\r\n"
    + H
    + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    "chunk_size_space": b"POST / HTTP/1.1\r\n"
    + H
    + b"Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
    "bare_lf": b"GET / HTTP/1.1\nHost: a\n\n",
    "bare_lf_in_header": b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n",
    "bare_cr": b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n",
    "obs_fold": b"GET / HTTP/1.1\r\n" + H + b"X: y\r\n  z\r\n\r\n",
    "header_name_space": b"GET / HTTP/1.1\r\n" + H + b"X y: z\r\n\r\n",
    "header_space_before_colon": b"GET / HTTP/1.1\r\n" + H + b"X : z\r\n\r\n",
    "header_name_separator": b"GET / HTTP/1.1\r\n" + H + b"X(y: z\r\n\r\n",
    "header_value_nul": b"GET / HTTP/1.1\r\n" + H + b"X: a\x00b\r\n\r\n",
    "te_gzip": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\nabc",
    "te_gzip_chunked": b"POST / HTTP/1.1\r\n"
    + H
    + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "te_duplicate": b"POST / HTTP/1.1\r\n"
    + H
    + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_http10": b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "h2_preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "tls_client_hello": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
    "garbage": b"\x00\x01\x02garbage\r\n\r\n",
    "lowercase_method": b"get / HTTP/1.1\r\n" + H + b"\r\n",
    "http09": b"GET /\r\n\r\n",
    "http09_line_only": b"GET /\r\n",
    "http09_line_only_lf": b"GET /index.html\n",
    "bad_version": b"GET / HTTP/1.9\r\n" + H + b"\r\n",
    "space_in_target": b"GET /a b HTTP/1.1\r\n" + H + b"\r\n",
    "control_in_target": b"GET /a\x01b HTTP/1.1\r\n" + H + b"\r\n",
    "missing_host_11": b"GET / HTTP/1.1\r\n\r\n",
    "duplicate_host": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "upgrade_with_body": (
        b"POST / HTTP/1.1\r\n" + H + b"Connection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Content-Length: 3\r\n\r\nabc"
    ),
}


def _post(*fields: bytes, body: bytes = b"") -> bytes:
    return b"POST / HTTP/1.1\r\n" + H + b"".join(f + b"\r\n" for f in fields) + b"\r\n" + body


def _chunked(chunks: bytes) -> bytes:
    return _post(b"Transfer-Encoding: chunked", body=chunks)


def _get(*fields: bytes, target: bytes = b"/") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\n" + H + b"".join(f + b"\r\n" for f in fields) + b"\r\n"


#: Requests that both parsers refuse by themselves (llhttp strict mode).
PARSER_REJECTS = {
    # framing: CL and TE, Content-Length values, Transfer-Encoding codings
    "cl_and_te": BAD_REQUESTS["cl_and_te"],
    "te_and_cl": BAD_REQUESTS["te_and_cl"],
    "te_gzip_and_cl": _post(b"Transfer-Encoding: gzip", b"Content-Length: 3", body=b"abc"),
    "duplicate_cl": BAD_REQUESTS["duplicate_cl"],
    "duplicate_cl_zero": _post(b"Content-Length: 0", b"Content-Length: 0"),
    "cl_list": BAD_REQUESTS["cl_list"],
    "invalid_cl": BAD_REQUESTS["invalid_cl"],
    "negative_cl": BAD_REQUESTS["negative_cl"],
    "plus_cl": _post(b"Content-Length: +5", body=b"hello"),
    "hex_cl": _post(b"Content-Length: 0x5", body=b"hello"),
    "cl_inner_space": _post(b"Content-Length: 5 5", body=b"hello"),
    "empty_cl": _post(b"Content-Length: ", body=b"hello"),
    "cl_overflow": _post(b"Content-Length: 18446744073709551616", body=b"hello"),
    "te_gzip": BAD_REQUESTS["te_gzip"],
    "te_identity": _post(b"Transfer-Encoding: identity"),
    "te_chunked_not_last": _post(b"Transfer-Encoding: chunked, gzip", body=b"0\r\n\r\n"),
    "te_chunked_trailing_comma": _post(b"Transfer-Encoding: chunked,", body=b"0\r\n\r\n"),
    "te_chunkedx": _post(b"Transfer-Encoding: chunkedx", body=b"0\r\n\r\n"),
    "te_empty": _post(b"Transfer-Encoding: "),
    "te_duplicate": BAD_REQUESTS["te_duplicate"],
    "te_chunked_then_gzip": _post(
        b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip", body=b"0\r\n\r\n"
    ),
    # chunk sizes, extensions and data
    "invalid_chunk_size": BAD_REQUESTS["invalid_chunk_size"],
    "chunk_size_space": BAD_REQUESTS["chunk_size_space"],
    "chunk_size_leading_space": _chunked(b" 5\r\nhello\r\n0\r\n\r\n"),
    "chunk_size_negative": _chunked(b"-5\r\nhello\r\n0\r\n\r\n"),
    "chunk_size_overflow": _chunked(b"fffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    "chunk_size_empty_line": _chunked(b"\r\n5\r\nhello\r\n0\r\n\r\n"),
    "chunk_size_bare_lf": _chunked(b"5\nhello\r\n0\r\n\r\n"),
    "chunk_ext_space": _chunked(b"5; a=b\r\nhello\r\n0\r\n\r\n"),
    "chunk_ext_empty": _chunked(b"5;\r\nhello\r\n0\r\n\r\n"),
    "chunk_ext_trailing_semicolon": _chunked(b"5;a=b;\r\nhello\r\n0\r\n\r\n"),
    "chunk_ext_value_space": _chunked(b"5;a=b c\r\nhello\r\n0\r\n\r\n"),
    "chunk_ext_nul": _chunked(b"5;a=b\x00\r\nhello\r\n0\r\n\r\n"),
    "chunk_ext_open_quote": _chunked(b'5;a="b\r\nhello\r\n0\r\n\r\n'),
    "chunk_ext_bad_quoted_pair": _chunked(b'5;a="\\\x01"\r\nhello\r\n0\r\n\r\n'),
    "chunk_ext_after_quote": _chunked(b'5;a="x"y\r\nhello\r\n0\r\n\r\n'),
    "chunk_missing_crlf": BAD_REQUESTS["chunk_missing_crlf"],
    "chunk_data_bare_lf": _chunked(b"5\r\nhello\n0\r\n\r\n"),
    "last_chunk_bare_lf": _chunked(b"5\r\nhello\r\n0\n\r\n"),
    "trailer_end_bare_lf": _chunked(b"5\r\nhello\r\n0\r\n\n"),
    "trailer_space_before_colon": _chunked(b"5\r\nhello\r\n0\r\nX : y\r\n\r\n"),
    "trailer_transfer_encoding": _chunked(b"5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"),
    "trailer_content_length": _chunked(b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"),
    # line endings
    "bare_lf": BAD_REQUESTS["bare_lf"],
    "bare_lf_request_line": b"GET / HTTP/1.1\nHost: a\r\n\r\n",
    "bare_lf_in_header": BAD_REQUESTS["bare_lf_in_header"],
    "bare_lf_end_of_head": b"GET / HTTP/1.1\r\nHost: a\r\n\n",
    "bare_cr": BAD_REQUESTS["bare_cr"],
    "bare_cr_request_line": b"GET / HTTP/1.1\rHost: a\r\n\r\n",
    "obs_fold": BAD_REQUESTS["obs_fold"],
    "obs_fold_tab": _get(b"X: a", b"\tb"),
    "whitespace_line": _get(b"X: a", b" "),
    "leading_space_header": b"GET / HTTP/1.1\r\n X: a\r\n" + H + b"\r\n",
    # header names and values
    "header_name_space": BAD_REQUESTS["header_name_space"],
    "header_space_before_colon": BAD_REQUESTS["header_space_before_colon"],
    "header_name_separator": BAD_REQUESTS["header_name_separator"],
    "header_name_empty": _get(b": x"),
    "header_name_non_ascii": _get(b"X\xc3\xa9: y"),
    "header_name_no_colon": _get(b"Xyz"),
    "header_value_nul": BAD_REQUESTS["header_value_nul"],
    "header_value_control": _get(b"X: a\x01b"),
    "header_value_del": _get(b"X: a\x7fb"),
    "header_value_vt": _get(b"X: a\x0bb"),
    # request lines: methods, targets, versions
    "lowercase_method": BAD_REQUESTS["lowercase_method"],
    "unknown_method": b"FOO / HTTP/1.1\r\n" + H + b"\r\n",
    "method_prefix": b"GE / HTTP/1.1\r\n" + H + b"\r\n",
    "rtsp_method_on_http": b"DESCRIBE / HTTP/1.1\r\n" + H + b"\r\n",
    "h2_preface": BAD_REQUESTS["h2_preface"],
    "tls_client_hello": BAD_REQUESTS["tls_client_hello"],
    "garbage": BAD_REQUESTS["garbage"],
    "space_in_target": BAD_REQUESTS["space_in_target"],
    "control_in_target": BAD_REQUESTS["control_in_target"],
    "non_ascii_in_target": b"GET /caf\xc3\xa9 HTTP/1.1\r\n" + H + b"\r\n",
    "del_in_target": b"GET /a\x7f HTTP/1.1\r\n" + H + b"\r\n",
    "relative_target": b"GET a HTTP/1.1\r\n" + H + b"\r\n",
    "query_only_target": b"GET ?a HTTP/1.1\r\n" + H + b"\r\n",
    "scheme_without_slashes": b"GET http:a HTTP/1.1\r\n" + H + b"\r\n",
    "scheme_with_digit": b"GET h1://a/ HTTP/1.1\r\n" + H + b"\r\n",
    "authority_fragment": b"GET http://a#x HTTP/1.1\r\n" + H + b"\r\n",
    "authority_backslash": b"GET http://a\\b/ HTTP/1.1\r\n" + H + b"\r\n",
    "authority_quote": b'GET http://a"b/ HTTP/1.1\r\n' + H + b"\r\n",
    "connect_fragment": b"CONNECT #a HTTP/1.1\r\n" + H + b"\r\n",
    "bad_version": BAD_REQUESTS["bad_version"],
    "version_3": b"GET / HTTP/3.0\r\n" + H + b"\r\n",
    "version_two_digits": b"GET / HTTP/1.10\r\n" + H + b"\r\n",
    "version_lowercase": b"GET / http/1.1\r\n" + H + b"\r\n",
    "version_trailing_space": b"GET / HTTP/1.1 \r\n" + H + b"\r\n",
    # pipelining after a message that closes the connection
    "data_after_close": _get(b"Connection: close") + b"GET / HTTP/1.1\r\n" + H + b"\r\n",
    "data_after_http10": b"GET / HTTP/1.0\r\n\r\nX",
}

#: Requests both parsers accept with the same events (edge cases of the grammar).
PARSER_ACCEPTS = {
    "simple": _get(),
    "leading_empty_lines": b"\r\n\r\n" + _get(),
    "leading_lf": b"\n" + _get(),
    "spaces_around_target": b"GET  /  HTTP/1.1\r\n" + H + b"\r\n",
    "ows_kept_at_end": _get(b"X:  \t v \t"),
    "empty_value": _get(b"X:"),
    "obs_text_value": _get(b"X: caf\xc3\xa9"),
    "token_chars_name": _get(b"!#$%&'*+-.^_`|~09azAZ: y"),
    "cl_trailing_ows": _post(b"Content-Length: 5 \t", body=b"hello"),
    "cl_leading_zeros": _post(b"Content-Length: 005", body=b"hello"),
    "te_ows_and_empty_codings": _post(b"Transfer-Encoding: ,gzip ,  Chunked", body=b"0\r\n\r\n"),
    "te_gzip_then_chunked_fields": _post(
        b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"
    ),
    "chunk_extensions": _chunked(
        b'5;a=b;c="d \\"e";f;=g;;h=\r\nhello\r\nA\r\n0123456789\r\n00;x=y\r\nT: 1\r\n\r\n'
    ),
    "chunk_size_leading_zeros": _chunked(b"0000000000000000000005\r\nhello\r\n0\r\n\r\n"),
    "targets": b"".join(
        b"GET " + t + b" HTTP/1.1\r\n" + H + b"\r\n"
        for t in (
            b"*",
            b"/a?b?c#d#e",
            b"//a",
            b'/a{}|^`"<>\\b',
            b"http://a",
            b"HTTP://user@[::1]:80/p?q#f",
            b"http://a!$&'()*+,;=-._~/",
        )
    ),
    "versions": b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    + b"GET / HTTP/2.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/0.9\r\n\r\n",
    "methods": b"".join(
        m + b" / HTTP/1.1\r\n" + H + b"\r\n"
        for m in (b"DELETE", b"M-SEARCH", b"PROPPATCH", b"PURGE", b"QUERY", b"SOURCE", b"UNLINK")
    ),
    "connection_tokens": _get(b"Connection: x, Keep-Alive ,close\t"),
    "upgrade": _get(b"Connection: keep-alive, Upgrade", b"Upgrade: websocket") + b"\x81\x00",
    "upgrade_skips_body": _get(b"Connection: upgrade", b"Upgrade: h2c", b"Content-Length: 3")
    + b"abcdef",
    "connect": b"CONNECT a.example:443 HTTP/1.1\r\n" + H + b"\r\nraw",
    "pipelined": _post(b"Content-Length: 5", body=b"hello") + _get() + _chunked(b"0\r\n\r\n"),
    "crlf_after_close": _get(b"Connection: close") + b"\r\n\r\n",
}

#: Responses both parsers refuse.
RESPONSE_REJECTS = {
    "status_two_digits": b"HTTP/1.1 20 OK\r\n\r\n",
    "status_four_digits": b"HTTP/1.1 2000 OK\r\n\r\n",
    "two_spaces_before_status": b"HTTP/1.1  200 OK\r\n\r\n",
    "bad_version": b"HTTP/1.2 200 OK\r\n\r\n",
    "bare_lf_status_line": b"HTTP/1.1 200 OK\n\r\n",
    "cl_and_te": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
    "te_and_cl": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    "duplicate_cl": b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na",
    "invalid_cl": b"HTTP/1.1 200 OK\r\nContent-Length: 1a\r\n\r\na",
    "obs_fold": b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n",
    "bad_chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "switch_without_upgrade": b"HTTP/1.1 101 Switching Protocols\r\n\r\nxyz",
    "data_after_close": b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\nX",
    "not_http": b"SSH-2.0-OpenSSH_9.2\r\n",
}

#: Responses both parsers accept with the same events.
RESPONSE_ACCEPTS = {
    "length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    "no_reason": b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
    "empty_reason": b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
    "reason_with_controls": b"HTTP/1.1 200 O\tK \x01\x7f\x80\r\nContent-Length: 0\r\n\r\n",
    "odd_status": b"HTTP/1.1 099 X\r\nContent-Length: 0\r\n\r\nHTTP/1.1 999 Y\r\nContent-Length: 0\r\n\r\n",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x\r\nhello\r\n0\r\n\r\n",
    "until_close": b"HTTP/1.1 200 OK\r\n\r\nabc",
    "te_not_chunked_until_close": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc",
    "interim_then_final": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n"
    b"Content-Length: 5\r\n\r\nHTTP/1.0 304 Not Modified\r\nConnection: keep-alive\r\n\r\n",
    "switching": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: ws\r\nConnection: upgrade\r\n\r\nxyz",
    "upgrade_on_200_is_informational": b"HTTP/1.1 200 OK\r\nUpgrade: ws\r\nConnection: upgrade\r\n"
    b"Content-Length: 2\r\n\r\nab",
    "keep_alive_http10": b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
}
