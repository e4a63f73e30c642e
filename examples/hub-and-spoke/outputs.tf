output "hub_topics" {
  description = "The mirror topics on the hub, per spoke and source topic."
  value = {
    spoke1 = { for topic, m in clusterlink_mirror_topic.spoke1 : topic => m.name }
    spoke2 = { for topic, m in clusterlink_mirror_topic.spoke2 : topic => m.name }
  }
}

output "mirror_states" {
  description = "Observed state of every mirror topic on the hub."
  value = merge(
    { for m in clusterlink_mirror_topic.spoke1 : m.name => m.observed_state },
    { for m in clusterlink_mirror_topic.spoke2 : m.name => m.observed_state },
  )
}

output "max_lag" {
  description = "Largest lag of any partition of each mirror topic on the hub, when Terraform last read it."
  value = merge(
    { for m in clusterlink_mirror_topic.spoke1 : m.name => m.max_lag },
    { for m in clusterlink_mirror_topic.spoke2 : m.name => m.max_lag },
  )
}
