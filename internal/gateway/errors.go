package gateway

import (
	"encoding/json"
	"net/http"
)

// Databricks' error codes, as the REST API returns them.
const (
	codeUnauthenticated  = "UNAUTHENTICATED"
	codePermissionDenied = "PERMISSION_DENIED"
	codeNotFound         = "RESOURCE_DOES_NOT_EXIST"
	codeBadRequest       = "BAD_REQUEST"
	codeRateLimited      = "REQUEST_LIMIT_EXCEEDED"
	codeUnavailable      = "TEMPORARILY_UNAVAILABLE"
	codeInternal         = "INTERNAL_ERROR"
)

// apiError is the body of every error the gateway answers itself.
type apiError struct {
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(apiError{ErrorCode: code, Message: message})
}
