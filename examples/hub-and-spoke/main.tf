# Hub and spoke: topics of two spoke clusters aggregated into one hub cluster.
# Both spokes have topics with the same names; a per-link `mirror.topic.prefix`
# keeps them apart on the hub: spoke1's `orders` becomes `spoke1.orders`, spoke2's
# becomes `spoke2.orders`. Each mirror is an offset-exact, read-only copy.

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

resource "clusterlink_link" "spoke1" {
  name = var.spoke1_link_name

  source {
    bootstrap_servers = var.spoke1_bootstrap_servers
  }

  destination {
    bootstrap_servers = var.hub_bootstrap_servers
  }

  config = {
    "mirror.topic.prefix" = var.spoke1_prefix
  }
}

resource "clusterlink_link" "spoke2" {
  name = var.spoke2_link_name

  source {
    bootstrap_servers = var.spoke2_bootstrap_servers
  }

  destination {
    bootstrap_servers = var.hub_bootstrap_servers
  }

  config = {
    "mirror.topic.prefix" = var.spoke2_prefix
  }
}

# No `name`: the service names each mirror topic "<link prefix><source topic>".
resource "clusterlink_mirror_topic" "spoke1" {
  for_each = toset(var.topics)

  link         = clusterlink_link.spoke1.name
  source_topic = each.value
  state        = "ACTIVE"
}

resource "clusterlink_mirror_topic" "spoke2" {
  for_each = toset(var.topics)

  link         = clusterlink_link.spoke2.name
  source_topic = each.value
  state        = "ACTIVE"
}
