"""Write a Terraform filesystem mirror that holds clusterlink/clusterlink.

    python -m clusterlink_terraform.mirror --dir DIR      (or: make provider-mirror DIR=...)

writes, in Terraform's unpacked layout,

    DIR/registry.terraform.io/clusterlink/clusterlink/VERSION/OS_ARCH/terraform-provider-clusterlink_vVERSION

an executable script whose `#!` line is this environment's Python, so the
provider runs with the packages installed here. With a CLI configuration

    provider_installation {
      filesystem_mirror {
        path    = "DIR"
        include = ["registry.terraform.io/clusterlink/clusterlink"]
      }
      direct {
        exclude = ["registry.terraform.io/clusterlink/clusterlink"]
      }
    }

`terraform init` installs the provider from DIR and records its hash in
`.terraform.lock.hcl`. VERSION is the installed package's version.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

HOSTNAME = "registry.terraform.io"
NAMESPACE = "clusterlink"
TYPE = "clusterlink"
PACKAGE = "clusterlink"

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i686": "386", "i386": "386"}


def version() -> str:
    return metadata.version(PACKAGE)


def host_platform() -> str:
    """Terraform's name for this machine, e.g. `linux_amd64`."""
    system = platform.system().lower()
    machine = platform.machine().lower()
    return f"{system}_{_ARCH.get(machine, machine)}"


def script(python: str) -> str:
    return (
        f"#!{python}\n"
        "# terraform-provider-clusterlink, written by `python -m clusterlink_terraform.mirror`.\n"
        "import sys\n"
        "from clusterlink_terraform.main import main\n"
        "sys.exit(main())\n"
    )


def write_mirror(directory: Path, python: str | None = None, os_arch: str | None = None) -> Path:
    """Writes the provider into the mirror at `directory`; returns the executable's path."""
    ver = version()
    folder = Path(directory) / HOSTNAME / NAMESPACE / TYPE / ver / (os_arch or host_platform())
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"terraform-provider-{TYPE}_v{ver}"
    # Not resolved: a venv's python is a symlink, and only the link's path finds the venv's packages.
    tmp = target.with_suffix(".tmp")
    tmp.write_text(script(python or sys.executable))
    tmp.chmod(0o755)
    os.replace(tmp, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m clusterlink_terraform.mirror",
        description="Write a Terraform filesystem mirror holding clusterlink/clusterlink.",
    )
    parser.add_argument("--dir", required=True, type=Path, help="the mirror's folder (created when missing)")
    parser.add_argument("--platform", default=None, metavar="OS_ARCH",
                        help=f"Terraform platform name (default: this machine, {host_platform()})")
    args = parser.parse_args(argv)
    target = write_mirror(args.dir.absolute(), os_arch=args.platform)
    print(f"wrote {target}")
    print(
        "use it with this CLI configuration (TF_CLI_CONFIG_FILE or ~/.terraformrc):\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{args.dir.absolute()}"\n'
        f'    include = ["{HOSTNAME}/{NAMESPACE}/{TYPE}"]\n'
        "  }\n"
        "  direct {\n"
        f'    exclude = ["{HOSTNAME}/{NAMESPACE}/{TYPE}"]\n'
        "  }\n"
        "}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
