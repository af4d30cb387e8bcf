// Package netprobe is the reachability probe of the real-node tier: a pod that answers on the
// ports of the role it plays, and a client that tries a list of connections from inside a pod
// and reports which succeeded. Answering is real: a TCP connection must complete its handshake
// and read the probe's greeting, a UDP datagram must come back echoed, so a policy that drops or
// rejects the traffic shows as "blocked".
package netprobe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
	// Proto is "tcp" (the probe's greeting must arrive), "udp" (the datagram must come back),
	// "tls" (a TLS server must answer the handshake: a model proxy) or "http" (an HTTP server
	// must answer GET /healthz with any status: a metrics port).
	Proto string
	Host  string
	Port  int
}

func (t Target) String() string {
	return t.Proto + ":" + net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
}

// ParseTarget reads "tcp:10.0.0.1:80", "udp:10.0.0.1:53", "tls:10.0.0.1:8443" or
// "http:10.0.0.1:9090".
func ParseTarget(s string) (Target, error) {
	proto, hostPort, ok := strings.Cut(s, ":")
	if !ok || (proto != "tcp" && proto != "udp" && proto != "tls" && proto != "http") {
		return Target{}, fmt.Errorf("target %q: want tcp|udp|tls|http:<host>:<port>", s)
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
	network := t.Proto
	if network != "udp" {
		network = "tcp"
	}
	addr := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	if t.Proto == "http" {
		return getHealthz(ctx, addr)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	if t.Proto == "tls" {
		return tlsAnswers(conn)
	}
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

// tlsAnswers says whether a TLS server answers on conn: the handshake completes, or the server
// refuses it with an alert (a server that requires a client certificate the probe lacks).
// Nothing is trusted or sent: the probe only learns that a TLS server is there.
func tlsAnswers(conn net.Conn) error {
	c := tls.Client(conn, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // reachability only
	err := c.Handshake()
	var alert tls.AlertError
	if err == nil || errors.As(err, &alert) {
		return nil
	}
	return err
}

// getHealthz says whether an HTTP server answers GET /healthz at addr, with any status.
func getHealthz(ctx context.Context, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// answer serves one TCP connection: a client that speaks first with an HTTP request (a model
// proxy's readiness check of its model container) gets 200, any other gets the greeting.
func answer(c net.Conn) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	buf := make([]byte, 4)
	if n, _ := io.ReadFull(c, buf); n == 4 && (string(buf) == "GET " || string(buf) == "POST") {
		_ = c.SetDeadline(time.Now().Add(time.Second))
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		return
	}
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write([]byte(Greeting))
}

// Serve answers on every TCP and UDP port until ctx ends: TCP connections get the greeting (or,
// when they open with an HTTP request, a 200), UDP datagrams are echoed.
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
				go answer(c)
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
