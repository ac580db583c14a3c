"""The plugin seen from a user's test suite: every fixture, marker and helper run through
``pytester``, and the messages of failing assertions."""

from __future__ import annotations

import pytest
import requests

from harness.pytest_plugin.fixtures import MakeFakeRegistry, namespace_for
from harness.pytest_plugin.registries import RegistryUnderTest


def _run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_user=source)
    return pytester.runpytest("-p", "no:randomly", "-rs", "-v", *args)


def test_fake_registry_is_fresh_for_each_test(pytester: pytest.Pytester) -> None:
    result = _run(pytester, """
        import pytest
        from harness.pytest_plugin import assert_pushed

        @pytest.mark.parametrize("seed", [1, 2])
        def test_push(fake_registry, random_image, seed):
            assert fake_registry.url.startswith("https://registry-")
            assert fake_registry.transcript.requests() == []
            assert fake_registry.fake.state.repositories == {}
            random_image(seed=seed).push(fake_registry.at("app:v1"))
            assert_pushed(fake_registry, "app:v1", layers=1)
            puts = fake_registry.transcript.requests(method="PUT", path="/v2/app/manifests/*")
            assert [entry.status for entry in puts] == [201]
    """)
    result.assert_outcomes(passed=2)


def test_faults_and_profile_switches(pytester: pytest.Pytester) -> None:
    result = _run(pytester, """
        import pytest
        from harness.model import mediatype
        from harness.util.errors import HarnessError

        def test_fault(fake_registry, random_image):
            rule = fake_registry.fault(method="PUT", path="*/manifests/*", status=503,
                                       code="UNAVAILABLE", times=1)
            random_image().push(fake_registry.at("app:v1"))
            assert rule.fired == 1
            assert len(fake_registry.transcript.requests(method="PUT", status=503)) == 1

        def test_switch(fake_registry, random_image):
            profile = fake_registry.use_profile("harbor", referrers=False)
            assert (profile.name, profile.schema1, profile.referrers) == ("harbor", False, False)
            image = random_image(manifest_type=mediatype.DOCKER_V2S1_SIGNED_MANIFEST)
            with pytest.raises(HarnessError, match="MANIFEST_INVALID"):
                image.push(fake_registry.at("app:v1"))
    """)
    result.assert_outcomes(passed=2)


def test_registry_profile_marker(pytester: pytest.Pytester) -> None:
    result = _run(pytester, """
        import pytest

        @pytest.mark.registry_profile("ecr")
        def test_preset(fake_registry, fake_registry_server, registry):
            assert {r.fake.profile.name for r in (fake_registry, fake_registry_server,
                                                  registry)} == {"ecr"}

        @pytest.mark.registry_profile("distribution-2.8", tags_sorted=True)
        def test_switches(fake_registry):
            profile = fake_registry.fake.profile
            assert (profile.name, profile.tags_sorted, profile.tags_paginate) == (
                "distribution-2.8", True, False)

        @pytest.mark.registry_profile("ecr")
        def test_explicit_profile_wins(make_fake_registry):
            assert make_fake_registry(profile="quay").fake.profile.name == "quay"

        def test_default_is_the_spec(fake_registry):
            assert fake_registry.fake.profile.name == "spec"
    """)
    result.assert_outcomes(passed=4)


def test_factory_variants_auth_tls_http(pytester: pytest.Pytester) -> None:
    result = _run(pytester, """
        import pytest
        import requests
        from harness.pytest_plugin import assert_pushed

        def test_basic_auth(make_fake_registry, random_image):
            registry = make_fake_registry(auth="basic")
            assert registry.ctx.credentials.username == "tester"
            random_image().push(registry.at("app:v1"))
            anonymous = registry.with_context(credentials=None, retry_times=0)
            with pytest.raises(AssertionError, match="401 UNAUTHORIZED"):
                assert_pushed(anonymous, "app:v1")

        def test_tls_server(make_fake_registry, random_image):
            registry = make_fake_registry(tls=True)
            assert registry.url.startswith("https://127.0.0.1:")
            assert registry.ctx.tls_verify and registry.ctx.ca_file.exists()
            assert requests.get(registry.url + "/v2/", verify=registry.ctx.ca_file).ok
            random_image().push(registry.at("app:v1"))
            assert_pushed(registry, "app:v1")

        def test_http_server(fake_registry_server):
            assert fake_registry_server.url.startswith("http://127.0.0.1:")
            assert requests.get(fake_registry_server.url + "/v2/").ok

        def test_two_fakes_at_once(make_fake_registry):
            first, second = make_fake_registry(), make_fake_registry()
            assert first.host != second.host
    """)
    result.assert_outcomes(passed=4)


def test_registry_runs_once_per_target(pytester: pytest.Pytester,
                                       fake_registry_server: RegistryUnderTest) -> None:
    """A served fake stands in for a remote registry given as ``url=``."""
    url_target = f"url={fake_registry_server.url}"
    result = _run(pytester, """
        import pytest
        from harness.pytest_plugin import assert_pushed
        from harness.pytest_plugin.registries import NotAFakeError

        def test_push(registry, random_image):
            random_image().push(registry.at("app:v1"))
            assert_pushed(registry, "app:v1", layers=1)
            print("IMAGE", registry.target, registry.image("app:v1"))

        def test_fake_only(registry, random_image):
            random_image().push(registry.at("app:v1"))
            if registry.is_fake:
                assert registry.transcript.requests(method="PUT", path="/v2/app/manifests/v1")
            else:
                with pytest.raises(NotAFakeError, match="needs the fake registry"):
                    registry.fault(status=500)

        @pytest.mark.registry_profile("ecr")
        def test_profiled(registry):
            assert registry.fake.profile.name == "ecr"
    """, "-s", "--registry-target", "fake", "--registry-target", url_target)
    result.assert_outcomes(passed=5, skipped=1)
    result.stdout.fnmatch_lines([
        "*test_push?fake? IMAGE fake registry-*.fake/app:v1*",
        f"*test_push?url=* IMAGE {url_target} {fake_registry_server.host}/t*/test-push-url-*/app*",
        "*registry_profile('ecr') describes the fake; url=* is what it is*",
    ])
    namespaces = {entry.path.split("/")[3] for entry in
                  fake_registry_server.transcript.requests(path="/v2/t*/*")}
    assert len(namespaces) == 2  # test_push and test_fake_only each had their own


def test_a_projects_own_registry_fixture_is_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        import pytest

        @pytest.fixture
        def registry():
            return "mine"
    """)
    result = _run(pytester, """
        def test_mine(registry):
            assert registry == "mine"
    """, "--registry-target", "distribution")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_mine PASSED*"])


def test_image_store_and_builder(pytester: pytest.Pytester) -> None:
    result = _run(pytester, """
        from harness.builder.commit import CommitOptions

        def test_store(image_store):
            digest = image_store.put_bytes(b"blob")
            assert image_store.read_blob(digest) == b"blob"

        def test_builder(builder, image_store):
            assert builder.store is image_store
            (builder.rootfs / "hello").write_text("hi")
            builder.save()
            builder.commit("localhost/hello:latest", CommitOptions())
            assert image_store.image("localhost/hello:latest").names
    """)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*test_store?memory? PASSED*", "*test_store?disk? PASSED*",
                                 "*test_builder?memory? PASSED*", "*test_builder?disk? PASSED*"])


def test_random_image_is_deterministic_by_seed(pytester: pytest.Pytester) -> None:
    source = """
        from harness.model import mediatype
        from harness.model.compression import Algorithm

        def test_image(random_image):
            image = random_image(seed=5, layers=3, size=30_000,
                                 manifest_type=mediatype.DOCKER_V2S2_MANIFEST)
            other = random_image(seed=6, layers=3, size=30_000,
                                 manifest_type=mediatype.DOCKER_V2S2_MANIFEST)
            assert image.digest != other.digest
            assert len(image.layers) == 3 and image.media_type == mediatype.DOCKER_V2S2_MANIFEST
            zstd = random_image(seed=5, layers=3, size=30_000, compression=Algorithm.ZSTD)
            assert {layer.media_type for layer in zstd.layers} == {
                mediatype.OCI_LAYER_ZSTD}
            assert zstd.diff_ids == image.diff_ids  # same content, other compression
            print("DIGEST", image.digest)
    """
    digests = []
    for _ in range(2):
        result = _run(pytester, source, "-s")
        result.assert_outcomes(passed=1)
        digests += [line.split()[-1] for line in result.outlines if "DIGEST" in line]
    assert len(digests) == 2 and digests[0] == digests[1]


def test_failing_assertions_say_what_differed(pytester: pytest.Pytester) -> None:
    result = _run(pytester, """
        from harness.model import mediatype
        from harness.pytest_plugin import assert_pushed, assert_same_image

        def test_type_and_layers(fake_registry, random_image):
            random_image(layers=2).push(fake_registry.at("app:v1"))
            assert_pushed(fake_registry, "app:v1",
                          manifest_type=mediatype.DOCKER_V2S2_MANIFEST, layers=3)

        def test_layer_digests(fake_registry, random_image):
            random_image(seed=1, layers=2).push(fake_registry.at("app:v1"))
            expected = random_image(seed=2, layers=2).layers
            assert_pushed(fake_registry, "app:v1", layers=expected)

        def test_missing(fake_registry):
            assert_pushed(fake_registry, "nothing:here")

        def test_different_images(fake_registry, random_image):
            random_image(seed=1).push(fake_registry.at("app:v1"))
            assert_same_image(random_image(seed=1, layers=2), fake_registry.at("app:v1"))
    """)
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines([
        "E * AssertionError: docker://registry-*.fake/app:v1: manifest type is "
        "application/vnd.oci.image.manifest.v1+json, expected "
        "application/vnd.docker.distribution.manifest.v2+json; 2 layers, expected 3",
        "E * AssertionError: docker://registry-*.fake/app:v1: layer 0 is sha256:*, "
        "expected sha256:*; layer 1 is sha256:*, expected sha256:*",
        "E * AssertionError: docker://registry-*.fake/nothing:here: cannot read the image: "
        "*HTTP 404 NAME_UNKNOWN repository nothing is not known",
        "E * AssertionError: dir:* and docker://registry-*.fake/app:v1 differ: "
        "config sha256:* vs sha256:*; 2 layers vs 1; layer 0 content sha256:* vs sha256:*",
    ], consecutive=False)


def test_a_blob_that_breaks_off_fails_the_assertion(fake_registry: RegistryUnderTest,
                                                    random_image: object) -> None:
    """assert_pushed reads every blob to its end: a short one is reported."""
    from harness.pytest_plugin import assert_pushed  # noqa: PLC0415

    image = random_image(seed=3)  # type: ignore[operator]
    image.push(fake_registry.at("app:v1"))
    fake_registry.fault(method="GET", path="/v2/app/blobs/*", truncate=10, nth=1)
    with pytest.raises(AssertionError, match=r"app:v1: cannot read the image: GET blob .* broke"):
        assert_pushed(fake_registry.with_context(retry_times=0), "app:v1")


REAL_TARGETS = [
    pytest.param("distribution", "docker-registry",
                 marks=pytest.mark.requires_peer("docker-registry"), id="distribution"),
    pytest.param("distribution-container", "docker",
                 marks=pytest.mark.requires_peer("docker"), id="distribution-container"),
]


@pytest.mark.parametrize(("target", "peer"), REAL_TARGETS)
def test_a_real_target_starts_once_per_session(pytester: pytest.Pytester, target: str,
                                               peer: str) -> None:
    result = _run(pytester, """
        import pytest
        from harness.pytest_plugin import assert_pushed

        @pytest.mark.parametrize("n", [1, 2])
        def test_url(registry, random_image, n):
            random_image(seed=n).push(registry.at("app:v1"))
            assert_pushed(registry, "app:v1", layers=1)
            print("URL", registry.url, registry.namespace)
    """, "-s", "--registry-target", target)
    result.assert_outcomes(passed=2)
    lines = [line.split() for line in result.outlines if "URL" in line]
    assert len({words[-2] for words in lines}) == 1  # one registry
    assert len({words[-1] for words in lines}) == 2  # two namespaces
    result.stdout.fnmatch_lines([f"{peer}: 2 tests ran against it (*)"])  # and its version


def test_a_failed_tests_report_shows_what_the_registry_saw(pytester: pytest.Pytester) -> None:
    result = _run(pytester, """
        def test_fails(fake_registry, make_fake_registry, random_image):
            make_fake_registry(profile="quay")
            fake_registry.fault(method="PUT", path="*/manifests/*", status=503, times=1)
            random_image().push(fake_registry.at("app:v1"))
            assert False, "look at the sections"

        def test_passes(fake_registry):
            pass
    """)
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines([
        "*- registry 1: fake https://registry-*.fake -*",
        "GET /v2/ -> 200",
        "PUT /v2/app/manifests/v1 -> 503  [fault method=PUT,path=*/manifests/*,times=1,status=503]",
        "PUT /v2/app/manifests/v1 -> 201",
        "*- registry 2: fake https://registry-*.fake -*",
        "(no requests)",
    ])
    assert result.stdout.str().count("- registry ") == 2  # nothing for the passing test


@pytest.mark.requires_peer("docker-registry")
def test_a_failed_tests_report_shows_the_real_registrys_log(pytester: pytest.Pytester
                                                            ) -> None:
    result = _run(pytester, """
        import requests

        def test_fails(registry):
            requests.get(registry.url + "/v2/" + registry.namespace + "/app/tags/list")
            assert False
    """, "--registry-target", "distribution")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*- registry 1: distribution http://127.0.0.1:* -*",
                                 "*/app/tags/list*"])


def test_an_unknown_target_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "def test_x(registry):\n    pass\n", "--registry-target", "zot")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--registry-target: unknown registry target 'zot'; "
                                 "expected one of distribution, distribution-container, "
                                 "url=URL; or fake"])


def test_variants_by_indirect_parametrisation(pytester: pytest.Pytester) -> None:
    result = _run(pytester, """
        import pytest
        import requests

        VARIANTS = [{}, {"tls": True}, {"auth": "token"}, {"profile": "quay", "auth": "basic"}]

        @pytest.mark.parametrize("fake_registry_server", VARIANTS, indirect=True,
                                 ids=["plain", "tls", "token", "quay-basic"])
        def test_server(fake_registry_server):
            server = fake_registry_server
            verify = str(server.ctx.ca_file) if server.ctx.ca_file else True
            status = requests.get(server.url + "/v2/", verify=verify).status_code
            print("VARIANT", server.url.split(":")[0], server.fake.auth.mode,
                  server.fake.profile.name, status)

        @pytest.mark.parametrize("fake_registry", [{"profile": "ecr"}], indirect=True)
        def test_in_process(fake_registry):
            assert fake_registry.fake.profile.name == "ecr"
    """, "-s")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*plain* VARIANT http none spec 200",
                                 "*tls* VARIANT https none spec 200",
                                 "*token* VARIANT http token spec 401",
                                 "*quay-basic* VARIANT http basic quay 401"])


# -- url= targets that need credentials or a private CA ----------------------------------

PUSH = """
    from harness.pytest_plugin import assert_pushed

    def test_push(registry, random_image):
        random_image().push(registry.at("app:v1"))
        assert_pushed(registry, "app:v1")
"""
SECRET = "pw-Zq81xK"


@pytest.fixture
def no_oci_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The inner run reads OCI_USERNAME/OCI_PASSWORD: the outer environment stays out."""
    monkeypatch.delenv("OCI_USERNAME", raising=False)
    monkeypatch.delenv("OCI_PASSWORD", raising=False)
    return monkeypatch


def test_a_url_target_with_basic_auth_is_reached_with_the_credentials(
        pytester: pytest.Pytester, make_fake_registry: MakeFakeRegistry,
        no_oci_env: pytest.MonkeyPatch) -> None:
    server = make_fake_registry(auth="basic", http=True, users={"vendor": SECRET})
    target = ("--registry-target", f"url={server.url}")
    refused = _run(pytester, PUSH, *target)
    refused.assert_outcomes(failed=1)
    refused.stdout.fnmatch_lines(["*401 UNAUTHORIZED*"])
    accepted = _run(pytester, PUSH, *target, "--registry-username", "vendor",
                    "--registry-password", SECRET)
    accepted.assert_outcomes(passed=1)
    no_oci_env.setenv("OCI_USERNAME", "vendor")
    no_oci_env.setenv("OCI_PASSWORD", SECRET)
    _run(pytester, PUSH, *target).assert_outcomes(passed=1)
    # A token given explicitly wins over the environment's user (no "not both" error):
    # Basic auth refuses it at the login check.
    with_token = _run(pytester, PUSH, *target, "--registry-token", "t")
    assert with_token.ret == pytest.ExitCode.USAGE_ERROR
    with_token.stdout.fnmatch_lines(["*the registry refused the login*401*"])
    assert SECRET not in refused.stdout.str() + accepted.stdout.str()


@pytest.mark.parametrize("auth", ["basic", "token"])
def test_wrong_credentials_stop_the_run_once_with_one_line(
        pytester: pytest.Pytester, make_fake_registry: MakeFakeRegistry,
        no_oci_env: pytest.MonkeyPatch, auth: str) -> None:
    server = make_fake_registry(auth=auth, http=True, users={"vendor": SECRET})
    tests = PUSH + "\n    def test_again(registry):\n        pass\n"
    result = _run(pytester, tests, "--registry-target", f"url={server.url}",
                  "--registry-username", "vendor", "--registry-password", "wrong-pw")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert output.count("the registry refused the login") == 1
    result.assert_outcomes()  # nothing passed, failed or errored: the run stopped
    assert "wrong-pw" not in output and "Traceback" not in output


def test_a_url_target_with_token_auth_gets_the_given_token_as_is(
        pytester: pytest.Pytester, make_fake_registry: MakeFakeRegistry,
        no_oci_env: pytest.MonkeyPatch) -> None:
    server = make_fake_registry(auth="token", http=True)
    target = f"url={server.url}"
    # A token for exactly the repository the inner test will push to, as a vendor's CI
    # would hand one out; the client must send it rather than ask the realm for its own.
    repository = f"{namespace_for(f'test_user.py::test_push[{target}]')}/app"
    token = requests.get(f"{server.url}/token", auth=("tester", "secret"), timeout=5, params={
        "service": "fakeregistry", "scope": f"repository:{repository}:pull,push"}).json()["token"]
    _run(pytester, PUSH, "--registry-target", target).assert_outcomes(failed=1)  # DENIED
    before = len(server.transcript.entries)
    result = _run(pytester, PUSH, "--registry-target", target, "--registry-token", token)
    result.assert_outcomes(passed=1)
    assert [e.path for e in server.transcript.entries[before:] if e.path == "/token"] == []


def test_a_url_target_over_tls_is_trusted_by_ca_file_or_insecure(
        pytester: pytest.Pytester, make_fake_registry: MakeFakeRegistry) -> None:
    server = make_fake_registry(tls=True)
    target = ("--registry-target", f"url={server.url}")
    untrusted = _run(pytester, PUSH, *target)
    untrusted.assert_outcomes(errors=1)
    untrusted.stdout.fnmatch_lines(["*TLS with https://127.0.0.1:* failed*CERTIFICATE_VERIFY*"])
    assert server.ctx.ca_file is not None
    _run(pytester, PUSH, *target, "--registry-ca-file", str(server.ctx.ca_file)
         ).assert_outcomes(passed=1)
    _run(pytester, PUSH, *target, "--registry-insecure").assert_outcomes(passed=1)


def test_insecure_is_accepted_for_a_plain_http_url_target(
        pytester: pytest.Pytester, make_fake_registry: MakeFakeRegistry) -> None:
    """As for python -m conformance: CI passes it whatever the scheme; nothing to skip."""
    server = make_fake_registry(http=True)
    assert server.url.startswith("http://")
    _run(pytester, PUSH, "--registry-target", f"url={server.url}", "--registry-insecure"
         ).assert_outcomes(passed=1)


@pytest.mark.parametrize(("args", "message"), [
    (["--registry-username", "u", "--registry-password", "p"],
     "--registry-username, --registry-password: apply to url= targets only, and none was "
     "given (--registry-target url=URL)"),
    (["--registry-target", "distribution", "--registry-insecure"],
     "--registry-insecure: apply to url= targets only, and none was given*"),
    (["--registry-target", "url=https://r.example", "--registry-ca-file", "nope.crt"],
     "--registry-ca-file: CA file nope.crt does not exist"),
    (["--registry-target", "url=https://r.example", "--registry-token", "t",
      "--registry-username", "u"],
     "--registry-username, --registry-token: give either a token or a username and "
     "password, not both"),
    (["--registry-target", "url=https://r.example", "--registry-username", "u"],
     "--registry-username u: no password given (--registry-password)"),
    (["--registry-target", "url=https://r.example", "OCI_USERNAME=ci"],
     "OCI_USERNAME=ci: no password given (OCI_PASSWORD)"),
    (["--registry-target", "url=https://r.example", "OCI_PASSWORD=p"],
     "OCI_PASSWORD: a password needs a user name (OCI_USERNAME)"),
    (["--registry-target", "url=http://r.example", "--registry-ca-file", "nope.crt"],
     "--registry-ca-file: a CA file verifies https:// registries; http://r.example is plain "
     "HTTP"),
    (["--registry-target", f"url=https://u:{SECRET}@r.example"],
     "--registry-target url=*: registry URL holds a user or password; give them as a "
     "username and password instead"),
], ids=["no-url-target", "distribution-only", "missing-ca", "token-and-user",
        "user-without-password", "user-variable-alone", "password-variable-alone",
        "ca-on-http", "userinfo"])
def test_access_that_cannot_be_used_is_a_usage_error(
        pytester: pytest.Pytester, args: list[str], message: str,
        no_oci_env: pytest.MonkeyPatch) -> None:
    for variable in [arg for arg in args if arg.startswith("OCI_")]:
        no_oci_env.setenv(*variable.split("=", 1))
    result = _run(pytester, "def test_x(registry):\n    pass\n",
                  *[arg for arg in args if not arg.startswith("OCI_")])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert len(result.stderr.lines) <= 2, result.stderr.str()  # one line, no traceback


@pytest.mark.parametrize("access", [["--registry-token", SECRET],
                                    ["--registry-username", "u", "--registry-password", SECRET]],
                         ids=["token", "password"])
def test_a_failing_test_never_shows_the_secret(pytester: pytest.Pytester, access: list[str],
                                               fake_registry_server: RegistryUnderTest) -> None:
    result = _run(pytester, """
        def test_fails(registry):
            location = registry.at("app:v1")
            assert registry.is_fake, (registry, location)
    """, "-l", "--tb=long", "--registry-target", f"url={fake_registry_server.url}", *access)
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "RegistryUnderTest(target='url=http" in output  # the reprs really were shown
    assert SECRET not in output + result.stderr.str()
