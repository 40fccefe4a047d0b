"""What happened: /connect (client configuration), /logs (filters, detail, live tail) and /usage (charts, CSV).

Every query is bounded to the signed-in user (`user_id = …` in the SQL itself): an id of another user's
log entry is "not found", exactly like an id that does not exist. Usage is read from the hourly rollups
(`runtime/tenancy/rollups.py`), never from the raw events, so a page reads a few thousand rows at most.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mcphub.runtime.mcp.searchview import AUTO_BUDGET_TOKENS
from mcphub.runtime.store.db import Database, utcnow
from mcphub.runtime.store.models import ApiKey, CallLogEntry, MonthlyMeter
from mcphub.runtime.tenancy import rollups
from mcphub.runtime.tenancy.accounts import ApiKeyInfo, scope_allows
from mcphub.runtime.tenancy.usage import STATUSES
from mcphub.web.dashboard.core import HEADERS, Dashboard, Visitor
from mcphub.web.dashboard.snippets import client_snippets

__all__ = ["RANGES", "Activity"]

# name -> (span, bucket seconds, label)
RANGES: dict[str, tuple[timedelta, int, str]] = {
    "24h": (timedelta(hours=24), 3600, "Last 24 hours"),
    "7d": (timedelta(days=7), 6 * 3600, "Last 7 days"),
    "30d": (timedelta(days=30), 24 * 3600, "Last 30 days"),
}
LOG_SINCE = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "": None}
TAIL_POLL_S = 1.0
TAIL_MAX_S = 300.0  # a tail reconnects (EventSource does it by itself) rather than holding a connection forever
_PAGE = 50


@dataclass(frozen=True, slots=True)
class Series:
    integration: str
    calls: list[int]
    errors: list[int]


async def usage_series(
    db: Database, user_id: int, since: datetime, until: datetime, bucket: int
) -> tuple[list[int], list[Series]]:
    """Calls and errors per integration per `bucket` seconds, from the hourly rollups."""
    start = int(since.timestamp()) // bucket * bucket
    times = list(range(start, int(until.timestamp()) + 1, bucket))
    series: dict[str, Series] = {}
    daily = bucket >= 24 * 3600
    for hour, integration, calls, errors in await rollups.series(db, user_id, since, until, daily=daily):
        found = series.setdefault(integration, Series(integration, [0] * len(times), [0] * len(times)))
        position = (int(hour.timestamp()) - start) // bucket
        if 0 <= position < len(times):
            found.calls[position] += calls
            found.errors[position] += errors
    return times, [series[name] for name in sorted(series)]


def scope_of(key: ApiKeyInfo) -> frozenset[str] | None:
    return frozenset(key.scope) if key.scope is not None else None


class Activity:
    def __init__(self, dash: Dashboard) -> None:
        self.d = dash

    # --- /connect --------------------------------------------------------------------------------------

    async def connect(self, request: Request, visitor: Visitor) -> Response:
        mcp_url = self.d.mcp_url(request)
        keys = [k for k in await self.d.t.accounts.list_keys(visitor.user.id) if k.status == "active"]
        reachable = await self._reachable_tools(visitor)
        whole_api = await self._reachable_tools(visitor, listed=False)
        return self.d.render(
            request,
            "connect.html",
            visitor=visitor,
            title="Connect a client",
            mcp_url=mcp_url,
            public=mcp_url.startswith("https://"),
            tools=len(reachable),
            searchable=len(whole_api),
            search_url=mcp_url.rstrip("/") + "/search",
            budget=AUTO_BUDGET_TOKENS,
            per_key=[
                (key, sum(1 for slug, tool in reachable if scope_allows(scope_of(key), slug, tool))) for key in keys
            ],
            snippets=client_snippets(mcp_url, None, self.d.mcphub_command()),
        )

    async def _reachable_tools(self, visitor: Visitor, *, listed: bool = True) -> list[tuple[str, str]]:
        """(slug, tool) a key without scope limits reaches right now: enabled, connected (or no auth), mounted;
        the tools of the flat list, or (`listed` False) the operations only the search view finds (`search: all`)."""
        states = await self.d.t.integrations.states(visitor.user.id)
        found = []
        for slug, integration in self.d.catalog(visitor.user.id).items():
            state = states.get(slug)
            if state and state.enabled and (state.connected or not integration.auth):
                found += [(slug, tool.name) for tool in integration.tools if tool.enabled and tool.listed == listed]
        return found

    # --- /logs -----------------------------------------------------------------------------------------

    def _log_query(self, request: Request, user_id: int) -> tuple[object, dict[str, str]]:
        params = request.query_params
        filters = {name: params.get(name, "") for name in ("integration", "tool", "status", "key", "since")}
        query = select(CallLogEntry).where(CallLogEntry.user_id == user_id)
        if filters["integration"]:
            query = query.where(CallLogEntry.integration == filters["integration"])
        if filters["tool"]:
            query = query.where(CallLogEntry.tool == filters["tool"])
        if filters["status"] == "error":
            query = query.where(CallLogEntry.status != "ok")
        elif filters["status"]:
            query = query.where(CallLogEntry.status == filters["status"])
        if filters["key"].isdigit():
            query = query.where(CallLogEntry.key_id == int(filters["key"]))
        span = LOG_SINCE.get(filters["since"])
        if span is not None:
            query = query.where(CallLogEntry.ts >= utcnow() - span)
        return query, filters

    async def _key_names(self, user_id: int) -> dict[int, str]:
        async with self.d.t.db.session() as session:
            rows = (await session.execute(select(ApiKey.id, ApiKey.name).where(ApiKey.user_id == user_id))).all()
        names = {int(key_id): str(name) for key_id, name in rows}
        names[0] = "dashboard test"
        return names

    async def logs(self, request: Request, visitor: Visitor) -> Response:
        query, filters = self._log_query(request, visitor.user.id)
        before = request.query_params.get("before", "")
        if before.isdigit():
            query = query.where(CallLogEntry.id < int(before))  # type: ignore[attr-defined]
        async with self.d.t.db.session() as session:
            entries = list(await session.scalars(query.order_by(CallLogEntry.id.desc()).limit(_PAGE)))  # type: ignore[attr-defined]
        keys = await self._key_names(visitor.user.id)
        filter_query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
        return self.d.render(
            request,
            "logs.html",
            visitor=visitor,
            title="Logs",
            entries=entries,
            keys=keys,
            filters=filters,
            integrations=sorted(self.d.catalog(visitor.user.id)),
            statuses=STATUSES,
            more=entries[-1].id if len(entries) == _PAGE else None,
            filter_query=filter_query,
            newest=entries[0].id if entries else 0,
        )

    async def log_entry(self, request: Request, visitor: Visitor) -> Response:
        raw = str(request.path_params["entry_id"])
        entry = None
        if raw.isdigit():
            async with self.d.t.db.session() as session:
                entry = await session.scalar(
                    select(CallLogEntry).where(CallLogEntry.id == int(raw), CallLogEntry.user_id == visitor.user.id)
                )
        if entry is None:
            return self.d.notice(
                request,
                404,
                "No such call",
                "There is no call with this id in your logs.",
                visitor=visitor,
                next_url="/logs",
                next_label="Back to the logs",
            )
        keys = await self._key_names(visitor.user.id)
        arguments = json.loads(entry.arguments) if entry.arguments else {}
        return self.d.render(
            request,
            "log_entry.html",
            visitor=visitor,
            title=f"{entry.integration}__{entry.tool}",
            entry=entry,
            arguments=arguments,
            key_name=keys.get(entry.key_id or -1, "—"),
        )

    async def tail(self, request: Request) -> Response:
        """Server-sent events: each new call of the signed-in user as a rendered table row."""
        visitor = await self.d.visitor(request)
        if visitor is None:
            return Response("sign in first", status_code=401, headers={"Cache-Control": "no-store"})
        after = request.query_params.get("after", "")
        last = int(after) if after.isdigit() else 0
        keys = await self._key_names(visitor.user.id)
        row = self.d.env.get_template("dashboard/_log_row.html")

        async def events() -> AsyncIterator[str]:
            nonlocal last
            yield "retry: 2000\n\n"
            loop = asyncio.get_running_loop()
            ends = loop.time() + TAIL_MAX_S
            while loop.time() < ends and not await request.is_disconnected():
                query, _ = self._log_query(request, visitor.user.id)
                async with self.d.t.db.session() as session:
                    fresh = list(
                        await session.scalars(
                            query.where(CallLogEntry.id > last).order_by(CallLogEntry.id).limit(100)  # type: ignore[attr-defined]
                        )
                    )
                for entry in fresh:
                    last = entry.id
                    html = row.render(entry=entry, keys=keys).replace("\n", "")
                    yield f"id: {entry.id}\nevent: call\ndata: {html}\n\n"
                await asyncio.sleep(TAIL_POLL_S)  # the pace of the poll, not a wait for readiness

        headers = {**HEADERS, "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    # --- /usage ----------------------------------------------------------------------------------------

    async def _usage_data(self, request: Request, user_id: int) -> dict[str, Any]:
        name = request.query_params.get("range", "24h")
        if name not in RANGES:
            name = "24h"
        span, bucket, label = RANGES[name]
        until = utcnow()
        since = until - span
        await rollups.roll_up(self.d.t.db)
        times, series = await usage_series(self.d.t.db, user_id, since, until, bucket)
        per_integration = await rollups.totals(self.d.t.db, user_id, since, until, by_tool=False)
        top_tools = await rollups.totals(self.d.t.db, user_id, since, until, by_tool=True, limit=10)
        month = until.strftime("%Y-%m")
        async with self.d.t.db.session() as session:
            meter = await session.scalar(
                select(MonthlyMeter).where(MonthlyMeter.user_id == user_id, MonthlyMeter.month == month)
            )
        return {
            "range": name,
            "label": label,
            "bucket": bucket,
            "times": times,
            "series": series,
            "per_integration": per_integration,
            "top_tools": top_tools,
            "month": month,
            "month_calls": meter.calls if meter else 0,
            "month_errors": meter.errors if meter else 0,
        }

    async def usage(self, request: Request, visitor: Visitor) -> Response:
        data = await self._usage_data(request, visitor.user.id)
        chart = {
            "times": data["times"],
            "series": [{"name": s.integration, "calls": s.calls, "errors": s.errors} for s in data["series"]],
            "latency": [
                {"name": s.integration, "p50": round(s.p50_ms, 1), "p95": round(s.p95_ms, 1)}
                for s in data["per_integration"]
            ],
        }
        # Inlined as a JSON data block (not executed, so the CSP allows it); "<" escaped so no value can end it.
        data_block = json.dumps(chart).replace("<", "\\u003c")
        return self.d.render(
            request, "usage.html", visitor=visitor, title="Usage", ranges=RANGES, chart=data_block, **data
        )

    async def usage_csv(self, request: Request, visitor: Visitor) -> Response:
        data = await self._usage_data(request, visitor.user.id)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["bucket_start_utc", "integration", "calls", "errors"])
        times: list[int] = data["times"]
        for series in data["series"]:
            for at, calls, errors in zip(times, series.calls, series.errors, strict=True):
                if calls or errors:
                    stamp = datetime.fromtimestamp(at, tz=utcnow().tzinfo).strftime("%Y-%m-%dT%H:%M:%SZ")
                    writer.writerow([stamp, series.integration, calls, errors])
        filename = f"mcphub-usage-{data['range']}.csv"
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
        )
