"""Built integrations as data: create from a source, review, build, deploy, roll back, delete — per user.

`service.Servers` is the one service the JSON API (`web/servers_api.py`), the CLI (`mcphub servers`, `mcphub build
--deploy`) and the builder pages use. It sits above the builder, the compiler and the runtime: it turns what a user
brings into a spec with the builder's fetch and analyze stages, compiles each version with the compiler's pipeline
(parse, codegen, scan, test) in a scratch folder, and stores the result through `runtime/tenancy/builds.py`, from
which every hub process mounts the deployed packages.
"""

from mcphub.servers.service import (
    AssistFailed,
    BuildFailed,
    Created,
    Draft,
    DraftOperation,
    Forbidden,
    Improved,
    InvalidInput,
    Proposed,
    Review,
    ReviewTool,
    Servers,
    SourceInput,
)

__all__ = [
    "AssistFailed",
    "BuildFailed",
    "Created",
    "Draft",
    "DraftOperation",
    "Forbidden",
    "Improved",
    "InvalidInput",
    "Proposed",
    "Review",
    "ReviewTool",
    "Servers",
    "SourceInput",
]
