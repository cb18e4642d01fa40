"""Fields a log plugin adds to (or removes from) its entries: kongtx's ``custom_fields_by_lua``.

Kong evaluates ``custom_fields_by_lua`` (field -> Lua chunk) in a sandbox. kongtx
has no Lua; each log plugin takes two maps instead, both keyed by a field name
where dots reach into the entry (``request.headers.x-debug``), as Kong's
``kong.log.set_serialize_value``:

* ``custom_fields``: field -> a request-transformer template. Text renders as a
  string (``"eu-west"``, ``"id=$(headers.x_id)"``); a value that is exactly one
  ``$(expr)`` keeps the expression's type, so ``$(nil)`` removes the field and
  ``$(shared.user)`` can be a table.
* ``custom_fields_by_lua``: accepted for Kong configurations whose chunks are
  ``return <expression>`` in that same expression language (``return nil``,
  ``return "x"``, ``return headers.host``); any other Lua is refused when the
  plugin is created.

Expressions see ``headers``, ``query_params``, ``uri_captures`` and ``shared``,
as the request-transformer's templates do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable

from twisted.logger import Logger

from kongtx.plugins.request_transformer.handler import TemplateEnv
from kongtx.plugins.request_transformer.template import (
    Lookup,
    TemplateError,
    compile_expression,
    compile_template,
)

if TYPE_CHECKING:
    from kongtx.proxy.context import ProxyContext

__all__ = ["CustomFields", "validate_lua_fields", "validate_template_fields"]

log = Logger()

_Value = Callable[[Lookup], Any]


def _compile_template_value(source: str) -> _Value:
    stripped = source.strip()
    if stripped.startswith("$(") and stripped.endswith(")"):
        template = compile_template(stripped)
        if len(template.parts) == 1 and not isinstance(template.parts[0], str):
            return template.parts[0]
    template = compile_template(source)
    return template.render


def _compile_lua_value(source: str) -> _Value:
    chunk = source.strip()
    if not chunk.startswith("return") or (len(chunk) > 6 and not chunk[6].isspace()):
        raise TemplateError("kongtx runs only 'return <expression>' chunks")
    return compile_expression(chunk[6:])


def _validator(compile_value: Callable[[str], _Value]) -> Callable[[Any], Any]:
    def validate(value: Any) -> Any:
        if not isinstance(value, dict):
            return None
        errors = {}
        for name, source in value.items():
            try:
                compile_value(source)
            except TemplateError as exc:
                errors[name] = f"invalid expression: {exc}"
        return errors or None

    return validate


#: Schema validators of the two maps (a field's error names the bad expression).
validate_template_fields = _validator(_compile_template_value)
validate_lua_fields = _validator(_compile_lua_value)


def _set_path(entry: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    target = entry
    for key in keys[:-1]:
        child = target.get(key)
        if not isinstance(child, dict):
            if value is None:
                return
            child = {}
        else:
            # A copy: the entry holds the snapshot's rows (route, service), never changed in place.
            child = dict(child)
        target[key] = child
        target = child
    if value is None:
        target.pop(keys[-1], None)
    else:
        target[keys[-1]] = value


class CustomFields:
    """The compiled ``custom_fields`` and ``custom_fields_by_lua`` of one plugin config.

    :param conf: the plugin's config (either map may be absent or null).
    """

    __slots__ = ("_fields",)

    def __init__(self, conf: Mapping[str, Any]) -> None:
        fields: list[tuple[str, _Value]] = []
        for name, source in (conf.get("custom_fields_by_lua") or {}).items():
            fields.append((name, _compile_lua_value(source)))
        for name, source in (conf.get("custom_fields") or {}).items():
            fields.append((name, _compile_template_value(source)))
        self._fields = fields

    def __bool__(self) -> bool:
        return bool(self._fields)

    def apply(self, entry: dict[str, Any], ctx: ProxyContext) -> None:
        """Set (or remove) each field in ``entry``; a failing expression is logged and skipped."""
        env = TemplateEnv(ctx)
        for name, value in self._fields:
            try:
                result = value(env)
            except TemplateError as exc:
                log.warn("custom field {field} failed: {error}", field=name, error=str(exc))
                continue
            _set_path(entry, name, result)
