"""The SQL store: desired and observed state of links and mirror topics."""
