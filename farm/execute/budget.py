"""The failure budget of a render on a cluster: sick nodes are taken out, sick segments fail.

A segment that fails for a *system* reason (an internal error, a backend or
library that is missing or broken, the cache unwritable: exit 69, 70, 73 —
not bad media) on a node counts against that node. A node that reaches
``node_failures`` (N) such failures is excluded from the rest of the render:
later segments are pinned to other nodes. A segment is retried on a node it
has not failed on, until it has failed on ``segment_nodes`` (M) different
nodes; then it fails its variants with every node's reason.

Pure bookkeeping: no Ray here. ``FARM_NODE_FAILURES`` and ``FARM_SEGMENT_NODES``
set N and M (defaults 3 and 2).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from farm.errors import FarmError

#: exit codes that say "the machine", not "the input"
SYSTEM_EXIT_CODES = frozenset({69, 70, 73})


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


@dataclass
class FailureBudget:
    """Failures by node and by segment during one render."""

    node_failures: int = field(default_factory=lambda: _env_int("FARM_NODE_FAILURES", 3))  # N
    segment_nodes: int = field(default_factory=lambda: _env_int("FARM_SEGMENT_NODES", 2))  # M
    by_node: dict[str, int] = field(default_factory=dict)  # node -> system failures
    reasons: dict[str, dict[str, str]] = field(default_factory=dict)  # segment key -> node -> reason
    excluded: dict[str, str] = field(default_factory=dict)  # node -> why it was taken out

    @staticmethod
    def is_system(err: FarmError) -> bool:
        return err.exit_code in SYSTEM_EXIT_CODES

    def record(self, key: str, node: str, err: FarmError, label: str = "") -> bool:
        """Count a system failure of segment ``key`` on ``node``; True when it should be tried again."""
        self.by_node[node] = self.by_node.get(node, 0) + 1
        self.reasons.setdefault(key, {})[node] = str(err)
        if self.by_node[node] >= self.node_failures and node not in self.excluded:
            self.excluded[node] = f"{self.by_node[node]} segments failed there; last: {err}"
        return len(self.reasons[key]) < self.segment_nodes

    def avoid(self, key: str) -> set[str]:
        """Nodes segment ``key`` must not run on: excluded ones and those it failed on."""
        return set(self.excluded) | set(self.reasons.get(key, {}))

    def failure(self, key: str, last: FarmError) -> FarmError:
        """The error a segment ends with: the last one, naming what every node said."""
        tried = self.reasons.get(key, {})
        if len(tried) < 2:
            return last
        said = "; ".join(f"node {node}: {reason}" for node, reason in sorted(tried.items()))
        err = type(last).__new__(type(last))
        FarmError.__init__(err, f"failed on {len(tried)} nodes ({said})", last.where, last.hint)
        return err
