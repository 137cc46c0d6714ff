#!/usr/bin/env bash
# Builds the agent stand-in image from busybox-static (nothing can be pulled on these machines):
# a tiny root filesystem, imported with `podman import`. Rebuilt only when a file in
# scripts/agent-image/ changes: the content hash is kept as the image label molecule.agent.hash.
set -euo pipefail
IMAGE="${1:-localhost/molecule-agent:latest}"
here="$(cd "$(dirname "$0")" && pwd)"
hash="$(cd "$here" && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)"
current="$(podman image inspect --format '{{index .Labels "molecule.agent.hash"}}' "$IMAGE" 2>/dev/null || true)"
if [ "$current" = "$hash" ]; then
  exit 0
fi
echo "setup: building agent image $IMAGE (busybox rootfs, podman import)"
busybox="$(command -v busybox || true)"
[ -n "$busybox" ] || { echo "setup: busybox is missing (apt-get install busybox-static)" >&2; exit 1; }
# Trap: Debian's plain `busybox` package is dynamically linked and would not run in an empty rootfs.
if ldd "$busybox" >/dev/null 2>&1; then
  echo "setup: $busybox is dynamically linked; install busybox-static" >&2
  exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root/bin" "$tmp/root/configs" "$tmp/root/tmp" "$tmp/root/etc"
cp "$busybox" "$tmp/root/bin/busybox"
for cmd in sh cat echo sleep wget timeout tr ls mkdir rm base64 date printf test true false env kill ps; do
  ln -s busybox "$tmp/root/bin/$cmd"
done
cp "$here/agent.sh" "$tmp/root/agent.sh"
chmod 755 "$tmp/root/agent.sh"
chmod 1777 "$tmp/root/tmp"
echo 'root:x:0:0:root:/:/bin/sh' > "$tmp/root/etc/passwd"
echo 'root:x:0:' > "$tmp/root/etc/group"
tar -C "$tmp/root" -cf "$tmp/rootfs.tar" .
old="$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
# Importing under the same name moves the tag. Trap: never `podman rmi -f` the old image: -f also
# removes every container using it, i.e. the workspaces of a test run or dev stack that is running.
podman import --quiet \
  --change 'CMD ["/bin/sh", "/agent.sh"]' \
  --change 'ENV PATH=/bin' \
  --change "LABEL molecule.agent.hash=$hash" \
  "$tmp/rootfs.tar" "$IMAGE" >/dev/null
if [ -n "$old" ]; then
  podman rmi "$old" >/dev/null 2>&1 || true # still used by a container: it stays, untagged
fi
