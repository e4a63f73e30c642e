output "topic_on_b" {
  description = "The mirror topic on cluster B."
  value       = clusterlink_mirror_topic.on_b.name
}

output "topic_on_c" {
  description = "The mirror topic on cluster C."
  value       = clusterlink_mirror_topic.on_c.name
}

output "end_offsets" {
  description = "End offset of every partition on B and on C: equal to A's once both hops have caught up."
  value = {
    b = { for p in clusterlink_mirror_topic.on_b.partitions : tostring(p.partition) => p.mirror_end_offset }
    c = { for p in clusterlink_mirror_topic.on_c.partitions : tostring(p.partition) => p.mirror_end_offset }
  }
}

output "mirror_states" {
  description = "Observed state of both hops."
  value = {
    on_b = clusterlink_mirror_topic.on_b.observed_state
    on_c = clusterlink_mirror_topic.on_c.observed_state
  }
}
