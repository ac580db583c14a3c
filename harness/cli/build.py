"""The build commands, spelled as buildah's: ``from``, ``add``, ``config``, ``commit``,
``images``, ``containers``, ``tag``, ``rmi``, ``rm``, ``mount`` and ``check``.

Every command opens the store at ``--root`` and reports a failure as one ``Error: ...``
line (see :mod:`harness.cli.main`). ``from`` prints the container name as its last line;
``commit`` prints the image ID as buildah 1.28 does: to stdout, or to ``--iidfile``
instead, and neither for a destination that is not an image store (``oci:``...).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli.options import (
    COMMIT_FORMATS,
    COMPRESSION_NAMES,
    add_registry_flags,
    bool_flag,
    compression,
    manifest_type,
    registry_context,
    retry_budget,
    signature_policy,
)
from harness.util.errors import HarnessError

if TYPE_CHECKING:
    from harness.builder.builder import Builder
    from harness.builder.listpush import StoreName
    from harness.model.compression import Algorithm
    from harness.store.store import Store
    from harness.transports.types import SystemContext
    from harness.util.cli import Subcommands


def _store(args: argparse.Namespace) -> Store:
    from harness.store.store import Store  # noqa: PLC0415

    return Store.open(args.root)


def _builder(args: argparse.Namespace) -> Builder:
    """The working container the command names, from the store at ``--root``."""
    from harness.builder.builder import Builder  # noqa: PLC0415

    return Builder.load(_store(args), args.container)


def _pair(text: str, option: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise HarnessError(f"{option} {text!r}: expected KEY=VALUE")
    return key, value


def command_words(text: str, option: str, shell_form: bool) -> list[str] | None:
    """``--cmd``/``--entrypoint``: a JSON array, or a shell string (split into words for
    cmd, run through ``/bin/sh -c`` for entrypoint, as buildah does); "" clears."""
    if text == "":
        return None
    if text.lstrip().startswith("["):
        try:
            words = json.loads(text)
        except ValueError as exc:
            raise HarnessError(f"{option}: invalid JSON array: {exc}") from None
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise HarnessError(f"{option}: expected a JSON array of strings")
        return words
    if shell_form:
        return ["/bin/sh", "-c", text]
    import shlex  # noqa: PLC0415

    try:
        return shlex.split(text)
    except ValueError as exc:
        raise HarnessError(f"{option}: {exc}") from None


def _context(args: argparse.Namespace) -> SystemContext:
    return registry_context(args, retries=retry_budget(args))


def _from(args: argparse.Namespace) -> int:
    from harness.builder.builder import Builder  # noqa: PLC0415

    builder = Builder.new(_store(args), args.image, args.name, architecture=args.arch,
                          os_name=args.os, ctx=_context(args),
                          signature_policy_path=signature_policy(args,
                                                                 args.signature_policy),
                          report_writer=None if args.quiet else sys.stderr)
    print(builder.container_name)
    return 0


def _add(args: argparse.Namespace) -> int:
    _builder(args).add([Path(s) for s in args.src], args.dest)
    return 0


def _config(args: argparse.Namespace) -> int:
    builder = _builder(args)
    if args.cmd is not None:
        builder.set_field("Cmd", command_words(args.cmd, "--cmd", shell_form=False))
    if args.entrypoint is not None:
        builder.set_field("Entrypoint", command_words(args.entrypoint, "--entrypoint",
                                                      shell_form=True))
    for name, value in (("WorkingDir", args.workingdir), ("User", args.user),
                        ("StopSignal", args.stop_signal)):
        if value is not None:
            builder.set_field(name, value)
    for text in args.env:
        builder.set_env(*_pair(text, "--env"))
    for text in args.label:
        builder.set_label(*_pair(text, "--label"))
    for text in args.annotation:
        builder.set_annotation(*_pair(text, "--annotation"))
    for port in args.port:
        builder.add_exposed_port(port)
    for volume in args.volume:
        builder.add_volume(volume)
    if args.author is not None:
        builder.set_author(args.author)
    if args.created_by is not None:
        builder.created_by = args.created_by
    builder.set_platform(args.arch, args.os)
    builder.save()
    return 0


def _commit_compression(args: argparse.Namespace) -> Algorithm:
    """``--compression``/``--compression-format`` if given; else none while
    ``-D``/``--disable-compression`` holds (buildah's default), gzip with ``-D=false``."""
    if args.compression is not None:
        return compression(args.compression)
    return compression("none" if args.disable_compression else "gzip")


def _commit(args: argparse.Namespace) -> int:
    import datetime  # noqa: PLC0415

    from harness.builder.commit import (  # noqa: PLC0415
        IDENTITY_LABEL,
        IDENTITY_VERSION,
        CommitOptions,
    )

    builder = _builder(args)
    for name in args.unsetenv:  # for this image only: the container keeps its settings
        builder.set_field("Env", [e for e in builder.configs.get_field("Env") or []
                                  if e.split("=", 1)[0] != name] or None)
    if args.identity_label:  # as buildah: in the image only, the container is not saved
        builder.set_label(IDENTITY_LABEL, IDENTITY_VERSION)
    timestamp = None if args.timestamp is None else datetime.datetime.fromtimestamp(
        args.timestamp, datetime.UTC)
    options = CommitOptions(
        preferred_manifest_type=manifest_type(args.format) or "",
        compression=_commit_compression(args),
        signature_policy_path=signature_policy(args, args.signature_policy),
        additional_tags=args.tag,
        report_writer=None if args.quiet else sys.stderr,
        history_timestamp=timestamp,
        system_context=_context(args),
        omit_history=args.omit_history,
        squash=args.squash,
    )
    target = _list_store(args) if args.manifest is not None else None
    result = builder.commit(args.dest, options)
    if target is not None:
        from harness.builder.manifests import add_image  # noqa: PLC0415

        add_image(target.store, args.manifest, result.image_id)
    # As buildah 1.28: the ID goes to --iidfile or stdout, and only for an image store.
    if result.stored and args.iidfile is not None:
        args.iidfile.write_text(f"sha256:{result.image_id}")
    elif result.stored:
        print(result.image_id)
    if args.rm:
        builder.store.delete_container(builder.container_id)
    return 0


def _list_store(args: argparse.Namespace) -> StoreName:
    """``--manifest``: the list lives in buildah's store, the one the image is committed
    to, so the destination must be ``containers-storage:``."""
    from harness.builder.listpush import StoreName  # noqa: PLC0415

    if args.dest is None or not args.dest.startswith("containers-storage:"):
        raise HarnessError("--manifest needs a containers-storage:[DRIVER@ROOT+RUNROOT]NAME "
                           "destination: lists are kept in buildah's store only")
    return StoreName.parse(args.dest)


def _images(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    for image in _store(args).images():
        for name in image.names or ["<none>:<none>"]:
            repo, _, tag = name.rpartition(":") if "@" not in name else (name, "", "<none>")
            rows.append({"id": image.id, "name": name, "repository": repo, "tag": tag,
                         "digest": image.manifest_digest, "created": image.created})
    if args.json:
        print(json.dumps(rows, indent=2))
    elif args.quiet:
        print("\n".join(dict.fromkeys(r["id"][:12] for r in rows)))
    else:
        print(f"{'REPOSITORY':<40} {'TAG':<16} {'IMAGE ID':<12} CREATED")
        for r in rows:
            print(f"{r['repository']:<40} {r['tag']:<16} {r['id'][:12]:<12} {r['created']}")
    return 0


def _containers(args: argparse.Namespace) -> int:
    store = _store(args)
    print(f"{'CONTAINER ID':<12}  {'IMAGE ID':<12}  {'IMAGE NAME':<32}  CONTAINER NAME")
    for ctr in store.containers():
        image = store.find_image(ctr.image_id) if ctr.image_id else None
        image_name = image.names[0] if image and image.names else "scratch"
        print(f"{ctr.id[:12]:<12}  {(ctr.image_id or '')[:12]:<12}  {image_name:<32}  "
              f"{ctr.name}")
    return 0


def _tag(args: argparse.Namespace) -> int:
    from harness.builder.names import local_name, resolve_image  # noqa: PLC0415

    store = _store(args)
    store.add_names(resolve_image(store, args.image).id, [local_name(n) for n in args.names])
    return 0


def _rmi(args: argparse.Namespace) -> int:
    """As buildah: a name of a multi-named image only untags; otherwise the image goes."""
    from harness.builder.names import resolve_image  # noqa: PLC0415

    store = _store(args)
    for ref in args.images:
        image = resolve_image(store, ref)
        named = [n for n in image.names if n in (ref, _maybe_local(ref))]
        if named and len(image.names) > 1:
            store.remove_names(named)
            print(f"untagged: {named[0]}")
        else:
            store.delete_image(image.id)
            print(image.id)
    return 0


def _maybe_local(ref: str) -> str | None:
    from harness.builder.names import local_name  # noqa: PLC0415

    try:
        return local_name(ref)
    except HarnessError:
        return None


def _rm(args: argparse.Namespace) -> int:
    store = _store(args)
    for ref in args.containers:
        print(store.delete_container(ref).id)
    return 0


def _mount(args: argparse.Namespace) -> int:
    print(_builder(args).rootfs)
    return 0


def _check_containers_storage(spec: str) -> int:
    # Imported here: only this use of check needs containers/storage.
    from harness.model.transportref import parse_storage_spec  # noqa: PLC0415
    from harness.store.containers import conf  # noqa: PLC0415
    from harness.store.containers.check import check as check_store  # noqa: PLC0415
    from harness.store.containers.store import ContainersStore  # noqa: PLC0415

    problems = check_store(ContainersStore(conf.resolve(parse_storage_spec(spec))))
    for problem in problems:
        print(problem)
    return 1 if problems else 0


def _check(args: argparse.Namespace) -> int:
    from harness.store.apply import remove_entry  # noqa: PLC0415
    from harness.store.check import check, stale_files  # noqa: PLC0415

    if args.containers_storage is not None:
        return _check_containers_storage(args.containers_storage)
    store = _store(args)
    problems = check(store)
    for problem in problems:
        print(problem)
    for path in stale_files(store, args.min_age):
        if args.clean:
            remove_entry(path)
            print(f"removed: {path}")
        else:
            print(f"stale: {path} (left by an interrupted write; --clean removes it)")
    return 1 if problems else 0


def _remote_options(p: argparse.ArgumentParser) -> None:
    """Options of the commands that may reach another transport (pull or full copy)."""
    p.add_argument("--signature-policy", type=Path, metavar="FILE")
    add_registry_flags(p)
    p.add_argument("--quiet", "-q", action="store_true", help="report nothing")


def register(sub: Subcommands) -> None:
    """Add this group's commands to *sub*."""
    sub.add_command("from", help="create a working container from an image or scratch",
                    arguments=_from_arguments)
    sub.add_command("add", help="copy files into a working container", arguments=_add_arguments)
    sub.add_command("config", help="change the settings a container is committed with",
                    arguments=_config_arguments)
    sub.add_command("commit", help="write a working container as an image",
                    arguments=_commit_arguments)
    sub.add_command("images", help="list images in the local store", arguments=_images_arguments)
    sub.add_command("containers", help="list working containers", arguments=_containers_arguments)
    sub.add_command("tag", help="add names to an image", arguments=_tag_arguments)
    sub.add_command("rmi", help="remove images (or untag a name of a multi-named one)",
                    arguments=_rmi_arguments)
    sub.add_command("rm", help="remove working containers", arguments=_rm_arguments)
    sub.add_command("mount", help="print a working container's read-write directory",
                    arguments=_mount_arguments)
    sub.add_command("check", help="verify the store; print each problem found",
                    arguments=_check_arguments)


def _from_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE|scratch")
    p.add_argument("--name", help="container name (default: IMAGE-working-container)")
    p.add_argument("--arch", help="architecture recorded in the image (default: this host)")
    p.add_argument("--os", default="linux", help="operating system recorded in the image")
    _remote_options(p)
    p.set_defaults(func=_from)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("src", metavar="SRC", nargs="+")
    p.add_argument("dest", metavar="DEST")
    p.set_defaults(func=_add)


def _config_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("--cmd", help="JSON array or shell words; '' clears")
    p.add_argument("--entrypoint", help="JSON array or a string run by /bin/sh -c")
    for option in ("--env", "--label", "--annotation"):
        p.add_argument(option, action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--port", action="append", default=[], metavar="PORT[/PROTO]")
    p.add_argument("--volume", action="append", default=[], metavar="PATH")
    for option in ("--author", "--created-by", "--workingdir", "--user", "--stop-signal",
                   "--arch", "--os"):
        p.add_argument(option)
    p.set_defaults(func=_config)


def _commit_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("dest", metavar="DEST", nargs="?",
                   help="a local name or TRANSPORT:REF (default: no name)")
    p.add_argument("--format", "-f", choices=COMMIT_FORMATS, default="oci")
    p.add_argument("--compression", "--compression-format", choices=COMPRESSION_NAMES,
                   help="layer compression (default: none, as buildah's -D)")
    bool_flag(p, "--disable-compression", "-D", help_text="don't compress layers")
    p.add_argument("--rm", action="store_true",
                   help="remove the working container once the image is written")
    p.add_argument("--unsetenv", action="append", default=[], metavar="NAME",
                   help="leave NAME out of the image's environment (repeatable)")
    bool_flag(p, "--identity-label",
              help_text="add the label io.buildah.version (buildah's version)")
    p.add_argument("--omit-history", action="store_true",
                   help="write no history: neither the base's nor a new entry")
    p.add_argument("--squash", action="store_true",
                   help="write the whole tree, base image included, as one layer")
    p.add_argument("--timestamp", type=int, metavar="EPOCH",
                   help="creation time in seconds (reproducible images)")
    p.add_argument("--tag", action="append", default=[], metavar="NAME")
    p.add_argument("--iidfile", type=Path, metavar="FILE", help="write the image ID here")
    p.add_argument("--manifest", metavar="LIST",
                   help="add the image to this manifest list in the destination's store, "
                        "creating it if needed (a containers-storage: destination)")
    _remote_options(p)
    p.set_defaults(func=_commit)


def _images_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", "-q", action="store_true", help="only image IDs")
    p.set_defaults(func=_images)


def _containers_arguments(p: argparse.ArgumentParser) -> None:
    p.set_defaults(func=_containers)


def _tag_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("names", metavar="NAME", nargs="+")
    p.set_defaults(func=_tag)


def _rmi_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", metavar="IMAGE", nargs="+")
    p.set_defaults(func=_rmi)


def _rm_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", metavar="CONTAINER", nargs="+")
    p.set_defaults(func=_rm)


def _mount_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(func=_mount)


def _check_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clean", action="store_true",
                   help="remove what interrupted writes left behind")
    p.add_argument("--min-age", type=float, default=600.0, metavar="SECONDS",
                   help="only files untouched this long count as left behind")
    p.add_argument("--containers-storage", metavar="[DRIVER@ROOT+RUNROOT]", nargs="?",
                   const="", default=None,
                   help="check buildah's and podman's store instead (alone: the one "
                        "storage.conf names); every layer is rebuilt and hashed")
    p.set_defaults(func=_check)
