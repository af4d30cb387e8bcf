#!/usr/bin/env bash
# Builds the Kubernetes binaries the tests and the local cluster need, from their Go modules at
# the versions pinned in hack/kubebins/*/go.mod, into a cache outside the work tree:
#
#   $SERVERLESSPLANE_CACHE/bin/<module>-<version>/   (default ~/.cache/serverlessplane)
#
# Without arguments it builds the control plane (etcd, kube-apiserver, kubectl,
# kube-controller-manager, kube-scheduler, kwok). With --node it also builds a real node:
# kubelet and kube-proxy (the same Kubernetes pin), containerd with ctr and the runc shim, runc,
# the CNI plugins (bridge, host-local, loopback, portmap), kube-router (NetworkPolicy only) and
# Prometheus (the real-node tier scrapes the gateway and the operator with it),
# and installs the Debian packages they need at run time when missing (hack/kubebins/node-deps.sh).
#
# A warm cache makes this instant; a cold build takes several minutes on two cores. It prints
# the directory that holds every binary (a single PATH entry), so callers can do:
#
#   export PATH="$(hack/kubebins/build.sh):$PATH"
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${SERVERLESSPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/serverlessplane}"
log() { echo "kubebins: $*" >&2; }

version_of() { # <module dir> <module path>
	(cd "$here/$1" && go list -m -f '{{.Version}}' "$2")
}

node=0
case "${1:-}" in
--node) node=1 ;;
"") ;;
*) echo "usage: $0 [--node]" >&2; exit 2 ;;
esac

# build <module dir> <module path> <binary names...> -- <packages...>
# CGO (default 0) and TAGS (default none) in the environment of a call set cgo and build tags.
build() {
	local dir="$1" mod="$2"; shift 2
	local bins=() pkgs=()
	while [[ "$1" != "--" ]]; do bins+=("$1"); shift; done
	shift
	pkgs=("$@")
	local version; version="$(version_of "$dir" "$mod")"
	local out="$cache/bin/$dir-$version"
	local missing=0
	for b in "${bins[@]}"; do [[ -x "$out/$b" ]] || missing=1; done
	if [[ $missing == 1 ]]; then
		log "building ${bins[*]} from $mod@$version into $out (cold build: minutes)"
		local tmp; tmp="$(mktemp -d "$cache/tmp.XXXXXX")"
		local ldflags="-s -w"
		if [[ "$dir" == kubernetes ]]; then
			local minor="${version#v1.}"; minor="${minor%%.*}"
			for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
				ldflags+=" -X $p.gitVersion=$version -X $p.gitMajor=1 -X $p.gitMinor=$minor"
				ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
			done
		fi
		(cd "$here/$dir" && CGO_ENABLED="${CGO:-0}" go build -trimpath -tags "${TAGS:-}" -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}")
		mkdir -p "$out"
		for b in "${bins[@]}"; do mv "$tmp/$b" "$out/$b"; done
		rm -rf "$tmp"
	fi
	links+=("$out" "${bins[@]}" --)
	case "_${set_name}_" in *"_$dir-${version}_"*) ;; *) set_name+="${set_name:+_}$dir-$version" ;; esac
}

mkdir -p "$cache/bin"
links=() set_name=""
build etcd go.etcd.io/etcd/server/v3 etcd -- ./cmd/etcd
build kubernetes k8s.io/kubernetes kube-apiserver kubectl kube-controller-manager kube-scheduler -- \
	k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl \
	k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler
build kwok sigs.k8s.io/kwok kwok -- sigs.k8s.io/kwok/cmd/kwok
if [[ $node == 1 ]]; then
	"$here/node-deps.sh"
	build kubernetes k8s.io/kubernetes kubelet kube-proxy -- k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
	TAGS=no_btrfs build containerd github.com/containerd/containerd/v2 containerd ctr containerd-shim-runc-v2 -- \
		github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/ctr \
		github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2
	# runc's nsexec is C: it needs cgo, and libseccomp for its seccomp support.
	if [[ -e /usr/include/seccomp.h ]]; then runc_tags="seccomp urfave_cli_no_docs"; else runc_tags=urfave_cli_no_docs; fi
	CGO=1 TAGS="$runc_tags" build runc github.com/opencontainers/runc runc -- github.com/opencontainers/runc
	build cni github.com/containernetworking/plugins bridge host-local loopback portmap -- \
		github.com/containernetworking/plugins/plugins/main/bridge github.com/containernetworking/plugins/plugins/ipam/host-local \
		github.com/containernetworking/plugins/plugins/main/loopback github.com/containernetworking/plugins/plugins/meta/portmap
	build kube-router github.com/cloudnativelabs/kube-router/v2 kube-router -- github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
	# Prometheus scrapes the gateway and the operator in the real-node tier; no service
	# discovery but static targets, so none of the cloud SDKs is built.
	TAGS=remove_all_sd build prometheus github.com/prometheus/prometheus prometheus -- github.com/prometheus/prometheus/cmd/prometheus
	set_name+="_node"
fi

# One directory per combination of versions links every binary, so it is a single PATH entry
# and a clone pinned to other versions gets its own.
set_dir="$cache/bin/$set_name"
mkdir -p "$set_dir"
while ((${#links[@]})); do
	src="${links[0]}"; links=("${links[@]:1}")
	while [[ "${links[0]}" != "--" ]]; do ln -sfn "$src/${links[0]}" "$set_dir/${links[0]}"; links=("${links[@]:1}"); done
	links=("${links[@]:1}")
done
# kwok's Stage configs (node and pod lifecycles) ship in its module, not in the binary.
kwok_dir="$(cd "$here/kwok" && go mod download -json sigs.k8s.io/kwok | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
ln -sfn "$kwok_dir/kustomize/stage" "$set_dir/kwok-stages"
echo "$set_dir"
