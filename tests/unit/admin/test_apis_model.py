"""Unit tests for the legacy /apis model mapping."""

from __future__ import annotations

import pytest

from kongtx.admin.routes.apis_model import (
    AT_LEAST_09,
    LegacyInvalid,
    coerce_form_api,
    from_service_route,
    route_id_for,
    to_service_route,
    validate_api,
)


def test_09_api_maps_to_service_and_route() -> None:
    """request_host/request_path/strip_request_path become route fields."""
    api = validate_api(
        {
            "name": "mockbin",
            "upstream_url": "http://mockbin.com/",
            "request_host": "mockbin.com",
            "request_path": "/mb/",
            "strip_request_path": True,
        },
        "09",
    )
    service, route = to_service_route(api, "09", "api-id", 1700000000123)
    assert service["url"] == "http://mockbin.com/" and service["name"] == "mockbin"
    assert route["hosts"] == ["mockbin.com"] and route["paths"] == ["/mb"]
    assert route["strip_path"] is True and route["service"] == {"id": "api-id"}
    svc_row = {"id": "api-id", "name": "mockbin", "tags": service["tags"], "created_at": 1}
    back = from_service_route(svc_row, route)
    assert back == {
        "id": "api-id",
        "name": "mockbin",
        "created_at": 1700000000123,
        "upstream_url": "http://mockbin.com/",
        "preserve_host": False,
        "request_host": "mockbin.com",
        "request_path": "/mb",
        "strip_request_path": True,
    }


def test_09_name_defaults_from_request_host() -> None:
    """A 0.9 API without name takes it from request_host."""
    assert (
        validate_api({"upstream_url": "http://x.org", "request_host": "a.b.com"}, "09")["name"]
        == "a.b.com"
    )


def test_regex_uri_gets_tilde_and_loses_it_on_output() -> None:
    """0.x uris with regex characters are stored as ~ paths and shown without ~."""
    api = validate_api({"name": "r", "upstream_url": "http://x.org", "uris": ["/users/\\d+"]}, "10")
    service, route = to_service_route(api, "10", "i", 5)
    assert route["paths"] == ["~/users/\\d+"]
    back = from_service_route({"id": "i", "name": "r", "tags": service["tags"]}, route)
    assert back["uris"] == ["/users/\\d+"] and back["strip_uri"] is True


@pytest.mark.parametrize(
    "data,gen,errors",
    [
        ({"upstream_url": "http://x.org", "hosts": ["a"]}, "10", {"name": "name is required"}),
        ({"name": "a", "hosts": ["a"]}, "10", {"upstream_url": "upstream_url is required"}),
        (
            {"name": "a", "hosts": ["a"], "upstream_url": "ftp://x"},
            "10",
            {"upstream_url": "Supported protocols are HTTP and HTTPS"},
        ),
        (
            {"name": "a", "hosts": ["a"], "upstream_url": "http://x", "foo": 1},
            "10",
            {"foo": "foo is an unknown field"},
        ),
        (
            {"name": "a", "hosts": ["a"], "upstream_url": "http://x", "retries": "x"},
            "10",
            {"retries": "retries is not a number"},
        ),
        (
            {"name": "a b", "hosts": ["a"], "upstream_url": "http://x"},
            "10",
            {"name": "name must only contain alphanumeric and '., -, _, ~' characters"},
        ),
        (
            {"name": "a", "upstream_url": "http://x"},
            "10",
            {"message": "at least one of 'hosts', 'uris' or 'methods' must be specified"},
        ),
        (
            {"name": "a", "upstream_url": "http://x", "preserve_host": False},
            "09",
            {"request_host": AT_LEAST_09, "request_path": AT_LEAST_09},
        ),
        (
            {"request_host": "", "strip_request_path": True},
            "09",
            {
                "request_host": AT_LEAST_09,
                "request_path": AT_LEAST_09,
                "upstream_url": "upstream_url is required",
            },
        ),
        (
            {"request_path": True, "upstream_url": "http://x"},
            "09",
            {"request_path": "request_path is not a string", "request_host": AT_LEAST_09},
        ),
        (
            {"request_host": "my-api", "upstream_url": "http://x"},
            "09",
            {"request_host": "Invalid value: my-api"},
        ),
        (
            {"request_host": "/httpbin", "upstream_url": "http://x"},
            "09",
            {"request_host": "Invalid value: /httpbin"},
        ),
        (
            {"request_host": "a-.b.com", "upstream_url": "http://x"},
            "09",
            {"request_host": "Invalid value: a-.b.com"},
        ),
        (
            {"request_host": "a.*.com", "upstream_url": "http://x"},
            "09",
            {"request_host": "Invalid wildcard placement: a.*.com"},
        ),
        (
            {"request_host": "*.a.*", "upstream_url": "http://x"},
            "09",
            {"request_host": "Only one wildcard is allowed: *.a.*"},
        ),
        (
            {"request_path": "x", "upstream_url": "http://x"},
            "09",
            {"request_path": "must be prefixed with slash: 'x'"},
        ),
        (
            {"request_path": "/a//b", "upstream_url": "http://x"},
            "09",
            {"request_path": "invalid: '/a//b'"},
        ),
        (
            {"request_path": "/a b", "upstream_url": "http://x"},
            "09",
            {"request_path": "must only contain alphanumeric and '., -, _, ~, /' characters"},
        ),
    ],
)
def test_legacy_validation_messages(data: dict, gen: str, errors: dict) -> None:
    """Invalid APIs raise 0.x flat error objects."""
    with pytest.raises(LegacyInvalid) as info:
        validate_api(data, gen)
    assert info.value.body == errors


@pytest.mark.parametrize(
    "data,name,path",
    [
        ({"request_host": "mockbin.com"}, "mockbin.com", None),
        ({"request_path": "/mock/bin/"}, "mock-bin-", "/mock/bin"),
        ({"request_host": "*.mockbin.com", "request_path": "/x"}, "-.mockbin.com", "/x"),
    ],
)
def test_09_name_is_derived(data: dict, name: str, path: str | None) -> None:
    """0.9: the name defaults to request_host, else request_path; trailing slash dropped."""
    api = validate_api({**data, "upstream_url": "http://x.org"}, "09")
    assert api["name"] == name and api.get("request_path") == path


def test_form_coercion_splits_commas() -> None:
    """0.x forms send arrays comma-separated and booleans/numbers as text."""
    assert coerce_form_api(
        {"hosts": "a.com, b.com", "strip_uri": "false", "retries": "3", "x": ""}
    ) == {"hosts": ["a.com", "b.com"], "strip_uri": False, "retries": 3, "x": None}


def test_route_id_is_stable() -> None:
    """The backing route id is derived from the API id."""
    assert route_id_for("a") == route_id_for("a") != route_id_for("b")
