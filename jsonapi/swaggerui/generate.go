// Package swaggerui serves the human reference of the OpenAPI contract at
// /docs: Swagger UI (npm swagger-ui-dist, Apache-2.0, see dist/LICENSE)
// rendering /openapi.json. Its files are embedded in the binary; the page
// loads nothing from any other origin, and its Content-Security-Policy says so.
package swaggerui

//go:generate go run copydist.go
