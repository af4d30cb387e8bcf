package modelproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"

	"k8s.io/utils/clock"

	"github.com/serverlessplane/operator/internal/apierror"
)

// errRequestTimeout is the cause of a request's context ending at RequestTimeout, as opposed
// to its client leaving.
var errRequestTimeout = errors.New("request timeout")

// scoringHandler is the chain a scoring request passes, in order: count it, bound its time
// and body, wait for a concurrency slot, forward it to the model.
func scoringHandler(cfg Config, clk clock.PassiveClock, l *limiter, m *metrics, transport http.RoundTripper, log *slog.Logger) http.Handler {
	h := newProxy(cfg.Upstream, transport, m, log)
	h = admit(l, m, cfg.RequestTimeout, h)
	h = limitBody(cfg.MaxRequestBytes, m, h)
	h = withTimeout(cfg.RequestTimeout, h)
	return instrument(m, clk, h)
}

// instrument counts each request by the status it got and observes its duration.
func instrument(m *metrics, clk clock.PassiveClock, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := clk.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		code := rec.status
		switch {
		case code == 0 && r.Context().Err() != nil:
			code = statusClientClosed
		case code == 0:
			code = http.StatusOK
		}
		m.requests.WithLabelValues(strconv.Itoa(code)).Inc()
		m.duration.Observe(clk.Since(start).Seconds())
	})
}

// withTimeout ends the request's context at timeout, with errRequestTimeout as the cause.
func withTimeout(timeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeoutCause(r.Context(), timeout, errRequestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// limitBody refuses a declared body above max at once and cuts an undeclared one at max.
func limitBody(max int64, m *metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			m.rejected.WithLabelValues(rejectTooLarge).Inc()
			apierror.Write(w, http.StatusRequestEntityTooLarge, apierror.BadRequest, fmt.Sprintf("the request body is larger than %d bytes", max))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r)
	})
}

// admit holds the request until a concurrency slot is free, answers 503 when the queue is
// full or the wait outlasts the request timeout, and drops a request whose client left.
func admit(l *limiter, m *metrics, timeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release, err := l.acquire(r.Context())
		switch {
		case err == nil:
			defer release()
			next.ServeHTTP(w, r)
		case errors.Is(err, errQueueFull):
			m.rejected.WithLabelValues(rejectQueueFull).Inc()
			apierror.Write(w, http.StatusServiceUnavailable, apierror.TemporarilyUnavailable,
				fmt.Sprintf("the model is serving %d requests and %d more are waiting; retry later", l.capacity, l.depth))
		case errors.Is(context.Cause(r.Context()), errRequestTimeout):
			m.rejected.WithLabelValues(rejectQueueTimeout).Inc()
			apierror.Write(w, http.StatusServiceUnavailable, apierror.TemporarilyUnavailable,
				fmt.Sprintf("the request waited %s for the model without its turn; retry later", timeout))
		default:
			m.rejected.WithLabelValues(rejectClientGone).Inc()
		}
	})
}

// newProxy forwards to the model over a keep-alive transport. The request and the response
// pass unchanged but for hop-by-hop headers; the client's X-Forwarded-* and Forwarded
// headers are dropped (httputil.ReverseProxy does so with Rewrite) and X-Forwarded-Proto says
// https, so nothing the client sends can pose as the proxy's own word.
func newProxy(upstream *url.URL, transport http.RoundTripper, m *metrics, log *slog.Logger) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.Out.URL.RawQuery = pr.In.URL.RawQuery
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Set("X-Forwarded-Proto", "https")
		},
		Transport: transport,
		ErrorLog:  slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var tooLarge *http.MaxBytesError
			switch {
			case errors.As(err, &tooLarge):
				m.rejected.WithLabelValues(rejectTooLarge).Inc()
				apierror.Write(w, http.StatusRequestEntityTooLarge, apierror.BadRequest, fmt.Sprintf("the request body is larger than %d bytes", tooLarge.Limit))
			case errors.Is(context.Cause(r.Context()), errRequestTimeout):
				apierror.Write(w, http.StatusGatewayTimeout, apierror.DeadlineExceeded, "the model did not answer within the request timeout")
			case r.Context().Err() != nil:
				// The client left; nobody reads an answer.
			default:
				log.Warn("the model container did not answer", "err", err)
				apierror.Write(w, http.StatusBadGateway, apierror.TemporarilyUnavailable, "the model container did not answer; retry later")
			}
		},
	}
}

// newTransport is the keep-alive transport to the model on localhost. It never uses an
// environment proxy and never asks for compression, so the response passes as the model wrote it.
func newTransport(concurrency int) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          concurrency + 4,
		MaxIdleConnsPerHost:   concurrency + 4,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ExpectContinueTimeout: time.Second,
	}
}

// statusRecorder remembers the final status written; Unwrap keeps flushing and the other
// http.ResponseController features reachable.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
