"""Code assets bundled locally (no Docker): Lambda folders with their pinned pip dependencies for
the Lambda platform and the files they share, and archives of shared modules for Glue."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, BundlingOutput, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

#: Never shipped in a function's code.
ASSET_EXCLUDES = ["__pycache__", "*.pyc", ".mypy_cache"]
#: pip's platform tag of the wheels for each Lambda architecture.
PLATFORMS = {
    lambda_.Architecture.ARM_64.name: "manylinux2014_aarch64",
    lambda_.Architecture.X86_64.name: "manylinux2014_x86_64",
}


@jsii.implements(ILocalBundling)
class PipInstall:
    """``pip install --target`` of ``requirements.txt`` (when the folder has one) for the Lambda
    platform, then the sources and ``extra_files`` (name in the bundle -> file, default none).

    ``--only-binary`` keeps pip from building anything, so a package without a wheel for the
    platform fails the synth instead of shipping a build for the wrong machine.
    """

    def __init__(
        self, source: Path, python_version: str, platform: str, extra_files: Mapping[str, Path] | None = None
    ) -> None:
        self.source = source
        self.python_version = python_version
        self.platform = platform
        self.extra_files = dict(extra_files or {})

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        requirements = self.source / "requirements.txt"
        if requirements.exists():
            subprocess.run(
                [
                    sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--no-compile", "--target", output_dir, "--platform", self.platform,
                    "--implementation", "cp", "--python-version", self.python_version,
                    "--only-binary=:all:", "--requirement", str(requirements),
                ],
                check=True,
            )  # fmt: skip
        for path in self.source.glob("*.py"):
            shutil.copy2(path, Path(output_dir) / path.name)
        for name, path in self.extra_files.items():
            shutil.copyfile(path, Path(output_dir) / name)
        return True


def extra_files_digest(extra_files: Mapping[str, Path]) -> str:
    """A SHA-256 over the names and contents of ``extra_files``, for the asset hash."""
    digest = hashlib.sha256()
    for name in sorted(extra_files):
        digest.update(name.encode() + b"\0" + extra_files[name].read_bytes() + b"\0")
    return digest.hexdigest()


def bundled_code(
    source: Path,
    runtime: lambda_.Runtime,
    architecture: lambda_.Architecture,
    extra_files: Mapping[str, Path] | None = None,
) -> lambda_.Code:
    """``source`` (a ``lambdas/<function>/`` folder) with its requirements, if it has a
    ``requirements.txt``, and ``extra_files`` (name in the bundle -> file outside the folder,
    default none), bundled without Docker."""
    version = runtime.name.removeprefix("python")
    platform = PLATFORMS[architecture.name]
    extra = dict(extra_files or {})
    for name in extra:
        if Path(name).name != name or (source / name).exists():
            raise ValueError(f"extra file name {name!r} must be a plain name not already in {source.name}/")
    # The asset hash covers the source and these options, not the local bundler's state:
    # naming the platform here gives each architecture its own asset, and the digest of the
    # extra files gives a changed CA bundle a new asset.
    environment = {"PIP_PLATFORM": platform}
    if extra:
        environment["EXTRA_FILES_SHA256"] = extra_files_digest(extra)
    return lambda_.Code.from_asset(
        str(source),
        exclude=ASSET_EXCLUDES,
        bundling=BundlingOptions(
            image=runtime.bundling_image,
            local=PipInstall(source, version, platform, extra),
            command=["false"],  # never used: local bundling always succeeds or raises
            environment=environment,
        ),
    )


@jsii.implements(ILocalBundling)
class ZipFiles:
    """Writes ``<archive>.zip`` holding ``files`` at its top level, for an archived asset."""

    def __init__(self, archive: str, files: Sequence[Path]) -> None:
        self.archive = archive
        self.files = tuple(files)

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        with zipfile.ZipFile(Path(output_dir) / f"{self.archive}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            for path in self.files:
                archive.write(path, path.name)
        return True


def zipped_modules(scope: Construct, construct_id: str, modules: Sequence[Path]) -> s3_assets.Asset:
    """An S3 asset ``<hash>.zip`` holding ``modules`` (``.py`` files) at its top level: put on
    ``sys.path`` (as Glue's ``--extra-py-files`` does), each imports by its own name. The asset
    hash is the digest of the modules, so a changed module is a new asset."""
    extra = {path.name: path for path in modules}
    return s3_assets.Asset(
        scope,
        construct_id,
        path=str(modules[0].parent),  # unread: the local bundler writes the archive from ``modules``
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=extra_files_digest(extra),
        bundling=BundlingOptions(
            image=DockerImage.from_registry("none"),
            local=ZipFiles(modules[0].stem, modules),
            command=["false"],  # never used: local bundling always succeeds or raises
            output_type=BundlingOutput.ARCHIVED,
        ),
    )
