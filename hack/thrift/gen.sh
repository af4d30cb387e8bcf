#!/usr/bin/env bash
# Generates the Go code of the HiveServer2 protocol (internal/thrift/tcliservice) from its IDL
# (internal/thrift/TCLIService.thrift) with the Thrift compiler of Debian's thrift-compiler
# package, installed here when it is missing (as root; without root it says what to install).
# The generated code is committed; `make verify` regenerates it and fails on a difference.
set -euo pipefail
cd "$(dirname "$0")/../.."
want=0.17.0
if ! command -v thrift >/dev/null 2>&1; then
	if [[ $(id -u) != 0 ]]; then
		echo "thrift: the Thrift compiler $want is missing: apt-get install thrift-compiler" >&2
		exit 1
	fi
	echo "thrift: installing Debian's thrift-compiler" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends thrift-compiler >&2 ||
		{ apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends thrift-compiler >&2; }
fi
have=$(thrift --version | awk '{print $3}')
[[ $have == "$want" ]] || { echo "thrift: the compiler is $have, the generated code is $want's" >&2; exit 1; }
out=internal/thrift
rm -rf "$out/tcliservice"
# The compiler warns that list<i8> could be binary: TByteColumn's wire type is a list.
thrift --gen go:package_prefix=github.com/serverlessplane/operator/internal/thrift/,skip_remote -out "$out" "$out/TCLIService.thrift" 2>&1 |
	{ grep -v -e '^$' -e 'list<byte>' >&2 || true; }
# An unused-import guard the compiler adds to every package; nothing here needs it.
rm -f "$out/tcliservice/GoUnusedProtection__.go"
gofmt -w "$out/tcliservice"
