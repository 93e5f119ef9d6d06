#!/usr/bin/env bash
# Install the programs the remote tests run as real servers, from Debian's packages:
#   sshd (openssh-server), lighttpd with mod_openssl (git http-backend behind a real
#   HTTP/HTTPS server), openssl (throwaway certificates), git (daemon, http-backend).
# A no-op when everything is present; never starts a system service.
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have git || missing+=(git)
have openssl || missing+=(openssl)
have ssh || missing+=(openssh-client)
have sshd || missing+=(openssh-server)
have lighttpd || missing+=(lighttpd)
[ -e /usr/lib/lighttpd/mod_openssl.so ] || missing+=(lighttpd-mod-openssl)

if [ ${#missing[@]} -eq 0 ]; then
    echo "ci-deps: all present"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    # sudo -n: never wait for a password in a script.
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        echo "ci-deps: missing ${missing[*]} and not root; the tests that need them skip" >&2
        exit 0
    fi
else
    SUDO=()
fi

echo "ci-deps: installing ${missing[*]}"
# Keep the packages' maintainer scripts from starting system services.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    made_policy=1
fi
cleanup() { if [ "$made_policy" = 1 ]; then "${SUDO[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "ci-deps: installed ${missing[*]}"
