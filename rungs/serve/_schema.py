"""The API's request and error bodies as Pydantic models, in OpenAI's schema (the part of it rungs serves).

`ChatCompletionRequest` is what `POST /v1/chat/completions` accepts: OpenAI's fields, of OpenAI's types
and ranges; fields OpenAI defines that rungs does not use (`top_p`, `stop`, `user`, `seed`, ...) are
accepted and ignored, as are unknown ones, so every OpenAI client works unchanged. A text that is not
valid Unicode (a lone surrogate from a `\\ud800` escape) is refused here, before it reaches a tokenizer.
`validation_message` turns Pydantic's errors into one OpenAI-style message and the offending `param`.

Loaded with `create_app`, not with the package, so `rungs --help` does not load Pydantic.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError


def _valid_unicode(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode (a lone surrogate)") from None
    return text


Text = Annotated[str, AfterValidator(_valid_unicode)]


class _Open(BaseModel):
    """OpenAI's objects: the fields rungs reads are checked, the others pass through unread."""

    model_config = ConfigDict(extra="allow")


class TextPart(_Open):
    """One part of a message's content; rungs reads text only."""

    type: Literal["text"]
    text: Text


class Message(_Open):
    role: Literal["system", "developer", "user", "assistant"]
    content: Text | list[TextPart] | None = None
    name: Text | None = None


class StreamOptions(_Open):
    include_usage: bool = False


class ChatCompletionRequest(_Open):
    """`POST /v1/chat/completions` (OpenAI's chat completion request; text only, one choice)."""

    messages: list[Message] = Field(min_length=1)
    model: Text | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2, allow_inf_nan=False)
    top_p: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    n: int | None = Field(default=None, ge=1, le=1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2, allow_inf_nan=False)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2, allow_inf_nan=False)
    stop: Text | list[Text] | None = None
    user: Text | None = None
    seed: int | None = None
    sources_footer: bool | None = Field(default=None, description="rungs: end the answer with its numbered sources")

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"example": {"model": "rungs", "messages": [{"role": "user", "content": "How do I use my inhaler?"}]}},
    )


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    """Every error the API answers with, in OpenAI's shape."""

    error: ErrorDetail


def validate_request(body: Any) -> ChatCompletionRequest:
    """The request as a model; ValueError(message, param) naming the first problem otherwise."""
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object", None)
    try:
        return ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        raise ValueError(*validation_message(exc.errors(include_url=False, include_input=False))) from None


def validation_message(errors: list[dict]) -> tuple[str, str | None]:
    """(one message, the top-level param) for Pydantic/FastAPI errors: `messages[0].content: ...`."""
    if not errors:
        return "invalid request", None
    # a union reports one error per alternative: the most specific (longest location) says the most
    first = max(errors, key=lambda e: len(e.get("loc") or ()))
    loc = [str(p) for p in first.get("loc") or () if p not in ("body",)]
    loc = [p for p in loc if p not in ("str", "list[TextPart]", "function-after[_valid_unicode(), str]", "TextPart",
                                       "list[function-after[_valid_unicode(), str]]")]
    where = ""
    for part in loc:
        where += f"[{part}]" if part.isdigit() else (f".{part}" if where else part)
    message = str(first.get("msg") or "invalid value").removeprefix("Value error, ")
    return (f"'{where}': {message}" if where else message), (loc[0] if loc else None)
