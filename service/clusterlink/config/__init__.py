"""Named, defaulted and documented settings."""
