package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/serverlessplane/operator/pkg/certs"
	"github.com/serverlessplane/operator/test/clients"
	"github.com/serverlessplane/operator/test/gatewaybench/benchkit"
)

// driver is Databricks' Node SQL driver on one session of the gateway's Thrift API, run by
// test/clients/sqldriver-bench.cjs, answering one statement at a time.
type driver struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

type driverAnswer struct {
	// Level is set on the lines the driver's own logger writes to standard output.
	Level string  `json:"level"`
	Ready bool    `json:"ready"`
	MS    float64 `json:"ms"`
	Rows  int     `json:"rows"`
	Error string  `json:"error"`
}

// startDrivers serves the gateway's handler over TLS on loopback (the driver speaks only
// HTTPS), with a certificate for localhost in dir, and starts two drivers against it: one
// reading Arrow batches (its default), one column-based sets; the reason when node is not
// installed.
func startDrivers(ctx context.Context, handler http.Handler, dir string) (arrow, columns *driver, stop func(), err error) {
	modules, err := clients.Install(ctx, os.Stderr)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	ca, err := certs.NewCA("sqlbench-ca", now, 24*time.Hour)
	if err != nil {
		return nil, nil, nil, err
	}
	pair, err := certs.Issue(ca, certs.Serving, "localhost", []string{"localhost"}, now, 24*time.Hour)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := tls.X509KeyPair(pair.Cert, pair.Key)
	if err != nil {
		return nil, nil, nil, err
	}
	caFile := filepath.Join(dir, "driver-ca.crt")
	if err := os.WriteFile(caFile, ca.Cert, 0o600); err != nil {
		return nil, nil, nil, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, nil, nil, err
	}
	hs := &http.Server{Handler: serverTimes.wrap(handler), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	env := append(os.Environ(), "NODE_PATH="+modules, "NODE_NO_WARNINGS=1", "SPL_HOST=localhost",
		"SPL_PORT="+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), "SPL_PATH=/workspaces/"+workspace+"/sql/1.0/warehouses/"+warehouse,
		"SPL_TOKEN="+benchkit.UserToken, "SPL_CA="+caFile)
	var stops []func()
	stop = func() {
		for _, f := range stops {
			f()
		}
		_ = hs.Close()
	}
	if arrow, err = startDriver(ctx, append(env, "SPL_ARROW=true"), &stops); err == nil {
		columns, err = startDriver(ctx, append(env, "SPL_ARROW=false"), &stops)
	}
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	return arrow, columns, stop, nil
}

// startDriver starts one driver process with env, and adds its stop to stops.
func startDriver(ctx context.Context, env []string, stops *[]func()) (*driver, error) {
	cmd := exec.CommandContext(ctx, "node", filepath.Join(clients.Dir(), "sqldriver-bench.cjs"))
	cmd.Env = env
	cmd.Stderr = io.Discard // the driver logs its connection at info level
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &driver{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	*stops = append(*stops, func() {
		_ = in.Close()
		_ = cmd.Wait()
	})
	if a, err := d.read(); err != nil || !a.Ready {
		return nil, fmt.Errorf("the driver did not connect: %v %s", err, a.Error)
	}
	return d, nil
}

// callTimes records how long the gateway took over each Thrift call, from the request to the
// last byte of the answer: the driver's time less this is the driver's own, in its process.
type callTimes struct {
	mu    sync.Mutex
	times []time.Duration
}

var serverTimes = &callTimes{}

func (c *callTimes) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		c.mu.Lock()
		c.times = append(c.times, time.Since(start))
		c.mu.Unlock()
	})
}

// take returns the times recorded since the last take.
func (c *callTimes) take() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.times
	c.times = nil
	return t
}

// read is the script's next answer, past the driver's log lines.
func (d *driver) read() (driverAnswer, error) {
	for d.out.Scan() {
		var a driverAnswer
		if err := json.Unmarshal(d.out.Bytes(), &a); err != nil || a.Level == "" {
			return a, err
		}
	}
	return driverAnswer{}, errors.Join(errors.New("the driver exited"), d.out.Err())
}

// statement runs a statement through the driver and returns its time as the driver measured
// it (execute, fetch every row, close) and its row count.
func (d *driver) statement(text string) (time.Duration, int, error) {
	line, _ := json.Marshal(map[string]string{"sql": text})
	if _, err := d.in.Write(append(line, '\n')); err != nil {
		return 0, 0, err
	}
	a, err := d.read()
	if err != nil {
		return 0, 0, err
	}
	if a.Error != "" {
		return 0, 0, errors.New(a.Error)
	}
	return time.Duration(a.MS * float64(time.Millisecond)), a.Rows, nil
}
