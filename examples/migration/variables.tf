variable "clusterlink_endpoint" {
  description = "host:port of the ClusterLink service (`clusterlink serve`)."
  type        = string
  default     = "127.0.0.1:50051"
}

variable "old_cluster_bootstrap_servers" {
  description = "Bootstrap servers of the cluster being left (the source). Default: the sandbox's source cluster."
  type        = string
  default     = "127.0.0.1:19092"
}

variable "new_cluster_bootstrap_servers" {
  description = "Bootstrap servers of the cluster moved to (the destination). Default: the sandbox's destination cluster."
  type        = string
  default     = "127.0.0.1:29092"
}

variable "link_name" {
  description = "Name of the link: lower-case letters, digits and hyphens."
  type        = string
  default     = "migration"
}

variable "topics" {
  description = "Topics to migrate. They must exist on the old cluster."
  type        = list(string)
  default     = ["orders", "invoices"]
}

variable "mirror_state" {
  description = "ACTIVE while migrating; PROMOTED to finish: apply waits until every partition has caught up, then the new topics are writable."
  type        = string
  default     = "ACTIVE"

  validation {
    condition     = contains(["ACTIVE", "PAUSED", "PROMOTED"], var.mirror_state)
    error_message = "mirror_state must be ACTIVE, PAUSED or PROMOTED."
  }
}
