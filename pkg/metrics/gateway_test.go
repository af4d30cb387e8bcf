package metrics

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// twoGateways serves a metrics page on 127.0.0.1 and another on 127.0.0.2, on one port.
func twoGateways(t *testing.T, pages [2]string) int32 {
	t.Helper()
	first, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := first.Addr().(*net.TCPAddr).Port
	second, err := net.Listen("tcp", "127.0.0.2:"+strconv.Itoa(port))
	if err != nil {
		first.Close()
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	for i, ln := range []net.Listener{first, second} {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, pages[i]) })}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { srv.Close() })
	}
	return int32(port)
}

func TestGatewaySource(t *testing.T) {
	port := twoGateways(t, [2]string{`
serverlessplane_gateway_statements_running{workspace="ws",warehouse="bi",cluster="c1"} 10
serverlessplane_gateway_statements_running{workspace="ws",warehouse="other",cluster="c9"} 7
serverlessplane_gateway_statements_queued{workspace="ws",warehouse="bi"} 12
serverlessplane_gateway_statement_queue_wait_seconds{workspace="ws",warehouse="bi"} 4.5
serverlessplane_gateway_inflight_requests{workspace="ws",endpoint="churn",entity="a"} 3
serverlessplane_gateway_held_requests{workspace="ws",endpoint="churn",entity="b"} 5
`, `
serverlessplane_gateway_statements_running{workspace="ws",warehouse="bi",cluster="c1"} 2
serverlessplane_gateway_statements_running{workspace="ws",warehouse="bi",cluster="c2"} 6
serverlessplane_gateway_statements_queued{workspace="ws",warehouse="bi"} 3
serverlessplane_gateway_statement_queue_wait_seconds{workspace="ws",warehouse="bi"} 9
serverlessplane_gateway_held_requests{workspace="ws",endpoint="churn",entity="a"} 2
serverlessplane_gateway_inflight_requests{workspace="other",endpoint="churn",entity="a"} 100
`})
	g := NewGateway(NewScrapeClient(time.Second), port, func(context.Context) ([]Pod, error) {
		return []Pod{{Name: "gw-0", IP: "127.0.0.1"}, {Name: "gw-1", IP: "127.0.0.2"}}, nil
	})
	load, err := g.Warehouse(context.Background(), Target{Namespace: "ws", Name: "bi"})
	if err != nil {
		t.Fatal(err)
	}
	running, queued := load.Total()
	if running != 18 || queued != 15 || load.QueueWait != 9*time.Second || load.Clusters["c1"].Running != 12 || load.Clusters["c2"].Running != 6 {
		t.Fatalf("warehouse load %+v: running %v, queued %v; want 18 running (c1 12, c2 6), 15 queued, wait 9s", load, running, queued)
	}
	for entity, want := range map[string]float64{"a": 5, "b": 5, "c": 0} {
		got, err := g.InFlight(context.Background(), Target{Namespace: "ws", Name: "churn", Entity: entity})
		if err != nil || got != want {
			t.Errorf("entity %s: %v, %v; want %v (in flight plus held, over both gateways)", entity, got, err, want)
		}
	}
	none := NewGateway(NewScrapeClient(time.Second), port, func(context.Context) ([]Pod, error) { return nil, nil })
	if _, err := none.Warehouse(context.Background(), Target{Namespace: "ws", Name: "bi"}); err == nil {
		t.Fatal("no gateway pod must be an error (the count is held), not zero load")
	}
}
