#!/usr/bin/env bash
# Installs the Debian packages a real node needs when they are missing: iptables, ipset and
# conntrack at run time (kube-proxy, kube-router, the portmap plugin), libseccomp-dev to build
# runc. It changes nothing when they are all present. Without root it only says what is missing:
# a real node needs root anyway, and the local cluster then falls back to kwok's nodes.
set -euo pipefail
need=()
for pair in iptables-legacy:iptables ipset:ipset conntrack:conntrack; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair##*:}")
done
[[ -e /usr/include/seccomp.h ]] || need+=(libseccomp-dev)
((${#need[@]})) || exit 0
if [[ $(id -u) != 0 ]]; then
	echo "node-deps: missing Debian packages ${need[*]} (apt-get install ${need[*]} as root); no real node without them" >&2
	exit 0
fi
echo "node-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
