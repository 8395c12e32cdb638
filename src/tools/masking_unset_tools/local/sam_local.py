"""``make local-invoke``: a ``sam local invoke`` container pointed at the local stand-ins.

The container runs the package of ``make build`` in AWS's Lambda image, so it cannot reach
loopback of this machine: the stand-ins (moto server and DeepCall stand-in, demo secrets, as
``masking-unset invoke`` uses) listen on ``--bind`` and the container calls them at ``--host``
(``host.docker.internal``, mapped to the host by ``--add-host``). For one run this module

1. checks that a container runtime answers (else it says what to run instead, exit 2);
2. starts and provisions the stand-ins;
3. writes ``env.json`` (for ``--env-vars``: every variable the template declares, pointed at
   the stand-ins) and ``parameters.txt`` (for ``--parameter-overrides``: the template's
   parameters without a default) into ``--dir``;
4. runs the given ``sam local invoke`` line with both, and the AWS credentials SAM hands to the
   container set to the stand-ins' dummy ones;
5. prints what reached the DeepCall stand-in, redacted, and stops the stand-ins.

``--write-only`` stops after step 3 and prints the command it would run (the tests, and a look at
the files).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit

CONTAINER_HOST: Final = "host.docker.internal"
DEFAULT_DIR: Final = ".cache/local-invoke"
_LOCAL_NAMES: Final = frozenset({"127.0.0.1", "0.0.0.0", "localhost"})
# Set by SAM (from its own environment) or by Lambda: --env-vars cannot override them.
_RESERVED: Final = frozenset(
    {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
)
EXIT_USAGE: Final = 2
# SAM's own messages suggest a bare `sam`, which make installs where the PATH does not look.
SAM_NOT_ON_PATH: Final = (
    "note: where SAM suggests a `sam` command above, run it through make: `make build` for sam "
    "build, `make local-invoke FUNCTION=... EVENT=... ARGS=...` for sam local invoke (the SAM CLI "
    "is .cache/tools/sam/bin/sam, which is not on the PATH)"
)

Out = Callable[[str], None]


def container_url(url: str, host: str) -> str:
    """``url`` as the container reaches it: a local address becomes ``host``, port kept."""
    parts = urlsplit(url)
    if parts.hostname not in _LOCAL_NAMES:
        return url
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def container_env(env: Mapping[str, str], host: str) -> dict[str, str]:
    """The functions' environment for the container: every URL aimed at ``host``."""
    return {
        name: container_url(value, host) if value.startswith("http://") else value
        for name, value in env.items()
        if name not in _RESERVED
    }


def env_vars_document(env: Mapping[str, str], host: str) -> dict[str, dict[str, str]]:
    """The ``--env-vars`` file: ``Parameters`` applies to both functions. SAM sets only the
    variables the template declares (it declares AWS_ENDPOINT_URL and DEEPCALL_ALLOW_HTTP, empty
    and false, for this)."""
    return {"Parameters": container_env(env, host)}


def parameter_overrides(env: Mapping[str, str], host: str) -> list[str]:
    """``--parameter-overrides`` for the template's parameters without a default (and no X-Ray,
    which the stand-ins lack); ``env.json`` then sets every variable itself."""
    shown = container_env(env, host)
    return [
        f"DeepCallBaseUrl={shown['DEEPCALL_BASE_URL']}",
        f"DeepCallSecretArn={shown['DEEPCALL_SECRET_ID']}",
        f"WebhookSecretsArn={shown['WEBHOOK_SECRETS_ID']}",
        f"HashKeySecretArn={shown['HASH_KEY_SECRET_ID']}",
        "Tracing=PassThrough",
    ]


def write_files(directory: Path, env: Mapping[str, str], host: str) -> tuple[Path, Path]:
    """Write ``env.json`` and ``parameters.txt`` into ``directory``; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    env_file = directory / "env.json"
    env_file.write_text(json.dumps(env_vars_document(env, host), indent=2) + "\n")
    parameters_file = directory / "parameters.txt"
    parameters_file.write_text("\n".join(parameter_overrides(env, host)) + "\n")
    return env_file, parameters_file


def sam_command(
    sam_line: Sequence[str], env_file: Path, env: Mapping[str, str], host: str
) -> list[str]:
    """The ``sam local invoke`` line with the files and the host mapping added."""
    command = [*sam_line, "--env-vars", str(env_file)]
    command += ["--parameter-overrides", *parameter_overrides(env, host)]
    if host == CONTAINER_HOST:  # Docker Desktop knows the name; Linux Docker needs the mapping
        command += ["--add-host", f"{CONTAINER_HOST}:host-gateway"]
    return command


def container_runtime() -> str | None:
    """What runs SAM's containers here (``DOCKER_HOST``, Docker or Finch), or None."""
    if os.environ.get("DOCKER_HOST", "").strip():
        return "DOCKER_HOST"
    for tool, probe in (("docker", ["info"]), ("finch", ["vm", "status"])):
        path = shutil.which(tool)
        if path is None:
            continue
        try:
            done = subprocess.run(  # noqa: S603 - a fixed probe of a tool on the PATH
                [path, *probe], capture_output=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return tool
    return None


def no_runtime_message(event: str | None) -> str:
    """What to run instead when no container runtime answers."""
    example = event or "events/webhook-http-api.json"
    return (
        "error: make local-invoke needs a running container runtime (Docker, or Finch, or "
        "DOCKER_HOST) for sam local invoke, and none answers. Start Docker, or run the same "
        "handler in this process on the local stand-ins instead, no container needed: "
        f".venv/bin/masking-unset invoke {example}"
    )


def _shown(body: object) -> str:
    from masking_unset_tools.local.demo import shown_request

    return shown_request(body)


def run(args: argparse.Namespace, out: Out) -> int:
    """Provision the stand-ins, write the files and (unless ``--write-only``) run SAM."""
    sam_line = list(args.sam)
    if sam_line[:1] == ["--"]:
        sam_line = sam_line[1:]
    if not args.write_only and container_runtime() is None:
        out(no_runtime_message(args.event))
        return EXIT_USAGE
    if args.check_runtime:
        return 0
    if not sam_line:
        out("error: give the sam local invoke line after --")
        return EXIT_USAGE
    from masking_unset_tools.local.aws_endpoint import LocalAwsEndpoint
    from masking_unset_tools.local.deepcall_standin import DeepCallStandIn
    from masking_unset_tools.local.stack import DEMO_SSID, provision

    credentials = {"ssid": DEMO_SSID}
    with (
        LocalAwsEndpoint(host=args.bind) as aws,
        DeepCallStandIn(credentials=credentials, host=args.bind) as deepcall,
    ):
        stack = provision(aws, deepcall, credentials=credentials)
        env = stack.env()
        env_file, parameters_file = write_files(Path(args.dir), env, args.host)
        command = sam_command(sam_line, env_file, env, args.host)
        out(f"local stand-ins: AWS endpoint {aws.url}, DeepCall stand-in {deepcall.base_url}")
        out(f"wrote {env_file} (--env-vars) and {parameters_file} (--parameter-overrides)")
        out(f"running: {shlex.join(command)}")
        if args.write_only:
            return 0
        sam_env = {**os.environ, **aws.env()}
        sam_env.pop("AWS_ENDPOINT_URL", None)  # for the container (env.json), not for SAM
        code = subprocess.run(command, env=sam_env, check=False).returncode  # noqa: S603
        if code != 0:
            out(SAM_NOT_ON_PATH)
        for call in deepcall.unset_calls:
            out(f"DeepCall stand-in received POST {call.path} {_shown(call.json)}")
        if not deepcall.unset_calls:
            out("DeepCall stand-in received nothing")
        return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``python -m masking_unset_tools.local.sam_local [options] -- SAM LINE``."""
    parser = argparse.ArgumentParser(
        prog="python -m masking_unset_tools.local.sam_local",
        description="Run sam local invoke against fresh local stand-ins (make local-invoke).",
    )
    parser.add_argument("--dir", default=DEFAULT_DIR, help=f"where the files go ({DEFAULT_DIR})")
    parser.add_argument(
        "--host",
        default=CONTAINER_HOST,
        help=f"the host as the container reaches it ({CONTAINER_HOST})",
    )
    parser.add_argument(
        "--bind",
        default="0.0.0.0",
        help="address the stand-ins listen on (0.0.0.0: reachable from the container)",
    )
    parser.add_argument("--event", help="the event file, for the message without a runtime")
    parser.add_argument("--write-only", action="store_true", help="write the files, run nothing")
    parser.add_argument(
        "--check-runtime", action="store_true", help="only check that a container runtime answers"
    )
    parser.add_argument("sam", nargs=argparse.REMAINDER, help="-- sam local invoke ...")
    args = parser.parse_args(argv)

    def out(line: str) -> None:
        print(line, file=sys.stderr if line.startswith("error:") else sys.stdout, flush=True)

    return run(args, out)


if __name__ == "__main__":
    sys.exit(main())
