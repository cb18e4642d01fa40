"""Unit tests for Admin API body decoding."""

from __future__ import annotations

import pytest

from kongtx.admin.decode import decode_body, decode_form_pairs, parse_form_key
from kongtx.admin.errors import AdminError

FORM = [b"application/x-www-form-urlencoded"]


def test_json_object_is_taken_as_is() -> None:
    """A JSON object body is returned unchanged and not marked as form input."""
    body = decode_body([b"application/json; charset=utf-8"], b'{"a": {"b": [1, null]}}')
    assert body.data == {"a": {"b": [1, None]}}
    assert body.form is False


@pytest.mark.parametrize("raw", [b"{", b"[1, 2]", b'"x"', b"\xff"])
def test_bad_json_is_400(raw: bytes) -> None:
    """Malformed or non-object JSON answers Kong's parse error."""
    with pytest.raises(AdminError) as info:
        decode_body([b"application/json"], raw)
    assert info.value.http_status == 400
    assert info.value.to_body() == {"message": "Cannot parse JSON body"}


def test_several_content_types_is_400() -> None:
    """Two Content-Type headers are refused."""
    with pytest.raises(AdminError) as info:
        decode_body([b"application/json", b"application/json"], b"{}")
    assert info.value.to_body() == {"message": "Multiple Content-Type headers not allowed"}


def test_unsupported_media_type_with_body_is_415() -> None:
    """A body of another media type answers 415 with an empty body."""
    with pytest.raises(AdminError) as info:
        decode_body([b"text/plain"], b"hello")
    assert info.value.http_status == 415
    assert info.value.to_body() is None


def test_empty_body_is_fine_without_content_type() -> None:
    """No body and no Content-Type decode to empty arguments."""
    body = decode_body(None, b"")
    assert body.data == {} and body.form is False


def test_form_key_syntax() -> None:
    """Dots, appends, indexes, map keys and repeated keys decode as in Kong."""
    raw = (
        b"name=s1&hosts=a.com&hosts=b.com&config.key_names[]=apikey&config.key_names[]=k2"
        b"&paths[2]=/two&paths[1]=/one&headers[x-foo][]=bar&config.limits.minute=5&empty="
    )
    body = decode_body(FORM, raw)
    assert body.form is True
    assert body.data == {
        "name": "s1",
        "hosts": ["a.com", "b.com"],
        "config": {"key_names": ["apikey", "k2"], "limits": {"minute": "5"}},
        "paths": ["/one", "/two"],
        "headers": {"x-foo": ["bar"]},
        "empty": "",
    }


def test_form_percent_decoding_utf8() -> None:
    """Form values are percent-decoded as UTF-8."""
    assert decode_body(FORM, b"tags[]=%F0%9F%A6%8D&name=a%2Bb").data == {
        "tags": ["🦍"],
        "name": "a+b",
    }


def test_multipart_uses_the_same_key_syntax() -> None:
    """multipart/form-data parts decode with the form key syntax."""
    boundary = b"XyZ"
    parts = []
    for name, value in (
        (b"name", b"svc"),
        (b"tags[]", b"t1"),
        (b"tags[]", b"t2"),
        (b"config.x", b"1"),
    ):
        parts.append(
            b'--XyZ\r\nContent-Disposition: form-data; name="'
            + name
            + b'"\r\n\r\n'
            + value
            + b"\r\n"
        )
    raw = b"".join(parts) + b"--XyZ--\r\n"
    body = decode_body([b"multipart/form-data; boundary=" + boundary], raw)
    assert body.form is True
    assert body.data == {"name": "svc", "tags": ["t1", "t2"], "config": {"x": "1"}}


def test_parse_form_key_tokens() -> None:
    """Keys split into record keys, 1-based indexes and append markers."""
    tokens = parse_form_key("sources[1].ip")
    assert tokens == ["sources", 1, "ip"]
    assert parse_form_key("plain") == ["plain"]


def test_array_of_records_from_indexes() -> None:
    """Indexed records build an array of objects in index order."""
    data = decode_form_pairs(
        [("sources[2].ip", "10.0.0.2"), ("sources[1].ip", "10.0.0.1"), ("sources[1].port", "80")]
    )
    assert data == {"sources": [{"ip": "10.0.0.1", "port": "80"}, {"ip": "10.0.0.2"}]}
