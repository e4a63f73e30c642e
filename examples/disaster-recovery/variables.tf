variable "clusterlink_endpoint" {
  description = "host:port of the ClusterLink service (`clusterlink serve`)."
  type        = string
  default     = "127.0.0.1:50051"
}

variable "primary_bootstrap_servers" {
  description = "Bootstrap servers of the primary (source) cluster. Default: the sandbox's source cluster."
  type        = string
  default     = "127.0.0.1:19092"
}

variable "standby_bootstrap_servers" {
  description = "Bootstrap servers of the standby (destination) cluster. Default: the sandbox's destination cluster."
  type        = string
  default     = "127.0.0.1:29092"
}

variable "link_name" {
  description = "Name of the link: lower-case letters, digits and hyphens."
  type        = string
  default     = "dr"
}

variable "topics" {
  description = "Topics of the primary cluster to keep in the standby cluster. They must exist on the primary."
  type        = list(string)
  default     = ["orders", "payments", "customers"]
}

variable "mirror_state" {
  description = "ACTIVE while the primary is healthy; FAILED_OVER to stop mirroring at once and make the standby topics writable."
  type        = string
  default     = "ACTIVE"

  validation {
    condition     = contains(["ACTIVE", "PAUSED", "FAILED_OVER"], var.mirror_state)
    error_message = "mirror_state must be ACTIVE, PAUSED or FAILED_OVER."
  }
}
