# Sourced by scripts/*.sh: makes sure OpenSSH's sshd and ssh-keygen exist.
# As root it installs Debian's openssh-server; otherwise it says what to do.
ensure_sshd() {
  local sshd=${SSHD:-/usr/sbin/sshd}
  if [ ! -x "$sshd" ] || ! command -v ssh-keygen >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      echo "installing openssh-server (apt-get)..." >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends openssh-server openssh-client >/dev/null
    else
      echo "error: $sshd not found. Install it (sudo apt-get install openssh-server) or set SSHD=/path/to/sshd" >&2
      exit 1
    fi
  fi
  # sshd's privilege separation needs this directory when it runs as root.
  if [ "$(id -u)" = 0 ]; then mkdir -p /run/sshd; fi
}
