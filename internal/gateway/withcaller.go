package gateway

import (
	"net/http"

	"github.com/serverlessplane/operator/internal/apierror"
	"github.com/serverlessplane/operator/internal/caller"
)

// withStatementCaller lets a request on to next only once its token is valid and its user may
// run statements on the path's warehouse (`create` on serverlesswarehouses/statements), with
// the caller in the request's context; 401, 403 and 404 are answered here, before next reads
// a byte of the body.
func (s *Server) withStatementCaller(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws := s.workspace(r)
		if ws == "" {
			apierror.Write(w, http.StatusNotFound, apierror.ResourceDoesNotExist, "no workspace in the request: use the host <workspace>."+s.o.Domain+" or the path prefix /workspaces/<workspace>")
			return
		}
		user, ok := s.authorize(w, r, Resource{Namespace: ws, Resource: "serverlesswarehouses", Subresource: "statements", Name: r.PathValue("warehouse")})
		if !ok {
			return
		}
		next.ServeHTTP(w, r.WithContext(caller.NewContext(r.Context(), caller.Caller{Workspace: ws, User: user})))
	})
}
