"""The small builders and shared pieces the admin API's OpenAPI document is written with.

Owns: `$ref`s, JSON bodies, error and page shapes, the operation builder and the schema
fragments more than one area of the document uses. Does not own any schema, parameter or path
of the document: those live in `adminspec` (tenants, keys, buckets, login, health, metrics),
`adminspec_usage` and `adminspec_billing`.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error(description: str) -> Schema:
    return json_response(description, ref("Error"))


def page(item: str) -> Schema:
    return {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": ref(item)},
            "next": {
                "type": ["string", "null"],
                "description": "Pass as `after` for the next page; null on the last page.",
            },
        },
    }


def op(
    op_id: str,
    summary: str,
    responses: dict[str, Schema],
    *,
    body: Schema | None = None,
    params: tuple[str, ...] = (),
    public: bool = False,
) -> Schema:
    operation: Schema = {"operationId": op_id, "summary": summary, "responses": dict(responses)}
    if params:
        operation["parameters"] = [{"$ref": f"#/components/parameters/{p}"} for p in params]
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
        operation["responses"]["400"] = error("The body is not a JSON object.")
        operation["responses"]["422"] = error("Unknown or missing field, wrong type or bad value.")
    if public:
        operation["security"] = []
    else:
        operation["responses"]["401"] = {"$ref": "#/components/responses/Unauthorized"}
    return operation


def obj(required: list[str], properties: Schema) -> Schema:
    """A closed object: exactly these properties, `required` among them."""
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }


def array(item: Schema) -> Schema:
    return {"type": "array", "items": item}


#: The path every per-tenant route hangs under.
TENANT_PATH = "/admin/tenants/{tenant_id}"
NOT_FOUND = {"404": error("No tenant (or key) with that id.")}
BAD_QUERY = {"400": error("A bad query parameter (InvalidQuery).")}
PAGE = ("limit", "after")
STR, INT = {"type": "string"}, {"type": "integer"}
COUNT = {"type": "integer", "minimum": 0}
TIME = {"type": "string", "format": "date-time"}
TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
#: A billing month, YYYY-MM.
PERIOD = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}
