"""The files monop itself writes on the host, and which of them a container mounts.

One list, `written_paths(settings)`: the rule files directory, the file_sd directory,
alertmanager.yml and Grafana's provisioning directory. A container
that mounts one of them (the path itself, a file inside it, or a directory holding it) is told
when its content changes, by its `reload` (monop.daemon.reloads); the content is never part
of the container's spec, so a change never recreates it. A mount far above a written path
(node-exporter's `/:/host`) is `incidental`: it is told only when the container declares a reload.
"""

from __future__ import annotations

import hashlib
import os.path
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from monop.settings import Settings


@dataclass(frozen=True)
class WrittenPath:
    """A file or directory monop writes. `self_watched`: its reader re-reads it on its own
    (Prometheus watches file_sd files), so a container mounting it needs no reload."""

    name: str  # what it is, in messages: "rule files", "alertmanager.yml"
    path: Path
    self_watched: bool = False
    # What monop's writes change: a rule file is renamed into place, so a container that
    # mounts one file keeps the inode it started with (mount the directory instead).
    renamed_into_place: bool = True

    @property
    def a_file(self) -> bool:
        """One file (alertmanager.yml), not a directory of them."""
        return _is_file(self.path)


def written_paths(settings: Settings) -> tuple[WrittenPath, ...]:
    """Every path monop writes with these settings; add an entry here for a new writer."""
    return (
        WrittenPath("rule files", Path(settings.rules_dir)),
        WrittenPath("file_sd targets", Path(settings.sd_dir), self_watched=True),
        WrittenPath("alertmanager.yml", Path(settings.alertmanager_config)),
        # Grafana's dashboard provider polls its directory (every 30 s, monop.desired.grafana_files);
        # a datasource change is read at Grafana's start or its provisioning reload (README: Grafana).
        WrittenPath("Grafana provisioning", Path(settings.grafana_dir), self_watched=True),
    )


@dataclass(frozen=True)
class MountedWrite:
    """A mount of a container that shows it (part of) a path monop writes."""

    written: WrittenPath
    host_path: str  # the mount's source, as the container spec has it
    container_path: str
    watched: Path  # what of the written path the container sees: the written path, or the mounted part of it

    @property
    def incidental(self) -> bool:
        """The mount is a directory far above the written path (node-exporter's `/:/host`):
        it shows the file by chance, not to read it. The written path itself, a part of it,
        or the directory directly holding a written file are not incidental."""
        source = _real(self.host_path)
        target = _real(str(self.written.path))
        if source == target or source.is_relative_to(target):
            return False
        return not (_is_file(self.written.path) and source == target.parent)

    @property
    def single_file(self) -> bool:
        """The mount is one file monop replaces by rename: the container keeps the old one."""
        return (
            self.written.renamed_into_place
            and self.watched == _real(self.host_path)
            and _is_file(self.watched)
        )


def _is_file(path: Path) -> bool:
    return path.is_file() or (not path.exists() and path.suffix in (".yml", ".yaml", ".json"))


def mounted_writes(
    mounts: Iterable[tuple[str, str]], written: Sequence[WrittenPath]
) -> tuple[MountedWrite, ...]:
    """The (host path, container path) mounts that show a written path, each with what it shows."""
    found = []
    for host_path, container_path in mounts:
        source = _real(host_path)
        for each in written:
            target = _real(str(each.path))
            if source == target or target.is_relative_to(source):
                found.append(MountedWrite(each, host_path, container_path, target))
            elif source.is_relative_to(target):
                found.append(MountedWrite(each, host_path, container_path, source))
    return tuple(found)


def _real(path: str) -> Path:
    """`path` absolute with symlinks resolved: a symlinked or relative setting matches the mount."""
    return Path(os.path.realpath(path))


def digest(paths: Iterable[Path]) -> str:
    """A digest of the content under `paths` (files, or directories walked), names included;
    a path that does not exist counts as empty. Hidden files (monop's candidates) are left out."""
    out = hashlib.sha256()
    for path in sorted(set(paths)):
        out.update(str(path).encode() + b"\0")
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.name.startswith(".") or not file.is_file():
                continue
            try:
                data = file.read_bytes()
            except OSError:
                continue  # gone between the listing and the read: the next look sees it
            out.update(str(file).encode() + b"\0" + hashlib.sha256(data).digest())
    return out.hexdigest()[:16]


def directory_of(written: WrittenPath) -> Path:
    """The directory monop writes `written` into: the path itself, or a file's parent."""
    return written.path.parent if written.a_file else written.path


def create_mounted(mounts: Iterable[tuple[str, str]], written: Sequence[WrittenPath]) -> list[Path]:
    """Create the directories of the written paths these (host path, container path) mounts show
    and that do not exist yet, so that the containers can be created before monop first writes
    into them (Podman refuses a bind mount of a missing path). The directories created; OSError."""
    created = []
    for each in mounted_writes(mounts, written):
        if each.incidental:
            continue
        directory = directory_of(each.written)
        if not directory.exists():
            directory.mkdir(parents=True, exist_ok=True)
            created.append(directory)
    return created
