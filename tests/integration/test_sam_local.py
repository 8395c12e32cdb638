"""``make local-invoke``'s files: the --env-vars and --parameter-overrides that point a
``sam local invoke`` container at the local stand-ins, and the command it runs. Docker is not
needed: ``--write-only`` provisions the stand-ins, writes the files and prints the command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from masking_unset_tools.local import sam_local

ROOT = Path(__file__).resolve().parents[2]


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _declared() -> set[str]:
    template: dict[str, Any] = yaml.load(
        (ROOT / "template.yaml").read_text(encoding="utf-8"),
        Loader=_Loader,  # noqa: S506 - a SafeLoader
    )
    names = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for function in ("WebhookFunction", "QueueFunction"):
        properties = template["Resources"][function]["Properties"]
        names |= set(properties.get("Environment", {}).get("Variables", {}))
    return names


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    directory = tmp_path_factory.mktemp("local-invoke")
    lines: list[str] = []
    code = sam_local.main(
        [
            "--dir", str(directory), "--bind", "127.0.0.1", "--write-only", "--",
            ".cache/tools/sam/bin/sam", "local", "invoke", "WebhookFunction",
            "--event", "signed.json",
        ]
    )  # fmt: skip
    assert code == 0
    lines.append((directory / "parameters.txt").read_text())
    return directory, lines


def test_env_vars_point_every_url_at_the_container_host(written: tuple[Path, list[str]]) -> None:
    directory, _ = written
    document = json.loads((directory / "env.json").read_text())
    env = document["Parameters"]
    for name in ("AWS_ENDPOINT_URL", "DEEPCALL_BASE_URL", "QUEUE_URL", "DEAD_LETTER_QUEUE_URL"):
        url = urlsplit(env[name])
        assert url.hostname == "host.docker.internal", name
        assert url.port, name
    assert env["DEEPCALL_ALLOW_HTTP"] == "true"
    for name in ("IDEMPOTENCY_TABLE", "MASKING_MAP_TABLE", "TICKET_STATE_TABLE"):
        assert env[name].startswith("mu-")
    for name in ("DEEPCALL_SECRET_ID", "WEBHOOK_SECRETS_ID", "HASH_KEY_SECRET_ID"):
        assert env[name].startswith("arn:aws:secretsmanager:")
    # Credentials and the region come from SAM's own environment, never from this file.
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} & set(env)


def test_every_variable_written_is_one_the_template_declares(
    written: tuple[Path, list[str]],
) -> None:
    # SAM silently drops the variables a template does not declare.
    directory, _ = written
    env = json.loads((directory / "env.json").read_text())["Parameters"]
    assert set(env) - _declared() == set()


def test_the_parameter_overrides_give_every_parameter_without_a_default(
    written: tuple[Path, list[str]],
) -> None:
    _, (parameters,) = written
    given = {line.split("=", 1)[0] for line in parameters.splitlines()}
    assert {"DeepCallBaseUrl", "DeepCallSecretArn", "WebhookSecretsArn"} <= given
    assert "DeepCallBaseUrl=http://host.docker.internal:" in parameters


def test_the_sam_line_gets_both_files_and_the_host_mapping(tmp_path: Path) -> None:
    env = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "DEEPCALL_BASE_URL": "http://0.0.0.0:6000",
        "DEEPCALL_SECRET_ID": "arn:d",
        "WEBHOOK_SECRETS_ID": "arn:w",
        "HASH_KEY_SECRET_ID": "arn:h",
    }
    command = sam_local.sam_command(
        ["sam", "local", "invoke", "QueueFunction"],
        tmp_path / "env.json",
        env,
        "host.docker.internal",
    )
    assert command[:4] == ["sam", "local", "invoke", "QueueFunction"]
    assert command[command.index("--env-vars") + 1] == str(tmp_path / "env.json")
    assert "DeepCallBaseUrl=http://host.docker.internal:6000" in command
    assert command[-2:] == ["--add-host", "host.docker.internal:host-gateway"]
    other = sam_local.sam_command(["sam"], tmp_path / "e.json", env, "192.168.1.5")
    assert "--add-host" not in other
    assert "DeepCallBaseUrl=http://192.168.1.5:6000" in other


def test_without_a_container_runtime_the_message_names_the_command_to_run_instead(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sam_local, "container_runtime", lambda: None)
    code = sam_local.main(["--event", "events/sqs-batch.json", "--check-runtime"])
    assert code == 2
    err = capsys.readouterr().err
    assert "needs a running container runtime" in err
    assert ".venv/bin/masking-unset invoke events/sqs-batch.json" in err
