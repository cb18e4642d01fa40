"""Config of the example plugin."""

from kongtx.schema.fields import Boolean, Number, Record, String

CONFIG = Record(
    {
        "header": String(required=True, default="X-Example"),
        "value": String(required=True, default="hello"),
        "delay": Number(required=True, default=0, between=(0, 10)),
        "fail": Boolean(required=True, default=False),
    },
    required=True,
)
OPTIONS = {"no_consumer": True}
