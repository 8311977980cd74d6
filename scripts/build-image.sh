#!/usr/bin/env bash
# Build the attention-explorer image with podman or docker (whichever exists), online or offline.
#
#   scripts/build-image.sh                         # image "attention-explorer"
#   scripts/build-image.sh -t demo --model DIR     # bake the save_pretrained() folder DIR in
#
# What it does beyond a plain `docker build .` (docs/deploy.md has the details):
# - Base image: `debian:bookworm-slim` when the engine has it or can pull it; otherwise (no
#   registry reachable) a same-shaped base is made from Debian's packages with debootstrap
#   (needs root) and imported as localhost/debian:bookworm-slim.
# - Packages are fetched on this machine with its own settings (pip's mirrors and find-links,
#   npm's registry and CA file, proxies): a wheelhouse for Linux x86_64 / CPython 3.11 (plus
#   PyTorch's CPU index), which the image installs with --no-index (torch must be a +cpu build),
#   and the views' scripts (`npm ci` into npm/node_modules of the context).
# - The build context is a copy of the project (git's files, models/, the wheelhouse) under
#   $EXPLORER_IMAGE_WORKDIR (default ~/.cache/attention-explorer-image), so a --model folder is
#   baked in without touching models/ here.
#
# Options: -t|--tag NAME, --model DIR, --no-prefetch (the build itself fetches from PyPI, PyTorch's
# CPU index and npm, as a plain `docker build` does),
# anything after `--` goes to `<engine> build`. Environment: CONTAINER_ENGINE=podman|docker,
# EXPLORER_IMAGE_BASE=image (skip the base logic), DEBIAN_MIRROR=url (for debootstrap).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

tag=attention-explorer
model=""
prefetch=1
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -t|--tag) tag=$2; shift 2 ;;
    --model) model=$(cd "$2" && pwd); shift 2 ;;
    --no-prefetch) prefetch=0; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-image.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

engine=${CONTAINER_ENGINE:-}
if [ -z "$engine" ]; then
  if command -v podman >/dev/null 2>&1; then engine=podman
  elif command -v docker >/dev/null 2>&1; then engine=docker
  else echo "build-image.sh: neither podman nor docker is installed" >&2; exit 1
  fi
fi
build_flags=()
if [ "$engine" = podman ]; then
  # host networking: works where netavark/CNI do not; docker format: keeps the HEALTHCHECK
  build_flags+=(--network host --layers --format docker)
fi
say() { echo "build-image.sh: $*" >&2; }

has_image() {
  if [ "$engine" = podman ]; then podman image exists "$1"
  else docker image inspect "$1" >/dev/null 2>&1
  fi
}

make_debian_base() {  # a debian:bookworm-slim look-alike from Debian's own packages
  local name=$1 rootfs sudo=""
  if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
  command -v debootstrap >/dev/null 2>&1 || {
    say "debootstrap is missing: apt-get install debootstrap (scripts/setup-test.sh does)"; exit 1; }
  rootfs=$(mktemp -d "${TMPDIR:-/tmp}/bookworm-rootfs.XXXXXX")
  say "making $name with debootstrap (minbase, bookworm) in $rootfs"
  $sudo debootstrap --variant=minbase bookworm "$rootfs" \
    "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >&2
  # As Debian's official slim images: no docs, man pages or translations; apt cleans its cache.
  $sudo tee "$rootfs/etc/dpkg/dpkg.cfg.d/docker" >/dev/null <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  $sudo tee "$rootfs/etc/apt/apt.conf.d/docker-clean" >/dev/null <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  $sudo tee "$rootfs/etc/apt/sources.list.d/debian.sources" >/dev/null <<EOF
Types: deb
URIs: ${DEBIAN_MIRROR:-http://deb.debian.org/debian}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  $sudo rm -f "$rootfs/etc/apt/sources.list"
  $sudo find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  $sudo rm -rf "$rootfs"/usr/share/{man,groff,info,lintian,linda}/* "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log
  $sudo find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias \
    -exec rm -rf {} +
  $sudo tar --numeric-owner -C "$rootfs" -c . \
    | $engine import --change 'CMD ["bash"]' - "$name" >/dev/null
  $sudo rm -rf "$rootfs"
}

base=${EXPLORER_IMAGE_BASE:-}
if [ -z "$base" ]; then
  if has_image docker.io/library/debian:bookworm-slim || \
     { [ "$engine" = docker ] && has_image debian:bookworm-slim; }; then
    base=debian:bookworm-slim
  elif has_image localhost/debian:bookworm-slim; then
    base=localhost/debian:bookworm-slim
  elif timeout 60 "$engine" pull -q docker.io/library/debian:bookworm-slim >/dev/null 2>&1; then
    base=debian:bookworm-slim
  else
    say "no registry reachable: building the base from Debian's packages"
    make_debian_base localhost/debian:bookworm-slim
    base=localhost/debian:bookworm-slim
  fi
fi
say "engine $engine, base $base"

# The build context: the project's files (tracked and new, not ignored), models/, a wheelhouse.
work=${EXPLORER_IMAGE_WORKDIR:-${XDG_CACHE_HOME:-$HOME/.cache}/attention-explorer-image}
context="$work/context"
mkdir -p "$context"
find "$context" -mindepth 1 -maxdepth 1 ! -name wheels -exec rm -rf {} +
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$root" ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' path; do [ -e "$path" ] && printf '%s\0' "$path"; done \
    | tar --null -T - -c | tar -x -C "$context"
else
  tar --exclude=./.git --exclude=./node_modules --exclude=./wheels -c . | tar -x -C "$context"
fi
rm -rf "$context/models" && cp -a "$root/models" "$context/models"
if [ -n "$model" ]; then
  rm -rf "$context/models/distilroberta-base"
  cp -a "$model" "$context/models/distilroberta-base"
fi
if [ "$prefetch" = 1 ] && command -v npm >/dev/null 2>&1; then  # the views' scripts, fetched here
  mkdir -p "$context/npm" && cp package.json package-lock.json "$context/npm/"
  (cd "$context/npm" && npm ci --no-audit --no-fund --omit=dev --silent) >&2
fi
# The app's user (UID 1000) reads the models: a folder copied from a private place (mode 700)
# would otherwise be unreadable in the image.
chmod -R a+rX "$context/models"
# Same content, same layers: file times do not invalidate the engine's layer cache.
find "$context" -path "$context/wheels" -prune -o -exec touch -h -d @1 {} +

if [ "$prefetch" = 1 ] && python3 -m pip --version >/dev/null 2>&1; then
  mkdir -p "$context/wheels"
  stamp=$(cat requirements.txt | sha256sum | cut -c1-16)
  if [ "$(cat "$context/wheels/.stamp" 2>/dev/null)" != "$stamp" ]; then
    say "downloading wheels (Linux x86_64, CPython 3.11) with this machine's pip settings"
    rm -f "$context/wheels"/*.whl
    platform=(--only-binary=:all: --python-version 3.11 --implementation cp --abi cp311
              --platform manylinux_2_36_x86_64 --platform manylinux_2_28_x86_64
              --platform manylinux2014_x86_64 --platform linux_x86_64)
    if ! python3 -m pip download -q "${platform[@]}" -d "$context/wheels" \
        --extra-index-url "${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}" \
        --retries 1 --timeout 20 -r requirements.txt 2>"$work/pip-download.log"; then
      grep -v "^WARNING: " "$work/pip-download.log" >&2
      say "pip download failed (log: $work/pip-download.log)"
      exit 1
    fi
    if ! ls "$context/wheels"/torch-*+cpu-*.whl >/dev/null 2>&1; then
      say "no CPU build of torch among the wheels (a CUDA torch would add GBs): stopping"
      exit 1
    fi
    echo "$stamp" > "$context/wheels/.stamp"
  fi
else
  rm -rf "$context/wheels" "$context/npm"
fi

build_args=(--build-arg "BASE_IMAGE=$base")
if [ -d "$context/models/distilroberta-base" ]; then
  build_args+=(--build-arg DOWNLOAD_MODEL=0)
fi
say "building $tag from $context"
"$engine" build "${build_flags[@]}" "${build_args[@]}" -t "$tag" -f "$context/Dockerfile" \
  "${extra[@]}" "$context" >&2
size=$("$engine" image inspect --format '{{.Size}}' "$tag")
say "built $tag: $((size / 1000000)) MB"
