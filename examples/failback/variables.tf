variable "clusterlink_endpoint" {
  description = "host:port of the ClusterLink service (`clusterlink serve`)."
  type        = string
  default     = "127.0.0.1:50051"
}

variable "cluster_a" {
  description = "Bootstrap servers of cluster A, the primary before the failover and after the failback. Default: the sandbox's source cluster."
  type        = string
  default     = "127.0.0.1:19092"
}

variable "cluster_b" {
  description = "Bootstrap servers of cluster B, the primary in between. Default: the sandbox's destination cluster."
  type        = string
  default     = "127.0.0.1:29092"
}

variable "a_to_b_link_name" {
  description = "Name of the link from A to B."
  type        = string
  default     = "a-to-b"
}

variable "b_to_a_link_name" {
  description = "Name of the link from B to A, the way back."
  type        = string
  default     = "b-to-a"
}

variable "topic" {
  description = "The topic, with the same name on both clusters. It must exist on A."
  type        = string
  default     = "orders"
}

variable "phase" {
  description = "Where the drill is: a_primary, b_primary, restoring_a, a_promoted, a_primary_again (in this order)."
  type        = string
  default     = "a_primary"

  validation {
    condition     = contains(["a_primary", "b_primary", "restoring_a", "a_promoted", "a_primary_again"], var.phase)
    error_message = "phase must be a_primary, b_primary, restoring_a, a_promoted or a_primary_again."
  }
}
