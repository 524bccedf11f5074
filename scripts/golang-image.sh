#!/usr/bin/env bash
# golang-image.sh — make a local `golang:<major.minor>` image from the Go
# toolchain installed on this machine, for places where no image can be
# pulled (the sandbox and CI with no Docker Hub access).
#
# webapp/Dockerfile builds `FROM golang:${GO_VERSION}`. In the real world that
# is the official image; here it is this one, so the Dockerfile is the same in
# both. The image is a minimal root filesystem made with `docker import`:
#   /bin          busybox (static) and its applet links, incl. /bin/sh
#   /usr/local/go a copy of GOROOT (without test/, api/, doc/, misc/, testdata)
#   /etc          passwd, group, ssl/certs/ca-certificates.crt
#   /tmp (1777), /go (GOPATH, 1777), /root
# with ENV PATH, GOPATH=/go, GOTOOLCHAIN=local (never download a toolchain).
# Then the Go build cache is warmed with `CGO_ENABLED=0 go build -trimpath std`
# (the flags webapp/Dockerfile uses), which takes an image build from ~40-70 s
# to ~5 s on 2 cores. Only speed differs from the official image.
#
# Usage: scripts/golang-image.sh [--force] [--quiet] [--no-warm]
#   --force   rebuild even if golang:<version> already exists
#   --quiet   print nothing unless something fails
#   --no-warm skip warming the build cache (smaller image, slower builds)
# Env: GO (go binary, default `go` on PATH), DOCKER (default `docker`).
# Exit: 0 image present or built; 1 failure (message on stderr).
set -euo pipefail

force=0
quiet=0
warm=1
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --quiet|-q) quiet=1 ;;
    --no-warm) warm=0 ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "golang-image: unknown argument: $arg (try --help)" >&2; exit 1 ;;
  esac
done

GO=${GO:-go}
DOCKER=${DOCKER:-docker}

say() { [ "$quiet" = 1 ] || echo "golang-image: $*" >&2; }
die() { echo "golang-image: error: $*" >&2; exit 1; }

command -v "$GO" >/dev/null 2>&1 || die "no Go toolchain found (set GO=/path/to/go or install Go to /usr/local/go)"
command -v "$DOCKER" >/dev/null 2>&1 || die "docker CLI not found"
"$DOCKER" info >/dev/null 2>&1 || die "Docker engine not reachable (start it: dockerd > /tmp/dockerd.log 2>&1 &)"

goversion=$("$GO" env GOVERSION)            # go1.26.8
full=${goversion#go}                        # 1.26.8
full=${full%% *}
[[ "$full" =~ ^[0-9]+\.[0-9]+ ]] || die "cannot parse Go version '$goversion'"
minor=${BASH_REMATCH[0]}                    # 1.26
goroot=$("$GO" env GOROOT)
tag="golang:$minor"

image_exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

if [ "$force" = 0 ] && image_exists "$tag"; then
  say "$tag already present (use --force to rebuild)"
  exit 0
fi

# One builder at a time (the local world and the test suite may race).
lockfile=${TMPDIR:-/tmp}/patchwork-golang-image.lock
exec 9>"$lockfile"
if command -v flock >/dev/null 2>&1; then
  flock -w 600 9 || die "timed out waiting for another golang-image.sh ($lockfile)"
  if [ "$force" = 0 ] && image_exists "$tag"; then
    say "$tag already present"
    exit 0
  fi
fi

# A static busybox gives the image a shell and coreutils without any libc.
is_static() {
  if command -v readelf >/dev/null 2>&1; then
    # static executables have no program interpreter (ld.so)
    LC_ALL=C readelf -h "$1" >/dev/null 2>&1 || return 1
    ! LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'program interpreter'
  elif command -v ldd >/dev/null 2>&1; then
    ! ldd "$1" >/dev/null 2>&1
  else
    return 1
  fi
}
find_busybox() {
  local b
  for b in /bin/busybox /usr/bin/busybox "$(command -v busybox 2>/dev/null || true)"; do
    [ -n "$b" ] && [ -x "$b" ] || continue
    if is_static "$b"; then
      echo "$b"
      return 0
    fi
  done
  return 1
}
busybox=$(find_busybox || true)
if [ -z "$busybox" ]; then
  say "installing busybox-static (apt-get)"
  [ "$(id -u)" = 0 ] || die "busybox-static is missing and installing it needs root: apt-get install busybox-static"
  command -v apt-get >/dev/null 2>&1 || die "busybox-static is missing and there is no apt-get; install a static busybox"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq busybox-static >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed"
    apt-get install -y -qq busybox-static >/dev/null 2>&1 || die "apt-get install busybox-static failed"
  fi
  busybox=$(find_busybox) || die "busybox-static installed but no static busybox found"
fi

cacerts=""
for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
  if [ -s "$f" ]; then cacerts=$f; break; fi
done
[ -n "$cacerts" ] || die "no CA bundle found (apt-get install ca-certificates)"

work=$(mktemp -d "${TMPDIR:-/tmp}/golang-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
say "building $tag from $goroot ($goversion)"

mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc/ssl/certs,root,tmp,go/bin,go/src,var/tmp}
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod -R 1777 "$root/go"
chmod 700 "$root/root"

cp "$busybox" "$root/bin/busybox"
while read -r applet; do
  [ -n "$applet" ] && [ "$applet" != busybox ] && ln -sf busybox "$root/bin/$applet"
done < <("$busybox" --list)
[ -e "$root/bin/sh" ] || ln -s busybox "$root/bin/sh"

# GOROOT without what `go build` never reads.
mkdir -p "$root/usr/local/go"
tar -C "$goroot" -h \
  --exclude=./test --exclude=./api --exclude=./doc --exclude=./misc \
  --exclude='./src/*/testdata' --exclude='./src/*/*/testdata' --exclude='./src/*/*/*/testdata' \
  --exclude='./src/*/*/*/*/testdata' --exclude='./src/*/*/*/*/*/testdata' \
  -cf - . | tar -C "$root/usr/local/go" -xf -
[ -x "$root/usr/local/go/bin/go" ] || die "copy of GOROOT has no bin/go"

cp "$cacerts" "$root/etc/ssl/certs/ca-certificates.crt"
cat > "$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat > "$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
echo 'hosts: files dns' > "$root/etc/nsswitch.conf"

old_id=$("$DOCKER" image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)

import_changes=(
  --change 'ENV PATH=/usr/local/go/bin:/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  --change 'ENV GOPATH=/go'
  --change 'ENV GOTOOLCHAIN=local'
  --change "ENV GOLANG_VERSION=$full"
  --change 'WORKDIR /go'
  --change 'CMD ["/bin/sh"]'
  --change "LABEL org.opencontainers.image.description=\"local golang:$minor made by patchwork scripts/golang-image.sh from $goversion\""
)
base="patchwork-golang-base:$full"
# Cap the import so a hung engine cannot hang the caller forever.
if ! tar -C "$root" --numeric-owner --owner=0 --group=0 -cf - . \
  | timeout 600 "$DOCKER" import "${import_changes[@]}" - "$base" >/dev/null; then
  die "docker import failed"
fi

if [ "$warm" = 1 ]; then
  say "warming the Go build cache (CGO_ENABLED=0 go build -trimpath std)"
  ctr="patchwork-golang-warm-$$"
  # go deletes cache entries unused for 5 days (by mtime) and only refreshes
  # an mtime that is in the past: dating the entries in the future keeps
  # them for the life of the image.
  if ! out=$(timeout 900 "$DOCKER" run --network host --name "$ctr" -e CGO_ENABLED=0 "$base" \
      sh -c 'go build -trimpath std && find "$(go env GOCACHE)" -type f -name "*-[ad]" -exec touch -d "2099-01-01 00:00:00" {} +' 2>&1); then
    "$DOCKER" rm -f "$ctr" >/dev/null 2>&1 || true
    "$DOCKER" image rm "$base" >/dev/null 2>&1 || true
    die "warming the build cache failed: $out"
  fi
  if ! "$DOCKER" commit --change 'CMD ["/bin/sh"]' "$ctr" "$tag" >/dev/null; then
    "$DOCKER" rm -f "$ctr" >/dev/null 2>&1 || true
    die "docker commit failed"
  fi
  "$DOCKER" rm -f "$ctr" >/dev/null 2>&1 || true
  "$DOCKER" image rm "$base" >/dev/null 2>&1 || true   # untags; layers live on in $tag
else
  "$DOCKER" tag "$base" "$tag" >/dev/null || die "docker tag $tag failed"
  "$DOCKER" image rm "$base" >/dev/null 2>&1 || true
fi
"$DOCKER" tag "$tag" "golang:$full" >/dev/null || die "docker tag golang:$full failed"

# A rebuild leaves the previous image untagged: remove it (ignore failure,
# e.g. when a container still uses it).
new_id=$("$DOCKER" image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
  "$DOCKER" image rm "$old_id" >/dev/null 2>&1 || true
fi

# Smoke test: the toolchain inside runs.
out=$("$DOCKER" run --rm --network host "$tag" go version 2>&1) || die "image $tag does not run go: $out"
say "built $tag (also golang:$full): $out"
