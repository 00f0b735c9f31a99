# Sourced by scripts/*.sh: makes sure OpenSSH's sshd and ssh-keygen exist,
# and curl (the hosts' download tool in the pull-mode tests). As root it
# installs what is missing from Debian's packages; otherwise it says what to do.
ensure_sshd() {
  local sshd=${SSHD:-/usr/sbin/sshd} missing=()
  if [ ! -x "$sshd" ] || ! command -v ssh-keygen >/dev/null 2>&1; then missing+=(openssh-server openssh-client); fi
  if ! command -v curl >/dev/null 2>&1; then missing+=(curl); fi
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "installing ${missing[*]} (apt-get)..." >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "error: missing ${missing[*]}. Install them (sudo apt-get install ${missing[*]}) or set SSHD=/path/to/sshd" >&2
      exit 1
    fi
  fi
  # sshd's privilege separation needs this directory when it runs as root.
  if [ "$(id -u)" = 0 ]; then mkdir -p /run/sshd; fi
}
