# Failback: after a failover from A to B, make A the primary again, with A's topic
# equal to B's, and keep what only A had in a side topic.
#
# One variable, `phase`, walks through the drill; `terraform apply` after each step:
#   a_primary        A -> B mirrors (day to day).
#   b_primary        Failover: the A -> B mirror is FAILED_OVER and B takes the writes.
#                    The B -> A link is declared for the way back (nothing runs on it yet).
#   restoring_a      A B -> A mirror over A's topic, created with restore: the records A took
#                    that B never got are set aside in TOPIC.diverged on A, then A's topic is
#                    created again and mirrored from B with equal offsets.
#   a_promoted       The B -> A mirror is promoted: A equals B and is writable. Move the
#                    producers back to A.
#   a_primary_again  A -> B mirrors again, and the B -> A link is gone.

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

locals {
  forward_mirrors = contains(["a_primary", "a_primary_again"], var.phase)
  way_back        = contains(["b_primary", "restoring_a", "a_promoted"], var.phase)
  mirror_back     = contains(["restoring_a", "a_promoted"], var.phase)
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

resource "clusterlink_mirror_topic" "on_b" {
  link         = clusterlink_link.a_to_b.name
  source_topic = var.topic
  name         = var.topic
  state        = local.forward_mirrors ? "ACTIVE" : "FAILED_OVER"

  # A failed-over mirror never mirrors again: A -> B after the failback needs a new
  # mirror topic over B's topic. Restore is read only at creation, so switching it on
  # makes Terraform re-create this mirror ("forces replacement"). B's topic holds a
  # prefix of A's by then; a record B took that A does not have is set aside in
  # TOPIC.diverged on B instead of failing the mirror.
  restore {
    enabled = var.phase == "a_primary_again"
  }
}

resource "clusterlink_link" "b_to_a" {
  count = local.way_back ? 1 : 0
  name  = var.b_to_a_link_name

  source {
    bootstrap_servers = var.cluster_b
  }

  destination {
    bootstrap_servers = var.cluster_a
  }
}

# Over A's existing topic, which holds records B does not have: without restore this
# mirror would go FAILED, naming the offset where A parted from B.
resource "clusterlink_mirror_topic" "on_a" {
  count = local.mirror_back ? 1 : 0

  link         = clusterlink_link.b_to_a[0].name
  source_topic = var.topic
  name         = var.topic
  state        = var.phase == "a_promoted" ? "PROMOTED" : "ACTIVE"

  restore {
    enabled = true
  }
}
