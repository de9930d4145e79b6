"""The served OpenAPI document: every 422 is documented in the one error shape the app
actually answers with (FastAPI's default documents its own HTTPValidationError)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_DEFAULT_422 = "#/components/schemas/HTTPValidationError"
_ERROR_REF = "#/components/schemas/ErrorResponse"


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _use_error_shape(spec)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _use_error_shape(spec: dict[str, Any]) -> None:
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            response = operation.get("responses", {}).get("422")
            content = (response or {}).get("content", {}).get("application/json", {})
            if content.get("schema", {}).get("$ref") == _DEFAULT_422:
                content["schema"] = {"$ref": _ERROR_REF}
                response["description"] = "Valid JSON with invalid values; `field` names it."
    if any(_ERROR_REF in str(op) for op in spec.get("paths", {}).values()):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
