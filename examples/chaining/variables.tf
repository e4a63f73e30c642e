variable "clusterlink_endpoint" {
  description = "host:port of the ClusterLink service (`clusterlink serve`)."
  type        = string
  default     = "127.0.0.1:50051"
}

variable "cluster_a" {
  description = "Bootstrap servers of cluster A, where the topic is produced. Default: the sandbox's source cluster."
  type        = string
  default     = "127.0.0.1:19092"
}

variable "cluster_b" {
  description = "Bootstrap servers of cluster B, the middle hop. Default: the sandbox's destination cluster."
  type        = string
  default     = "127.0.0.1:29092"
}

variable "cluster_c" {
  description = "Bootstrap servers of cluster C, the last hop. Default: the source cluster of a second sandbox (see README)."
  type        = string
  default     = "127.0.0.1:39092"
}

variable "a_to_b_link_name" {
  description = "Name of the link from A to B."
  type        = string
  default     = "a-to-b"
}

variable "b_to_c_link_name" {
  description = "Name of the link from B to C."
  type        = string
  default     = "b-to-c"
}

variable "topic" {
  description = "The topic on cluster A to mirror into B and on into C. It must exist on A."
  type        = string
  default     = "orders"
}
