"""A token server on loopback (a fake with token auth) that a real docker-registry trusts.

Both the fake under test and a docker-registry 2.8.2 are put behind the same server, so
a client gets the same tokens from the same realm whichever of the two it talks to.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

from fakeregistry import AuthConfig, Registry, serve
from fakeregistry.tokens import TokenSigner
from harness.peers.launchers import DistributionLauncher, TokenAuth

ISSUER = "oci-harness-token-server"


@dataclass(frozen=True)
class TokenServer:
    """Where tokens come from (``realm``), the key that signs them, the server itself
    (its transcript shows which scopes clients asked for), and ``auth``: the token
    auth of a fake behind this server (same realm, same key)."""

    realm: str
    signer: TokenSigner
    registry: Registry
    auth: AuthConfig

    def distribution(self) -> DistributionLauncher:
        """A docker-registry whose ``auth.token`` trusts this server's tokens."""
        return DistributionLauncher(token_auth=TokenAuth(
            self.realm, self.auth.service, self.signer.issuer, self.signer.certificate_pem))

    def fake(self, profile: str = "spec") -> Registry:
        return Registry(profile, auth=self.auth)


@contextlib.contextmanager
def token_server(users: Mapping[str, str],
                 readonly: frozenset[str] = frozenset()) -> Iterator[TokenServer]:
    """Serve tokens on loopback to *users* (name -> password); *readonly* users are
    granted pull only, the others exactly the scopes they ask for."""
    signer = TokenSigner.generate(ISSUER)
    auth = replace(AuthConfig.with_passwords("token", users, readonly=readonly), signer=signer)
    registry = Registry(auth=auth)
    with serve(registry) as server:
        realm = f"{server.url}/token"
        yield TokenServer(realm, signer, registry, replace(auth, realm=realm))
