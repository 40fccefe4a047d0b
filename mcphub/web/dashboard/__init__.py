"""The dashboard: everything a user does with the hub, in the browser (server-rendered pages, htmx).

Routes (GET pages need a web session; every POST also the session's CSRF token):
  /signin /signup /signout              sessions; sign-up follows the hub's sign-up policy
  /                                     home: integrations at a glance, calls today, connect card
  /integrations, /integrations/<slug>   catalog; enable/disable, connect (form or OAuth), test, disconnect
  /keys                                 create (scope, expiry, view), change the view, rotate, revoke
  /connect                              client configuration with this hub's real URL
  /logs, /logs/<id>, /logs/stream       recent calls, one call, live tail (server-sent events)
  /usage, /usage.csv                    charts and tables per integration, CSV
  /build, /build/<slug>[/review|/diff|/playground|/export]  build your own integration from a file, URL or text: review, build,
                                        deploy; edit its spec (Monaco, /monaco/<version>/…); versions, rollback
  /schema/spec.json, /schema/spec/v1.json   the spec format's JSON Schema (public)
  /settings                             password, sessions, grants, delete; admins: users, sign-up, audit, status
  /static/<name>                        assets under content-hashed names (assets.py)
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mcphub.runtime.mcp.hub import Hub
from mcphub.runtime.tenancy.services import Tenancy
from mcphub.servers import Servers
from mcphub.web.dashboard.activity import Activity
from mcphub.web.dashboard.assets import static_route
from mcphub.web.dashboard.auth import Auth
from mcphub.web.dashboard.builder import Builder, schema_routes
from mcphub.web.dashboard.core import Dashboard
from mcphub.web.dashboard.integrations import Integrations
from mcphub.web.dashboard.keys import Keys
from mcphub.web.dashboard.monaco import monaco_route
from mcphub.web.dashboard.settings import Settings

__all__ = ["create_dashboard_routes", "static_route"]


def create_dashboard_routes(
    tenancy: Tenancy, hub: Hub, *, public_mcp_url: str, servers: Servers, uploads_dir: Path
) -> list[Route]:
    d = Dashboard(tenancy, hub, public_mcp_url=public_mcp_url)
    auth, integrations, keys = Auth(d), Integrations(d), Keys(d)
    activity, settings = Activity(d), Settings(d)

    page, act, on, admin = d.page, d.action, integrations.on_integration, d.admin_only
    builder = Builder(d, uploads_dir, servers)
    start_build = act(builder.start, name="build.start")

    async def upload(request: Request) -> Response:
        # An oversized upload is refused by its Content-Length, before the form parser reads it.
        return await (builder.refuse_too_large(request) if builder.too_large(request) else start_build(request))

    def post(path: str, handler: object, name: str) -> Route:
        return Route(path, act(handler, name=name), methods=["POST"])  # type: ignore[arg-type]

    return [
        Route("/signin", auth.signin_page, methods=["GET"]),
        Route("/signin", auth.signin, methods=["POST"]),
        Route("/signup", auth.signup_page, methods=["GET"]),
        Route("/signup", auth.signup, methods=["POST"]),
        post("/signout", auth.signout, "session.sign_out"),
        Route("/", page(integrations.home), methods=["GET"]),
        Route("/integrations", page(integrations.catalog), methods=["GET"]),
        Route("/integrations/{slug}", page(integrations.detail), methods=["GET"]),
        post("/integrations/{slug}/enable", on(integrations.enable), "integration.enable"),
        post("/integrations/{slug}/disable", on(integrations.disable), "integration.disable"),
        post("/integrations/{slug}/credential", on(integrations.store), "credential.set"),
        post("/integrations/{slug}/oauth", on(integrations.oauth), "credential.oauth_start"),
        post("/integrations/{slug}/test", on(integrations.test), "integration.test"),
        post("/integrations/{slug}/disconnect", on(integrations.disconnect), "credential.delete"),
        Route("/keys", page(keys.page), methods=["GET"]),
        post("/keys", keys.create, "key.create"),
        post("/keys/{key_id}/rotate", keys.rotate, "key.rotate"),
        post("/keys/{key_id}/view", keys.set_view, "key.view"),
        post("/keys/{key_id}/revoke", keys.revoke, "key.revoke"),
        Route("/connect", page(activity.connect), methods=["GET"]),
        Route("/logs", page(activity.logs), methods=["GET"]),
        Route("/logs/stream", activity.tail, methods=["GET"]),
        Route("/logs/{entry_id}", page(activity.log_entry), methods=["GET"]),
        Route("/usage", page(activity.usage), methods=["GET"]),
        Route("/usage.csv", page(activity.usage_csv), methods=["GET"]),
        Route("/build", page(builder.page), methods=["GET"]),
        Route("/build", upload, methods=["POST"]),
        Route("/build/{slug}", page(builder.built), methods=["GET"]),
        Route("/build/{slug}/review", page(builder.review_page), methods=["GET"]),
        post("/build/{slug}/review", builder.submit_review, "build.review"),
        post("/build/{slug}/review/improve", builder.improve, "build.improve"),
        post("/build/{slug}/propose", builder.propose, "build.propose"),
        Route("/build/{slug}/diff", page(builder.diff), methods=["GET"]),
        Route("/build/{slug}/playground", page(builder.playground), methods=["GET"]),
        Route("/build/{slug}/export", page(builder.export), methods=["GET"]),
        post("/build/{slug}/playground", builder.play, "build.playground"),
        post("/build/{slug}/build", builder.build_now, "build.build"),
        post("/build/{slug}/deploy", builder.deploy, "build.deploy"),
        post("/build/{slug}/rollback", builder.rollback, "build.rollback"),
        post("/build/{slug}/spec", builder.save_spec, "build.spec"),
        Route("/build/{slug}/spec/check", builder.check_spec, methods=["POST"]),
        *schema_routes(),
        monaco_route(),
        Route("/settings", page(settings.page), methods=["GET"]),
        post("/settings/password", settings.password, "account.password"),
        post("/settings/sessions", settings.sign_out_others, "session.sign_out_others"),
        post("/settings/grants/{grant_id}/revoke", settings.revoke_grant, "grant.revoke"),
        post("/settings/delete", settings.delete_account, "account.delete"),
        post("/settings/signup", admin(settings.set_policy), "signup.policy"),
        post("/settings/invites", admin(settings.invite), "signup.invite"),
        post("/settings/users", admin(settings.create_user), "user.create"),
        post("/settings/users/{user_id}/admin", admin(settings.set_admin), "user.admin"),
    ]
