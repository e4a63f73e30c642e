# Chaining: A -> B -> C. A mirror topic can be the source of another link.
# Link a_to_b mirrors topic `orders` of cluster A into cluster B; link b_to_c
# mirrors B's mirror topic into cluster C. Every record keeps its offset on each
# hop, so a record at offset N of partition P on A is at offset N of partition P
# on C too. Typical use: a regional cluster (B) that fans data out further (C)
# without C ever connecting to A.

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

resource "clusterlink_link" "a_to_b" {
  name = var.a_to_b_link_name

  source {
    bootstrap_servers = var.cluster_a
  }

  destination {
    bootstrap_servers = var.cluster_b
  }
}

resource "clusterlink_link" "b_to_c" {
  name = var.b_to_c_link_name

  source {
    bootstrap_servers = var.cluster_b
  }

  destination {
    bootstrap_servers = var.cluster_c
  }
}

# First hop: A's topic into B.
resource "clusterlink_mirror_topic" "on_b" {
  link         = clusterlink_link.a_to_b.name
  source_topic = var.topic
  name         = var.topic
  state        = "ACTIVE"
}

# Second hop: B's mirror topic into C. Referring to the first mirror's name makes
# Terraform create it only after the first hop is ACTIVE, i.e. its topic exists on B.
resource "clusterlink_mirror_topic" "on_c" {
  link         = clusterlink_link.b_to_c.name
  source_topic = clusterlink_mirror_topic.on_b.name
  name         = var.topic
  state        = "ACTIVE"
}
