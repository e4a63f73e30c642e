# Disaster recovery: keep read-only, offset-exact copies of the primary region's
# topics in the standby region, and fail over to them when the primary is lost.
#
# Day to day: mirror_state = "ACTIVE".
# Disaster:   mirror_state = "FAILED_OVER", then `terraform apply`. Mirroring stops at
#             once, the standby topics become writable, and the outputs show the last
#             mirrored offset of every partition (the data-loss window).

terraform {
  required_providers {
    clusterlink = {
      source = "clusterlink/clusterlink"
    }
  }
}

provider "clusterlink" {
  endpoint = var.clusterlink_endpoint
}

resource "clusterlink_link" "dr" {
  name = var.link_name

  # The primary region: where producers write today.
  source {
    bootstrap_servers = var.primary_bootstrap_servers
  }

  # The standby region: where the mirror topics live.
  destination {
    bootstrap_servers = var.standby_bootstrap_servers
  }

  config = {
    "mirror.producer.compression.type" = "zstd"
  }

  paused = false
}

resource "clusterlink_mirror_topic" "dr" {
  for_each = toset(var.topics)

  link         = clusterlink_link.dr.name
  source_topic = each.value
  # Same name in both regions, so applications only change their bootstrap servers.
  name  = each.value
  state = var.mirror_state

  # Never delete the standby copy when the mirror is destroyed: after a failover it
  # is the only copy left.
  delete_destination_topic_on_destroy = false
}
