"""Serving the assistant: an OpenAI-compatible HTTP API (`/v1/chat/completions`, `/v1/models`), `/health`,
and the chat page for staff at `/` (static/index.html).

FastAPI and uvicorn load with `create_app` and `run_server`, not with this package. Import from here,
never from the private modules.
"""

from ._app import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    MAX_QUEUE,
    MAX_REQUEST_BYTES,
    APIError,
    create_app,
    exposure_warning,
    parse_request,
    run_server,
)

__all__ = [
    "DEFAULT_HOST", "DEFAULT_PORT", "MAX_QUEUE", "MAX_REQUEST_BYTES", "APIError", "create_app", "exposure_warning",
    "parse_request", "run_server",
]
