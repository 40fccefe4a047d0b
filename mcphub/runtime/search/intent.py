"""What kind of action a request asks for, and what kind of action a tool performs.

Word overlap alone ranks "delete the webhook" and "list the webhooks" alike: both tools say "webhook". The
verb decides, and APIs say it in two places: the tool's name ("delete_webhook", "issueCreate",
"chat.postMessage") and the HTTP method and path shape (DELETE; a GET on a collection vs. on one item). Both
sides are reduced to a few action kinds; the ranking prefers tools whose kind the request asks for, and keeps
destructive tools down unless the request asks to remove something.

General English vocabulary, written once for every API (never per task or per integration).
"""

from __future__ import annotations

from mcphub.runtime.search.documents import ToolDoc, split_words
from mcphub.runtime.search.lexical import query_words

DELETE = "delete"
CREATE = "create"
UPDATE = "update"
LIST = "list"
GET = "get"
KINDS = (DELETE, CREATE, UPDATE, LIST, GET)

# Words in a tool's name, by the action they name (first match in the name wins, read left to right:
# "list_issue_comments" is a list, "create_or_update_file" a create).
_NAME_VERBS: dict[str, str] = {
    **dict.fromkeys(["delete", "remove", "destroy", "trash", "purge", "erase", "kick", "revoke", "unlink"], DELETE),
    **dict.fromkeys(
        ["create", "add", "post", "send", "insert", "upload", "invite", "new", "open", "fork", "schedule", "copy"],
        CREATE,
    ),
    **dict.fromkeys(
        ["update", "edit", "modify", "set", "rename", "patch", "replace", "move", "transition", "mark", "merge"],
        UPDATE,
    ),
    **dict.fromkeys(["list", "search", "query", "find", "history", "members", "replies"], LIST),
    **dict.fromkeys(["get", "read", "info", "retrieve", "fetch", "show", "lookup", "download", "export"], GET),
}

# Words in a request, by the actions they ask for (a word may ask for more than one: "show" a list or an item).
_QUERY_VERBS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        ["delete", "remove", "erase", "drop", "trash", "destroy", "purge", "wipe", "kill", "uninstall", "revoke"],
        (DELETE,),
    ),
    **dict.fromkeys(
        [
            "create",
            "add",
            "new",
            "make",
            "start",
            "file",
            "report",
            "post",
            "send",
            "write",
            "upload",
            "invite",
            "submit",
        ],
        (CREATE,),
    ),
    **dict.fromkeys(["open"], (CREATE, GET)),
    **dict.fromkeys(
        ["update", "change", "edit", "modify", "rename", "set", "fix", "move", "mark", "switch", "adjust", "replace"],
        (UPDATE,),
    ),
    **dict.fromkeys(["list", "all", "every", "everyone", "everything", "search", "find", "which"], (LIST,)),
    **dict.fromkeys(["show", "see", "view", "look", "lookup", "check"], (LIST, GET)),
    **dict.fromkeys(["get", "read", "fetch", "details", "info", "download", "retrieve", "what", "who"], (GET,)),
}


def tool_action(doc: ToolDoc) -> str | None:
    """The action kind of a tool: from the verb in its name (or GraphQL field), else from its HTTP method and
    path shape; None when neither says (a GraphQL query field named after a noun, say)."""
    words = split_words(doc.tool)
    if doc.graphql_field:
        # "mutation issueCreate": the verb comes last in Linear-style names, "query issues" is a read.
        kind, _, field_name = doc.graphql_field.partition(" ")
        words = split_words(field_name) + words
        if kind == "query" and not any(w in _NAME_VERBS for w in words):
            return LIST if field_name.endswith("s") else GET
    for word in words:
        if word in _NAME_VERBS:
            return _NAME_VERBS[word]
    if doc.operation:
        method, _, path = doc.operation.partition(" ")
        if method == "DELETE":
            return DELETE
        if method in ("PUT", "PATCH"):
            return UPDATE
        if method == "POST":
            return CREATE
        if method == "GET":
            return GET if path.rstrip("/").endswith("}") else LIST
    return None


def query_actions(query: str) -> set[str]:
    """The action kinds a request asks for (empty: it names no verb we know). A word that asks for one kind
    ("list", "all", "delete") outweighs one that could mean several ("show", "open"): "show me all the webhooks"
    asks for a list, "show me the webhook" for a list or one item."""
    certain: set[str] = set()
    possible: set[str] = set()
    for word in query_words(query):
        kinds = _QUERY_VERBS.get(word, ())
        (certain if len(kinds) == 1 else possible).update(kinds)
    return certain or possible
