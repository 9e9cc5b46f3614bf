#!/usr/bin/env bash
# Prepares a Debian machine (as root) to build and run xdp4slb from this
# checkout: system packages, npm dependencies, bpffs, and the build.
# Idempotent: what is already there is not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each command or file, with the Debian package that provides it.
required=(
  "clang:clang"
  "llc:llvm"
  "bpftool:bpftool"
  "ip:iproute2"
  "ethtool:ethtool"
  "tcpdump:tcpdump"
  "make:make"
  "python3:python3"
  "curl:curl"
  "/usr/include/bpf/bpf_helpers.h:libbpf-dev"
  "/usr/include/linux/bpf.h:linux-libc-dev"
  "/usr/include/x86_64-linux-gnu/asm/types.h:linux-libc-dev"
  # packaging layer: build both formats, verify the unit, run the Ansible role
  "dpkg-deb:dpkg"
  "rpmbuild:rpm"
  "systemd-analyze:systemd"
  "systemctl:systemd"
  "man:man-db"
  "ansible-playbook:ansible-core"
  "/usr/lib/python3/dist-packages/apt/__init__.py:python3-apt"
  "setpriv:util-linux"
)
missing=()
for entry in "${required[@]}"; do
  what=${entry%%:*} pkg=${entry##*:}
  if [[ $what == /* ]]; then [[ -e $what ]] && continue; else command -v "$what" >/dev/null && continue; fi
  [[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
done
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then missing+=(nodejs npm); fi
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! stat -f -c %T /sys/fs/bpf 2>/dev/null | grep -q bpf_fs; then
  echo "setup: mounting bpffs on /sys/fs/bpf"
  mount -t bpf bpf /sys/fs/bpf
fi

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi
npm run build
