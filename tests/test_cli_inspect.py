"""``inspect --format`` (Go templates), ``--no-tags`` and skopeo's credential flags, with
skopeo 1.9 as the reference for the template output."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakeregistry.auth import AuthConfig
from fakeregistry.registry import Registry
from fakeregistry.server import Server, serve
from harness.cli.gotemplate import TemplateError, render
from harness.cli.main import main
from harness.peers.detect import require_peer

# skopeo 1.9 has no json function (buildah's and podman's have): compared separately.
TEMPLATES = ["{{.Digest}}", "{{.Name}}", "{{.Architecture}}/{{.Os}}", "{{.RepoTags}}",
             '{{index .Labels "demo"}}', "{{.Labels}}", "{{.Layers}}", "name={{ .Name }}",
             "{{.Labels.demo}}", "{{.Labels.nosuch}}"]


@pytest.fixture
def pushed(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    """A fake registry (basic auth, user alice) holding ``app:v1`` and ``app:v2``."""
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    root = str(tmp_path / "root")
    assert main(["--root", root, "from", "-q", "scratch"]) == 0
    assert main(["--root", root, "config", "working-container", "--label", "demo=yes",
                 "--label", "b=<&>"]) == 0
    assert main(["--root", root, "commit", "-q", "--identity-label=false",
                 "working-container", "app:v1"]) == 0
    registry = Registry(auth=AuthConfig.with_passwords("basic", {"alice": "s3cret"}))
    with serve(registry) as server:
        for tag in ("v1", "v2"):
            assert main(["--root", root, "push", "-q", "--signature-policy", str(policy),
                         "--tls-verify=false", "--creds", "alice:s3cret", "app:v1",
                         f"{server.host}/app:{tag}"]) == 0
        yield server, f"docker://{server.host}/app:v1"


def _ours(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert main(["inspect", "--tls-verify=false", *argv]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


@pytest.mark.requires_peer("skopeo")
def test_templates_print_what_skopeo_prints(pushed: tuple[Server, str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    require_peer("skopeo")
    _, image = pushed
    for template in TEMPLATES:
        theirs = subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", "--creds", "alice:s3cret",
             "--format", template, image], capture_output=True, text=True, check=False,
            timeout=120)
        assert theirs.returncode == 0, theirs.stderr
        ours = _ours(capsys, "--creds", "alice:s3cret", "--format", template, image)
        assert ours == theirs.stdout, template


def test_json_is_gos_encoding(pushed: tuple[Server, str],
                              capsys: pytest.CaptureFixture[str]) -> None:
    """As buildah's and podman's ``json``: Go's encoding/json (sorted map keys, <>& escaped)."""
    _, image = pushed
    assert _ours(capsys, "--creds", "alice:s3cret", "-f", "{{json .Labels}}", image) == (
        '{"b":"\\u003c\\u0026\\u003e","demo":"yes"}\n')


def test_no_tags_and_skopeos_credential_flags(pushed: tuple[Server, str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    _, image = pushed
    tags = "{{json .RepoTags}}"
    assert _ours(capsys, "--username", "alice", "--password", "s3cret", "-f", tags,
                 image) == '["v1","v2"]\n'
    assert _ours(capsys, "--username", "alice", "--password", "s3cret", "-n", "-f", tags,
                 image) == "[]\n"
    # A token sent as is: basic credentials given as the bearer value are refused.
    token = base64.b64encode(b"alice:s3cret").decode()
    assert main(["inspect", "--tls-verify=false", "--registry-token", token, image]) == 125
    assert "the registry answered 401" in capsys.readouterr().err


@pytest.mark.parametrize("template", ["{{range .RepoTags}}{{.}}{{end}}", "{{printf \"%s\" .Name}}",
                                      "{{.Name"])
def test_what_the_subset_cannot_run_is_refused(template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, {"Name": "x", "RepoTags": []})
