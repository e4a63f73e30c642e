"""The data path asks for metadata once per missing leader, not once per turn of its loop."""

from clusterlink.engine.datapath.copier import MetadataAsk


class _Cluster:
    def __init__(self) -> None:
        self.updates_asked = 0

    def request_update(self) -> None:
        self.updates_asked += 1


def test_a_missing_leader_asks_once_until_metadata_arrives():
    cluster = _Cluster()
    leaders = MetadataAsk(cluster)
    for _ in range(100):  # turns of the loop while the leader is missing
        leaders.ask()
    assert cluster.updates_asked == 1
    leaders.answered(cluster)  # the listener: an answer came, the leader may still be missing
    leaders.ask()
    leaders.ask()
    assert cluster.updates_asked == 2
