output "mirror_states" {
  description = "Observed state of each migrated topic (PROMOTED once the migration is finished)."
  value       = { for topic, m in clusterlink_mirror_topic.migrated : topic => m.observed_state }
}

output "max_lag" {
  description = "Largest lag of any partition, per topic, when Terraform last read it. 0 after promotion."
  value       = { for topic, m in clusterlink_mirror_topic.migrated : topic => m.max_lag }
}

output "offset_fidelity" {
  description = "EXACT when every record sits at its source offset; TRANSLATED when the source had offsets no consumer can read (see README)."
  value       = { for topic, m in clusterlink_mirror_topic.migrated : topic => m.offset_fidelity }
}

output "end_offsets" {
  description = "Per topic and partition: the end offset of the new cluster's topic."
  value = {
    for topic, m in clusterlink_mirror_topic.migrated :
    topic => { for p in m.partitions : tostring(p.partition) => p.mirror_end_offset }
  }
}

output "reasons" {
  description = "What a promotion waits for, or why a mirror topic failed."
  value       = { for topic, m in clusterlink_mirror_topic.migrated : topic => m.reason }
}
