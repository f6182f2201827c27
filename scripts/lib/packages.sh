# scripts/lib/packages.sh: sourced by the scripts. ensure_packages PKG… installs the
# Debian packages that are missing (apt-get as root), or says which are missing.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  if [[ $(id -u) -ne 0 ]]; then
    echo "$(basename "$0"): missing Debian packages: ${missing[*]} (run as root to install them)" >&2
    return 1
  fi
  echo "$(basename "$0"): installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [[ -z ${SYSVMQ_APT_UPDATED:-} ]]; then
    apt-get update -qq
    export SYSVMQ_APT_UPDATED=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# What building sysvmq needs.
BUILD_PACKAGES=(build-essential cmake pkg-config libboost-dev libspdlog-dev nlohmann-json3-dev)
