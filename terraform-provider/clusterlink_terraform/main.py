"""Entry point of terraform-provider-clusterlink (placeholder until the provider lands)."""


def main() -> None:
    raise SystemExit("terraform-provider-clusterlink: not built yet")
