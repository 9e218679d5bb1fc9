// Package apiclient is a Go client of jwtgate's strict OpenAPI surface,
// generated from openapi.yaml by oapi-codegen. Nothing here is written by
// hand: the end-to-end tests use it to prove that a generated SDK works.
package apiclient

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../openapi.yaml
