"""How a replica takes part in sharing the work: its id, and whether groups decide."""

from __future__ import annotations

from dataclasses import dataclass

from clusterlink.kafka.clients import Connection
from clusterlink.replicas.membership import GroupMembership, control_group_id, group_id
from clusterlink.replicas.ownership import Everything, Ownership

# A link's groups are this prefix plus the link's name (and '.control'), on the link's source cluster.
DEFAULT_GROUP_PREFIX = "clusterlink."
DEFAULT_SESSION_TIMEOUT_MS = 10000


@dataclass(frozen=True)
class ReplicaSettings:
    replica_id: str
    # False: the only replica (SQLite) owns everything, with no group at all.
    shared: bool = False
    group_prefix: str = DEFAULT_GROUP_PREFIX
    # A dead replica's partitions move after this long (the group's session timeout).
    session_timeout_ms: int = DEFAULT_SESSION_TIMEOUT_MS

    def ownership_for(self, source: Connection, link_name: str) -> Ownership:
        if not self.shared:
            return Everything()
        return GroupMembership(source, group_id(self.group_prefix, link_name),
                               control_group_id(self.group_prefix, link_name), self.replica_id,
                               self.session_timeout_ms)
