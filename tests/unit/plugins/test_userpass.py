"""decode_user_password: the base64 user:password decoding basic-auth and ldap-auth share."""

from __future__ import annotations

import re
from base64 import b64encode

from kongtx.plugins.userpass import decode_user_password

_FIRST_COLON = re.compile(rb"([^:]+):(.*)").search
_LAST_COLON = re.compile(rb"(.+):(.+)", re.DOTALL).fullmatch


def test_padding_is_optional() -> None:
    token = b64encode(b"ann:pw")  # b"YW5uOnB3" needs no padding; strip one that does
    padded = b64encode(b"ann:p")
    assert padded.endswith(b"=")
    assert decode_user_password(token, _FIRST_COLON) == ("ann", b"pw")
    assert decode_user_password(padded.rstrip(b"="), _FIRST_COLON) == ("ann", b"p")


def test_each_plugin_splits_with_its_own_rule() -> None:
    token = b64encode(b"ann:a:b")
    assert decode_user_password(token, _FIRST_COLON) == ("ann", b"a:b")
    assert decode_user_password(token, _LAST_COLON) == ("ann:a", b"b")


def test_refused_tokens() -> None:
    assert decode_user_password(b"***", _FIRST_COLON) is None  # not base64
    assert decode_user_password(b64encode(b"no-colon"), _FIRST_COLON) is None
    assert decode_user_password(b64encode(b"\xff\xfe:pw"), _FIRST_COLON) is None  # not UTF-8
