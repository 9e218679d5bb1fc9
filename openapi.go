package jwtgate

import _ "embed"

// OpenAPI is the OpenAPI 3.0 contract of the strict JSON surface,
// openapi.yaml. Its servers entry is relative (/api/v1), so it holds for
// whatever address the document is fetched from.
//
//go:embed openapi.yaml
var OpenAPI []byte
