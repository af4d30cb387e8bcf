// Package apierror is the error shape every data-plane server answers with, Databricks' and
// MLflow's: {"error_code": "...", "message": "..."}, with their error codes.
package apierror

import (
	"encoding/json"
	"net/http"
)

// Error codes (databricks.proto's ErrorCode).
const (
	BadRequest             = "BAD_REQUEST"
	Unauthenticated        = "UNAUTHENTICATED"
	PermissionDenied       = "PERMISSION_DENIED"
	ResourceDoesNotExist   = "RESOURCE_DOES_NOT_EXIST"
	EndpointNotFound       = "ENDPOINT_NOT_FOUND"
	RequestLimitExceeded   = "REQUEST_LIMIT_EXCEEDED"
	TemporarilyUnavailable = "TEMPORARILY_UNAVAILABLE"
	DeadlineExceeded       = "DEADLINE_EXCEEDED"
	InternalError          = "INTERNAL_ERROR"
)

// Body is an error response.
type Body struct {
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
}

// Write answers status with an error body.
func Write(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Body{ErrorCode: code, Message: message})
}
