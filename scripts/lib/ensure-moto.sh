# Sourced by scripts/test.sh: moto's EC2-compatible server (from PyPI) in a
# virtualenv of the project's own, target/moto-venv, never assumed preinstalled.
ensure_moto() {
  local venv="$PWD/target/moto-venv"
  if [ ! -x "$venv/bin/moto_server" ]; then
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -m venv --help >/dev/null 2>&1; then
      if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
      else
        echo "error: python3 with venv is needed for the EC2 tests (sudo apt-get install python3-venv)" >&2
        exit 1
      fi
    fi
    echo "installing moto (pip, into target/moto-venv)..." >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'moto[server]==5.2.5'
  fi
  export MOTO_SERVER="$venv/bin/moto_server"
}
