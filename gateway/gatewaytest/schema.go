package gatewaytest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/normalize/schemas"
)

var (
	schemaOnce sync.Once
	compiled   map[string]*jsonschema.Schema
	schemaErr  error
)

// compileSchemas compiles every schema the gateway serves (normalize/schemas,
// the copies of the contract's files), with format assertions on.
func compileSchemas() (map[string]*jsonschema.Schema, error) {
	schemaOnce.Do(func() {
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		urls := map[string]string{}
		for _, name := range schemas.Names() {
			b, _ := schemas.Get(name)
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				schemaErr = fmt.Errorf("schema %s: %w", name, err)
				return
			}
			u := "https://schemas.gateway.test/" + name + ".schema.json"
			if err := c.AddResource(u, doc); err != nil {
				schemaErr = fmt.Errorf("schema %s: %w", name, err)
				return
			}
			urls[name] = u
		}
		compiled = map[string]*jsonschema.Schema{}
		for name, u := range urls {
			s, err := c.Compile(u)
			if err != nil {
				schemaErr = fmt.Errorf("compile schema %s: %w", name, err)
				return
			}
			compiled[name] = s
		}
	})
	return compiled, schemaErr
}

// ValidateSchema checks doc against the named schema ("envelope", "event",
// "ticket-event").
func ValidateSchema(name string, doc []byte) error {
	all, err := compileSchemas()
	if err != nil {
		return err
	}
	s, ok := all[name]
	if !ok {
		return fmt.Errorf("no schema %q; have %v", name, schemas.Names())
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("%s does not match %s.schema.json: %w", doc, name, err)
	}
	return nil
}

// RequireSchema fails the test unless doc matches the named schema.
func RequireSchema(t testing.TB, name string, doc []byte) {
	t.Helper()
	if err := ValidateSchema(name, doc); err != nil {
		t.Fatal(err)
	}
}

// Eventually waits until fn returns nil, failing the test with fn's last
// error if timeout passes first (testify's EventuallyWithT, for checks that
// say why they are not met yet).
func Eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) { assert.NoError(c, fn()) }, timeout, 10*time.Millisecond)
}
