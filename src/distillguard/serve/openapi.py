"""The decision service's OpenAPI 3.1 document, written by hand next to the routes it describes.

A test checks that every route of the app appears here with its method, so the
two cannot drift apart silently.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    VERSION = version("distillguard")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0.0.0"

_NULLABLE_STRING = {"type": ["string", "null"]}

_VERDICT_HEADERS = {
    "X-Distillguard-Action": {
        "description": "The action to enforce: allow, challenge, throttle, degrade or block.",
        "schema": {"type": "string"},
    },
    "X-Distillguard-Risk": {"description": "Risk in [0, 1], three decimals.", "schema": {"type": "string"}},
    "X-Distillguard-Decision-Id": {
        "description": "The decision's id, as written in the audit log.",
        "schema": {"type": "string"},
    },
    "X-Distillguard-Degrade": {
        "description": "Comma-separated items to withhold (only when the action is degrade).",
        "schema": {"type": "string"},
    },
    "X-Distillguard-Shadow-Action": {
        "description": "In shadow mode: what the policy decided (the action header says allow).",
        "schema": {"type": "string"},
    },
    "Retry-After": {"description": "Seconds, on throttle.", "schema": {"type": "integer"}},
}

_ERROR = {
    "type": "object",
    "required": ["error", "status"],
    "properties": {
        "error": {"type": "string", "description": "What is wrong, naming the field when one is."},
        "status": {"type": "integer"},
        "field": {"type": "string"},
    },
}

_DECIDE_REQUEST = {
    "type": "object",
    "required": ["account_id"],
    "properties": {
        "account_id": {"type": "string", "minLength": 1},
        "api_key_id": _NULLABLE_STRING,
        "end_user_id": _NULLABLE_STRING,
        "client_ip": {"type": ["string", "null"], "description": "IPv4 or IPv6 address."},
        "headers": {
            "type": ["object", "null"],
            "additionalProperties": {"type": "string"},
            "description": "Request headers the policy may read (country, ASN, user agent).",
        },
        "model": _NULLABLE_STRING,
        "request": {
            "type": ["object", "null"],
            "description": "The API request body (chat completions, responses or completions).",
        },
        "request_id": _NULLABLE_STRING,
    },
}

_DECIDE_RESULT = {
    "type": "object",
    "required": ["decision_id", "action", "decided_action", "shadow", "risk", "reasons", "policy_version"],
    "properties": {
        "decision_id": {"type": "string"},
        "action": {"enum": ["allow", "challenge", "throttle", "degrade", "block"]},
        "decided_action": {"enum": ["allow", "challenge", "throttle", "degrade", "block"]},
        "shadow": {"type": "boolean"},
        "risk": {"type": "number"},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "source": {"type": "string"},
        "subject": {
            "type": "object",
            "properties": {"kind": {"type": "string"}, "id": {"type": "string"}},
        },
        "degrade": {"type": "array", "items": {"type": "string"}},
        "rewrite": {
            "type": "object",
            "properties": {
                "set": {"type": "object"},
                "remove": {"type": "array", "items": {"type": "string"}},
            },
        },
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "retry_after_s": {"type": ["integer", "null"]},
        "policy_version": {"type": "string"},
        "error": _NULLABLE_STRING,
    },
}


def _error_responses(*codes: int) -> dict[str, Any]:
    text = {
        400: "Body is not JSON.",
        401: "Missing credentials.",
        403: "Not allowed.",
        404: "Not found.",
        413: "Body over serve_max_body_bytes.",
        422: "A field is missing or has the wrong type.",
        500: "The reload failed.",
    }
    return {
        str(code): {
            "description": text[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code in codes
    }


def openapi_document() -> dict[str, Any]:
    verdict_headers = {name: dict(spec) for name, spec in _VERDICT_HEADERS.items()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "distillguard decision service",
            "version": VERSION,
            "description": "A decision per API request: allow, challenge, throttle, degrade or block. "
            "See docs/serve.md.",
        },
        "paths": {
            "/v1/decide": {
                "post": {
                    "summary": "Decide one API request",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/DecideRequest"}}
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "The verdict (also when overloaded or failing: see error).",
                            "headers": verdict_headers,
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/DecideResult"}}
                            },
                        },
                        **_error_responses(400, 413, 422),
                    },
                }
            },
            "/v1/auth": {
                "get": {
                    "summary": "nginx auth_request: the verdict in the status and headers",
                    "parameters": [
                        {"name": name, "in": "header", "required": False, "schema": {"type": "string"}}
                        for name in (
                            "X-Account-Id",
                            "X-Api-Key-Id",
                            "X-Real-IP",
                            "X-Forwarded-For",
                            "X-End-User-Id",
                            "X-Model",
                            "X-Request-Id",
                        )
                    ],
                    "responses": {
                        "204": {
                            "description": "Allow (also degrade and shadow mode).",
                            "headers": verdict_headers,
                        },
                        "401": {"description": "Neither X-Account-Id nor X-Api-Key-Id was sent."},
                        "403": {"description": "Block or challenge.", "headers": verdict_headers},
                        "429": {"description": "Throttle.", "headers": verdict_headers},
                    },
                }
            },
            "/v1/admin/reload": {
                "post": {
                    "summary": "Re-read the warehouse's verdicts into the state, and the policy file",
                    "security": [{"bearer": []}],
                    "responses": {
                        "200": {
                            "description": "Loaded.",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "subjects": {"type": "integer"},
                                            "generation": {"type": "string"},
                                            "seconds": {"type": "number"},
                                            "warning": {"type": ["string", "null"]},
                                            "policy_version": {"type": "string"},
                                            "policy_error": {"type": ["string", "null"]},
                                        },
                                    }
                                }
                            },
                        },
                        **_error_responses(401, 403, 404, 500),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Policy, state, reload and audit health (200 while it can answer)",
                    "responses": {"200": {"description": "Health", "content": {"application/json": {}}}},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {"description": "Text exposition format", "content": {"text/plain": {}}}
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
                }
            },
        },
        "components": {
            "schemas": {"DecideRequest": _DECIDE_REQUEST, "DecideResult": _DECIDE_RESULT, "Error": _ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
