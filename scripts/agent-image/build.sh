#!/usr/bin/env bash
# Builds the agent stand-in image from busybox-static (nothing can be pulled on these machines):
# a tiny root filesystem, imported with `podman import`. Rebuilt only when agent.sh changes (its hash
# is kept as an image label).
set -euo pipefail
IMAGE="${1:-localhost/molecule-agent:latest}"
here="$(cd "$(dirname "$0")" && pwd)"
hash="$(sha256sum "$here/agent.sh" "$here/build.sh" | sha256sum | cut -c1-16)"
current="$(podman image inspect --format '{{index .Labels "molecule.agent.hash"}}' "$IMAGE" 2>/dev/null || true)"
if [ "$current" = "$hash" ]; then
  exit 0
fi
echo "setup: building agent image $IMAGE"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root/bin" "$tmp/root/configs" "$tmp/root/tmp" "$tmp/root/etc"
cp /bin/busybox "$tmp/root/bin/busybox"
for cmd in sh cat echo sleep wget ls mkdir rm base64 date printf test true false env; do
  ln -s busybox "$tmp/root/bin/$cmd"
done
cp "$here/agent.sh" "$tmp/root/agent.sh"
chmod 755 "$tmp/root/agent.sh"
chmod 1777 "$tmp/root/tmp"
echo 'root:x:0:0:root:/:/bin/sh' > "$tmp/root/etc/passwd"
tar -C "$tmp/root" -cf "$tmp/rootfs.tar" .
podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
podman import --quiet \
  --change 'CMD ["/bin/sh", "/agent.sh"]' \
  --change 'ENV PATH=/bin' \
  --change "LABEL molecule.agent.hash=$hash" \
  "$tmp/rootfs.tar" "$IMAGE" >/dev/null
