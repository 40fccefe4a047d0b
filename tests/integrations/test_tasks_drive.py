"""Google Drive tasks an agent is asked to do, through the hub with the official MCP client, against a stateful stand-in.

Uploads go to Drive's media endpoint (POST /upload/drive/v3/files?uploadType=multipart) as one multipart/related
body, metadata (JSON) first and the content second; the stand-in parses it as Drive does, keeps the files (a Google
Doc made from text keeps that text, which export gives back) and their permissions. files.list answers the part of
Drive's query language the tasks use (`name contains '…'`, `trashed = false`) in the `orderBy` order asked for.
"""

from __future__ import annotations

import email
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.policy import default
from typing import Any

import pytest
import yaml
from runtime.support import Recorded

from integrations.agent_tasks import Handler, Service, Text, call, refused, task_hub
from integrations.hubs import SPECS, RunningHub

TOKEN = "ya29.drive-agent-token"
DOC = "application/vnd.google-apps.document"


def related(r: Recorded) -> tuple[dict[str, Any], str, bytes]:
    """Metadata, media type and bytes of a multipart/related upload, parsed as Drive parses it."""
    assert r.headers["content-type"].startswith("multipart/related; boundary=")
    head = f"Content-Type: {r.headers['content-type']}\r\n\r\n".encode()
    message = email.message_from_bytes(head + r.body, policy=default)
    metadata, media = message.iter_parts()
    assert metadata.get_content_type() == "application/json"
    return json.loads(metadata.get_content()), media.get_content_type(), media.get_payload(decode=True)


def _report(file_id: str, name: str, modified: str, trashed: bool = False) -> dict[str, Any]:
    return {
        "id": file_id,
        "name": name,
        "mimeType": "application/vnd.google-apps.spreadsheet",
        "parents": ["0BfolderFinance"],
        "modifiedTime": modified,
        "trashed": trashed,
        "webViewLink": f"https://docs.google.com/spreadsheets/d/{file_id}/edit",
        "owners": [{"displayName": "Ada", "emailAddress": "ada@example.com"}],
    }


@dataclass
class Drive(Service):
    files: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "1RepOct": _report("1RepOct", "Sales report October", "2026-11-02T08:00:00.000Z"),
            "1RepNov": _report("1RepNov", "Sales report November", "2026-12-01T17:30:00.000Z"),
            "1RepDraft": _report("1RepDraft", "Sales report December (draft)", "2026-12-05T10:00:00.000Z", True),
        }
    )
    permissions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", "/upload/drive/v3/files", self.upload),
            ("GET", "/drive/v3/files", self.list_files),
            ("GET", "/drive/v3/files/{id}/permissions", self.list_permissions),
            ("POST", "/drive/v3/files/{id}/permissions", self.share),
            ("GET", "/drive/v3/files/{id}/export", self.export),
        ]

    def upload(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        if dict(r.query).get("uploadType") != "multipart":
            return 400, {"error": {"code": 400, "message": "Bad Request: uploadType"}}
        metadata, media_type, content = related(r)
        file_id = f"1Fi1e{len(self.files) + 1}"
        stored = {"id": file_id, "name": metadata["name"], "mimeType": metadata.get("mimeType", media_type)}
        stored |= {"parents": metadata.get("parents", ["root"]), "content": content}
        stored["webViewLink"] = f"https://drive.google.com/file/d/{file_id}/view"
        self.files[file_id] = stored
        wanted = [f.strip() for f in dict(r.query).get("fields", "id,name,mimeType").split(",")]
        return 200, {"kind": "drive#file"} | {k: stored[k] for k in wanted if k in stored}

    def list_files(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        query = dict(r.query)
        q = query.get("q", "")
        words = re.findall(r"name contains '([^']*)'", q)
        found = [
            f
            for f in self.files.values()
            if all(w.lower() in f["name"].lower() for w in words) and not ("trashed = false" in q and f.get("trashed"))
        ]
        order = query.get("orderBy", "")
        if order.startswith("modifiedTime"):
            found.sort(key=lambda f: f.get("modifiedTime", ""), reverse=order.endswith("desc"))
        size = int(query.get("pageSize", "100"))
        # `fields` (the spec's default) asks for a few fields of each file: only those come back.
        wanted = re.search(r"files\(([^)]*(?:\([^)]*\))?[^)]*)\)", query.get("fields", ""))
        keys = [k.split("(")[0].strip() for k in wanted.group(1).split(",")] if wanted else ["id", "name", "mimeType"]
        files = [{k: f[k] for k in keys if k in f} for f in found[:size]]
        return 200, {"kind": "drive#fileList", "files": files} | (
            {"nextPageToken": "page2"} if len(found) > size else {}
        )

    def list_permissions(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        owner = {
            "kind": "drive#permission",
            "id": "perm0",
            "type": "user",
            "role": "owner",
            "emailAddress": "ada@example.com",
        }
        return 200, {"kind": "drive#permissionList", "permissions": [owner, *self.permissions.get(p["id"], [])]}

    def share(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        body = r.json()
        made = {"kind": "drive#permission", "id": f"perm{len(self.permissions) + 1}", **body}
        self.permissions.setdefault(p["id"], []).append(made)
        return 200, made

    def export(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        stored = self.files[p["id"]]
        if stored["mimeType"] != DOC:
            return 403, {"error": {"code": 403, "message": "Export only supports Docs Editors files."}}
        return 200, Text(stored["content"].decode())


@pytest.fixture(scope="module")
def drive() -> Drive:
    return Drive()


@pytest.fixture(scope="module")
def hub(drive: Drive, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    folder = tmp_path_factory.mktemp("drive")

    def derive(url: str) -> dict[str, Any]:
        shipped = yaml.safe_load((SPECS / "google-drive.yaml").read_text(encoding="utf-8"))
        # Sharing is off until an admin enables it; this workspace's admin did.
        tools = [{**tool, "enabled": True} if tool.get("name") == "share_file" else tool for tool in shipped["tools"]]
        # The upload endpoint's server (www.googleapis.com, from the supplement) is the stand-in too.
        supplement = yaml.safe_load((SPECS / shipped["source"]["supplement"]).read_text(encoding="utf-8"))
        supplement["servers"] = [{"url": url}]
        for item in supplement["paths"].values():
            for operation in item.values():
                operation["servers"] = [{"url": url}]
        copy = folder / "upload.openapi.yaml"
        copy.write_text(yaml.safe_dump(supplement), encoding="utf-8")
        return {"tools": tools, "source": {**shipped["source"], "supplement": str(copy)}}

    with task_hub(folder, "google-drive", drive, {"token": TOKEN}, base_path="/drive/v3", derive=derive) as running:
        yield running


async def test_upload_a_csv_and_share_it_with_a_colleague(hub: RunningHub, drive: Drive) -> None:
    csv = "month,revenue\nOctober,120000\nNovember,131500\n"
    start = len(drive.requests)
    async with hub.client() as client:
        uploaded = await call(
            client, "google-drive__upload_file", {"name": "revenue.csv", "content": csv, "content_type": "text/csv"}
        )
        shared = await call(
            client,
            "google-drive__share_file",
            {"fileId": uploaded["id"], "type": "user", "role": "writer", "emailAddress": "grace@example.com"},
        )

    assert drive.seen(start) == ["POST /upload/drive/v3/files", f"POST /drive/v3/files/{uploaded['id']}/permissions"]
    upload, share = drive.requests[start:]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in (upload, share))
    assert sorted(upload.query) == [
        ("fields", "id, name, mimeType, webViewLink, parents"),
        ("supportsAllDrives", "true"),
        ("uploadType", "multipart"),
    ]
    metadata, media_type, content = related(upload)
    assert (metadata, media_type, content) == (
        {"name": "revenue.csv", "mimeType": "text/csv"},
        "text/csv",
        csv.encode(),
    )
    assert share.json() == {"type": "user", "role": "writer", "emailAddress": "grace@example.com"}
    assert uploaded == {
        "kind": "drive#file",
        "id": uploaded["id"],
        "name": "revenue.csv",
        "mimeType": "text/csv",
        "webViewLink": f"https://drive.google.com/file/d/{uploaded['id']}/view",
        "parents": ["root"],
    }
    assert shared["role"] == "writer" and drive.permissions[uploaded["id"]][0]["emailAddress"] == "grace@example.com"


async def test_create_a_doc_from_text_and_read_it_back(hub: RunningHub, drive: Drive) -> None:
    notes = "Meeting notes\n\n- ship 2.4 on Monday\n- Grace owns the release\n"
    start = len(drive.requests)
    async with hub.client() as client:
        doc = await call(
            client,
            "google-drive__upload_file",
            {"name": "Release notes", "content": notes, "convert_to": "document", "parents": ["0BfolderTeam"]},
        )
        exported = await client.call_tool("google-drive__export_file", {"fileId": doc["id"], "mimeType": "text/plain"})
        nothing = await refused(client, "google-drive__upload_file", {"name": "empty.txt"})

    assert drive.seen(start) == ["POST /upload/drive/v3/files", f"GET /drive/v3/files/{doc['id']}/export"]
    metadata, media_type, content = related(drive.requests[start])
    assert metadata == {"name": "Release notes", "mimeType": DOC, "parents": ["0BfolderTeam"]}
    assert (media_type, content) == ("text/plain", notes.encode())
    assert doc["mimeType"] == DOC
    assert exported.is_error is False and [block.text for block in exported.content] == [notes]  # type: ignore[union-attr]
    assert "give the file's content" in nothing  # nothing was sent for it


async def test_find_the_latest_report_and_share_it_read_only(hub: RunningHub, drive: Drive) -> None:
    start = len(drive.requests)
    async with hub.client() as client:
        found = await call(
            client,
            "google-drive__search_files",
            {"q": "name contains 'Sales report' and trashed = false", "orderBy": "modifiedTime desc", "pageSize": 1},
        )
        [latest] = found["files"]
        shared = await call(
            client,
            "google-drive__share_file",
            {
                "fileId": latest["id"],
                "type": "user",
                "role": "reader",
                "emailAddress": "cfo@example.com",
                "emailMessage": "The November numbers, read-only.",
            },
        )
        access = await call(client, "google-drive__list_permissions", {"fileId": latest["id"]})
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}

    assert drive.seen(start) == [
        "GET /drive/v3/files",
        "POST /drive/v3/files/1RepNov/permissions",
        "GET /drive/v3/files/1RepNov/permissions",
    ]
    listing, share, _ = drive.requests[start:]
    assert ("orderBy", "modifiedTime desc") in listing.query and ("pageSize", "1") in listing.query
    assert ("q", "name contains 'Sales report' and trashed = false") in listing.query
    # The Permission in the body; the mail's note and the shared-drive flag are query parameters, as Drive wants.
    assert share.json() == {"type": "user", "role": "reader", "emailAddress": "cfo@example.com"}
    assert sorted(share.query) == [
        ("emailMessage", "The November numbers, read-only."),
        ("supportsAllDrives", "true"),
    ]
    assert (latest["name"], latest["webViewLink"]) == (
        "Sales report November",
        "https://docs.google.com/spreadsheets/d/1RepNov/edit",
    )  # not the newer draft: it is in the trash
    assert shared["role"] == "reader"
    assert [(a["role"], a["emailAddress"]) for a in access["permissions"]] == [
        ("owner", "ada@example.com"),
        ("reader", "cfo@example.com"),
    ]
    # Sharing never hands the file over: the ownership arguments are not offered.
    offered = tools["google-drive__share_file"].input_schema["properties"]
    assert "transferOwnership" not in offered and "pendingOwner" not in offered
