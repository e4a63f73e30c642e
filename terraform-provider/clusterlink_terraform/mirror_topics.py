"""`clusterlink_mirror_topics`: a data source listing every mirror topic of a link.

It follows ListMirrorTopics page by page to the end, so it shows all of them,
whoever created them (Terraform, the CLI, or the service itself).
"""

from __future__ import annotations

from collections.abc import Iterator

from tf.iface import Config, DataSource, ReadDataContext, State
from tf.schema import Attribute, Schema
from tf.types import List, Number, String, Unknown

from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink_terraform import mapping
from clusterlink_terraform.base import Base, diagnose
from clusterlink_terraform.client import ServiceError
from clusterlink_terraform.mirror_topic import PARTITION, RESTORE, SET_ASIDE
from clusterlink_terraform.schema_types import Object

# The service's largest page (validation.MAX_PAGE_SIZE): fewest round trips.
PAGE_SIZE = 1000

# One mirror topic, with the attributes of the `clusterlink_mirror_topic` data source.
MIRROR_TOPIC = Object({
    "id": String(),
    "link": String(),
    "name": String(),
    "source_topic": String(),
    "state": String(),
    "observed_state": String(),
    "reason": String(),
    "max_lag": Number(),
    "offset_fidelity": String(),
    "partitions": List(PARTITION),
    "restore": RESTORE,
    "restore_state": String(),
    "set_aside": List(SET_ASIDE),
})


class MirrorTopicsDataSource(Base, DataSource):
    @classmethod
    def get_name(cls) -> str:
        return "mirror_topics"

    @classmethod
    def get_schema(cls) -> Schema:
        return Schema(
            version=0,
            description="Lists every mirror topic of a link.",
            attributes=[
                Attribute("link", String(), required=True, description="The link's name."),
                Attribute("id", String(), computed=True, description="The link's name."),
                Attribute(
                    "mirror_topics", List(MIRROR_TOPIC), computed=True,
                    description="The link's mirror topics, ordered by name, each with the attributes of the "
                    "`clusterlink_mirror_topic` data source: `id`, `link`, `name`, `source_topic`, `state`, "
                    "`observed_state`, `reason`, `max_lag`, `offset_fidelity`, `partitions`, `restore`, "
                    "`restore_state` and `set_aside`.",
                ),
                Attribute("names", List(String()), computed=True,
                          description="The mirror topics' names on the destination cluster, sorted."),
            ],
        )

    def _pages(self, link: str) -> Iterator[pb.MirrorTopic]:
        """Every mirror topic of the link, following next_page_token to the end."""
        what = f"cannot list the mirror topics of link {link!r}"
        token = ""
        seen: set[str] = set()
        while True:
            page = self.client.call(
                "ListMirrorTopics",
                pb.ListMirrorTopicsRequest(parent=mapping.link_name(link), page_size=PAGE_SIZE, page_token=token),
                what,
            )
            yield from page.mirror_topics
            token = page.next_page_token
            if not token:
                return
            if token in seen:
                raise ServiceError(what, "the service returned the same next_page_token twice")
            seen.add(token)

    def read(self, ctx: ReadDataContext, config: Config) -> State | None:
        link = config.get("link")
        try:
            if not isinstance(link, str) or link is Unknown:
                raise ServiceError("data.clusterlink_mirror_topics: link must be a known string")
            return mapping.mirror_topics_data(link, list(self._pages(link)))
        except Exception as exc:  # noqa: BLE001 - becomes a diagnostic
            diagnose(ctx.diagnostics, exc, ["link"])
            return None
