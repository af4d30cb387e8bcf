package modelserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync/atomic"

	"github.com/serverlessplane/operator/internal/apierror"
)

// Route names, the values of the metrics' route label.
const (
	routeInvocations = "invocations"
	routePing        = "ping"
	routeHealth      = "health"
	routeVersion     = "version"
	routeUnmatched   = "unmatched"
)

const contentTypeJSON = "application/json"

// VersionInfo is the body of GET /version.
type VersionInfo struct {
	// ModelName and ModelVersion are the served model's, from MODEL_NAME and MODEL_VERSION.
	ModelName    string `json:"model_name"`
	ModelVersion string `json:"model_version"`
	// ModelSource is the model file, or embedded:<name> for the built-in sample.
	ModelSource string `json:"model_source"`
	// ServerVersion is this binary's version.
	ServerVersion string `json:"server_version"`
}

// Handler answers MLflow's scoring protocol for one model: POST /invocations, GET /ping and
// GET /health (200 once the model is loaded, 503 before and while draining) and GET /version.
type Handler struct {
	info     VersionInfo
	maxBody  int64
	metrics  *Metrics
	log      *slog.Logger
	model    atomic.Pointer[Model]
	draining atomic.Bool
}

// NewHandler returns a handler that answers 503 until SetModel; request bodies beyond
// maxBody bytes are refused with 413.
func NewHandler(info VersionInfo, maxBody int64, metrics *Metrics, log *slog.Logger) *Handler {
	return &Handler{info: info, maxBody: maxBody, metrics: metrics, log: log}
}

// SetModel starts serving m.
func (h *Handler) SetModel(m *Model) { h.model.Store(m) }

// Drain turns /ping and /health to 503, so the pod leaves its Service's endpoints while
// scoring requests already routed here are still answered.
func (h *Handler) Drain() { h.draining.Store(true) }

// Routes is the handler's routes, each counted and timed; any other path is 404 and another
// method 405, both in MLflow's error shape.
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern, name string, f http.HandlerFunc) {
		mux.Handle(pattern, h.metrics.instrument(name, f))
	}
	route("POST /invocations", routeInvocations, h.invocations)
	route("GET /ping", routePing, h.ping)
	route("GET /health", routeHealth, h.ping)
	route("GET /version", routeVersion, h.version)
	for path, allow := range map[string]string{"/invocations": http.MethodPost, "/ping": http.MethodGet, "/health": http.MethodGet, "/version": http.MethodGet} {
		route(path, routeUnmatched, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			apierror.Write(w, http.StatusMethodNotAllowed, apierror.BadRequest, fmt.Sprintf("%s takes %s, not %s", path, allow, r.Method))
		})
	}
	route("/", routeUnmatched, func(w http.ResponseWriter, r *http.Request) {
		apierror.Write(w, http.StatusNotFound, apierror.EndpointNotFound, fmt.Sprintf("no route %s; the server answers POST /invocations, GET /ping, GET /health and GET /version", r.URL.Path))
	})
	return mux
}

func (h *Handler) invocations(w http.ResponseWriter, r *http.Request) {
	m := h.model.Load()
	if m == nil {
		apierror.Write(w, http.StatusServiceUnavailable, apierror.TemporarilyUnavailable, "the model is still loading")
		return
	}
	if mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mediaType != contentTypeJSON {
		apierror.Write(w, http.StatusUnsupportedMediaType, apierror.BadRequest,
			fmt.Sprintf("Content-Type %q is not supported; send %s", r.Header.Get("Content-Type"), contentTypeJSON))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			apierror.Write(w, http.StatusRequestEntityTooLarge, apierror.BadRequest, fmt.Sprintf("the body exceeds %d bytes", tooLarge.Limit))
			return
		}
		apierror.Write(w, http.StatusBadRequest, apierror.BadRequest, "reading the body: "+err.Error())
		return
	}
	rows, err := ParseInput(body, m.Schema())
	if err != nil {
		apierror.Write(w, http.StatusBadRequest, apierror.BadRequest, "invalid input: "+err.Error())
		return
	}
	predictions, err := m.Predict(rows)
	if err != nil {
		h.log.Error("prediction failed", "err", err)
		apierror.Write(w, http.StatusInternalServerError, apierror.InternalError, "prediction failed: "+err.Error())
		return
	}
	out, err := json.Marshal(response{Predictions: shape(predictions, m.Outputs)})
	if err != nil {
		// A prediction that JSON cannot carry, such as an exponential link's +Inf.
		h.log.Error("encoding predictions failed", "err", err)
		apierror.Write(w, http.StatusInternalServerError, apierror.InternalError, "encoding predictions: "+err.Error())
		return
	}
	h.metrics.rows.Add(float64(len(rows)))
	w.Header().Set("Content-Type", contentTypeJSON)
	_, _ = w.Write(append(out, '\n')) // a failed write means the client left
}

// response is MLflow's scoring response.
type response struct {
	Predictions any `json:"predictions"`
}

// shape returns one number per row for single-output models, else one list per row, as
// MLflow's pyfunc returns a 1-D or a 2-D array.
func shape(predictions [][]float64, outputs int) any {
	if outputs != 1 {
		return predictions
	}
	flat := make([]float64, len(predictions))
	for i, p := range predictions {
		flat[i] = p[0]
	}
	return flat
}

func (h *Handler) ping(w http.ResponseWriter, _ *http.Request) {
	switch {
	case h.model.Load() == nil:
		apierror.Write(w, http.StatusServiceUnavailable, apierror.TemporarilyUnavailable, "the model is still loading")
	case h.draining.Load():
		apierror.Write(w, http.StatusServiceUnavailable, apierror.TemporarilyUnavailable, "the server is shutting down")
	default:
		// MLflow's scoring server answers "\n" as JSON.
		w.Header().Set("Content-Type", contentTypeJSON)
		_, _ = io.WriteString(w, "\n")
	}
}

func (h *Handler) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.info)
}

// mlflowError is MLflow's error response.

func writeJSON(w http.ResponseWriter, status int, v any) {
	out, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(status)
	_, _ = w.Write(append(out, '\n')) // a failed write means the client left
}
