// Package netprobe is the reachability probe of the real-node tier: a pod that answers on the
// ports of the role it plays, and a client that tries a list of connections from inside a pod
// and reports which succeeded. Answering is real: a TCP connection must complete its handshake
// and read the probe's greeting, a UDP datagram must come back echoed, so a policy that drops or
// rejects the traffic shows as "blocked".
package netprobe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Greeting is what the probe's TCP listeners write to every connection.
const Greeting = "netprobe\n"

// PeerPort is a port with no name that the probe always serves from the environment: what a
// warehouse's or an entity's pods use among themselves.
const PeerPort = 7077

// EnvPorts are the ports that the environment variables PORT and *_PORT name, and PeerPort, sorted.
func EnvPorts(environ []string) []int {
	seen := map[int]bool{PeerPort: true}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if k != "PORT" && !strings.HasSuffix(k, "_PORT") {
			continue
		}
		if p, err := strconv.Atoi(v); err == nil && p > 0 && p < 65536 {
			seen[p] = true
		}
	}
	ports := make([]int, 0, len(seen))
	for p := range seen {
		ports = append(ports, p)
	}
	sort.Ints(ports)
	return ports
}

// Target is one connection to try.
type Target struct {
	Proto string // "tcp" or "udp"
	Host  string
	Port  int
}

func (t Target) String() string {
	return t.Proto + ":" + net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
}

// ParseTarget reads "tcp:10.0.0.1:80" or "udp:10.0.0.1:53".
func ParseTarget(s string) (Target, error) {
	proto, hostPort, ok := strings.Cut(s, ":")
	if !ok || (proto != "tcp" && proto != "udp") {
		return Target{}, fmt.Errorf("target %q: want tcp:<host>:<port> or udp:<host>:<port>", s)
	}
	host, portStr, err := net.SplitHostPort(hostPort)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %w", s, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return Target{}, fmt.Errorf("target %q: port must be 1-65535", s)
	}
	return Target{Proto: proto, Host: host, Port: port}, nil
}

// Result says whether a connection to Target succeeded.
type Result struct {
	Target  Target
	Allowed bool
	Detail  string
}

// Line is the result as the probe prints it: "<target> allowed|blocked <detail>".
func (r Result) Line() string {
	verdict := "blocked"
	if r.Allowed {
		verdict = "allowed"
	}
	return strings.TrimSpace(r.Target.String() + " " + verdict + " " + r.Detail)
}

// ParseLine reads a line that Line wrote.
func ParseLine(line string) (Result, error) {
	fields := strings.Fields(line)
	if len(fields) < 2 || (fields[1] != "allowed" && fields[1] != "blocked") {
		return Result{}, fmt.Errorf("probe output %q: want <target> allowed|blocked", line)
	}
	t, err := ParseTarget(fields[0])
	if err != nil {
		return Result{}, err
	}
	return Result{Target: t, Allowed: fields[1] == "allowed", Detail: strings.Join(fields[2:], " ")}, nil
}

// ConnectAll tries every target at once, each within timeout, and returns the results in the
// targets' order.
func ConnectAll(ctx context.Context, targets []Target, timeout time.Duration) []Result {
	results := make([]Result, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			err := connect(ctx, t, timeout)
			results[i] = Result{Target: t, Allowed: err == nil}
			if err != nil {
				results[i].Detail = err.Error()
			}
		})
	}
	wg.Wait()
	return results
}

func connect(ctx context.Context, t Target, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, t.Proto, net.JoinHostPort(t.Host, strconv.Itoa(t.Port)))
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	if t.Proto == "udp" {
		if _, err := conn.Write([]byte("ping")); err != nil {
			return err
		}
	}
	buf := make([]byte, len(Greeting))
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	if t.Proto == "tcp" && string(buf[:n]) != Greeting {
		return fmt.Errorf("unexpected greeting %q", buf[:n])
	}
	return nil
}

// Serve answers on every TCP and UDP port until ctx ends: TCP connections get the greeting,
// UDP datagrams are echoed.
func Serve(ctx context.Context, tcpPorts, udpPorts []int) error {
	var closers []func() error
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	for _, p := range tcpPorts {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			return err
		}
		closers = append(closers, l.Close)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte(Greeting))
				_ = c.Close()
			}
		}()
	}
	for _, p := range udpPorts {
		pc, err := net.ListenPacket("udp", ":"+strconv.Itoa(p))
		if err != nil {
			return err
		}
		closers = append(closers, pc.Close)
		go func() {
			buf := make([]byte, 512)
			for {
				n, addr, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = pc.WriteTo(buf[:n], addr)
			}
		}()
	}
	<-ctx.Done()
	return nil
}

// ParsePorts reads a comma-separated list of ports; empty is none.
func ParsePorts(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var ports []int
	for _, f := range strings.Split(s, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p < 1 || p > 65535 {
			return nil, errors.New("ports must be a comma-separated list of 1-65535, got " + strconv.Quote(s))
		}
		ports = append(ports, p)
	}
	return ports, nil
}
