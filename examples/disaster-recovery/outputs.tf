output "mirror_states" {
  description = "Observed state of each mirror topic (FAILED_OVER after a failover)."
  value       = { for topic, m in clusterlink_mirror_topic.dr : topic => m.observed_state }
}

output "last_mirrored_offsets" {
  description = "Per topic and partition: the source offset mirroring reached. Everything below it is in the standby cluster; after a failover, records of the primary at or above it were not copied."
  value = {
    for topic, m in clusterlink_mirror_topic.dr :
    topic => { for p in m.partitions : tostring(p.partition) => p.mirrored_source_offset }
  }
}

output "partitions" {
  description = "Full per-partition status of each mirror topic (source and mirror end offsets, lag, offset fidelity)."
  value       = { for topic, m in clusterlink_mirror_topic.dr : topic => m.partitions }
}

output "max_lag" {
  description = "Largest lag of any partition, per topic, when Terraform last read it."
  value       = { for topic, m in clusterlink_mirror_topic.dr : topic => m.max_lag }
}

output "reasons" {
  description = "Why a mirror topic is FAILED or SOURCE_UNAVAILABLE (empty when all is well)."
  value       = { for topic, m in clusterlink_mirror_topic.dr : topic => m.reason }
}
