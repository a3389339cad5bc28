// Package schemas holds the contract's JSON Schemas as the gateway serves
// them at /v1/schemas/{name}. They are copies of ../shared/contract; a test
// keeps them equal.
package schemas

import (
	"embed"
	"io/fs"
	"strings"
)

//go:embed *.schema.json
var files embed.FS

// Names lists the served schema names without the ".schema.json" suffix.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".schema.json"))
	}
	return out
}

// Get returns a schema by name ("envelope", "event", "ticket-event"; the
// ".schema.json" and ".json" suffixes are accepted too).
func Get(name string) ([]byte, bool) {
	name = strings.TrimSuffix(strings.TrimSuffix(name, ".json"), ".schema")
	b, err := files.ReadFile(name + ".schema.json")
	return b, err == nil
}
