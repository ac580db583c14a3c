"""A ``docker-archive:`` is written byte for byte as skopeo 1.9 writes it (containers/image
5.23's tarfile writer), for configs spelled any way JSON allows: the legacy top layer's
``json`` repeats seven config fields as the config spells them (Go's ``json.RawMessage``:
compacted, ``<>&`` escaped, numbers and string escapes kept, a missing field ``null``, a
repeated key's last value), and its ID, the layer IDs below it and ``repositories`` all
follow. The same hand-written OCI layout is copied by both tools, then every byte of the
two archives compared."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.model import mediatype
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.manifest import OCIManifest
from harness.peers.clients import Skopeo
from harness.pytest_plugin.trees import files_tree, layer_tar
from harness.transports.alltransports import parse_image_name
from harness.transports.types import BlobInfo, SystemContext

CONFIGS = {
    "spaced": b'{\n  "architecture" : "amd64",\n  "os": "linux",\t"config": { "Labels" :'
              b' {"a": "<b> & c"} },\n "rootfs": {"type": "layers", "diff_ids": DIFF_IDS}}\n',
    "escapes": b'{"architecture":"amd64","os":"linux","created":"2024-01-02T03:04:05.5Z",'
               b'"config":{"Env":["A=\\u00e9\\n\\/x"],"StopTimeout":1.50,"Tty":true},'
               b'"container":"abc","container_config":{},"docker_version":"20.10",'
               b'"rootfs":{"type":"layers","diff_ids":DIFF_IDS}}',
    "repeated": b'{"os":"windows","architecture":"amd64","os":"linux","config":null,'
                b'"rootfs":{"type":"layers","diff_ids":DIFF_IDS},"extra":[1,2]}',
}
LAYERS = (files_tree({"a": b"first\n"}), files_tree({"b": b"second\n"}),
          files_tree({"a": b"first\n"}))  # the first again: a repeated layer


def _layout(path: Path, config_text: bytes) -> str:
    layers = [layer_tar(tree) for tree in LAYERS]
    diff_ids = b"[" + b",".join(b'"%s"' % str(Digest.from_bytes(t)).encode()
                                for t in layers) + b"]"
    config = config_text.replace(b"DIFF_IDS", diff_ids)
    ref = parse_image_name(f"oci:{path}:v1")
    with ref.new_image_destination(SystemContext()) as dest:
        descriptors = []
        for data, is_config in ((config, True), *((t, False) for t in layers)):
            digest = Digest.from_bytes(data)
            dest.put_blob(io.BytesIO(data), BlobInfo(digest, len(data)), is_config)
            descriptors.append(Descriptor(mediatype.OCI_CONFIG if is_config
                                          else mediatype.OCI_LAYER, digest, len(data)))
        dest.put_manifest(OCIManifest(descriptors[0], descriptors[1:]).to_bytes(),
                          mediatype.OCI_MANIFEST)
        dest.publish()
    return f"oci:{path}:v1"


@pytest.mark.requires_peer("skopeo")
@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("name", ["", ":localhost/app:v1"])
def test_archive_bytes_are_skopeos(config: str, name: str, tmp_path: Path,
                                   policy: Path) -> None:
    src = _layout(tmp_path / "layout", CONFIGS[config])
    ours, theirs = tmp_path / "ours.tar", tmp_path / "theirs.tar"
    Skopeo(tmp_path / "skopeo").copy(src, f"docker-archive:{theirs}{name}", "--quiet")
    assert main(["copy", "-q", "--policy", str(policy), src,
                 f"docker-archive:{ours}{name}"]) == 0
    assert ours.read_bytes() == theirs.read_bytes()
