// Command probe is the image of the real-node reachability check (test/netprobe):
//
//	probe serve -tcp 8443,9090 -udp 53     answer on these ports until SIGTERM
//	probe                                  answer on the ports the environment names
//	probe connect [-timeout 2s] tcp:10.244.0.5:8443 udp:10.244.0.9:53 ...
//
// Without arguments it serves, over TCP, every port that PORT or an environment variable ending in _PORT names
// (the operator gives its workloads SERVERLESSPLANE_SQL_PORT, PORT, METRICS_PORT and the like),
// plus netprobe.PeerPort, so the operator's own warehouse and model pods can run it as their
// image. connect prints one line per target, "<target> allowed|blocked <detail>".
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/serverlessplane/operator/test/netprobe"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if len(args) == 0 {
		return netprobe.Serve(ctx, netprobe.EnvPorts(os.Environ()), nil)
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	switch args[0] {
	case "serve":
		tcp := fs.String("tcp", "", "comma-separated TCP ports")
		udp := fs.String("udp", "", "comma-separated UDP ports")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		tcpPorts, err := netprobe.ParsePorts(*tcp)
		if err != nil {
			return err
		}
		udpPorts, err := netprobe.ParsePorts(*udp)
		if err != nil {
			return err
		}
		return netprobe.Serve(ctx, tcpPorts, udpPorts)
	case "connect":
		timeout := fs.Duration("timeout", 2*time.Second, "how long each connection may take")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		var targets []netprobe.Target
		for _, a := range fs.Args() {
			t, err := netprobe.ParseTarget(a)
			if err != nil {
				return err
			}
			targets = append(targets, t)
		}
		for _, r := range netprobe.ConnectAll(ctx, targets, *timeout) {
			fmt.Println(r.Line())
		}
		return nil
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
}
