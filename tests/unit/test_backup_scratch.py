"""Extracting a snapshot into the controller's scratch directory: a real tar stream lands whole
(modes, symlinks, hard links, read-only directories), and a hostile one lands nowhere outside:
'..' names, a symlink then a member through it, a hard link out, a symlink where a directory is
expected."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from jarvisctl.backup.scratch import UnsafeMemberError, extract_tar, remove_scratch


def member(
    name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "", mode: int = 0o644
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.size = kind, link, mode, len(data)
    return info, data


def stream(*members: tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    buffer.seek(0)
    return buffer


def tree(root: Path) -> dict[str, tuple[str, int, str]]:
    """Every entry under root: (type, permission bits, content or link target)."""
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory, name)
            info = path.lstat()
            if path.is_symlink():
                found[str(path.relative_to(root))] = ("link", 0, os.readlink(path))
            elif path.is_dir():
                found[str(path.relative_to(root))] = ("dir", stat.S_IMODE(info.st_mode), "")
            else:
                content = path.read_bytes().decode()
                found[str(path.relative_to(root))] = ("file", stat.S_IMODE(info.st_mode), content)
    return found


def test_a_tree_from_gnu_tar_lands_as_it_was(tmp_path: Path) -> None:
    source = tmp_path / "host" / "etc" / "app"
    (source / "conf.d").mkdir(parents=True)
    (source / "secret").write_text("s3cret")
    (source / "secret").chmod(0o600)
    (source / "run.sh").write_text("#!/bin/sh\n")
    (source / "run.sh").chmod(0o755)
    (source / "empty").write_text("")
    (source / "name with spaces\nand newline").write_text("odd")
    (source / "link").symlink_to("/etc/passwd")  # pointing outside: made, never followed
    os.link(source / "secret", source / "hard")
    (source / "conf.d" / "x.conf").write_text("x")
    (source / "conf.d").chmod(0o555)  # read-only, with a file in it
    archive = subprocess.run(
        ["tar", "-C", str(tmp_path / "host"), "-cf", "-", "etc/app"],
        capture_output=True,
        check=True,
    ).stdout
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    extracted = extract_tar(io.BytesIO(archive), scratch)

    assert extracted.members == 9 and extracted.skipped == 0
    host = tree(tmp_path / "host")
    host["etc"] = ("dir", 0o700, "")  # not in the stream (tar of etc/app): made owner-only
    assert tree(scratch) == host
    hard = scratch / "etc" / "app" / "hard"
    assert hard.stat().st_ino == (scratch / "etc" / "app" / "secret").stat().st_ino
    remove_scratch(scratch)
    assert not scratch.exists()


def test_absolute_names_land_inside_the_scratch_directory(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    extract_tar(stream(member("/etc/app/x", data=b"abc"), member("./etc/app/y")), scratch)
    assert tree(scratch) == {
        "etc": ("dir", 0o700, ""),
        "etc/app": ("dir", 0o700, ""),
        "etc/app/x": ("file", 0o644, "abc"),
        "etc/app/y": ("file", 0o644, ""),
    }


@pytest.mark.parametrize(
    ("members", "refusal"),
    [
        ((member("../outside", data=b"x"),), "'..'"),
        ((member("a/../../outside", data=b"x"),), "'..'"),
        (  # a symlink out, then a member written through it
            (member("d", tarfile.SYMTYPE, link="../outside-dir"), member("d/file", data=b"x")),
            "'d' is not a directory",
        ),
        ((member("h", tarfile.LNKTYPE, link="../outside-dir/victim"),), "'..'"),
        (  # a symlink where a later directory is
            (member("d", tarfile.SYMTYPE, link="../outside-dir"), member("d", tarfile.DIRTYPE)),
            "'d' is not a directory",
        ),
    ],
)
def test_a_hostile_stream_writes_nothing_outside(
    tmp_path: Path, members: tuple[tuple[tarfile.TarInfo, bytes], ...], refusal: str
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    outside = tmp_path / "outside-dir"
    outside.mkdir()
    (outside / "victim").write_text("untouched")
    before = tree(tmp_path)

    with pytest.raises(UnsafeMemberError, match=refusal):
        extract_tar(stream(*members), scratch)

    after = {k: v for k, v in tree(tmp_path).items() if not k.startswith("scratch")}
    assert after == {k: v for k, v in before.items() if not k.startswith("scratch")}
    assert not (tmp_path / "outside").exists()


def test_a_symlink_target_may_point_anywhere_and_a_file_replaces_it_not_through_it(
    tmp_path: Path,
) -> None:
    """A member given twice (a symlink, then a file of the same name) replaces the link: the
    file it pointed to is never written."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    extract_tar(
        stream(member("x", tarfile.SYMTYPE, link=str(victim)), member("x", data=b"new")), scratch
    )
    assert victim.read_text() == "untouched"
    assert tree(scratch) == {"x": ("file", 0o644, "new")}


def test_a_hard_link_to_a_symlink_names_the_symlink_and_is_never_written_through(
    tmp_path: Path,
) -> None:
    """Hard-linked symlinks (tar stores the second as a hard link to the first): made as a
    second name of the symlink; a file of that name given later replaces the name, and the
    symlink's target outside is never written."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    extract_tar(
        stream(
            member("s", tarfile.SYMTYPE, link=str(victim)),
            member("h", tarfile.LNKTYPE, link="s"),
        ),
        scratch,
    )
    assert (scratch / "h").is_symlink() and os.readlink(scratch / "h") == str(victim)
    assert (scratch / "h").lstat().st_ino == (scratch / "s").lstat().st_ino
    extract_tar(stream(member("h", data=b"new")), scratch)
    assert victim.read_text() == "untouched" and (scratch / "h").read_text() == "new"
    with pytest.raises(UnsafeMemberError, match="neither a file nor a symlink"):
        extract_tar(
            stream(member("d", tarfile.DIRTYPE), member("h2", tarfile.LNKTYPE, link="d")), scratch
        )


def test_devices_and_fifos_are_not_made(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    extracted = extract_tar(stream(member("fifo", tarfile.FIFOTYPE), member("f")), scratch)
    assert (extracted.members, extracted.skipped) == (1, 1)
    assert tree(scratch) == {"f": ("file", 0o644, "")}


def test_remove_scratch_removes_read_only_directories_and_follows_no_link(
    tmp_path: Path,
) -> None:
    scratch = tmp_path / "scratch"
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "file").write_text("kept")
    (scratch / "a" / "b").mkdir(parents=True)
    (scratch / "a" / "b" / "f").write_text("x")
    (scratch / "a" / "out").symlink_to(keep)
    (scratch / "a" / "b").chmod(0o000)
    (scratch / "a").chmod(0o500)
    remove_scratch(scratch)
    assert not scratch.exists()
    assert (keep / "file").read_text() == "kept" and stat.S_IMODE(keep.stat().st_mode) != 0o700
