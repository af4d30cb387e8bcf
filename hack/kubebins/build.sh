#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries the tests and the local cluster need, from their
# Go modules at the versions pinned in hack/kubebins/*/go.mod, into a cache outside the work tree:
#
#   $SERVERLESSPLANE_CACHE/bin/<module>-<version>/   (default ~/.cache/serverlessplane)
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

# build <module dir> <module path> <binary names...> -- <packages...>
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
		(cd "$here/$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}")
		mkdir -p "$out"
		for b in "${bins[@]}"; do mv "$tmp/$b" "$out/$b"; done
		rm -rf "$tmp"
	fi
	links+=("$out" "${bins[@]}" --)
	set_name+="${set_name:+_}$dir-$version"
}

mkdir -p "$cache/bin"
links=() set_name=""
build etcd go.etcd.io/etcd/server/v3 etcd -- ./cmd/etcd
build kubernetes k8s.io/kubernetes kube-apiserver kubectl kube-controller-manager kube-scheduler -- \
	k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl \
	k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler
build kwok sigs.k8s.io/kwok kwok -- sigs.k8s.io/kwok/cmd/kwok

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
