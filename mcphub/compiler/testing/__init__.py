"""The compile's test stage: each HTTP tool called through the real runtime against a mock built from its source.

`check_package` runs it over one compiled package; `check_builds` is the pipeline's entry (packages in
staging and the hub specs or descriptions they were compiled from); `load_source` finds a package's source.
"""

from __future__ import annotations

from mcphub.compiler.testing.entry import StageObserver, check_builds, check_built, load_source, stage_observer
from mcphub.compiler.testing.stage import DEFAULT_EXAMPLES, Failure, Source, StageReport, ToolReport, check_package

__all__ = [
    "DEFAULT_EXAMPLES",
    "Failure",
    "Source",
    "StageObserver",
    "StageReport",
    "ToolReport",
    "check_builds",
    "check_built",
    "check_package",
    "load_source",
    "stage_observer",
]
