package gateway

import _ "embed"

// openAPI is the OpenAPI 3.1 description of every REST endpoint; a test
// checks that it lists exactly the routes mounted.
//
//go:embed openapi.json
var openAPI []byte
