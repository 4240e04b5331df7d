"""Fake `dpkg-query`, `apt-get`, `systemctl` and `docker` (POSIX sh scripts) that keep their
state in files and log every call, so that the package, service and docker step kinds run
probe → apply → verify for real without installing a package, touching a real service or
pulling an image on this machine (the sshd test hosts are this machine, as root).

`FakeTools(directory)` writes the scripts into `directory/bin` (put it first in a PATH) and
their state under `directory/state`; its methods set the state up and read it back.
"""

from __future__ import annotations

from pathlib import Path

_DPKG_QUERY = """\
#!/bin/sh
S=@STATE@
echo "dpkg-query $*" >> "$S/calls"
for n; do :; done
if [ -f "$S/pkg/$n" ]; then printf 'install ok installed %s' "$(cat "$S/pkg/$n")"; exit 0; fi
echo "dpkg-query: no packages found matching $n" >&2; exit 1
"""

_APT_GET = """\
#!/bin/sh
S=@STATE@
echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND apt-get $*" >> "$S/calls"
sim= verb= pkg=
while [ $# -gt 0 ]; do
  case $1 in
    -s) sim=1;;
    -o) shift;;
    -*) ;;
    install|remove|update) verb=$1;;
    *) pkg=$1;;
  esac
  shift
done
name=${pkg%%=*}; want=; case $pkg in *=*) want=${pkg#*=};; esac
candidate=$(tail -n 1 "$S/repo/$name" 2>/dev/null)
case $verb in
  update) touch "$S/updated"; exit 0;;
  remove) [ -n "$sim" ] || rm -f "$S/pkg/$name"; exit 0;;
  install)
    [ -n "$candidate" ] || { echo "E: Unable to locate package $name" >&2; exit 100; }
    if [ -n "$want" ]; then
      grep -qx -- "$want" "$S/repo/$name" || {
        echo "E: Version '$want' for '$name' was not found" >&2; exit 100; }
    else want=$candidate; fi
    if [ "$(cat "$S/pkg/$name" 2>/dev/null)" = "$want" ]; then
      echo "$name is already the newest version ($want)."
      echo "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded."; exit 0
    fi
    if [ -n "$sim" ]; then echo "Inst $name ($want fake)"; exit 0; fi
    echo "$want" > "$S/pkg/$name"; exit 0;;
esac
echo "E: fake apt-get: unexpected call" >&2; exit 100
"""

_SYSTEMCTL = """\
#!/bin/sh
S=@STATE@
echo "systemctl $*" >> "$S/calls"
quiet=
[ "$2" = --quiet ] && { quiet=1; set -- "$1" "$3"; }
u=$S/units/$2
case $1 in
  daemon-reload) touch "$S/daemon-reloaded"; exit 0;;
esac
if [ ! -d "$u" ]; then
  case $1 in
    is-active) [ -n "$quiet" ] || echo inactive; exit 3;;
    *) echo "Unit $2.service not found." >&2; exit 5;;
  esac
fi
case $1 in
  is-active)
    if [ -f "$u/active" ]; then [ -n "$quiet" ] || echo active; exit 0; fi
    [ -n "$quiet" ] || echo inactive; exit 3;;
  is-enabled)
    e=$(cat "$u/enabled"); echo "$e"
    case $e in enabled|static) exit 0;; *) exit 1;; esac;;
  start) touch "$u/active"; echo start >> "$u/log";;
  stop) rm -f "$u/active"; echo stop >> "$u/log";;
  restart) touch "$u/active"; echo restart >> "$u/log";;
  reload)
    [ -f "$u/active" ] || { echo "$2.service is not active, cannot reload." >&2; exit 1; }
    echo reload >> "$u/log";;
  enable) echo enabled > "$u/enabled"; echo enable >> "$u/log";;
  disable) echo disabled > "$u/enabled"; echo disable >> "$u/log";;
  *) echo "fake systemctl: unexpected $1" >&2; exit 1;;
esac
"""

_DOCKER = """\
#!/bin/sh
S=@STATE@
echo "docker $*" >> "$S/calls"
key() { printf '%s' "$1" | tr '/:@' '___'; }
case "$1 $2" in
  "image inspect")
    shift 2; f=; [ "$1" = -f ] && { f=$2; shift 2; }
    k=$(key "$1")
    [ -f "$S/images/$k" ] || { echo "Error: No such image: $1" >&2; exit 1; }
    if [ -n "$f" ]; then cat "$S/images/$k"; else echo '[{}]'; fi; exit 0;;
esac
case $1 in
  pull)
    k=$(key "$2")
    [ -f "$S/registry/$k" ] || { echo "Error: manifest for $2 not found" >&2; exit 1; }
    cp "$S/registry/$k" "$S/images/$k"; echo "Status: pulled $2";;
  inspect)
    c=$S/containers/$4
    [ -d "$c" ] || { echo "Error: No such object: $4" >&2; exit 1; }
    case $3 in
      *Labels*) cat "$c/label";;
      *) echo "$(cat "$c/image") $(cat "$c/running")";;
    esac;;
  rm)
    [ -d "$S/containers/$3" ] || { echo "Error: No such container: $3" >&2; exit 1; }
    rm -rf "$S/containers/$3";;
  run)
    shift; name= label= image=
    while [ $# -gt 0 ]; do
      case $1 in
        --name) name=$2; shift;;
        --label) label=${2#*=}; shift;;
        *) [ -z "$image" ] && [ -f "$S/images/$(key "$1")" ] && image=$1;;
      esac
      shift
    done
    [ -n "$image" ] || { echo "fake docker: no known image in the arguments" >&2; exit 125; }
    [ ! -d "$S/containers/$name" ] || { echo "Conflict: name $name in use" >&2; exit 125; }
    mkdir -p "$S/containers/$name"
    cat "$S/images/$(key "$image")" > "$S/containers/$name/image"
    echo true > "$S/containers/$name/running"; echo "$label" > "$S/containers/$name/label"
    echo "0123456789ab";;
  *) echo "fake docker: unexpected $1" >&2; exit 1;;
esac
"""

_SCRIPTS = {
    "dpkg-query": _DPKG_QUERY,
    "apt-get": _APT_GET,
    "systemctl": _SYSTEMCTL,
    "docker": _DOCKER,
}


def _key(reference: str) -> str:
    return reference.replace("/", "_").replace(":", "_").replace("@", "_")


class FakeTools:
    def __init__(self, directory: Path) -> None:
        self.bin = directory / "bin"
        self.state = directory / "state"
        self.bin.mkdir(parents=True, exist_ok=True)
        for sub in ("pkg", "repo", "units", "images", "registry", "containers"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        for name, text in _SCRIPTS.items():
            script = self.bin / name
            script.write_text(text.replace("@STATE@", str(self.state)))
            script.chmod(0o755)

    # what the host has
    def calls(self) -> list[str]:
        path = self.state / "calls"
        return path.read_text().splitlines() if path.exists() else []

    def forget_calls(self) -> None:
        (self.state / "calls").unlink(missing_ok=True)

    def installed(self, name: str) -> str | None:
        path = self.state / "pkg" / name
        return path.read_text().strip() if path.exists() else None

    def install(self, name: str, version: str) -> None:
        (self.state / "pkg" / name).write_text(version + "\n")

    def offer(self, name: str, *versions: str) -> None:
        """The repository's versions of a package, the candidate last."""
        (self.state / "repo" / name).write_text("".join(f"{v}\n" for v in versions))

    def unit(self, name: str, *, active: bool = False, enabled: str = "disabled") -> None:
        unit = self.state / "units" / name
        unit.mkdir(exist_ok=True)
        (unit / "enabled").write_text(enabled + "\n")
        (unit / "active").unlink(missing_ok=True)
        if active:
            (unit / "active").write_text("")

    def unit_state(self, name: str) -> tuple[bool, str, list[str]]:
        """(active, enabled, what was done to it)."""
        unit = self.state / "units" / name
        log = unit / "log"
        done = log.read_text().splitlines() if log.exists() else []
        return (unit / "active").exists(), (unit / "enabled").read_text().strip(), done

    def publish(self, reference: str, image_id: str) -> None:
        """The registry has this image (its id) under this reference."""
        (self.state / "registry" / _key(reference)).write_text(image_id + "\n")

    def image(self, reference: str) -> str | None:
        path = self.state / "images" / _key(reference)
        return path.read_text().strip() if path.exists() else None

    def container(self, name: str) -> dict[str, str] | None:
        path = self.state / "containers" / name
        if not path.is_dir():
            return None
        return {f.name: f.read_text().strip() for f in path.iterdir()}
