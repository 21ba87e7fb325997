"""Verbs of the assistant: chat (a terminal conversation, one question per stdin line when piped) and serve
(the OpenAI-compatible API and the chat page). Both load the assistant the same way, from the refs given
or the production aliases."""

from __future__ import annotations

import argparse
import os
import sys

from rungs.assistant import Assistant, resolve_refs
from rungs.kernel import compose
from rungs.serve import DEFAULT_HOST, DEFAULT_PORT, MAX_QUEUE, MAX_REQUEST_BYTES, exposure_warning, run_server
from rungs.store import Store

from ._output import note


def add_ref_arguments(p: argparse.ArgumentParser) -> None:
    """--model/--adapter/--index and Hydra overrides, shared by `rungs chat` and `rungs serve`."""
    p.add_argument("--model", metavar="REF", default=None,
                   help="the model: a base, cpt or merge artifact, or an sft adapter (default: the production alias "
                        "of merge, sft, cpt or base, in that order; else the newest of them)")
    p.add_argument("--adapter", metavar="REF", default=None,
                   help="an sft adapter to apply (default: none beyond what --model picks; without --model, "
                        "the adapter's own model)")
    p.add_argument("--index", metavar="REF", default=None, help="the index artifact (default: index@production, else index@latest)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="Hydra overrides, e.g. prompt.top_k=5 prompt.max_new_tokens=128 hardware=gpu-24gb")


def load_assistant(args: argparse.Namespace) -> Assistant:
    cfg = compose(args.overrides)
    refs = resolve_refs(Store(args.store), args.model, args.adapter, args.index)
    note(f"loading {refs.summary()} …")
    return Assistant(refs, cfg.prompt, cfg.hardware)


def cmd_chat(args: argparse.Namespace) -> int:
    assistant = load_assistant(args)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    note(f"rungs chat — {assistant.refs.summary()}. Ask a question; /reset forgets the conversation, /quit or Ctrl-D ends.")
    history: list[dict] = []
    while True:
        try:
            line = input("you> ") if interactive else sys.stdin.readline()
        except EOFError:
            break
        if not interactive and line == "":
            break
        question = line.strip()
        if not question:
            continue
        if question in ("/quit", "/exit"):
            break
        if question == "/reset":
            history = []
            continue
        messages = [*history, {"role": "user", "content": question}]
        try:
            reply = assistant.reply(messages)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            continue
        if interactive:
            sys.stdout.write("assistant> ")
        for piece in reply:
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n\n")
        sys.stdout.flush()
        history = [*messages, {"role": "assistant", "content": reply.history_text}]
    return 0


def _add_chat(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "chat",
        help="chat with the assistant in the terminal (streams, cites sources)",
        description=(
            "A terminal chat with the patient assistant: the production model (or the refs given) answers from "
            "the index, streaming token by token, and cites its sources as [1], [2] with titles. Emergency red "
            "flags get an escalation message at once; when nothing relevant is retrieved the assistant says it "
            "does not know. The prompt and guardrails are conf/prompt/ (override with prompt.KEY=VALUE). Reads "
            "one question per line from standard input, so it can be scripted. Nothing of the conversation is logged."
        ),
        epilog="examples:\n  rungs chat\n  rungs chat --model sft:v2 --index index:v1 prompt.top_k=5\n"
               "  echo 'How do I use an inhaler?' | rungs chat",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_ref_arguments(p)
    p.set_defaults(func=cmd_chat)


def cmd_serve(args: argparse.Namespace) -> int:
    api_key = args.api_key or os.environ.get("RUNGS_API_KEY") or None
    warning = exposure_warning(args.host, api_key)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    run_server(load_assistant(args), host=args.host, port=args.port, api_key=api_key,
               max_request_bytes=args.max_request_kb * 1024, max_tokens=args.max_tokens, max_queue=args.max_queue,
               log_level=args.log_level)
    return 0


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the assistant: OpenAI-compatible API and a chat page",
        description=(
            "Serve the patient assistant over HTTP: POST /v1/chat/completions (streaming or not, OpenAI's format, "
            "so the official clients work), GET /v1/models, GET /health, and a chat page for staff at /. Answers "
            "carry a `citations` list. Binds 127.0.0.1 by default. One generation runs at a time; others wait in "
            "line (up to --max-queue). Conversation text is never logged."
        ),
        epilog=(
            "examples:\n  rungs serve\n  rungs serve --port 9000 --api-key s3cret --model sft@production\n"
            "  RUNGS_API_KEY=s3cret rungs serve --host 0.0.0.0\n\n"
            "then, from Python:\n  from openai import OpenAI\n"
            "  client = OpenAI(base_url='http://127.0.0.1:8000/v1', api_key='s3cret')\n"
            "  client.chat.completions.create(model='rungs', messages=[{'role': 'user', 'content': 'What is asthma?'}])"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--api-key", default=None, metavar="KEY",
                   help="require 'Authorization: Bearer KEY' on /v1 calls (default: $RUNGS_API_KEY, else none)")
    p.add_argument("--max-request-kb", type=int, default=MAX_REQUEST_BYTES // 1024, metavar="KB",
                   help=f"largest request body accepted, in KiB; larger gets 413 (default {MAX_REQUEST_BYTES // 1024})")
    p.add_argument("--max-tokens", type=int, default=None, metavar="N",
                   help="largest max_tokens a request may ask for (default: prompt.max_new_tokens)")
    p.add_argument("--max-queue", type=int, default=MAX_QUEUE, metavar="N",
                   help=f"requests waiting for or using the model before new ones get 503 (default {MAX_QUEUE})")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info"),
                   help="uvicorn log level (default info: startup and one access line per request, no bodies)")
    add_ref_arguments(p)
    p.set_defaults(func=cmd_serve)


def register(sub: argparse._SubParsersAction) -> None:
    _add_chat(sub)
    _add_serve(sub)
