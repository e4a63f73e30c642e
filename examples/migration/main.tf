# Migration: move topics from an old cluster to a new one. Offsets are equal on both
# sides, so the offsets a consumer group committed on the old cluster are the right
# positions on the new one too.
#
# 1. mirror_state = "ACTIVE": the new cluster follows the old one (read-only copies).
# 2. Move consumers to the new cluster, one group at a time: stop the group, commit its
#    old-cluster offsets unchanged on the new cluster, start it against the new cluster.
# 3. Stop the producers on the old cluster.
# 4. mirror_state = "PROMOTED", `terraform apply`: returns once every partition has
#    caught up (lag 0); the topics on the new cluster are then writable.
# 5. Start the producers against the new cluster.

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

resource "clusterlink_link" "migration" {
  name = var.link_name

  source {
    bootstrap_servers = var.old_cluster_bootstrap_servers
  }

  destination {
    bootstrap_servers = var.new_cluster_bootstrap_servers
  }

  paused = false
}

resource "clusterlink_mirror_topic" "migrated" {
  for_each = toset(var.topics)

  link         = clusterlink_link.migration.name
  source_topic = each.value
  name         = each.value
  state        = var.mirror_state

  # Destroying this configuration after the migration must leave the migrated
  # topics where they are.
  delete_destination_topic_on_destroy = false
}
