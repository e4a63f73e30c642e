output "forward_state" {
  description = "Observed state of the A -> B mirror topic: ACTIVE, then FAILED_OVER, then ACTIVE again (a new one)."
  value       = clusterlink_mirror_topic.on_b.observed_state
}

output "last_mirrored_offsets" {
  description = "Per partition, the offset the A -> B mirror had reached. After the failover, A's records at or above it are the ones B never got: the restore sets them aside."
  value       = { for p in clusterlink_mirror_topic.on_b.partitions : tostring(p.partition) => p.mirrored_source_offset }
}

output "back_state" {
  description = "Observed state of the B -> A mirror topic (null while there is none): PENDING while the restore runs, ACTIVE, then PROMOTED."
  value       = length(clusterlink_mirror_topic.on_a) > 0 ? clusterlink_mirror_topic.on_a[0].observed_state : null
}

output "restore_on_a" {
  description = "The restore of A's topic: its state (DONE when A mirrors B), the side topic on A, and per partition what was set aside there (divergence offset, end offset, records, where they start in the side topic)."
  value = length(clusterlink_mirror_topic.on_a) > 0 ? {
    state           = clusterlink_mirror_topic.on_a[0].restore_state
    set_aside_topic = clusterlink_mirror_topic.on_a[0].restore.set_aside_topic
    set_aside       = clusterlink_mirror_topic.on_a[0].set_aside
  } : null
}

output "restore_on_b" {
  description = "The restore of B's topic when A -> B mirrors again: DONE with nothing set aside when B held only A's records."
  value = {
    state     = clusterlink_mirror_topic.on_b.restore_state
    set_aside = clusterlink_mirror_topic.on_b.set_aside
  }
}
