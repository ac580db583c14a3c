"""Which refusals make a copy try the next manifest type, compared with skopeo.

distribution 2.8.2 with schema1 disabled refuses a schema1 manifest with HTTP 500 UNKNOWN
("manifest schema v1 unsupported"), not MANIFEST_INVALID: containers/image does not take
that for a type rejection, so skopeo 1.9 stops there, and so must we (no fallback to
schema2, nothing tagged). The fallback itself is tested against the fake registry, whose
profiles answer MANIFEST_INVALID (test_copy_faults.py), and with a destination that raises
the typed rejection (test_copy.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from harness.copy.engine import CopyOptions, copy_image
from harness.model import mediatype as mt
from harness.peers.clients import Skopeo
from harness.peers.launchers import DistributionLauncher
from harness.pytest_plugin.images import BuiltImage
from harness.transports.alltransports import parse_image_name
from harness.transports.types import SystemContext
from harness.util.errors import HarnessError


@pytest.mark.requires_peer("docker-registry")
@pytest.mark.requires_peer("skopeo")
def test_a_500_for_schema1_is_no_type_rejection_for_skopeo_or_us(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    schema1 = f"dir:{tmp_path}/s1"
    copy_image(parse_image_name(schema1), parse_image_name(oci_image[0]),
               CopyOptions(signature_policy_path=policy,
                           manifest_type=mt.DOCKER_V2S1_SIGNED_MANIFEST))
    with DistributionLauncher(schema1=False, delete=True).start() as registry:
        skopeo = Skopeo(tmp_path / "skopeo", registry).copy(
            schema1, f"docker://{registry.image('theirs:v1')}", check=False)
        with pytest.raises(HarnessError, match="HTTP 500 UNKNOWN") as ours:
            copy_image(parse_image_name(f"docker://{registry.image('ours:v1')}"),
                       parse_image_name(schema1),
                       CopyOptions(signature_policy_path=policy,
                                   dest_ctx=SystemContext.reaching(registry, retry_times=0)))
        tagged = [requests.get(f"{registry.url}/v2/{repo}/manifests/v1", timeout=30,
                               headers={"Accept": mt.DOCKER_V2S2_MANIFEST}).status_code
                  for repo in ("theirs", "ours")]
    assert skopeo.returncode != 0
    assert "500 Internal Server Error" in skopeo.stderr
    assert "manifests/v1" in str(ours.value)
    assert tagged == [404, 404]
