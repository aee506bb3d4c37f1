"""``waveguard dashboard``: the live state of one or several rollouts as a local web page.

A Starlette application, read-only (GET only): ``/`` the page (static files of this package:
HTML, CSS, JavaScript and the vendored uPlot charting library), ``/api/rollouts`` the rollouts
served, ``/api/rollouts/{i}`` one rollout's view now (the JSON of
:func:`waveguard.rollout.view.build_view`, with each gate's series), ``/api/rollouts/{i}/events``
the same as server-sent events: one ``data:`` message when the stream opens, one each time
events were appended to the state file (polled every ``interval`` seconds; each poll reads only
the appended events, see :class:`~waveguard.rollout.tail.LogTail`), and one a second while the
rollout runs, its clock run on between events.

Errors: a state file that cannot be read is refused before the server starts
(:class:`~waveguard.model.errors.InputError` from the tail); one damaged while served is
``{"error": LINE}`` (HTTP 500) and, on the stream, an ``unreadable`` event that ends it.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from waveguard.model.errors import InputError
from waveguard.report.live import halt_figure, view_json
from waveguard.rollout.tail import LogTail
from waveguard.rollout.view import build_view, rollout_now

STATIC = Path(__file__).parent / "static"
#: Wall seconds between two views sent while a rollout runs without new events (the clock).
TICK_S = 1.0


@dataclass(frozen=True)
class DashboardConfig:
    """The state files shown (in this order) and the poll interval, wall seconds."""

    states: tuple[Path, ...]
    interval: float = 0.5


def snapshot(tail: LogTail, name: str) -> dict[str, Any]:
    """One rollout's view now as the page reads it (the rollout's clock run on since its last
    event, :func:`~waveguard.rollout.view.rollout_now`): the view's JSON with the gate series,
    its ``name`` (the state file) and the halt's figure as a line (``gate on cluster: value
    against threshold``)."""
    doc = view_json(build_view(tail.live, now=rollout_now(tail.live, time.time()), with_series=True))
    halt = tail.live.state.halt
    doc["name"] = name
    doc["halt_figure"] = halt_figure(halt) if halt and halt.get("gate") else None
    return doc


def create_app(config: DashboardConfig) -> Starlette:
    """The application. Every state file is read and its view built once here: bad input fails
    now, and the first page load does not pay for importing the gates and models."""
    for path in config.states:
        tail = LogTail(path)
        try:
            tail.poll()
            snapshot(tail, str(path))
        finally:
            tail.close()

    def _path(request: Request) -> Path | None:
        index = int(request.path_params["index"])
        return config.states[index] if 0 <= index < len(config.states) else None

    async def rollouts(_: Request) -> Response:
        return JSONResponse([{"index": i, "name": str(p)} for i, p in enumerate(config.states)])

    async def one(request: Request) -> Response:
        path = _path(request)
        if path is None:
            return JSONResponse({"error": "no such rollout"}, status_code=404)
        tail = LogTail(path)
        try:
            tail.poll()
            return JSONResponse(_jsonable(snapshot(tail, str(path))))
        except InputError as exc:  # damaged since the server started: say so, no traceback
            return JSONResponse({"error": str(exc)}, status_code=500)
        finally:
            tail.close()

    async def events(request: Request) -> Response:
        path = _path(request)
        if path is None:
            return JSONResponse({"error": "no such rollout"}, status_code=404)
        return StreamingResponse(_stream(path, config.interval), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    routes = [Route("/api/rollouts", rollouts), Route("/api/rollouts/{index:int}", one),
              Route("/api/rollouts/{index:int}/events", events),
              Mount("/", StaticFiles(directory=STATIC, html=True), name="static")]
    return Starlette(routes=routes)


async def _stream(path: Path, interval: float) -> AsyncIterator[str]:
    """Server-sent events: the view now, then again whenever events were appended, and every
    TICK_S while the rollout runs (its bake clock runs on between events)."""
    tail = LogTail(path)
    try:
        tail.poll()
        yield _message(snapshot(tail, str(path)))
        sent = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            new = tail.poll()
            if new or (tail.live.state.status == "running" and time.monotonic() - sent >= TICK_S):
                yield _message(snapshot(tail, str(path)))
                sent = time.monotonic()
    except InputError as exc:  # the state file was damaged while served: one event, then the stream ends
        yield f"event: unreadable\ndata: {json.dumps({'error': str(exc)})}\n\n"
    finally:
        tail.close()


def _message(doc: dict[str, Any]) -> str:
    return f"data: {json.dumps(_jsonable(doc), separators=(',', ':'))}\n\n"


def _jsonable(doc: Any) -> Any:
    """JSON has no infinity or NaN: such a figure is sent as null (shown as no data)."""
    if isinstance(doc, float):
        return doc if math.isfinite(doc) else None
    if isinstance(doc, dict):
        return {str(k): _jsonable(v) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [_jsonable(v) for v in doc]
    return doc
