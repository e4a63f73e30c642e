variable "clusterlink_endpoint" {
  description = "host:port of the ClusterLink service (`clusterlink serve`)."
  type        = string
  default     = "127.0.0.1:50051"
}

variable "hub_bootstrap_servers" {
  description = "Bootstrap servers of the hub (destination of both links). Default: the sandbox's destination cluster."
  type        = string
  default     = "127.0.0.1:29092"
}

variable "spoke1_bootstrap_servers" {
  description = "Bootstrap servers of the first spoke. Default: the sandbox's source cluster."
  type        = string
  default     = "127.0.0.1:19092"
}

variable "spoke2_bootstrap_servers" {
  description = "Bootstrap servers of the second spoke. Default: the source cluster of a second sandbox (see README)."
  type        = string
  default     = "127.0.0.1:39092"
}

variable "spoke1_link_name" {
  description = "Name of the link from the first spoke to the hub."
  type        = string
  default     = "spoke1-to-hub"
}

variable "spoke2_link_name" {
  description = "Name of the link from the second spoke to the hub."
  type        = string
  default     = "spoke2-to-hub"
}

variable "spoke1_prefix" {
  description = "Put before the names of the first spoke's topics on the hub."
  type        = string
  default     = "spoke1."
}

variable "spoke2_prefix" {
  description = "Put before the names of the second spoke's topics on the hub."
  type        = string
  default     = "spoke2."
}

variable "topics" {
  description = "Topics to aggregate. They must exist on both spokes."
  type        = list(string)
  default     = ["orders"]
}
