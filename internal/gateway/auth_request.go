package gateway

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/serverlessplane/operator/internal/apierror"
)

// maxTokenBytes bounds a bearer token: service-account and OIDC JWTs are 1-4 KiB.
const maxTokenBytes = 8 << 10

// bearerToken returns the token of an Authorization header when it is a plausible bearer
// token, so that nothing else costs a TokenReview: RFC 6750's b64token (letters, digits and
// -._~+/, then '=' padding), which holds JWTs (base64url and dots), bootstrap tokens
// (id.secret) and the random static tokens an API server is given, at most maxTokenBytes.
func bearerToken(header string) (string, bool) {
	token, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || token == "" || len(token) > maxTokenBytes {
		return "", false
	}
	body := strings.TrimRight(token, "=")
	if body == "" {
		return "", false
	}
	for i := range len(body) {
		switch c := body[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return "", false
		}
	}
	return token, true
}

// sourceKey is what a request's failed authentications are charged to: the client's address,
// or an IPv6 client's /64 (a host commonly holds the whole prefix). Behind a proxy that is the
// proxy's address; no forwarded header is trusted, as a client could write any.
func sourceKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return "addr/" + host
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return "net/" + p.String()
	}
	return "addr/" + addr.String()
}

// writeAuthError answers an error of AuthenticateFrom: 429 with Retry-After past the source's
// limit, 401 for a missing or invalid token, 503 when the API server could not be asked.
func writeAuthError(w http.ResponseWriter, err error) {
	var limited *tooManyFailures
	switch {
	case errors.As(err, &limited):
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((limited.retryAfter+time.Second-1)/time.Second))))
		apierror.Write(w, http.StatusTooManyRequests, apierror.RequestLimitExceeded, limited.Error())
	case errors.Is(err, errUnauthenticated):
		w.Header().Set("WWW-Authenticate", `Bearer realm="serverlessplane"`)
		apierror.Write(w, http.StatusUnauthorized, apierror.Unauthenticated, "a valid bearer token is required: send Authorization: Bearer <token>")
	default:
		apierror.Write(w, http.StatusServiceUnavailable, apierror.TemporarilyUnavailable, err.Error())
	}
}
