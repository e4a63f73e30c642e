"""Entry point of `terraform-provider-clusterlink`, the plugin Terraform starts."""

from __future__ import annotations

import signal
import sys
import tempfile
from types import FrameType

USAGE = """\
terraform-provider-clusterlink is a Terraform plugin: Terraform starts it.

Use it with a CLI configuration (TF_CLI_CONFIG_FILE or ~/.terraformrc), either
  provider_installation {
    dev_overrides { "clusterlink/clusterlink" = "<this folder>" }
    direct {}
  }
or a filesystem mirror written by `make provider-mirror DIR=...`; see the README.
"""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    from clusterlink_terraform.server import run_by_hand, serve

    if run_by_hand():
        sys.stderr.write(USAGE)
        return 1
    from clusterlink_terraform.provider import ClusterLinkProvider

    signal.signal(signal.SIGTERM, _stop)
    # The socket lives in a private temporary directory, removed when the provider exits.
    # Nothing is written anywhere else (in particular not in the user's home directory).
    with tempfile.TemporaryDirectory(prefix="terraform-provider-clusterlink-") as socket_dir:
        serve(ClusterLinkProvider(), socket_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
